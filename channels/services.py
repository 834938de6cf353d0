"""Write services of the publishing pipeline: assignments, the sync-job outbox, workers' execution, sweeping.

The life of a change: a catalog service calls ``sync_jobs_record_for_products`` inside its transaction, which
upserts one pending job per (store, product); after commit the job ids go to the RQ ``publish`` queue. A worker
runs ``sync_job_execute``: it claims the job without blocking and runs the publish's stages
(``channels.publishing``: plan, live read, compare, policy, write, bind). Failures are retried with backoff, then dead-lettered; ``sync_jobs_sweep`` makes sure nothing is
lost when a worker dies or Redis forgets its queues.
"""

from __future__ import annotations

import logging
import os
import random
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from pim.models import Product
from pim.validators import validate_tags

from .clients import client_for_store
from .models import (
    ChannelAssignment,
    Store,
    SyncAttempt,
    SyncJob,
)
from .publish_modes import assignments_mark_waiting, publish_waiting
from .publishing import ExecutionResult, PublishConflict, product_publish, product_unpublish  # noqa: F401 - re-exported
from .shopify.exceptions import (
    ShopifyError,
    ShopifyNetworkError,
    ShopifyServerError,
    ShopifyShopUnavailable,
    ShopifyThrottled,
)

logger = logging.getLogger(__name__)

PUBLISH_QUEUE = "publish"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- recording jobs (the outbox) ----------------------------------------------------------------------


def _upsert_pending_job(*, store_id: int, product_id: int | None, label: str, shopify_product_id: str) -> int:
    """Insert a pending job or coalesce into the existing one; return its id. Runs in the caller's transaction."""
    now = timezone.now()
    table = SyncJob._meta.db_table
    sql = f"""
        INSERT INTO {table} (store_id, product_id, product_label, shopify_product_id, kind, status, attempts,
                             max_attempts, next_attempt_at, first_edit_at, last_edit_at, worker, result,
                             last_error, created_at, updated_at)
        VALUES (%s, %s, %s, %s, 'publish', 'pending', 0, %s, %s, %s, %s, '', '', '', %s, %s)
        ON CONFLICT (store_id, product_id, kind) WHERE status = 'pending'
        DO UPDATE SET last_edit_at = EXCLUDED.last_edit_at, updated_at = EXCLUDED.updated_at,
                      product_label = EXCLUDED.product_label
        RETURNING id
    """  # noqa: S608 - table name comes from the model, values are parameters
    params = [store_id, product_id, label[:255], shopify_product_id, settings.SYNC_JOB_MAX_ATTEMPTS,
              now, now, now, now, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def sync_jobs_record_for_products(*, product_ids: Iterable[int], deleted: bool = False) -> list[int]:
    """Record one pending sync job per (active store, product) the products are assigned to.

    Must run inside the transaction that made the change; the job ids are dispatched to RQ after commit.
    Edits to a product that already has a pending job coalesce into it. Returns the job ids.
    """
    ids = list(product_ids)
    if not ids:
        return []
    if not deleted:  # issue 19: a product that now matches (or no longer matches) a store's rule
        from .assignment_rules import assignment_rules_apply

        assignment_rules_apply(product_ids=ids)
    assignments = ChannelAssignment.objects.filter(product_id__in=ids, store__is_active=True).select_related(
        "product", "store"
    )
    job_ids, waiting = [], []
    for assignment in assignments:
        if not assignment.publish and not assignment.shopify_product_id:
            continue  # never published there and not wanted: nothing to do
        if not deleted and assignment.publish and assignment.store.publish_mode != Store.PublishMode.IMMEDIATE:
            waiting.append(assignment.pk)  # the store's next batch or a publish request sends it
            continue
        job_ids.append(
            _upsert_pending_job(
                store_id=assignment.store_id,
                product_id=None if deleted else assignment.product_id,
                label=assignment.product.title,
                shopify_product_id=assignment.shopify_product_id,
            )
        )
    assignments_mark_waiting(assignment_ids=waiting)
    sync_jobs_dispatch_on_commit(job_ids=job_ids)
    return job_ids


def sync_jobs_dispatch_on_commit(*, job_ids: list[int]) -> None:
    """Send the jobs to RQ once the surrounding transaction commits (never before: a worker must see them)."""
    if job_ids:
        transaction.on_commit(lambda: sync_jobs_dispatch(job_ids=job_ids))


def sync_jobs_dispatch(*, job_ids: Iterable[int], delay: float | None = None) -> int:
    """Enqueue the given pending jobs on the ``publish`` queue, oldest first; return how many were sent.

    Jobs whose store's circuit is open stay pending (the sweeper sends them when the store answers again).
    A failure to reach Redis is logged, not raised: the jobs stay pending in PostgreSQL and the sweeper
    dispatches them later, so the caller's edit is never lost or failed because Redis is down.
    """
    import django_rq

    from .tasks import sync_job_run

    ids = list(job_ids)
    if not ids:
        return 0
    now = timezone.now()
    jobs = list(
        SyncJob.objects.filter(pk__in=ids, status=SyncJob.Status.PENDING)
        .select_related("store")
        .order_by("first_edit_at", "id")
    )
    sent = []
    try:
        queue = django_rq.get_queue(PUBLISH_QUEUE)
        jobs = [job for job in jobs if not job.store.circuit_is_open(now)]
        waiting = set() if delay else _rq_jobs_waiting(queue, [f"sync-{job.pk}-{job.attempts}" for job in jobs])
        for job in jobs:
            rq_id = f"sync-{job.pk}-{job.attempts}"
            if delay:
                queue.enqueue_in(timedelta(seconds=delay), sync_job_run, job.pk, job_id=rq_id)
            elif rq_id not in waiting:  # still queued: pushing it again would only run it twice
                queue.enqueue(sync_job_run, job.pk, job_id=rq_id)
            sent.append(job.pk)
    except Exception:  # Redis down: the sweeper re-dispatches from PostgreSQL.
        logger.exception("could not enqueue sync jobs %s; the sweeper will retry", ids)
    if sent:
        SyncJob.objects.filter(pk__in=sent).update(dispatched_at=now)
    return len(sent)


def _rq_jobs_waiting(queue: Any, rq_ids: list[str]) -> set[str]:
    """Return the ids among ``rq_ids`` whose RQ job still waits in ``queue`` (status queued, not dequeued).

    RQ pushes a job id onto the queue again each time it is enqueued, even when it is already there; a sweeper
    re-dispatching a backlog slower than SYNC_REDISPATCH_AFTER_SECONDS would pile up copies that bury the lower
    queues (webhooks). A job dequeued by a worker that died before starting it (RQ's intermediate queue) no
    longer waits, nor does a job whose data Redis lost.
    """
    from rq.job import Job

    if not rq_ids:
        return set()
    pipe = queue.connection.pipeline(transaction=False)
    for rq_id in rq_ids:
        pipe.hget(Job.key_for(rq_id), "status")
        pipe.lpos(queue.intermediate_queue_key, rq_id)
    replies = pipe.execute()
    return {rq_id for rq_id, status, dequeued in zip(rq_ids, replies[::2], replies[1::2], strict=True)
            if status in (b"queued", "queued") and dequeued is None}


# --- assignments --------------------------------------------------------------------------------------


@transaction.atomic
def assignment_set(*, product: Product, store: Store, publish: bool = True, **overrides: Any) -> ChannelAssignment:
    """Assign ``product`` to ``store`` (or change its publish flag and overrides) and record a sync job.

    ``overrides`` may hold title_override, tags_override, status_override and handle_override. Unassigning
    (publish=False) sets the product to draft or archived in that store, per the store's setting.
    """
    allowed = {"title_override", "tags_override", "status_override", "handle_override"}
    unknown = set(overrides) - allowed
    if unknown:
        raise ValueError(f"unknown assignment fields: {', '.join(sorted(unknown))}")
    assignment, _ = ChannelAssignment.objects.get_or_create(product=product, store=store)
    assignment.publish = publish
    for name, value in overrides.items():
        setattr(assignment, name, value)
    assignment.full_clean()
    if assignment.tags_override:
        try:
            validate_tags(assignment.tags_override)
        except ValidationError as exc:
            raise ValidationError({"tags_override": exc.messages}) from None
    assignment.save()
    sync_jobs_record_for_products(product_ids=[product.pk])
    return assignment


@transaction.atomic
def assignments_bulk_set(*, store: Store, product_ids: Iterable[int], publish: bool = True,
                         actor: Any = None) -> int:
    """Assign many products to a store at once (or stop publishing them there with ``publish=False``), keep the
    assignments' history (who, when), and record their sync jobs; return how many products were given."""
    from simple_history.utils import bulk_create_with_history, bulk_update_with_history

    ids = list(product_ids)
    existing = list(ChannelAssignment.objects.filter(store=store, product_id__in=ids))
    have = {a.product_id for a in existing}
    bulk_create_with_history(
        [ChannelAssignment(store=store, product_id=pid, publish=publish) for pid in ids if pid not in have],
        ChannelAssignment, batch_size=1000, default_user=actor, default_change_reason="Bulk assignment",
    )
    changed = [a for a in existing if a.publish != publish]
    for assignment in changed:
        assignment.publish = publish
    if changed:
        bulk_update_with_history(changed, ChannelAssignment, ["publish"], batch_size=1000, default_user=actor,
                                 default_change_reason="Bulk assignment")
    sync_jobs_record_for_products(product_ids=ids)
    return len(ids)


# --- executing a job ----------------------------------------------------------------------------------


def _claim(job_id: int, worker: str) -> SyncJob | None:
    """Move a due pending job to running under a lease, or return None without waiting on any lock."""
    now = timezone.now()
    with transaction.atomic():
        # of=("self",): lock only the job row. Locking the joined store row too would make concurrent
        # claims for the same store skip each other's jobs.
        job = (
            SyncJob.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("store")
            .filter(pk=job_id, status=SyncJob.Status.PENDING)
            .first()
        )
        if job is None:
            return None
        store = job.store
        if not store.is_active:
            return None
        if store.circuit_is_open(now):
            # Stays pending; the sweeper dispatches it when the circuit lets a probe through.
            SyncJob.objects.filter(pk=job.pk).update(dispatched_at=None)
            return None
        busy = SyncJob.objects.filter(store_id=job.store_id, status=SyncJob.Status.RUNNING, lease_until__gt=now)
        if job.product_id is not None:
            same_product = busy.filter(product_id=job.product_id).exclude(pk=job.pk).exists()
        else:
            same_product = busy.filter(shopify_product_id=job.shopify_product_id).exclude(pk=job.pk).exists()
        half_open = store.circuit_failures >= settings.SYNC_CIRCUIT_THRESHOLD
        if same_product or (half_open and busy.exists()):
            # Another worker has this product (or the store's one probe): come back shortly, don't block.
            job.next_attempt_at = now + timedelta(seconds=1)
            job.dispatched_at = None
            job.save(update_fields=["next_attempt_at", "dispatched_at", "updated_at"])
            transaction.on_commit(lambda: sync_jobs_dispatch(job_ids=[job_id], delay=1))
            return None
        job.status = SyncJob.Status.RUNNING
        job.attempts = F("attempts") + 1
        job.started_at = now
        job.lease_until = now + timedelta(seconds=settings.SYNC_JOB_LEASE_SECONDS)
        job.worker = worker[:255]
        job.save(update_fields=["status", "attempts", "started_at", "lease_until", "worker", "updated_at"])
        job.refresh_from_db()
        return job


def sync_job_execute(*, job_id: int, worker: str | None = None) -> ExecutionResult:
    """Run one sync job: claim it, publish or unpublish the product in its store, and record the outcome.

    Idempotent: a job that is not pending (already done, running elsewhere, dead) is left alone. Retryable
    Shopify errors and passing database errors (canceled statements, deadlocks, dropped connections) put the job
    back to pending with backoff and jitter; terminal errors and exhausted retries dead-letter it with the error.
    Never raises for Shopify errors.
    """
    worker = worker or worker_name()
    job = _claim(job_id, worker)
    if job is None:
        return ExecutionResult("not-claimed")
    attempt = SyncAttempt.objects.create(
        job=job, number=job.attempts, started_at=timezone.now(), outcome="running", worker=worker[:255]
    )
    try:
        result = _run(job)
    except ShopifyError as exc:
        return _fail(job, attempt, exc, retryable=exc.retryable)
    except (OperationalError, InterfaceError) as exc:
        # The database, not the data: a canceled statement (statement or lock timeout, an operator), a deadlock
        # victim, a dropped connection. The same job succeeds on a later try; dead-lettering it would lose the edit.
        logger.warning("sync job %s: database error, will retry: %s", job.pk, exc)
        return _fail(job, attempt, exc, retryable=True)
    except Exception as exc:  # a bug or bad data: terminal, recorded, never silently lost
        logger.exception("sync job %s failed unexpectedly", job.pk)
        return _fail(job, attempt, exc, retryable=False)
    _succeed(job, attempt, result)
    # Issue 19: once a product is live in (or gone from) a store, its mapped collections and translations there
    # follow (their own outbox rows, recorded right after this job is done).
    from .collections import collections_after_product_job

    collections_after_product_job(store_id=job.store_id, product_id=job.product_id, status=result.status)
    return result


def _run(job: SyncJob) -> ExecutionResult:
    store = job.store
    product = (
        Product.objects.filter(pk=job.product_id)
        .prefetch_related("variants", "images", "attributes")
        .first()
        if job.product_id
        else None
    )
    assignment = (
        ChannelAssignment.objects.filter(store=store, product=product)
        .select_related("store", "product")
        .prefetch_related("variant_overrides", "store__metafield_mappings")
        .first()
        if product
        else None
    )
    if product is None or assignment is None or not assignment.publish:
        return product_unpublish(job=job, assignment=assignment)
    if product.workflow_state != Product.Workflow.READY:
        return ExecutionResult(SyncJob.Status.SKIPPED, f"workflow state is {product.workflow_state}")
    if assignment.held:
        return ExecutionResult(SyncJob.Status.HELD, "held by an unresolved conflict")
    return product_publish(job=job, assignment=assignment, product=product)


def _finish_attempt(attempt: SyncAttempt, outcome: str, exc: BaseException | None = None, retryable=False) -> None:
    attempt.finished_at = timezone.now()
    attempt.outcome = outcome
    if exc is not None:
        attempt.error_type = type(exc).__name__
        attempt.error = str(exc)[:4000]
        attempt.retryable = retryable
    attempt.save()


def _succeed(job: SyncJob, attempt: SyncAttempt, result: ExecutionResult) -> None:
    now = timezone.now()
    _finish_attempt(attempt, result.status)
    latency = None
    if result.status == SyncJob.Status.DONE:
        latency = int((now - job.first_edit_at).total_seconds() * 1000)
    SyncJob.objects.filter(pk=job.pk).update(
        status=result.status,
        result=result.detail[:255],
        finished_at=now,
        lease_until=None,
        latency_ms=latency,
        last_error="",
    )
    store = job.store
    if store.unavailable_reason:
        Store.objects.filter(pk=store.pk).update(unavailable_reason="")
    if store.circuit_failures or store.circuit_open_until:
        # The store answers again: close the circuit and send its backlog, oldest first.
        Store.objects.filter(pk=store.pk).update(circuit_failures=0, circuit_open_until=None)
        backlog = list(
            SyncJob.objects.filter(store=store, status=SyncJob.Status.PENDING)
            .order_by("first_edit_at", "id")
            .values_list("pk", flat=True)
        )
        sync_jobs_dispatch(job_ids=backlog)


def backoff_seconds(attempts: int) -> float:
    """Return the delay before the next try after ``attempts`` failures, with jitter (50 % to 100 %).

    Delays follow SYNC_RETRY_SCHEDULE (seconds per failure; the last entry repeats), each capped at
    SYNC_RETRY_MAX_SECONDS. The default schedule (1 s, 5 s, 30 s, 1 min, 5 min, 30 min, 2 h, 6 h) heals a glitch
    in seconds and keeps retrying through an outage of hours before anything is dead-lettered.
    """
    schedule = settings.SYNC_RETRY_SCHEDULE
    raw = min(float(schedule[min(max(attempts, 1), len(schedule)) - 1]), settings.SYNC_RETRY_MAX_SECONDS)
    return raw * (0.5 + random.random() / 2)


def _fail(job: SyncJob, attempt: SyncAttempt, exc: BaseException, *, retryable: bool) -> ExecutionResult:
    now = timezone.now()
    _finish_attempt(attempt, "retry" if retryable else "error", exc, retryable)
    message = f"{type(exc).__name__}: {exc}"[:4000]
    store = job.store
    if isinstance(exc, (ShopifyServerError, ShopifyNetworkError)):
        failures = store.circuit_failures + 1
        update: dict[str, Any] = {"circuit_failures": F("circuit_failures") + 1}
        if isinstance(exc, ShopifyShopUnavailable):
            # Frozen (402) or locked (423): the whole shop refuses, for hours or days. Pause the store at
            # once with a clear status, like an outage; its jobs wait and a probe retries later.
            failures = max(failures, settings.SYNC_CIRCUIT_THRESHOLD)
            update = {"circuit_failures": failures, "unavailable_reason": exc.reason[:255]}
        if failures >= settings.SYNC_CIRCUIT_THRESHOLD:
            open_for = min(settings.SYNC_CIRCUIT_MAX_OPEN_SECONDS, 2 ** (failures - settings.SYNC_CIRCUIT_THRESHOLD + 1))
            update["circuit_open_until"] = now + timedelta(seconds=open_for)
            logger.warning("store %s: circuit open for %ss after %s failures", store.name, open_for, failures)
        Store.objects.filter(pk=store.pk).update(**update)
    if retryable and job.attempts < job.max_attempts:
        delay = getattr(exc, "retry_after", None) if isinstance(exc, ShopifyThrottled) else None
        delay = max(delay or 0, backoff_seconds(job.attempts))
        next_at = now + timedelta(seconds=delay)
        status = _return_to_pending(job, next_at=next_at, error=message)
        if status == SyncJob.Status.PENDING:
            transaction.on_commit(lambda: sync_jobs_dispatch(job_ids=[job.pk], delay=delay))
        return ExecutionResult("retry", message)
    SyncJob.objects.filter(pk=job.pk).update(
        status=SyncJob.Status.DEAD, last_error=message, finished_at=now, lease_until=None
    )
    logger.error("sync job %s dead-lettered: %s", job.pk, message)
    return ExecutionResult(SyncJob.Status.DEAD, message)


def _return_to_pending(job: SyncJob, *, next_at, error: str = "") -> str:
    """Put a job back to pending; if a newer pending job exists for the product, fold into it instead."""
    with transaction.atomic():
        newer = (
            SyncJob.objects.select_for_update()
            .filter(store_id=job.store_id, product_id=job.product_id, kind=job.kind, status=SyncJob.Status.PENDING)
            .exclude(pk=job.pk)
            .first()
            if job.product_id is not None
            else None
        )
        if newer is not None:
            # The newer job publishes the current state, which includes this job's change.
            SyncJob.objects.filter(pk=newer.pk).update(first_edit_at=min(newer.first_edit_at, job.first_edit_at))
            SyncJob.objects.filter(pk=job.pk).update(
                status=SyncJob.Status.SUPERSEDED, last_error=error, lease_until=None, finished_at=timezone.now(),
                result=f"folded into job {newer.pk}",
            )
            return SyncJob.Status.SUPERSEDED
        try:
            with transaction.atomic():
                SyncJob.objects.filter(pk=job.pk).update(
                    status=SyncJob.Status.PENDING, next_attempt_at=next_at, dispatched_at=None, lease_until=None,
                    last_error=error, finished_at=None,
                )
        except IntegrityError:  # a pending job appeared meanwhile: fold into it on the next sweep
            SyncJob.objects.filter(pk=job.pk).update(status=SyncJob.Status.SUPERSEDED, lease_until=None)
            return SyncJob.Status.SUPERSEDED
        return SyncJob.Status.PENDING


# --- replay and sweeping ------------------------------------------------------------------------------


def sync_jobs_replay(*, job_ids: Iterable[int]) -> int:
    """Re-queue dead-lettered (or held) jobs with fresh attempts; return how many were re-queued."""
    count = 0
    now = timezone.now()
    for job in SyncJob.objects.filter(pk__in=list(job_ids), status__in=[SyncJob.Status.DEAD, SyncJob.Status.HELD]):
        job.attempts = 0
        SyncJob.objects.filter(pk=job.pk).update(attempts=0)
        if _return_to_pending(job, next_at=now, error=job.last_error) == SyncJob.Status.PENDING:
            transaction.on_commit(lambda pk=job.pk: sync_jobs_dispatch(job_ids=[pk]))
        count += 1
    return count


@dataclass
class SweepReport:
    reclaimed: int = 0
    dispatched: int = 0


def sync_jobs_sweep(*, now=None) -> SweepReport:
    """Reclaim expired running jobs and (re-)dispatch due pending jobs, oldest first, per store.

    Safe to run any number of times, from many machines: claiming is idempotent. Stores whose circuit is
    open get nothing; a store whose circuit has just expired gets one probe job.
    """
    now = now or timezone.now()
    report = SweepReport()
    expired = SyncJob.objects.filter(status=SyncJob.Status.RUNNING, lease_until__lt=now)
    for job in expired:
        _return_to_pending(job, next_at=now, error=f"lease expired on worker {job.worker}")
        report.reclaimed += 1
    redispatch_before = now - timedelta(seconds=settings.SYNC_REDISPATCH_AFTER_SECONDS)
    for store in Store.objects.filter(is_active=True):
        if store.circuit_is_open(now):
            continue
        waiting = SyncJob.objects.filter(store=store, status=SyncJob.Status.PENDING).filter(
            Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=redispatch_before)).order_by("first_edit_at", "id")
        if store.circuit_failures >= settings.SYNC_CIRCUIT_THRESHOLD:
            # Half-open: one probe, the oldest edit whatever its own backoff says (the circuit paces the probes),
            # so that when the store answers again the backlog catches up oldest first.
            due = waiting[:1]
        else:
            due = waiting.filter(next_attempt_at__lte=now)
        report.dispatched += sync_jobs_dispatch(job_ids=list(due.values_list("pk", flat=True)[:5000]))
    from .bulk_publish import bulk_publish_sweep  # issue 17: bulk runs whose next step was lost

    bulk_publish_sweep(now=now)
    return report


def publish_request(*, store: Store | None = None, product_ids: Iterable[int] | None = None) -> list[int]:
    """Record sync jobs for the given products (or all assigned ones) in one store or all stores, whatever the
    stores' publish modes (this is the request); what was waiting on those stores is no longer waiting."""
    assignments = ChannelAssignment.objects.filter(store__is_active=True)
    if store is not None:
        assignments = assignments.filter(store=store)
    if product_ids is not None:
        assignments = assignments.filter(product_id__in=list(product_ids))
    job_ids, requested = [], []
    with transaction.atomic():
        for a in assignments.select_related("product").iterator(chunk_size=2000):
            if not a.publish and not a.shopify_product_id:
                continue
            job_ids.append(
                _upsert_pending_job(
                    store_id=a.store_id, product_id=a.product_id, label=a.product.title,
                    shopify_product_id=a.shopify_product_id,
                )
            )
            if a.waiting_since is not None:
                requested.append(a.pk)
        # The request publishes what was waiting for the store's batch or a request.
        ChannelAssignment.objects.filter(pk__in=requested).update(waiting_since=None)
        # Issue 17: a store with many first publishes pending gets them as bulk mutations; the rest go per call.
        from .bulk_publish import bulk_publish_claim

        stores = [store] if store is not None else Store.objects.filter(is_active=True)
        taken: set[int] = set()
        for each in stores:
            taken |= bulk_publish_claim(store=each, job_ids=job_ids)
        sync_jobs_dispatch_on_commit(job_ids=[pk for pk in job_ids if pk not in taken])
    return job_ids


def store_save(*, store: Store) -> Store:
    """Validate and save a store connection (credentials are encrypted by the model field).

    When the store's sales channels changed, every product published there is queued, so the publish puts it
    on (or takes it off) the channels; when its publish mode became immediate, what was waiting is queued. Raises ValidationError for invalid fields.
    """
    store.full_clean()
    before = Store.objects.filter(pk=store.pk).values_list("publications", "publish_mode").first() if store.pk else None
    with transaction.atomic():
        store.save()
        if before is not None and list(before[0] or []) != list(store.publications or []):
            publish_request(store=store, product_ids=ChannelAssignment.objects.filter(
                store=store, publish=True).exclude(shopify_product_id="").values_list("product_id", flat=True))
        if before is not None and before[1] != store.publish_mode and store.publish_mode == Store.PublishMode.IMMEDIATE:
            publish_waiting(store=store)  # back to immediate: what was waiting goes out now
    return store


def store_test_connection(*, store: Store):
    """Ask Shopify for the shop's name, plan and granted scopes; return the client's ConnectionReport.

    Raises ShopifyAuthError (401), ShopifyScopeError (403) or another ShopifyError.
    """
    return client_for_store(store).test_connection()


def store_disable(*, store: Store, reason: str) -> None:
    """Deactivate a store (e.g. the app was uninstalled): no job is dispatched to it until re-enabled."""
    Store.objects.filter(pk=store.pk).update(is_active=False)
    logger.warning("store %s disabled: %s", store.name, reason)
