"""Write services of the publishing pipeline: assignments, the sync-job outbox, workers' execution, sweeping.

The life of a change: a catalog service calls ``sync_jobs_record_for_products`` inside its transaction, which
upserts one pending job per (store, product); after commit the job ids go to the RQ ``publish`` queue. A worker
runs ``sync_job_execute``: it claims the job without blocking and runs the publish's stages
(``channels.publishing``: plan, live read, compare, policy, write, bind). Failures are retried with backoff, then dead-lettered; ``sync_jobs_sweep`` makes sure nothing is
lost when a worker dies or Redis forgets its queues.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from outbox.kinds import OutboxKind, Outcome
from outbox.services import (
    backoff_seconds,  # noqa: F401 (re-exported: the publish pipeline's retry delays)
    lane_higher_waiting,
    outbox_dispatch,
    outbox_execute,
    outbox_record,
    outbox_replay,
    outbox_sweep_kind,
)
from pim.clock import clock_now
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
    ShopifyNetworkError,
    ShopifyServerError,
    ShopifyShopUnavailable,
)

logger = logging.getLogger(__name__)

PUBLISH_QUEUE = "publish"


# --- recording jobs (the outbox) ----------------------------------------------------------------------


def _upsert_pending_job(*, store_id: int, product_id: int | None, label: str, shopify_product_id: str) -> int:
    """Insert a pending job or coalesce into the existing one; return its id. Runs in the caller's transaction."""
    now = timezone.now()
    return outbox_record(
        kind=SYNC_JOB,
        values={"store_id": store_id, "product_id": product_id, "product_label": label[:255],
                "shopify_product_id": shopify_product_id, "kind": SyncJob.Kind.PUBLISH,
                "max_attempts": settings.SYNC_JOB_MAX_ATTEMPTS, "next_attempt_at": now, "first_edit_at": now,
                "last_edit_at": now},
        on_conflict={"last_edit_at": "EXCLUDED.last_edit_at", "updated_at": "EXCLUDED.updated_at",
                     "product_label": "EXCLUDED.product_label"},
    )


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
    """Hand the given pending jobs to the ``publish`` lane; return how many were sent (see ``outbox_dispatch``).

    Jobs whose store's circuit is open stay pending (the sweeper sends them when the store answers again).
    """
    return outbox_dispatch(kind=SYNC_JOB, ids=job_ids, delay=delay)



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


def _claimable(rows, now):
    """Rows of active stores whose circuit lets work through (shared by the channels kinds)."""
    return rows.filter(store__is_active=True).filter(
        Q(store__circuit_open_until__isnull=True) | Q(store__circuit_open_until__lte=now))


_busy_memo: dict[tuple[int, Any], list[tuple[int, int | None, str]]] = {}


def _busy(store_id: int, now) -> list[tuple[int, int | None, str]]:
    """The store's running jobs (id, product, Shopify product) at ``now``: read once per claim, which calls
    ``_admit`` for each candidate at the same ``now`` (rows it claims are marked running only after)."""
    key = (store_id, now)
    if key not in _busy_memo:
        if any(k[1] != now for k in _busy_memo):  # a new claim: forget the previous one's
            _busy_memo.clear()
        _busy_memo[key] = list(SyncJob.objects.filter(
            store_id=store_id, status=SyncJob.Status.RUNNING, lease_until__gt=now,
        ).values_list("pk", "product_id", "shopify_product_id"))
    return _busy_memo[key]


def _admit(job: SyncJob, now) -> float | None:
    """Claim only if no other worker has this product in this store (or the half-open store's one probe)."""
    busy = [b for b in _busy(job.store_id, now) if b[0] != job.pk]
    if job.product_id is not None:
        same_product = any(b[1] == job.product_id for b in busy)
    else:
        same_product = any(b[2] == job.shopify_product_id for b in busy)
    half_open = job.store.circuit_failures >= settings.SYNC_CIRCUIT_THRESHOLD
    if same_product or (half_open and busy):
        return 1.0  # come back shortly, don't block
    # Admitted: busy for the rest of this claim (a batch claims several rows; a half-open store gets one probe).
    _busy(job.store_id, now).append((job.pk, job.product_id, job.shopify_product_id))
    return None


def sync_job_execute(*, job_id: int, worker: str | None = None) -> Outcome:
    """Run one sync job: claim it, publish or unpublish the product in its store, and record the outcome.

    Idempotent: a job that is not pending (already done, running elsewhere, dead) is left alone. Retryable
    Shopify errors and passing database errors (canceled statements, deadlocks, dropped connections) put the job
    back to pending with backoff and jitter; terminal errors and exhausted retries dead-letter it with the error.
    Never raises for Shopify errors.
    """
    return outbox_execute(kind=SYNC_JOB, row_id=job_id, worker=worker)


def _execute(job: SyncJob) -> Outcome:
    """One job claimed alone: the batch path with a batch of one (the same reads, the same writes)."""
    result = _execute_batch([job])[job.pk]
    if isinstance(result, BaseException):
        raise result
    return result


def _execute_batch(jobs: list[SyncJob]) -> dict[int, Outcome | BaseException]:
    from .publish_batch import sync_jobs_execute_batch

    return sync_jobs_execute_batch(jobs=jobs, should_yield=_publish_should_yield)


def _publish_should_yield() -> bool:
    """Whether a publish batch should stop writing: a lane ahead of ``publish`` has a job waiting (issue 15)."""
    return bool(settings.OUTBOX_LANE_YIELD) and lane_higher_waiting(PUBLISH_QUEUE) is not None


def _attempt_start(job: SyncJob, worker: str) -> SyncAttempt:
    return SyncAttempt.objects.create(job=job, number=job.attempts, started_at=timezone.now(), outcome="running",
                                      worker=worker[:255])


def _attempts_start(jobs: list[SyncJob], worker: str) -> dict[int, SyncAttempt]:
    now = timezone.now()
    made = SyncAttempt.objects.bulk_create([
        SyncAttempt(job=job, number=job.attempts, started_at=now, outcome="running", worker=worker[:255])
        for job in jobs])
    return {a.job_id: a for a in made}


def _attempts_finish(items: list[tuple[SyncJob, SyncAttempt | None, str]]) -> None:
    """Finish the attempts of jobs that succeeded together (one update per outcome)."""
    by_outcome: dict[str, list[int]] = {}
    for _, attempt, outcome in items:
        if attempt is not None:
            by_outcome.setdefault(outcome, []).append(attempt.pk)
    now = timezone.now()
    for outcome, pks in by_outcome.items():
        SyncAttempt.objects.filter(pk__in=pks).update(finished_at=now, outcome=outcome)


def _attempt_finish(job: SyncJob, attempt: SyncAttempt, outcome: str, exc: BaseException | None,
                    retryable: bool) -> None:
    attempt.finished_at = timezone.now()
    attempt.outcome = outcome
    if exc is not None:
        attempt.error_type = type(exc).__name__
        attempt.error = str(exc)[:4000]
        attempt.retryable = retryable
    attempt.save()


def _after_success(job: SyncJob, result: Outcome) -> None:
    _circuit_after_success(job)
    # Issue 19: once a product is live in (or gone from) a store, its mapped collections and translations there
    # follow (their own outbox rows, recorded right after this job is done).
    from .collections import collections_after_product_job

    collections_after_product_job(store_id=job.store_id, product_id=job.product_id, status=result.status)


def _circuit_after_success(job: SyncJob) -> None:
    """The store answered: clear its unavailable note and close its circuit (sending its backlog, oldest first)."""
    store = job.store
    if store.unavailable_reason:
        Store.objects.filter(pk=store.pk).update(unavailable_reason="")
    if store.circuit_failures or store.circuit_open_until:
        # The store answers again: close the circuit and send its backlog at once, oldest first.
        Store.objects.filter(pk=store.pk).update(circuit_failures=0, circuit_open_until=None)
        backlog = SyncJob.objects.filter(store=store, status=SyncJob.Status.PENDING)
        backlog.update(next_attempt_at=clock_now())
        sync_jobs_dispatch(job_ids=list(backlog.order_by("first_edit_at", "id").values_list("pk", flat=True)))


def _after_success_many(items: list[tuple[SyncJob, Outcome]]) -> None:
    """``_after_success`` for a batch: the circuit checked once per store, collections and translations recorded
    for all the batch's done products of a store at once (a fixed number of queries, not a few per product)."""
    from .collections import collections_after_product_jobs

    first_of_store: dict[int, SyncJob] = {}
    done: dict[int, list[int]] = {}
    for job, result in items:
        first_of_store.setdefault(job.store_id, job)
        if job.product_id is not None and result.status == SyncJob.Status.DONE:
            done.setdefault(job.store_id, []).append(job.product_id)
    for job in first_of_store.values():
        _circuit_after_success(job)
    for store_id, product_ids in done.items():
        collections_after_product_jobs(store_id=store_id, product_ids=product_ids)


def _circuit_after_failure(job: SyncJob, exc: BaseException) -> None:
    """Repeated server or network failures open the store's circuit: its jobs wait, other stores go on."""
    if not isinstance(exc, (ShopifyServerError, ShopifyNetworkError)):
        return
    now = clock_now()
    store = job.store
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
        # Its waiting jobs are sent again by the sweep when the circuit lets a probe through.
        SyncJob.objects.filter(store=store, status=SyncJob.Status.PENDING).update(dispatched_at=None)
    Store.objects.filter(pk=store.pk).update(**update)


def _fold(job: SyncJob, newer: SyncJob) -> None:
    SyncJob.objects.filter(pk=newer.pk).update(first_edit_at=min(newer.first_edit_at, job.first_edit_at))


def _probe_half_open(now) -> None:
    """A half-open store gets one probe, its oldest edit whatever its own backoff says (the circuit paces the
    probes), so that when the store answers again the backlog catches up oldest first."""
    half_open = Store.objects.filter(is_active=True, circuit_failures__gte=settings.SYNC_CIRCUIT_THRESHOLD).filter(
        Q(circuit_open_until__isnull=True) | Q(circuit_open_until__lte=now))
    for store in half_open:
        if SyncJob.objects.filter(store=store, status=SyncJob.Status.RUNNING, lease_until__gt=now).exists():
            continue
        oldest = (SyncJob.objects.filter(store=store, status=SyncJob.Status.PENDING)
                  .order_by("first_edit_at", "id").values_list("pk", flat=True).first())
        if oldest is not None:
            SyncJob.objects.filter(pk=oldest, next_attempt_at__gt=now).update(next_attempt_at=now)
            SyncJob.objects.filter(pk=oldest).update(dispatched_at=None)


def _schedule_span_seconds(max_attempts: int) -> float:
    """The shortest time ``max_attempts`` tries take on the retry schedule (its waits at their lowest jitter)."""
    schedule = settings.SYNC_RETRY_SCHEDULE or [60.0]
    waits = [min(float(schedule[min(n, len(schedule)) - 1]), settings.SYNC_RETRY_MAX_SECONDS)
             for n in range(1, max_attempts)]
    return 0.5 * sum(waits)


def _max_attempts(job: SyncJob) -> int:
    """The job's attempts, stretched until it has been failing as long as its retry schedule lasts at the least.

    The half-open circuit's probe is the store's oldest job whatever its backoff (``_probe_half_open``), so in an
    outage that job fails at the circuit's pace (at most SYNC_CIRCUIT_MAX_OPEN_SECONDS apart) and would use its
    attempts in minutes. Counting time as well keeps "a two-hour outage dead-letters nothing" (the default schedule
    spans 4.3 h at the least), while a job that keeps failing past its schedule is still dead-lettered.
    """
    if clock_now() - job.first_edit_at < timedelta(seconds=_schedule_span_seconds(job.max_attempts)):
        return max(job.max_attempts, job.attempts + 1)
    return job.max_attempts


def _before_sweep(now) -> None:
    _probe_half_open(now)
    from .bulk_publish import bulk_publish_sweep  # issue 17: bulk runs whose next step was lost

    bulk_publish_sweep(now=now)


SYNC_JOB = OutboxKind(
    name="sync_job", model=SyncJob, execute=_execute, lane=PUBLISH_QUEUE, label="publish jobs",
    replayable=(SyncJob.Status.DEAD, SyncJob.Status.HELD), key=("store", "product", "kind"),
    folded=SyncJob.Status.SUPERSEDED, order_by=("first_edit_at", "id"), started_field="started_at",
    claimable=_claimable, admit=_admit, started=_attempt_start, finished=_attempt_finish,
    on_failure=_circuit_after_failure, on_success=_after_success, on_success_many=_after_success_many, on_fold=_fold, before_sweep=_before_sweep,
    execute_batch=_execute_batch, batch_size=lambda: settings.PUBLISH_BATCH_SIZE, claim_related=("store",),
    started_many=_attempts_start, finished_many=_attempts_finish,
    max_attempts=_max_attempts,
)


def sync_jobs_replay(*, job_ids: Iterable[int]) -> int:
    """Re-queue dead-lettered (or held) jobs with fresh attempts; return how many were re-queued."""
    return outbox_replay(kind=SYNC_JOB, ids=job_ids)


def sync_jobs_sweep(*, now=None):
    """Reclaim expired running jobs and (re-)dispatch due pending ones (the outbox sweep of this kind; it also
    re-queues bulk publish runs whose next step was lost, see ``_before_sweep``)."""
    return outbox_sweep_kind(kind=SYNC_JOB, now=now)


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
