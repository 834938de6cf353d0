"""The durable-work machine (issue 14): record, dispatch, claim, succeed, fail, sweep, replay — once for every kind.

A row is recorded in the caller's transaction (coalescing into the waiting row of its key), handed to its lane
after commit, and run by a *drain*: one RQ job per lane that claims due rows of that lane's kinds one after the
other (``SELECT … FOR UPDATE SKIP LOCKED``, under a lease) until its budget is spent, so a burst of work costs no
fork per row. A Redis flag keeps at most one drain waiting per lane; a drain that starts with more work waiting
wakes one more, so every idle worker joins in. Retryable failures wait on ``SYNC_RETRY_SCHEDULE`` (jitter, capped
at ``SYNC_RETRY_MAX_SECONDS``) for the row's ``max_attempts``; other failures and exhausted retries dead-letter
it; ``outbox_replay`` re-queues dead rows. ``outbox_sweep`` (the ``outbox_sweeper`` command) reclaims expired
leases and re-sends due rows whose hand-off was lost (Redis down or flushed): nothing recorded is ever lost.
Every write that finishes a claimed row is guarded by its claim (``outbox.finishing``): a worker that finishes
after its lease expired and the row was re-queued or claimed again writes nothing (logged).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import NOT_PROVIDED, F, Q
from django.db.models.functions import Greatest
from rq.timeouts import BaseTimeoutException

from pim.clock import clock_now

from .finishing import STALE, outbox_owned, outbox_stale_write, outbox_succeed, outbox_succeed_many
from .kinds import NotRun, OutboxKind, Outcome, outbox_kinds
from .timing import backoff_seconds, worker_name  # noqa: F401 (re-exported for callers)

logger = logging.getLogger(__name__)

NOT_CLAIMED = "not-claimed"
RETRY = "retry"
RELEASED = "released"  # a row given back unrun (``NotRun``)


# --- record ---------------------------------------------------------------------------------------------


def outbox_record(*, kind: OutboxKind, values: dict[str, Any], on_conflict: dict[str, str] | None = None) -> int:
    """Insert a waiting row of ``kind`` or coalesce into the waiting row of its key; return the row's id.

    ``values`` maps column names to values (the key's columns among them); columns not given take the model's
    defaults. ``on_conflict`` maps columns to the SQL kept when the key already has a waiting row (``EXCLUDED.x``
    is the new value, ``{table}.x`` the old one); by default the waiting row is left as it is. Runs in the
    caller's transaction (dispatch with ``outbox_dispatch_on_commit``). Raises IntegrityError for bad keys.
    """
    model = kind.model
    table = model._meta.db_table
    now = clock_now()
    columns, params = [], []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        if f.attname in values:
            value = values[f.attname]
        elif f.name in values:
            value = values[f.name]
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            value = now
        elif f.db_default is not NOT_PROVIDED and not f.has_default():
            continue  # the database's default
        else:
            value = f.get_default()  # the field's default, "" for text, None otherwise
        columns.append(connection.ops.quote_name(f.column))
        params.append(f.get_db_prep_save(value, connection))
    key_columns = [model._meta.get_field(k).column for k in kind.key]
    updates = on_conflict or {key_columns[0]: f"{table}.{key_columns[0]}"}
    # Names come from the model and the kind, values are parameters.
    sets = ", ".join(f"{c} = {e.format(table=table)}" for c, e in updates.items())
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(params))}) "  # noqa: S608
           f"ON CONFLICT ({', '.join(key_columns)}) WHERE status = %s DO UPDATE SET {sets} RETURNING id")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, kind.waiting[0]])
        return cursor.fetchone()[0]


# --- dispatch: wake the lane's drain --------------------------------------------------------------------

_queues: dict[tuple, Any] = {}
_queues_lock = threading.Lock()


def _rq_queue(name: str):
    """Return the RQ queue ``name``, reusing its Redis connection pool within this process."""
    import django_rq

    key = (name, repr(settings.RQ_QUEUES.get(name)), os.getpid())
    queue = _queues.get(key)
    if queue is None:
        with _queues_lock:
            queue = _queues.get(key)
            if queue is None:
                queue = _queues[key] = django_rq.get_queue(name)
    return queue


def _drain_flag(lane: str) -> str:
    return f"outbox:drain-queued:{lane}"


# Claim the right to enqueue a drain: the flag names the waiting drain job; a flag whose job is gone (queue
# emptied, job deleted) no longer counts. One round trip, atomic.
_CLAIM_DRAIN = """
local current = redis.call('GET', KEYS[1])
if current and redis.call('EXISTS', ARGV[3] .. current) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
# Clear the flag only if it still names this job (a newer waiting drain keeps its flag).
_RELEASE_DRAIN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _drain_timeout(lane: str) -> int:
    """How long RQ lets a drain of ``lane`` run: its budget plus the longest lease of the lane's kinds (the last
    row it starts may run that long, e.g. a reconciliation run), and never less than RQ's default."""
    # A kind run in batches holds its rows for up to a lease each (the batch renews them as it goes).
    longest = max((kind.lease_seconds() * (max(1, kind.batch_size()) if kind.execute_batch else 1)
                   for kind in outbox_kinds(lane=lane)), default=0.0)
    return int(max(settings.RQ_DEFAULT_TIMEOUT, settings.OUTBOX_DRAIN_SECONDS + longest))


def lane_drain_enqueue(*, lane: str, task, args: tuple = (), delay: float | None = None) -> None:
    """Enqueue ``task(*args)``, a drain of ``lane``: after ``delay`` seconds, or now unless a drain of the lane
    already waits in its queue (a Redis flag names the waiting job). Raises on Redis errors."""
    from rq.job import Job

    queue = _rq_queue(lane)
    timeout = _drain_timeout(lane)
    if delay:
        queue.enqueue_in(timedelta(seconds=delay), task, *args, job_timeout=timeout)
        return
    job_id = f"drain-{lane}-{uuid.uuid4().hex}"
    claimed = queue.connection.eval(_CLAIM_DRAIN, 1, _drain_flag(lane), job_id,
                                    int(settings.OUTBOX_DRAIN_FLAG_SECONDS), Job.redis_job_namespace_prefix)
    if claimed:
        queue.enqueue(task, *args, job_id=job_id, job_timeout=timeout)


def lane_drain_started(lane: str) -> None:
    """Called by a drain job as it starts: the next arrival may enqueue a new drain (this one no longer waits)."""
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        return
    try:
        _rq_queue(lane).connection.eval(_RELEASE_DRAIN, 1, _drain_flag(lane), job.id)
    except Exception:
        logger.warning("could not clear the drain flag of %s", lane)


def outbox_wake(*, lane: str, delay: float | None = None) -> None:
    """Make sure a drain of ``lane`` runs (now, or after ``delay`` seconds). Raises on Redis errors."""
    from .tasks import outbox_drain

    lane_drain_enqueue(lane=lane, task=outbox_drain, args=(lane,), delay=delay)


def lane_higher_waiting(lane: str) -> str | None:
    """Return the first lane ahead of ``lane`` whose RQ queue has a job waiting, else None (never raises).

    Lanes are ranked by RQ_QUEUE_NAMES, the order every worker listens in (``rqworker webhooks inventory default
    publish``). One Redis round trip (the queues' lengths in a pipeline); none for the first lane. A job that is
    only scheduled (a delayed retry) is not waiting yet. Redis down: None (the drain keeps going).
    """
    names = list(settings.RQ_QUEUE_NAMES)
    if lane not in names or names.index(lane) == 0:
        return None
    higher = names[:names.index(lane)]
    try:
        connection_ = _rq_queue(lane).connection
        pipe = connection_.pipeline(transaction=False)
        for name in higher:
            pipe.llen(_rq_queue(name).key)
        lengths = pipe.execute()
    except Exception:
        logger.warning("could not read the queues ahead of %s", lane)
        return None
    return next((name for name, length in zip(higher, lengths, strict=True) if length), None)


def _waiting(kind: OutboxKind, now, *, due: bool = True):
    rows = kind.rows().filter(status__in=kind.waiting)
    if due:
        rows = rows.filter(next_attempt_at__lte=now + timedelta(seconds=1))
    return kind.claimable(rows, now) if kind.claimable else rows


def outbox_dispatch(*, kind: OutboxKind, ids: Iterable[int], delay: float | None = None) -> int:
    """Hand the given waiting rows to their lane's drain (after ``delay`` seconds); return how many were sent.

    Rows the kind cannot run now (``claimable``: e.g. their store's circuit is open) stay waiting undispatched;
    the sweep sends them later. A failure to reach Redis is logged, not raised: the rows stay in PostgreSQL and
    the sweep sends them, so the caller's change is never lost or failed because Redis is down.
    """
    ids = list(ids)
    if not ids:
        return 0
    now = clock_now()
    sendable = list(_waiting(kind, now, due=False).filter(pk__in=ids).values_list("pk", flat=True))
    if not sendable:
        return 0
    try:
        outbox_wake(lane=kind.lane, delay=delay)
    except Exception:  # Redis down: the sweep re-dispatches from PostgreSQL.
        logger.exception("could not wake the %s drain for %s %s; the sweep will retry", kind.lane, kind.name, ids)
        return 0
    kind.model.objects.filter(pk__in=sendable).update(dispatched_at=now)
    return len(sendable)


def outbox_dispatch_on_commit(*, kind: OutboxKind, ids: list[int], delay: float | None = None) -> None:
    """Dispatch the rows once the surrounding transaction commits (never before: a worker must see them)."""
    if ids:
        transaction.on_commit(lambda: outbox_dispatch(kind=kind, ids=ids, delay=delay))


# --- claim, run, succeed, fail --------------------------------------------------------------------------


def outbox_claim(*, kind: OutboxKind, worker: str, row_id: int | None = None):
    """Claim row ``row_id`` (or the first due waiting row of ``kind``) under a lease; None if there is none.

    Never waits on a lock: rows locked by another claim are skipped. A candidate the kind does not admit yet
    (``admit`` returns seconds) is pushed back by that long and handed to the lane again after it.
    """
    rows = outbox_claim_batch(kind=kind, worker=worker, row_id=row_id, limit=1)
    return rows[0] if rows else None


def outbox_claim_batch(*, kind: OutboxKind, worker: str, limit: int, row_id: int | None = None) -> list:
    """Claim up to ``limit`` due waiting rows of ``kind`` (or row ``row_id``) under a lease, oldest first.

    The same rules as ``outbox_claim`` (skip locked rows, push back rows not admitted), in one transaction.
    """
    now = clock_now()
    claimed: list = []
    with transaction.atomic():
        rows = kind.rows().select_for_update(skip_locked=True, of=("self",)).filter(status__in=kind.waiting)
        if kind.claim_related:
            rows = rows.select_related(*kind.claim_related)
        rows = kind.claimable(rows, now) if kind.claimable else rows
        if row_id is not None:
            rows = rows.filter(pk=row_id)
            if kind.by_id_only_when_due:
                rows = rows.filter(next_attempt_at__lte=now + timedelta(seconds=1))
        else:
            rows = rows.filter(next_attempt_at__lte=now + timedelta(seconds=1)).order_by(*kind.order_by)
        for row in rows[:max(20, limit)]:
            wait = kind.admit(row, now) if kind.admit else None
            if wait:
                kind.model.objects.filter(pk=row.pk).update(next_attempt_at=now + timedelta(seconds=wait),
                                                            dispatched_at=None)
                transaction.on_commit(lambda pk=row.pk, w=wait: outbox_dispatch(kind=kind, ids=[pk], delay=w))
                continue
            claimed.append(row)
            if len(claimed) >= limit:
                break
        if not claimed:
            return []
        update: dict[str, Any] = {
            "status": kind.running, "attempts": F("attempts") + 1, "worker": worker[:255],
            "lease_until": now + timedelta(seconds=kind.lease_seconds()),
        }
        if kind.started_field:
            update[kind.started_field] = now
        kind.model.objects.filter(pk__in=[row.pk for row in claimed]).update(**update)
        fresh = kind.model.objects.filter(pk__in=[row.pk for row in claimed])
        if kind.claim_related:
            fresh = fresh.select_related(*kind.claim_related)
        by_pk = {row.pk: row for row in fresh}
    return [by_pk[row.pk] for row in claimed]


def _retryable(kind: OutboxKind, exc: BaseException) -> bool:
    if kind.retryable is not None:
        return kind.retryable(exc)
    if isinstance(exc, BaseTimeoutException):
        # RQ's job timeout hit the drain mid-row: the row's work is not wrong, the drain ran out of time.
        return True
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database, not the data: a canceled statement, a deadlock victim, a dropped connection. The same
        # row succeeds on a later try; dead-lettering it would lose the work.
        return True
    return bool(getattr(exc, "retryable", False))


def outbox_execute(*, kind: OutboxKind, row_id: int | None = None, worker: str | None = None) -> Outcome:
    """Claim one row of ``kind`` (``row_id``, else the first due one), execute it and record the outcome.

    Idempotent: a row that is not waiting (done, running elsewhere, dead) is left alone (``not-claimed``).
    Never raises for the work's errors: retryable ones put the row back with backoff (``retry``), others and
    exhausted retries dead-letter it with the error.
    """
    worker = worker or worker_name()
    row = outbox_claim(kind=kind, worker=worker, row_id=row_id)
    if row is None:
        return Outcome(NOT_CLAIMED)
    return _run_claimed(kind, row, worker)


def _run_claimed(kind: OutboxKind, row, worker: str) -> Outcome:
    attempt = kind.started(row, worker) if kind.started else None
    try:
        outcome = kind.execute(row)
    except NotRun as exc:  # what the row needs is not there yet: waiting again, no attempt used
        outbox_release(kind=kind, rows=[row], attempts={row.pk: attempt}, delays={row.pk: exc.retry_after})
        return Outcome(RELEASED, str(exc))
    except Exception as exc:
        retryable = _retryable(kind, exc)
        if not retryable and not hasattr(exc, "retryable"):
            logger.exception("%s %s failed unexpectedly", kind.name, row.pk)
        return outbox_fail(kind=kind, row=row, exc=exc, retryable=retryable, attempt=attempt)
    if not outbox_succeed(kind=kind, row=row, outcome=outcome, attempt=attempt):
        return Outcome(STALE, outcome.detail)
    return outcome


def _run_claimed_batch(kind: OutboxKind, rows: list, worker: str) -> None:
    """Execute rows claimed together with the kind's ``execute_batch``; record each row's outcome on its own."""
    if len(rows) == 1 or kind.execute_batch is None:
        for row in rows:
            _run_claimed(kind, row, worker)
        return
    if kind.started_many:
        attempts = kind.started_many(rows, worker)
    else:
        attempts = {row.pk: kind.started(row, worker) if kind.started else None for row in rows}
    try:
        results = kind.execute_batch(rows)
    except Exception as exc:  # the batch as a whole failed: every row takes the error
        results = {row.pk: exc for row in rows}
    succeeded, released = [], []
    delays: dict[int, float] = {}
    notified: set[int] = set()  # one shared call's error counts once
    for row in rows:
        result = results.get(row.pk)
        if result is None:
            result = RuntimeError(f"{kind.name} {row.pk}: the batch gave no outcome")
        if isinstance(result, NotRun):
            released.append(row)
            delays[row.pk] = result.retry_after
        elif isinstance(result, BaseException):
            retryable = _retryable(kind, result)
            if not retryable and not hasattr(result, "retryable"):
                logger.error("%s %s failed unexpectedly: %r", kind.name, row.pk, result)
            outbox_fail(kind=kind, row=row, exc=result, retryable=retryable, attempt=attempts.get(row.pk),
                        notify=id(result) not in notified)
            notified.add(id(result))
        else:
            succeeded.append((row, result, attempts.get(row.pk)))
    outbox_succeed_many(kind=kind, items=succeeded)
    outbox_release(kind=kind, rows=released, attempts=attempts, delays=delays)


def outbox_release(*, kind: OutboxKind, rows: list, attempts: dict[int, Any] | None = None,
                   delays: dict[int, float] | None = None) -> None:
    """Give claimed rows back unrun: due again at once (their batch yielded to a higher lane), or after the row's
    ``delays`` seconds (what it needs is not there yet); the attempt is not counted.

    Their attempt records (if the kind keeps them) finish as ``released``; a row whose key gained a newer waiting row
    meanwhile folds into it, as a retry would.
    """
    if not rows:
        return
    if kind.finished_many:
        kind.finished_many([(row, (attempts or {}).get(row.pk), "released") for row in rows])
    now = clock_now()
    by_delay: dict[float, list[int]] = {}
    for row in rows:
        delay = (delays or {}).get(row.pk) or 0.0
        if outbox_requeue(kind=kind, row=row, next_at=now + timedelta(seconds=delay), error=row.last_error,
                          undo_attempt=True, expect=outbox_owned(kind=kind, row=row)) == kind.retry_status:
            by_delay.setdefault(delay, []).append(row.pk)
    for delay, requeued in by_delay.items():
        outbox_dispatch_on_commit(kind=kind, ids=requeued, delay=delay or None)


def outbox_fail(*, kind: OutboxKind, row, exc: BaseException, retryable: bool, attempt: Any = None,
                notify: bool = True) -> Outcome:
    """Record a failed try: back to waiting after the backoff if retryable and attempts are left, else dead.

    Like every finishing write it is guarded by the claim (``outbox.finishing``): when the row was re-queued or
    claimed again meanwhile nothing is written and the outcome is ``stale``. ``notify=False`` skips the kind's
    ``on_failure`` (rows of a batch that failed on one shared call: the store's
    circuit counts that call once, not once per row).
    """
    if kind.finished:
        kind.finished(row, attempt, RETRY if retryable else "error", exc, retryable)
    message = f"{type(exc).__name__}: {exc}"[:4000]
    if kind.on_failure and notify:
        kind.on_failure(row, exc)
    now = clock_now()
    if retryable and row.attempts < kind.max_attempts(row):
        delay = max(getattr(exc, "retry_after", None) or 0, backoff_seconds(row.attempts))
        status = outbox_requeue(kind=kind, row=row, next_at=now + timedelta(seconds=delay), error=message,
                                expect=outbox_owned(kind=kind, row=row))
        if status == NOT_REQUEUED:
            outbox_stale_write(kind=kind, row=row, what="retry")
            return Outcome(STALE, message)
        if status == kind.retry_status:
            transaction.on_commit(lambda: outbox_dispatch(kind=kind, ids=[row.pk], delay=delay))
        return Outcome(RETRY, message)
    update: dict[str, Any] = {"status": kind.dead, "last_error": message, "lease_until": None}
    if kind.finished_field:
        update[kind.finished_field] = now
    if not kind.model.objects.filter(outbox_owned(kind=kind, row=row)).update(**update):
        outbox_stale_write(kind=kind, row=row, what="dead letter")
        return Outcome(STALE, message)
    logger.error("%s %s dead-lettered: %s", kind.name, row.pk, message)
    return Outcome(kind.dead, message)


NOT_REQUEUED = "not-requeued"


def outbox_requeue(*, kind: OutboxKind, row, next_at, error: str = "", expect: Q | None = None,
                   undo_attempt: bool = False) -> str:
    """Put a row back to waiting at ``next_at``; if its key has a newer waiting row, fold into that instead.

    ``expect`` guards the change: the row is locked and left alone (``NOT_REQUEUED``) unless it still matches, so
    a sweep never puts back a row its worker finished, or another sweep already re-queued, meanwhile.
    ``undo_attempt`` takes back the attempt its claim counted, in the same statement. Returns the row's new
    status (the kind's retry status, or its folded status) or ``NOT_REQUEUED``.
    """
    model = kind.model
    with transaction.atomic():
        if expect is not None and not model.objects.select_for_update().filter(expect, pk=row.pk).exists():
            return NOT_REQUEUED
        key = {model._meta.get_field(k).attname: getattr(row, model._meta.get_field(k).attname) for k in kind.key}
        if kind.folded and key and None not in key.values():
            newer = (model.objects.select_for_update().filter(**key, status__in=kind.waiting)
                     .exclude(pk=row.pk).first())
            if newer is not None:
                # The newer row does the current work, which includes this row's.
                if kind.on_fold:
                    kind.on_fold(row, newer)
                update: dict[str, Any] = {"status": kind.folded, "last_error": error, "lease_until": None}
                if kind.result_field:
                    update[kind.result_field] = f"folded into {newer.pk}"
                if kind.finished_field:
                    update[kind.finished_field] = clock_now()
                model.objects.filter(pk=row.pk).update(**update)
                return kind.folded
        update = {"status": kind.retry_status, "next_attempt_at": next_at, "dispatched_at": None,
                  "lease_until": None, "last_error": error}
        if undo_attempt:
            update["attempts"] = Greatest(F("attempts") - 1, 0)
        if kind.finished_field:
            update[kind.finished_field] = None
        try:
            with transaction.atomic():
                model.objects.filter(pk=row.pk).update(**update)
        except IntegrityError:  # a waiting row of the key appeared meanwhile: it does the work
            model.objects.filter(pk=row.pk).update(status=kind.folded or kind.dead, lease_until=None)
            return kind.folded or kind.dead
        return kind.retry_status


# --- drain, replay, sweep ---------------------------------------------------------------------------------


def outbox_drain(*, lane: str, budget_seconds: float | None = None, worker: str | None = None) -> int:
    """Run due rows of every kind on ``lane``, oldest first and kinds in turn, for up to ``budget_seconds``.

    Wakes one more drain when work is still waiting (at the start, so idle workers join in; at the end, when the
    budget ran out). With OUTBOX_LANE_YIELD, the drain also *yields*: after each row it looks whether a lane
    ahead of its own (RQ_QUEUE_NAMES) has a job waiting and, if so, ends early and re-wakes its own lane, so the
    worker takes the higher lane's job next (an order is never stuck behind a publish backlog). Returns how many
    rows were executed.
    """
    worker = worker or worker_name()
    lane_drain_started(lane)
    kinds = outbox_kinds(lane=lane)
    deadline = time.monotonic() + (settings.OUTBOX_DRAIN_SECONDS if budget_seconds is None else budget_seconds)
    count = 0
    woke = False
    while True:
        ran, ahead = 0, None
        for kind in kinds:
            # Issue 15: a kind that executes rows together is claimed a batch at a time.
            rows = outbox_claim_batch(kind=kind, worker=worker,
                                      limit=max(1, kind.batch_size()) if kind.execute_batch else 1)
            if not rows:
                continue
            if not woke:
                woke = True
                if any(_waiting(k, clock_now()).exists() for k in kinds):
                    _wake_quietly(lane)
            _run_claimed_batch(kind, rows, worker)
            ran += len(rows)
            if settings.OUTBOX_LANE_YIELD and (ahead := lane_higher_waiting(lane)):
                break
        count += ran
        if ahead:
            logger.info("drain of %s yields to %s after %d row(s)", lane, ahead, count)
            break
        if not ran:
            return count
        if time.monotonic() >= deadline:
            break
    if any(_waiting(k, clock_now()).exists() for k in kinds):
        _wake_quietly(lane)
    return count


def _wake_quietly(lane: str) -> None:
    try:
        outbox_wake(lane=lane)
    except Exception:
        logger.warning("could not wake the %s drain; the sweep will", lane)


def outbox_replay(*, kind: OutboxKind, ids: Iterable[int]) -> int:
    """Re-queue dead-lettered (or other replayable) rows with fresh attempts; return how many were re-queued.

    A kind with a ``replay`` hook may redo a row's work another way (the hook returns True); run it in a
    transaction so that the hook's new rows and the dead row's new status commit together.
    """
    count = 0
    now = clock_now()
    for row in kind.rows().filter(pk__in=list(ids), status__in=kind.replayable):
        if kind.replay and kind.replay(row):
            count += 1
            continue
        kind.model.objects.filter(pk=row.pk).update(attempts=0)
        row.attempts = 0
        if outbox_requeue(kind=kind, row=row, next_at=now, error=row.last_error) == kind.retry_status:
            transaction.on_commit(lambda pk=row.pk: outbox_dispatch(kind=kind, ids=[pk]))
        count += 1
    return count


@dataclass
class SweepReport:
    reclaimed: int = 0
    dispatched: int = 0


def outbox_sweep_kind(*, kind: OutboxKind, now=None, limit: int = 5000) -> SweepReport:
    """Reclaim ``kind``'s expired leases and re-send its due waiting rows whose hand-off is missing or stale.

    Safe to run any number of times, from many machines: claiming is idempotent.
    """
    now = now or clock_now()
    report = SweepReport()
    if kind.before_sweep:
        kind.before_sweep(now)
    for row in kind.rows().filter(status=kind.running, lease_until__lt=now):
        if outbox_requeue(kind=kind, row=row, next_at=now, error=f"lease expired on worker {row.worker}",
                          expect=Q(status=kind.running, lease_until__lt=now)) != NOT_REQUEUED:
            report.reclaimed += 1
    stale = now - timedelta(seconds=settings.SYNC_REDISPATCH_AFTER_SECONDS)
    due = (_waiting(kind, now).filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=stale))
           .order_by(*kind.order_by).values_list("pk", flat=True)[:limit])
    report.dispatched = outbox_dispatch(kind=kind, ids=list(due))
    return report


def outbox_sweep(*, now=None) -> dict[str, SweepReport]:
    """Sweep every registered kind; return each kind's report."""
    return {kind.name: outbox_sweep_kind(kind=kind, now=now) for kind in outbox_kinds()}
