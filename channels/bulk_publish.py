"""Bulk-mutation publish (issue 17): a store's many first publishes as JSONL files run by Shopify.

``publish_request`` hands a store's pending first publishes to ``bulk_publish_claim`` when there are more than
``BULK_PUBLISH_THRESHOLD``: the run takes the sync jobs (running, leased to the run) and one line per product. Then
``bulk_publish_step`` runs as RQ jobs, one short step at a time (scheduled again every ``BULK_PUBLISH_POLL_SECONDS``,
re-dispatched by the sweeper if lost; no worker sleeps on Shopify):

1. lines without an operation are built with the per-call path's ``publish_plan_build`` / ``product_input_for_sections``
   (all sections, as a first publish) and written, streaming, to a temporary JSONL file of at most
   ``BULK_PUBLISH_MAX_FILE_BYTES``; the line→operation mapping is committed *before* the file is uploaded and the
   operation started (at most five at once, ``LIMIT_REACHED`` waits for the next step);
2. each line is ``productSet(identifier: {handle})``: an upsert, so a crash anywhere and a rerun of the same lines
   never create a second product (the same protection the per-call path gets from adopting by handle);
3. a completed operation's result file is streamed and mapped back in batches through the binder
   (``bind_written_many``: the per-call path's rules); a line with ``userErrors`` dead-letters its job with them;
4. what ``productSet`` does not cover follows as bulk operations too: ``metafieldsSet`` (the PIM's own keys only,
   so other apps' metafields stay) and ``publishablePublish`` (sales channels); then the jobs are done.

Bound products (re-publishes) keep the per-call path: their drift check reads the live product first.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from outbox.leases import lease_take
from pim.models import Product, Variant

from .bulk_models import BulkPublishLine, BulkPublishOperation, BulkPublishRun
from .bulk_publish_results import _fail_run, _finish, _poll_and_map
from .bulk_rows import rows_update
from .clients import client_for_store
from .models import ChannelAssignment, ImageBinding, Store, SyncJob, VariantBinding
from .payloads import product_input_for_sections, publish_plan_build
from .publications import publications_resolve
from .services import PUBLISH_QUEUE, sync_jobs_dispatch
from .shopify import bulk_mutation_api as api
from .shopify.exceptions import ShopifyBulkLimitReached, ShopifyError
from .shopify.ids import to_gid

logger = logging.getLogger(__name__)

CHUNK = 500
OPEN_RUN_STATES = (BulkPublishRun.Status.PREPARING, BulkPublishRun.Status.RUNNING, BulkPublishRun.Status.FOLLOW_UP)
KIND_MUTATION = {
    BulkPublishOperation.Kind.PRODUCT_SET: api.BULK_PRODUCT_SET,
    BulkPublishOperation.Kind.METAFIELDS: api.BULK_METAFIELDS_SET,
    BulkPublishOperation.Kind.PUBLICATIONS: api.BULK_PUBLISHABLE_PUBLISH,
}


def _worker(run_id: int) -> str:
    return f"bulk-run:{run_id}"


# --- choosing the bulk path -------------------------------------------------------------------------------


def bulk_publish_claim(*, store: Store, job_ids: Iterable[int]) -> set[int]:
    """Take the store's pending first publishes among ``job_ids`` into a new bulk run if there are more than
    ``BULK_PUBLISH_THRESHOLD``; return the job ids taken (the caller dispatches the others per call).

    Runs inside the caller's transaction; the run's first step is enqueued after commit. A store that already has
    an open run gets no second one (its jobs go per call). Raises nothing of its own.
    """
    if BulkPublishRun.objects.filter(store=store, status__in=OPEN_RUN_STATES).exists():
        return set()
    rows = list(
        SyncJob.objects.filter(
            pk__in=list(job_ids), store=store, status=SyncJob.Status.PENDING, kind=SyncJob.Kind.PUBLISH,
            product__isnull=False, product__assignments__store=store, product__assignments__publish=True,
            product__assignments__shopify_product_id="", product__assignments__held=False,
        ).values_list("pk", "product__assignments__pk")
    )
    if len(rows) <= settings.BULK_PUBLISH_THRESHOLD:
        return set()
    now = timezone.now()
    run = BulkPublishRun.objects.create(store=store, total_lines=len(rows), next_step_at=now)
    taken = [pk for pk, _ in rows]
    SyncJob.objects.filter(pk__in=taken).update(
        status=SyncJob.Status.RUNNING, attempts=F("attempts") + 1, started_at=now, worker=_worker(run.pk),
        lease_until=now + timedelta(seconds=settings.BULK_PUBLISH_LEASE_SECONDS), updated_at=now,
    )
    BulkPublishLine.objects.bulk_create(
        [BulkPublishLine(run=run, job_id=pk, assignment_id=assignment_id) for pk, assignment_id in rows],
        batch_size=2000,
    )
    transaction.on_commit(lambda: bulk_publish_enqueue(run_id=run.pk))
    return set(taken)


def bulk_publish_enqueue(*, run_id: int, delay: float | None = None) -> None:
    """Queue the run's next step (after ``delay`` seconds). Redis down: logged; the sweeper queues it later."""
    import django_rq

    from .tasks import bulk_publish_step_run

    try:
        queue = django_rq.get_queue(PUBLISH_QUEUE)
        if delay:
            queue.enqueue_in(timedelta(seconds=delay), bulk_publish_step_run, run_id)
        else:
            queue.enqueue(bulk_publish_step_run, run_id)
    except Exception:
        logger.exception("could not enqueue bulk publish run %s; the sweeper will", run_id)


def bulk_publish_sweep(*, now=None) -> int:
    """Re-queue open runs whose step is overdue (a lost RQ job or a worker that died mid-step); return how many."""
    now = now or timezone.now()
    overdue = list(
        BulkPublishRun.objects.filter(status__in=OPEN_RUN_STATES, next_step_at__lte=now).values_list("pk", flat=True)
    )
    for run_id in overdue:
        bulk_publish_enqueue(run_id=run_id)
    return len(overdue)


def bulk_publish_wake(*, store: Store, operation_id: str) -> str:
    """A bulk operation of ``store`` finished (the ``bulk_operations/finish`` webhook): make the open run that
    started it due now and queue its step after commit, instead of waiting for its next poll; return a note.

    A run whose step is running (leased) is left alone: that step or the next poll sees the operation finished.
    An operation that is not a bulk publish's (another app's, a reconcile export) is ignored. Raises nothing.
    """
    open_runs = BulkPublishRun.objects.filter(store=store, status__in=OPEN_RUN_STATES)
    run_id = (BulkPublishOperation.objects.filter(run__in=open_runs, shopify_operation_id=operation_id)
              .values_list("run_id", flat=True).first()
              or open_runs.filter(handles_operation_id=operation_id).values_list("pk", flat=True).first())
    if not operation_id or run_id is None:
        return "not an open bulk publish's operation: ignored"
    now = timezone.now()
    polling = Q(next_step_at__isnull=True) | Q(next_step_at__lte=now + timedelta(seconds=settings.BULK_PUBLISH_POLL_SECONDS))
    if not BulkPublishRun.objects.filter(pk=run_id).filter(polling).update(next_step_at=now):
        return f"bulk publish run {run_id}: a step is running"
    transaction.on_commit(lambda: bulk_publish_enqueue(run_id=run_id))
    return f"bulk publish run {run_id} woken"


# --- one step ------------------------------------------------------------------------------------------------


def bulk_publish_step(*, run_id: int) -> str:
    """Advance a bulk run by one step (poll, map, start operations, follow up, finish); return its status.

    Idempotent and safe to run twice at once: a step claims the run by moving ``next_step_at`` forward (a lease);
    a step that is not due, or a finished run, does nothing. Shopify errors are recorded on the run and the step
    is retried at the next poll; a terminal one (e.g. access denied) fails the run and its open jobs.
    """
    now = timezone.now()
    claimed = lease_take(rows=BulkPublishRun.objects.filter(pk=run_id, status__in=OPEN_RUN_STATES),
                         field="next_step_at", seconds=settings.BULK_PUBLISH_STEP_LEASE_SECONDS, now=now)
    if not claimed:
        return "not-due"
    run = BulkPublishRun.objects.select_related("store").get(pk=run_id)
    client = client_for_store(run.store)
    try:
        _poll_and_map(run, client)
        if run.status == BulkPublishRun.Status.PREPARING and not run.handles_checked:
            _check_handles(run, client)
        if run.status == BulkPublishRun.Status.PREPARING and run.handles_checked:
            _start_product_set_operations(run, client)
        if run.status == BulkPublishRun.Status.RUNNING and _all_mapped(run, BulkPublishOperation.Kind.PRODUCT_SET):
            _start_follow_ups(run, client)
        if run.status == BulkPublishRun.Status.FOLLOW_UP and _all_mapped(run, None):
            _finish(run)
    except ShopifyError as exc:
        logger.warning("bulk publish run %s: %s", run.pk, exc)
        BulkPublishRun.objects.filter(pk=run.pk).update(error=str(exc)[:2000])
        if not exc.retryable:
            _fail_run(run, str(exc))
            return BulkPublishRun.Status.FAILED
    finally:
        client.close()
    run.refresh_from_db()
    if run.status in OPEN_RUN_STATES:
        BulkPublishRun.objects.filter(pk=run.pk).update(
            next_step_at=timezone.now() + timedelta(seconds=settings.BULK_PUBLISH_POLL_SECONDS))
        bulk_publish_enqueue(run_id=run.pk, delay=settings.BULK_PUBLISH_POLL_SECONDS)
    return run.status


def _check_handles(run: BulkPublishRun, client) -> None:
    """Find the run's handles Shopify already has (one bulk query, polled by later steps, never waited on).

    A handle held by a product with our SKUs is ours (a crash after an earlier create, or a store reconciled
    earlier): the handle upsert adopts it, as the per-call path's adoption does. A handle held by another product
    sends that line back to the per-call path, which refuses it with PublishConflict rather than overwrite it.
    """
    if not run.handles_operation_id:
        started = client.bulk_start(query=api.BULK_HANDLES_QUERY)
        BulkPublishRun.objects.filter(pk=run.pk).update(handles_operation_id=started["id"])
        run.handles_operation_id = started["id"]
        return
    state = client.bulk_status(operation_id=run.handles_operation_id)
    if state is None or state["status"] in ("FAILED", "CANCELED", "EXPIRED"):
        BulkPublishRun.objects.filter(pk=run.pk).update(handles_operation_id="")  # start it again next step
        raise ShopifyError(f"the handle check ended {state and state['status']}", shop_domain=run.store.shop_domain)
    if state["status"] != "COMPLETED":
        return
    ours: dict[str, int] = {}
    for line in run.lines.filter(status=BulkPublishLine.Status.PENDING).values(
            "pk", "assignment__handle_override", "assignment__product__handle"):
        ours[line["assignment__handle_override"] or line["assignment__product__handle"]] = line["pk"]
    clashing: list[int] = []
    if state.get("url"):
        for node in client.bulk_download(url=state["url"]):
            line_id = ours.get(node.get("handle"))
            if line_id is None:
                continue
            their_skus = {v.get("sku") for v in node.get("variants") or []}
            our_skus = set(Variant.objects.filter(product__assignments__bulk_lines=line_id)
                           .values_list("sku", flat=True))
            if our_skus - their_skus:
                clashing.append(line_id)
    _release(list(BulkPublishLine.objects.filter(pk__in=clashing)))
    BulkPublishRun.objects.filter(pk=run.pk).update(handles_checked=True, total_lines=run.lines.count())
    run.handles_checked = True


def _all_mapped(run: BulkPublishRun, kind: str | None) -> bool:
    ops = run.operations.all() if kind is None else run.operations.filter(kind=kind)
    if kind == BulkPublishOperation.Kind.PRODUCT_SET and run.lines.filter(operation__isnull=True,
                                                                         status=BulkPublishLine.Status.PENDING).exists():
        return False
    return not ops.filter(mapped=False).exists()


def _running_count(run: BulkPublishRun) -> int:
    return run.operations.exclude(shopify_operation_id="").filter(mapped=False).count()


# --- generating and starting ----------------------------------------------------------------------------------


class _File:
    """A temporary JSONL file being filled for one operation."""

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="pim-bulk-", suffix=".jsonl")
        self.fh = os.fdopen(fd, "wb")
        self.size = 0
        self.count = 0

    def fits(self, line: bytes) -> bool:
        return self.count == 0 or (self.size + len(line) <= settings.BULK_PUBLISH_MAX_FILE_BYTES
                                   and self.count < settings.BULK_PUBLISH_MAX_LINES_PER_FILE)

    def write(self, line: bytes) -> int:
        self.fh.write(line)
        self.size += len(line)
        self.count += 1
        return self.count - 1

    def close(self) -> None:
        if not self.fh.closed:
            self.fh.close()

    def discard(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _start(run: BulkPublishRun, client, op: BulkPublishOperation, file: _File) -> bool:
    """Upload ``file`` and start ``op``; False when the shop's concurrency limit is reached (try next step)."""
    file.close()
    try:
        path = api.staged_upload(client, path=file.path, filename=f"pim-run{run.pk}-{op.kind}-{op.index}.jsonl")
        started = api.bulk_mutation_start(client, mutation=KIND_MUTATION[op.kind], staged_path=path,
                                          client_identifier=f"pim-bulk-run-{run.pk}-{op.kind}-{op.index}")
    except ShopifyBulkLimitReached:
        return False
    finally:
        file.discard()
    BulkPublishOperation.objects.filter(pk=op.pk).update(
        shopify_operation_id=started["id"], status=started.get("status") or "CREATED", started_at=timezone.now(),
        points=F("points") + 20,
    )
    return True


def _new_operation(run: BulkPublishRun, kind: str) -> BulkPublishOperation:
    index = (run.operations.filter(kind=kind).order_by("-index").values_list("index", flat=True).first() or 0) + 1
    return BulkPublishOperation.objects.create(run=run, kind=kind, index=index)


def _start_product_set_operations(run: BulkPublishRun, client) -> None:
    """Write the next file of lines that have no started operation and start it, if a slot is free (one file per
    step: a step stays short; the next step writes the next file)."""
    # An operation created but never started (a crash before or during its upload) is dropped; its lines are
    # written again. Products its file may have created in Shopify are found again by handle (upsert).
    BulkPublishOperation.objects.filter(run=run, kind=BulkPublishOperation.Kind.PRODUCT_SET,
                                        shopify_operation_id="").delete()
    BulkPublishRun.objects.filter(pk=run.pk).update(status=BulkPublishRun.Status.PREPARING)
    if _running_count(run) < api.MAX_CONCURRENT_MUTATIONS:
        _write_and_start_one(run, client)
    if not run.lines.filter(operation__isnull=True, status=BulkPublishLine.Status.PENDING).exists():
        BulkPublishRun.objects.filter(pk=run.pk).update(status=BulkPublishRun.Status.RUNNING)
    run.refresh_from_db()


def _write_and_start_one(run: BulkPublishRun, client) -> None:
    pending = run.lines.filter(operation__isnull=True, status=BulkPublishLine.Status.PENDING)
    while pending.exists():
        op = _new_operation(run, BulkPublishOperation.Kind.PRODUCT_SET)
        file = _File()
        full = False
        while not full and file.count < settings.BULK_PUBLISH_MAX_LINES_PER_FILE:
            chunk = list(pending.select_related("job")[:CHUNK])
            if not chunk:
                break
            written, full = _write_lines(run, op, file, chunk)
            rows_update(model=BulkPublishLine, objs=written, fields=["operation", "line_number", "plan_hash",
                                                                     "snapshot", "metafields", "files"])
        if file.count == 0:  # every line went back to the per-call path
            file.discard()
            op.delete()
            continue
        BulkPublishOperation.objects.filter(pk=op.pk).update(line_count=file.count, file_bytes=file.size)
        if not _start(run, client, op, file):
            # Limit reached: forget this file; its lines are written again at a later step.
            BulkPublishLine.objects.filter(operation=op).update(operation=None, line_number=None)
            op.delete()
        return


def _write_lines(run: BulkPublishRun, op: BulkPublishOperation, file: _File,
                 chunk: list[BulkPublishLine]) -> tuple[list[BulkPublishLine], bool]:
    """Build each line's plan with the per-call payload builder and append it to ``file``.

    Returns the lines written and whether the file is full. Lines the bulk path can't take (not ready, held,
    unassigned, already bound, too many variants) go back to the per-call path.
    """
    store = run.store
    assignments = {
        a.pk: a for a in ChannelAssignment.objects.filter(pk__in=[line.assignment_id for line in chunk])
        .select_related("store", "product", "product__taxonomy")
        .prefetch_related("variant_overrides", "store__metafield_mappings", "product__variants", "product__images",
                          "product__attributes")
    }
    product_ids = [a.product_id for a in assignments.values()]
    bindings: dict[int, dict] = defaultdict(dict)
    for b in VariantBinding.objects.filter(store=store, variant__product_id__in=product_ids).select_related("variant"):
        bindings[b.variant.product_id][b.variant_id] = b
    images: dict[int, dict] = defaultdict(dict)
    for ib in ImageBinding.objects.filter(store=store, image__product_id__in=product_ids).select_related("image"):
        images[ib.image.product_id][ib.image_id] = ib
    written: list[BulkPublishLine] = []
    back: list[BulkPublishLine] = []
    for line in chunk:
        a = assignments.get(line.assignment_id)
        product = a.product if a else None
        if (a is None or not a.publish or a.held or a.shopify_product_id or product is None
                or product.workflow_state != Product.Workflow.READY
                or len(product.variants.all()) > api.BULK_VARIANTS_PER_LINE):
            back.append(line)
            continue
        plan = publish_plan_build(assignment=a, bindings=bindings[product.pk], image_bindings=images[product.pk])
        product_input = product_input_for_sections(plan.product_input, set(), creating=True)
        data = api.jsonl_line({"input": product_input, "identifier": {"handle": plan.snapshot["handle"]}})
        if not file.fits(data):
            break
        line.operation = op
        line.line_number = file.write(data)
        line.plan_hash = plan.hash
        line.snapshot = plan.snapshot
        line.metafields = plan.metafields
        line.files = product_input.get("files") or []
        written.append(line)
    _release(back)
    full = len(written) + len(back) < len(chunk)
    return written, full


def _release(lines: list[BulkPublishLine]) -> None:
    """Give lines' jobs back to the per-call path (pending, dispatched now), which skips or holds them as usual."""
    if not lines:
        return
    job_ids = [line.job_id for line in lines]
    BulkPublishLine.objects.filter(pk__in=[line.pk for line in lines]).delete()
    back = []
    for job_id in job_ids:
        try:
            with transaction.atomic():
                SyncJob.objects.filter(pk=job_id, status=SyncJob.Status.RUNNING).update(
                    status=SyncJob.Status.PENDING, worker="", lease_until=None, dispatched_at=None,
                    next_attempt_at=timezone.now())
            back.append(job_id)
        except IntegrityError:  # a newer edit made a pending job meanwhile: that one publishes the product
            SyncJob.objects.filter(pk=job_id).update(status=SyncJob.Status.SUPERSEDED, finished_at=timezone.now(),
                                                      lease_until=None, result="superseded by a newer edit")
    sync_jobs_dispatch(job_ids=back)


def _start_follow_ups(run: BulkPublishRun, client) -> None:
    """Start the metafieldsSet and publishablePublish operations for the products written."""
    BulkPublishOperation.objects.filter(run=run, shopify_operation_id="").exclude(
        kind=BulkPublishOperation.Kind.PRODUCT_SET).delete()
    written = run.lines.filter(status=BulkPublishLine.Status.WRITTEN).select_related("assignment")
    publication_ids = publications_resolve(client=client, store=run.store, titles=list(run.store.publications or []))
    started_kinds = set(run.operations.exclude(shopify_operation_id="").values_list("kind", flat=True))
    for kind in (BulkPublishOperation.Kind.METAFIELDS, BulkPublishOperation.Kind.PUBLICATIONS):
        if kind in started_kinds:
            continue
        if kind == BulkPublishOperation.Kind.PUBLICATIONS and not publication_ids:
            continue
        op = _new_operation(run, kind)
        file = _File()
        line_map: list[int] = []
        for line in written.iterator(chunk_size=2000):
            owner = to_gid("Product", line.assignment.shopify_product_id)
            if kind == BulkPublishOperation.Kind.METAFIELDS:
                # metafieldsSet takes at most 25 per call; the PIM's own keys only (other apps' stay).
                for start in range(0, len(line.metafields), 25):
                    batch = [{**m, "ownerId": owner} for m in line.metafields[start:start + 25]]
                    file.write(api.jsonl_line({"metafields": batch}))
                    line_map.append(line.pk)
            else:
                file.write(api.jsonl_line({"id": owner, "input": [{"publicationId": p} for p in publication_ids]}))
                line_map.append(line.pk)
        if not line_map:
            file.discard()
            op.delete()
            continue
        BulkPublishOperation.objects.filter(pk=op.pk).update(line_count=len(line_map), file_bytes=file.size,
                                                            line_map=line_map)
        if file.size > settings.BULK_PUBLISH_MAX_FILE_BYTES:  # pragma: no cover - tiny lines; 100 MB is ~500k
            raise ShopifyError("follow-up file above the upload limit", shop_domain=run.store.shop_domain)
        if not _start(run, client, op, file):
            op.delete()
            return  # limit reached: the next step starts it
    BulkPublishRun.objects.filter(pk=run.pk).update(status=BulkPublishRun.Status.FOLLOW_UP)
    run.refresh_from_db()
