"""The kind registry: each kind of durable work says what its rows are, how one is executed and on which lane.

An app registers its kinds in ``AppConfig.ready()`` with ``outbox_kind_register``; the outbox (the drain, the
sweep, replay) looks them up here. A kind supplies its model (an ``OutboxRow``), ``execute(row) -> Outcome``, its
lane (the RQ queue whose workers drain it), which of its statuses mean waiting / running / retry / dead, and
optionally its coalescing key and hooks (admission before a claim, attempt rows, failure and success effects).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet


class NotRun(Exception):
    """A batch gave this claimed row back unrun (or ``execute`` raised it for a row run alone): waiting again, no
    attempt used. At once when it yielded to a higher lane; after ``retry_after`` seconds when what it needs is not
    there yet (a store's cost budget, issue 15; a sale in flight an inventory set must not undo)."""

    def __init__(self, message: str = "", *, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = max(0.0, float(retry_after))


@dataclass
class Outcome:
    """What executing a row gave: its final status (one of the kind's), a note, and extra fields to store."""

    status: str
    detail: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


def _sync_lease_seconds() -> float:
    return float(settings.SYNC_JOB_LEASE_SECONDS)


@dataclass(frozen=True)
class OutboxKind:
    name: str
    model: type
    execute: Callable[[Any], Outcome]
    lane: str
    waiting: tuple[str, ...] = ("pending",)  # claimable statuses
    retry_status: str = "pending"  # where a retried or reclaimed row goes
    running: str = "running"
    dead: str = "dead"
    replayable: tuple[str, ...] = ("dead",)
    # Coalescing: at most one waiting row per key (a partial unique index on the model). A retried row whose key
    # has a newer waiting row is folded into it and gets status ``folded`` (None: rows never fold).
    key: tuple[str, ...] = ()
    folded: str | None = None
    order_by: tuple[Any, ...] = ("next_attempt_at", "id")  # field names or order expressions
    # Whether a claim of one row by id (a test, a command) also waits for its next attempt time.
    by_id_only_when_due: bool = False
    result_field: str | None = "result"
    finished_field: str | None = "finished_at"
    started_field: str | None = None
    lease_seconds: Callable[[], float] = _sync_lease_seconds
    max_attempts: Callable[[Any], int] = lambda row: row.max_attempts
    # The kind's share of its model's rows, when two kinds split one model over two lanes (the webhook inbox:
    # order topics on ``webhooks``, the rest on ``default``). Applied to every claim, dispatch, sweep and replay.
    scope: Callable[[QuerySet], QuerySet] | None = None
    # Narrows the rows that may be claimed or dispatched now (e.g. not for a store whose circuit is open).
    claimable: Callable[[QuerySet, Any], QuerySet] | None = None
    # Called on a locked candidate: None to claim it, or seconds to come back later (another worker has its level).
    admit: Callable[[Any, Any], float | None] | None = None
    # (exc) -> retryable; default: the exception's ``retryable`` attribute, passing database errors retry.
    retryable: Callable[[BaseException], bool] | None = None
    # Attempt rows: started(row, worker) -> handle; finished(row, handle, outcome, exc, retryable).
    started: Callable[[Any, str], Any] | None = None
    finished: Callable[..., None] | None = None
    on_failure: Callable[[Any, BaseException], None] | None = None  # e.g. the store's circuit breaker
    on_success: Callable[[Any, Outcome], None] | None = None
    on_fold: Callable[[Any, Any], None] | None = None  # (row, newer waiting row)
    before_sweep: Callable[[Any], None] | None = None  # (now): e.g. let one probe through a half-open circuit
    # (row) -> True when the kind replayed the dead row itself (e.g. queued a new row that redoes its work, the
    # dead one is then marked accordingly); None or False: the row is re-queued with fresh attempts.
    replay: Callable[[Any], bool] | None = None
    label: str = ""  # for the sweeper's report
    # Optional (issue 15): run several claimed rows together, sharing their reads and calls. Takes the claimed
    # rows and returns each row's Outcome, or the exception that row failed with, by primary key (a row missing
    # from the answer fails). The drain claims up to ``batch_size()`` due rows at a time for such a kind;
    # ``execute`` still runs a row claimed alone (by id). ``claim_related`` is select_related on the claim.
    execute_batch: Callable[[list[Any]], dict[int, Outcome | BaseException]] | None = None
    batch_size: Callable[[], int] = lambda: 1
    claim_related: tuple[str, ...] = ()
    # Optional batch forms of ``started``/``finished`` for rows run together (one query for many rows):
    # started_many(rows, worker) -> {pk: handle}; finished_many([(row, handle, status)]) for rows that succeeded.
    started_many: Callable[[list[Any], str], dict[int, Any]] | None = None
    finished_many: Callable[[list[tuple[Any, Any, str]]], None] | None = None
    # Optional batch form of ``on_success`` for rows finished together: on_success_many([(row, outcome)]).
    on_success_many: Callable[[list[tuple[Any, Outcome]]], None] | None = None

    def rows(self) -> QuerySet:
        """Return the kind's rows (its model's, narrowed by ``scope``)."""
        rows = self.model.objects.all()
        return self.scope(rows) if self.scope else rows

    def model_fields(self) -> set[str]:
        return {f.name for f in self.model._meta.concrete_fields}


_kinds: dict[str, OutboxKind] = {}


def outbox_kind_register(*, kind: OutboxKind) -> None:
    """Add (or replace) a kind of durable work. Raises ImproperlyConfigured for a model without the row fields."""
    missing = {"status", "attempts", "next_attempt_at", "dispatched_at", "lease_until", "worker",
               "last_error"} - kind.model_fields()
    if missing:
        raise ImproperlyConfigured(f"outbox kind {kind.name}: {kind.model.__name__} lacks {sorted(missing)}")
    _kinds[kind.name] = kind


def outbox_kind(name: str) -> OutboxKind:
    """Return the registered kind ``name``. Raises ImproperlyConfigured if no app registered it."""
    try:
        return _kinds[name]
    except KeyError:
        raise ImproperlyConfigured(f"no outbox kind {name!r} is registered (is its app installed?)") from None


def outbox_kinds(*, lane: str | None = None) -> list[OutboxKind]:
    """Return the registered kinds, those of one lane if given, in registration order."""
    return [k for k in _kinds.values() if lane is None or k.lane == lane]
