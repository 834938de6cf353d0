"""Sync jobs executed together (issue 15): shared reads, one handle look-up and shared metafieldsSet calls.

The publish drain claims up to ``PUBLISH_BATCH_SIZE`` due sync jobs at once and hands them here:

* the products, assignments, overrides, metafield mappings, variant and image bindings of all of them are read in a
  handful of queries, so an unchanged product (the re-publish case) costs no query of its own and no API call;
* the first publishes of a store ask Shopify for all their handles in one query (``products_by_handles``)
  instead of one look-up each;
* the products' metafields go in shared ``metafieldsSet`` calls of up to 25 metafields (``MetafieldsBatch``);
  a product counts as published only after its metafields are set (then its sales channels and binding).

Each job still gets its own outcome: an error of one product (its productSet, or an element Shopify refused in
a shared metafieldsSet, which is atomic) fails that job only; the products sharing the refused call are sent
again without it; a transport error of a shared call fails the products in that call (retried with backoff: the
writes are idempotent, and nothing is bound before they succeeded).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone
from rq.timeouts import BaseTimeoutException

from outbox.kinds import NotRun, Outcome
from pim.models import Product

from .clients import client_for_store
from .media import media_summary, media_wait_processed
from .models import ChannelAssignment, ImageBinding, SyncJob, VariantBinding
from .payloads import publish_plan_build
from .publishing import ExecutionResult, product_publish, product_unpublish
from .shopify.exceptions import ShopifyBudgetWait, ShopifyUserError
from .shopify.metafields_api import (
    MAX_METAFIELDS_PER_CALL,
    metafields_set_batch,
    products_by_handles,
    refused_indexes,
)

logger = logging.getLogger(__name__)


@dataclass
class _Entry:
    key: int
    owner_id: str
    metafields: list[dict]
    finish: Callable[[], None]


@dataclass
class MetafieldsBatch:
    """Metafields of several products of one store, sent together in ``metafieldsSet`` calls of up to 25."""

    entries: list[_Entry] = field(default_factory=list)
    media: dict[int, list[ImageBinding]] = field(default_factory=dict)
    calls: int = 0

    def sink(self, key: int) -> _Sink:
        """What ``product_write`` adds a product's metafields to, for the job ``key``."""
        return _Sink(self, key)

    def flush(self, client) -> dict[int, BaseException]:
        """Send every added product's metafields, then finish each product whose metafields were set.

        Returns the keys that failed with their error (a refused element, a transport error of their call, or
        an error while finishing); the others are finished (sales channels, binding). Never raises.
        """
        failed: dict[int, BaseException] = {}
        for chunk in _pack(self.entries):
            self._send(client, chunk, failed)
        for entry in self.entries:
            if entry.key in failed:
                continue
            try:
                entry.finish()
            except Exception as exc:  # noqa: BLE001 - the product's own outcome
                failed[entry.key] = exc
        self.entries = []
        return failed

    def _send(self, client, chunk: list[_Entry], failed: dict[int, BaseException]) -> None:
        pending = list(chunk)
        while pending:
            inputs, owners = [], []
            for entry in pending:
                for metafield in entry.metafields:
                    inputs.append({**metafield, "ownerId": entry.owner_id})
                    owners.append(entry.key)
            try:
                # One call, unless a single product has more than 25 (then it is alone in its chunk).
                for start in range(0, len(inputs), MAX_METAFIELDS_PER_CALL):
                    self.calls += 1
                    metafields_set_batch(client, metafields=inputs[start:start + MAX_METAFIELDS_PER_CALL])
                return
            except ShopifyUserError as exc:
                # Atomic: nothing of this call was set. Fail the products Shopify named, send the others again.
                bad = {owners[i] for i in refused_indexes(exc) if i < len(owners)}
                if not bad or len(pending) == 1:
                    bad = {entry.key for entry in pending}
                for entry in pending:
                    if entry.key in bad:
                        failed[entry.key] = exc
                pending = [entry for entry in pending if entry.key not in bad]
            except Exception as exc:  # noqa: BLE001 - a transport error fails the products of this call
                for entry in pending:
                    failed[entry.key] = exc
                return


@dataclass
class _Sink:
    batch: MetafieldsBatch
    key: int

    def add(self, *, owner_id: str, metafields: list[dict], finish: Callable[[], None]) -> None:
        self.batch.entries.append(_Entry(self.key, owner_id, list(metafields), finish))

    def add_media(self, *, created: list[ImageBinding]) -> None:
        self.batch.media.setdefault(self.key, []).extend(created)


def _media_notes(client, media: dict[int, list[ImageBinding]]) -> dict[int, str]:
    """Wait for the batch's new media together (one status poll per round for all); a note per job."""
    everything = [b for bindings in media.values() for b in bindings]
    try:
        failed, pending = media_wait_processed(client=client, created=everything)
    except Exception:  # noqa: BLE001 - the products are written; only their media report is missing
        logger.warning("could not read the status of %s new media", len(everything), exc_info=True)
        return {}
    failed_ids, pending_ids = {b.pk for b in failed}, {b.pk for b in pending}
    return {key: media_summary(failed=[b for b in bindings if b.pk in failed_ids],
                               pending=[b for b in bindings if b.pk in pending_ids])
            for key, bindings in media.items()}


def _budget_not_run(exc: ShopifyBudgetWait) -> NotRun:
    """A job given back because its store's cost budget is short: due again when the budget should be there."""
    return NotRun(f"given back unrun: {exc}", retry_after=exc.retry_after or 1.0)


def _pack(entries: list[_Entry]) -> list[list[_Entry]]:
    """Group products into calls of at most 25 metafields without splitting a product (unless it has > 25)."""
    chunks: list[list[_Entry]] = []
    current: list[_Entry] = []
    size = 0
    for entry in entries:
        n = len(entry.metafields)
        if current and size + n > MAX_METAFIELDS_PER_CALL:
            chunks.append(current)
            current, size = [], 0
        current.append(entry)
        size += n
    if current:
        chunks.append(current)
    return chunks


@dataclass
class _Loaded:
    products: dict[int, Product]
    assignments: dict[tuple[int, int], ChannelAssignment]
    bindings: dict[tuple[int, int], dict[int, VariantBinding]]
    images: dict[tuple[int, int], dict[int, ImageBinding]]


def _load(jobs: list[SyncJob]) -> _Loaded:
    """Read what the jobs' publishes need, for all of them at once (a fixed number of queries)."""
    product_ids = {job.product_id for job in jobs if job.product_id}
    store_ids = {job.store_id for job in jobs}
    products = {p.pk: p for p in Product.objects.filter(pk__in=product_ids).select_related("taxonomy")
                .prefetch_related("variants", "images", "attributes")}
    assignments = {
        (a.store_id, a.product_id): a
        for a in ChannelAssignment.objects.filter(store_id__in=store_ids, product_id__in=products)
        .select_related("store").prefetch_related("variant_overrides", "store__metafield_mappings")
    }
    product_of_variant = {v.pk: p.pk for p in products.values() for v in p.variants.all()}
    product_of_image = {i.pk: p.pk for p in products.values() for i in p.images.all()}
    bindings: dict[tuple[int, int], dict[int, VariantBinding]] = defaultdict(dict)
    for b in VariantBinding.objects.filter(store_id__in=store_ids, variant_id__in=product_of_variant):
        bindings[(b.store_id, product_of_variant[b.variant_id])][b.variant_id] = b
    images: dict[tuple[int, int], dict[int, ImageBinding]] = defaultdict(dict)
    for b in ImageBinding.objects.filter(store_id__in=store_ids, image_id__in=product_of_image):
        images[(b.store_id, product_of_image[b.image_id])][b.image_id] = b
    return _Loaded(products, assignments, bindings, images)


def _lease_renewer(jobs: list[SyncJob]) -> Callable[[], None]:
    """Extend the batch's leases while it runs (a batch of slow writes may outlast one lease)."""
    every = max(1.0, settings.SYNC_JOB_LEASE_SECONDS / 4)
    state = {"at": time.monotonic()}

    def renew() -> None:
        if time.monotonic() - state["at"] < every:
            return
        state["at"] = time.monotonic()
        SyncJob.objects.filter(pk__in=[j.pk for j in jobs], status=SyncJob.Status.RUNNING).update(
            lease_until=timezone.now() + timedelta(seconds=settings.SYNC_JOB_LEASE_SECONDS))

    return renew


@contextmanager
def _lease_heartbeat(jobs: list[SyncJob]) -> Iterator[None]:
    """Keep the batch's leases alive from a thread while the batch runs.

    The batch renews its leases between products, but one step can outlast a lease (the media polls after a
    store's products, a slow write on a loaded machine). A lease that expires while the batch still works lets the
    sweeper hand its jobs to another worker: two workers then publish the same product, the second create is
    refused (HANDLE_NOT_UNIQUE) and dead-lettered while the first one's success is refused as stale. The thread
    dies with its process, so a killed worker's leases still expire when they should. Inside a transaction (a
    test running the batch in one) the rows are not visible to another connection: nothing to do.
    """
    if connection.in_atomic_block:
        yield
        return
    stop = threading.Event()
    every = max(0.5, settings.SYNC_JOB_LEASE_SECONDS / 4)
    pks = [job.pk for job in jobs]

    def beat() -> None:
        try:
            while not stop.wait(every):
                SyncJob.objects.filter(pk__in=pks, status=SyncJob.Status.RUNNING).update(
                    lease_until=timezone.now() + timedelta(seconds=settings.SYNC_JOB_LEASE_SECONDS))
        except Exception:  # noqa: BLE001 - the per-product renewals still run; the sweeper decides
            logger.warning("sync job lease heartbeat stopped", exc_info=True)
        finally:
            connections.close_all()  # this thread's own connection

    thread = threading.Thread(target=beat, name="sync-lease-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def sync_jobs_execute_batch(*, jobs: list[SyncJob], should_yield: Callable[[], bool] | None = None,
                            ) -> dict[int, Outcome | BaseException]:
    """Run claimed sync jobs together; return each job's outcome, or the exception it failed with, by id.

    Reads for all jobs at once, looks up the handles of first publishes per store in one query, and sends the
    products' metafields in shared calls (``MetafieldsBatch``). Never raises for one job's error: it is that
    job's result (the outbox retries or dead-letters it). ``should_yield`` is asked before each product write after
    the first: when it says yes (order work waits on a higher lane), the products not written yet come back as
    ``NotRun`` and the outbox gives their jobs back unrun. A product write that would wait longer than
    ``PUBLISH_BUDGET_WAIT_SECONDS`` for the store's cost budget is not sent: it and the store's other unwritten
    products come back as ``NotRun`` due when the budget has refilled, so the worker is free meanwhile (the products
    written before are finished as usual). Must not run inside a transaction (it calls Shopify).
    """
    loaded = _load(jobs)
    results: dict[int, Outcome | BaseException] = {}
    ready: list[tuple[SyncJob, ChannelAssignment, Product, object]] = []
    for job in jobs:
        try:
            product = loaded.products.get(job.product_id) if job.product_id else None
            assignment = loaded.assignments.get((job.store_id, product.pk)) if product else None
            if product is None or assignment is None or not assignment.publish:
                results[job.pk] = product_unpublish(job=job, assignment=assignment)
            elif product.workflow_state != Product.Workflow.READY:
                results[job.pk] = ExecutionResult(SyncJob.Status.SKIPPED, f"workflow state is {product.workflow_state}")
            elif assignment.held:
                results[job.pk] = ExecutionResult(SyncJob.Status.HELD, "held by an unresolved conflict")
            else:
                assignment.product = product
                key = (job.store_id, product.pk)
                plan = publish_plan_build(assignment=assignment, bindings=loaded.bindings.get(key, {}),
                                          image_bindings=loaded.images.get(key, {}))
                if assignment.shopify_product_id and plan.hash == assignment.published_hash:
                    results[job.pk] = ExecutionResult(SyncJob.Status.SKIPPED, "unchanged since last publish")
                else:
                    ready.append((job, assignment, product, plan))
        except Exception as exc:  # noqa: BLE001 - this job's outcome
            results[job.pk] = exc
    if ready:
        with _lease_heartbeat(jobs):
            results.update(_publish_ready(ready, loaded, _lease_renewer(jobs), should_yield))
    for job in jobs:
        result = results.get(job.pk)
        if isinstance(result, Outcome):
            done = result.status == SyncJob.Status.DONE
            result.fields["latency_ms"] = (int((timezone.now() - job.first_edit_at).total_seconds() * 1000)
                                           if done else None)
    return results


def _publish_ready(ready, loaded: _Loaded, renew: Callable[[], None],
                   should_yield: Callable[[], bool] | None = None) -> dict[int, Outcome | BaseException]:
    """Write the changed products of the batch, store by store; metafields shared, flushed at the end."""
    results: dict[int, Outcome | BaseException] = {}
    written, yielded = 0, False
    by_store: dict[int, list] = defaultdict(list)
    for item in ready:
        by_store[item[0].store_id].append(item)
    for items in by_store.values():
        if yielded:
            results.update({item[0].pk: NotRun("yielded to a higher lane") for item in items})
            continue
        store = items[0][1].store
        client = client_for_store(store)
        unbound = [plan.snapshot["handle"] for _, a, _, plan in items if not a.shopify_product_id]
        handles_found: dict[str, str] | None = None
        budget_short: ShopifyBudgetWait | None = None
        if len(unbound) > 1:
            try:
                with client.budget_wait_limit(settings.PUBLISH_BUDGET_WAIT_SECONDS):
                    handles_found = products_by_handles(client, handles=unbound)
            except ShopifyBudgetWait as exc:  # not sent: the store's products wait for the budget (below)
                budget_short = exc
            except Exception:  # noqa: BLE001 - each product then looks its handle up itself
                logger.warning("store %s: batched handle look-up failed; looking up one by one", store.name,
                               exc_info=True)
        batch = MetafieldsBatch()
        deferred: set[int] = set()
        for job, assignment, product, plan in items:
            # A batch takes seconds; an order waiting on a higher lane must not wait for all of it (issue 15).
            if not yielded and written and should_yield is not None and should_yield():
                yielded = True
            if yielded:
                results[job.pk] = NotRun("yielded to a higher lane")
                continue
            if budget_short is not None:
                results[job.pk] = _budget_not_run(budget_short)
                continue
            renew()
            key = (job.store_id, product.pk)
            try:
                before = len(batch.entries)
                # Sleeping for the budget here would hold the worker (and the order lane behind it) idle.
                with client.budget_wait_limit(settings.PUBLISH_BUDGET_WAIT_SECONDS):
                    results[job.pk] = product_publish(
                        job=job, assignment=assignment, product=product, bindings=loaded.bindings.get(key, {}),
                        images=loaded.images.get(key, {}), plan=plan, handles_found=handles_found,
                        batch=batch.sink(job.pk), client=client)
                written += 1
                if len(batch.entries) > before:
                    deferred.add(job.pk)
            except BaseTimeoutException:  # RQ's job timeout: the whole batch is out of time, not this product
                raise
            except ShopifyBudgetWait as exc:  # not sent: this and the store's later products wait for the budget
                budget_short = exc
                results[job.pk] = _budget_not_run(exc)
                batch.media.pop(job.pk, None)
            except Exception as exc:  # noqa: BLE001 - this job's outcome
                written += 1
                results[job.pk] = exc
                batch.media.pop(job.pk, None)
        if deferred:
            renew()
            results.update(batch.flush(client))
        if batch.media:  # last: the longer since the uploads, the fewer polls (the products are written already)
            renew()
            for pk, note in _media_notes(client, batch.media).items():
                result = results.get(pk)
                if note and isinstance(result, Outcome):
                    result.detail = f"{result.detail}; {note}"
    return results
