"""Bulk publish (issue 17), second half: poll a run's operations, map result lines back, finish the jobs.

A product-set line is mapped by the binder exactly as a per-call publish maps its ``productSet`` answer
(``bind_written_many``: ``bind_product_ids``' and ``media_bind_after_write``'s rules, then the snapshot and hash);
a line with ``userErrors`` (or GraphQL errors) dead-letters that product's sync job with Shopify's messages.
Follow-up lines (metafields, sales channels) that fail dead-letter their job too, and clear the recorded hash
(``bind_forget_written_many``) so *Replay* publishes the product again per call.
Mapping is idempotent: a line already written, done or failed is left alone, so a crash mid-file and a re-read
of the same result file change nothing twice.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from .binder import WrittenProduct, bind_forget_written_many, bind_publications_many, bind_written_many
from .bulk_models import BulkPublishLine, BulkPublishOperation, BulkPublishRun
from .bulk_rows import rows_update
from .models import SyncAttempt, SyncJob
from .shopify import bulk_mutation_api as api
from .shopify.exceptions import ShopifyBulkOperationError

logger = logging.getLogger(__name__)

BATCH = 500
FINAL_OP_STATES = ("COMPLETED", "FAILED", "CANCELED", "EXPIRED")


def _poll_and_map(run: BulkPublishRun, client) -> None:
    """Read the state of each started, unmapped operation; map the results of the finished ones."""
    for op in run.operations.exclude(shopify_operation_id="").filter(mapped=False):
        state = client.bulk_status(operation_id=op.shopify_operation_id)
        if state is None:
            raise ShopifyBulkOperationError(f"bulk operation {op.shopify_operation_id} not found", retryable=False,
                                            shop_domain=run.store.shop_domain)
        done = int(state.get("objectCount") or 0)
        BulkPublishOperation.objects.filter(pk=op.pk).update(status=state["status"], lines_done=done)
        if state["status"] not in FINAL_OP_STATES:
            continue
        url = state.get("url") or state.get("partialDataUrl")
        if url:
            _map_file(run, op, client, url)
        # Lines without a result (a failed or cancelled operation) dead-letter: Replay publishes them per call.
        missing = _open_lines(run, op)
        _fail_lines(missing, f"bulk operation {op.shopify_operation_id} ended {state['status']} "
                             f"(errorCode={state.get('errorCode')}) before this line ran")
        BulkPublishOperation.objects.filter(pk=op.pk).update(mapped=True, finished_at=timezone.now())
    _update_progress(run)


def _open_lines(run: BulkPublishRun, op: BulkPublishOperation) -> list[BulkPublishLine]:
    if op.kind == BulkPublishOperation.Kind.PRODUCT_SET:
        return list(op.lines.filter(status=BulkPublishLine.Status.PENDING).select_related("job"))
    return []  # a follow-up line without a result leaves the product written; the run's finish marks it done


def _update_progress(run: BulkPublishRun) -> None:
    counts = run.lines.aggregate(
        done=Count("pk", filter=~Q(status=BulkPublishLine.Status.PENDING)),
        failed=Count("pk", filter=Q(status=BulkPublishLine.Status.FAILED)),
    )
    running = sum(op.lines_done for op in run.operations.filter(kind=BulkPublishOperation.Kind.PRODUCT_SET,
                                                                mapped=False))
    BulkPublishRun.objects.filter(pk=run.pk).update(lines_done=counts["done"] + running,
                                                    failed_lines=counts["failed"])


def _map_file(run: BulkPublishRun, op: BulkPublishOperation, client, url: str) -> None:
    batch: list[dict] = []
    for result in api.bulk_result_lines(client, url=url):
        batch.append(result)
        if len(batch) >= BATCH:
            _map_batch(run, op, batch)
            batch = []
    if batch:
        _map_batch(run, op, batch)


def _errors_of(result: dict, root: str) -> list[str]:
    messages = [e.get("message", "") for e in result.get("errors") or []]
    payload = (result.get("data") or {}).get(root) or {}
    for e in payload.get("userErrors") or []:
        field = ".".join(map(str, e.get("field") or [])) or "-"
        messages.append(f"{field}: {e.get('message')}" + (f" [{e['code']}]" if e.get("code") else ""))
    if not result.get("data") and not messages:
        messages.append("no result for this line")
    return messages


def _map_batch(run: BulkPublishRun, op: BulkPublishOperation, results: list[dict]) -> None:
    if op.kind == BulkPublishOperation.Kind.PRODUCT_SET:
        numbers = [r["__lineNumber"] for r in results]
        lines = {line.line_number: line for line in op.lines.filter(line_number__in=numbers)
                 .select_related("job", "assignment", "assignment__store", "assignment__product")
                 .prefetch_related("assignment__product__variants", "assignment__product__images")}
        written: list[tuple[BulkPublishLine, dict]] = []
        for result in results:
            line = lines.get(result["__lineNumber"])
            if line is None or line.status != BulkPublishLine.Status.PENDING:
                continue
            errors = _errors_of(result, "productSet")
            product = ((result.get("data") or {}).get("productSet") or {}).get("product")
            if errors or not product:
                _fail_lines([line], "; ".join(errors)[:4000])
            else:
                written.append((line, product))
        _write_lines(run, written)
        return
    root = "metafieldsSet" if op.kind == BulkPublishOperation.Kind.METAFIELDS else "publishablePublish"
    failed: dict[int, str] = {}
    for result in results:
        number = result["__lineNumber"]
        if number >= len(op.line_map):
            continue
        errors = _errors_of(result, root)
        if errors:
            failed[op.line_map[number]] = f"{op.get_kind_display()}: " + "; ".join(errors)
    if failed:
        lines = list(BulkPublishLine.objects.filter(pk__in=list(failed), status=BulkPublishLine.Status.WRITTEN)
                     .select_related("job"))
        for line in lines:
            _fail_lines([line], failed[line.pk][:4000], clear_hash=True)


def _write_lines(run: BulkPublishRun, written: list[tuple[BulkPublishLine, dict]]) -> None:
    """Map productSet answers back through the binder (``bind_written_many``: the per-call path's rules, batched);
    the lines are written, their jobs finish after the follow-ups."""
    if not written:
        return
    with transaction.atomic():
        bind_written_many(store=run.store, written=[
            WrittenProduct(assignment=line.assignment, product_node=product, snapshot=line.snapshot,
                           snapshot_hash=line.plan_hash, files=line.files or [])
            for line, product in written])
        BulkPublishLine.objects.filter(pk__in=[line.pk for line, _ in written]).update(
            status=BulkPublishLine.Status.WRITTEN)


def _fail_lines(lines: list[BulkPublishLine], error: str, *, clear_hash: bool = False) -> None:
    """Dead-letter the lines' jobs with ``error`` (one attempt recorded each)."""
    if not lines:
        return
    now = timezone.now()
    with transaction.atomic():
        BulkPublishLine.objects.filter(pk__in=[line.pk for line in lines]).update(
            status=BulkPublishLine.Status.FAILED, error=error)
        SyncAttempt.objects.bulk_create([
            SyncAttempt(job_id=line.job_id, number=line.job.attempts, started_at=line.job.started_at or now,
                        finished_at=now, outcome=SyncJob.Status.DEAD, worker=line.job.worker[:255],
                        error_type="ShopifyUserError", error=error, retryable=False)
            for line in lines
        ])
        SyncJob.objects.filter(pk__in=[line.job_id for line in lines], status=SyncJob.Status.RUNNING).update(
            status=SyncJob.Status.DEAD, last_error=error, finished_at=now, lease_until=None,
            result="bulk publish: failed"[:255])
        if clear_hash:
            bind_forget_written_many(assignment_ids=[line.assignment_id for line in lines])


def _finish(run: BulkPublishRun) -> None:
    """All operations are mapped: written lines are done (sales channels recorded), their jobs too."""
    from .collections import collection_jobs_record, collection_mappings_for
    from .translations import translations_on_change

    publications_op = run.operations.filter(kind=BulkPublishOperation.Kind.PUBLICATIONS, mapped=True).first()
    wanted = None
    if publications_op is not None:
        from .clients import client_for_store
        from .publications import publications_resolve

        client = client_for_store(run.store)
        try:
            wanted = publications_resolve(client=client, store=run.store, titles=list(run.store.publications or []))
        finally:
            client.close()
    now = timezone.now()
    written = run.lines.filter(status=BulkPublishLine.Status.WRITTEN).select_related("job")
    while True:
        chunk = list(written[:BATCH])
        if not chunk:
            break
        with transaction.atomic():
            if wanted is not None:
                bind_publications_many(assignment_ids=[line.assignment_id for line in chunk], publication_ids=wanted)
            SyncAttempt.objects.bulk_create([
                SyncAttempt(job_id=line.job_id, number=line.job.attempts, started_at=line.job.started_at or now,
                            finished_at=now, outcome=SyncJob.Status.DONE, worker=line.job.worker[:255])
                for line in chunk
            ])
            jobs = [line.job for line in chunk if line.job.status == SyncJob.Status.RUNNING]
            for job in jobs:
                job.status, job.result, job.finished_at = SyncJob.Status.DONE, f"published (bulk run {run.pk})", now
                job.lease_until, job.last_error = None, ""
                job.latency_ms = int((now - job.first_edit_at).total_seconds() * 1000)
            rows_update(model=SyncJob, objs=jobs, fields=["status", "result", "finished_at", "lease_until",
                                                          "last_error", "latency_ms"])
            BulkPublishLine.objects.filter(pk__in=[line.pk for line in chunk]).update(
                status=BulkPublishLine.Status.DONE)
            product_ids = [line.job.product_id for line in chunk if line.job.product_id]
            mapping_ids = collection_mappings_for(product_ids=product_ids, store_ids=[run.store_id])
            if mapping_ids:
                collection_jobs_record(mapping_ids=mapping_ids)
            translations_on_change(product_ids=product_ids, store_ids=[run.store_id])
    _update_progress(run)
    BulkPublishRun.objects.filter(pk=run.pk).update(status=BulkPublishRun.Status.DONE, finished_at=timezone.now(),
                                                    next_step_at=None)
    run.refresh_from_db()


def _fail_run(run: BulkPublishRun, error: str) -> None:
    """A terminal error: every line not yet done dead-letters (Replay publishes them per call)."""
    open_lines = list(run.lines.filter(status__in=[BulkPublishLine.Status.PENDING, BulkPublishLine.Status.WRITTEN])
                      .select_related("job"))
    _fail_lines(open_lines, f"bulk publish run {run.pk} failed: {error}"[:4000], clear_hash=True)
    BulkPublishRun.objects.filter(pk=run.pk).update(status=BulkPublishRun.Status.FAILED, error=error[:2000],
                                                    finished_at=timezone.now(), next_step_at=None)
    _update_progress(run)
