"""Finishing a claimed row (success, one or many) and the guard every finishing write goes through (issue #14's
re-claim race); failures are ``outbox.services.outbox_fail``, which uses the same guard.

A claim sets ``status`` to the kind's running status, ``worker`` to the claimer and counts one more ``attempts``, so
(worker, attempts) names one claim. A worker whose lease expired may still be running the row when the sweep puts
it back and another worker claims it again; when the first one finishes, a write by primary key alone would
overwrite the new owner's state (a running row marked done or dead while it is being worked on, a retry's backoff
lost). Every finishing write therefore matches the row's status *and* its claim; a stale finisher's write matches
nothing and becomes a logged no-op. ``attempts`` tells two claims of one worker apart (a worker may claim the row
again after the sweep re-queued it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import reduce
from operator import or_
from typing import Any

from django.db import transaction
from django.db.models import Q

from pim.clock import clock_now

from .kinds import OutboxKind, Outcome

logger = logging.getLogger(__name__)

STALE = "stale"  # the Outcome status of a finish that was not written: the row is no longer this claim's


def outbox_owned(*, kind: OutboxKind, row: Any, also: Iterable[str] = ()) -> Q:
    """Return the filter of ``row`` as long as the claim that returned it still holds it: the kind's running status
    (or one of ``also``: a final status the kind's own ``execute`` already wrote during this claim), the claim's
    worker and its attempt count."""
    return Q(pk=row.pk, worker=row.worker, attempts=row.attempts, status__in=[kind.running, *also])


def outbox_owned_many(*, kind: OutboxKind, rows: Iterable[Any], also: Iterable[str] = ()) -> Q:
    """``outbox_owned`` for several rows at once (each with its own claim). ``rows`` must not be empty."""
    return reduce(or_, (outbox_owned(kind=kind, row=row, also=also) for row in rows))


def outbox_stale_write(*, kind: OutboxKind, row: Any, what: str) -> None:
    """Log a finishing write that was dropped because the row was re-claimed (or re-queued) meanwhile."""
    current = kind.model.objects.filter(pk=row.pk).values("status", "worker", "attempts").first() or {}
    logger.warning(
        "%s %s: %s not recorded: this claim (worker %s, attempt %s) lost the row, now %s by %s at attempt %s",
        kind.name, row.pk, what, row.worker, row.attempts, current.get("status", "deleted"),
        current.get("worker") or "-", current.get("attempts", "-"),
    )


def outbox_succeed_many(*, kind: OutboxKind, items: list[tuple[Any, Outcome, Any]]) -> list[Any]:
    """``outbox_succeed`` for many (row, outcome, attempt) at once: rows with the same outcome share one update.

    Returns the rows written; a row another claim holds now is left alone and logged (its ``on_success`` skipped).
    """
    if not items:
        return []
    if kind.finished_many:
        kind.finished_many([(row, attempt, outcome.status) for row, outcome, attempt in items])
    elif kind.finished:
        for row, outcome, attempt in items:
            kind.finished(row, attempt, outcome.status, None, False)
    return _write_success(kind, [(row, outcome) for row, outcome, _ in items])


def _write_success(kind: OutboxKind, pairs: list[tuple[Any, Outcome]]) -> list[Any]:
    groups: dict[str, tuple[dict[str, Any], list[tuple[Any, Outcome]]]] = {}
    finished = clock_now()
    for row, outcome in pairs:
        update: dict[str, Any] = {"status": outcome.status, "lease_until": None, "last_error": "", **outcome.fields}
        if kind.result_field:
            update[kind.result_field] = outcome.detail[:kind.model._meta.get_field(kind.result_field).max_length]
        if kind.finished_field:
            update[kind.finished_field] = finished
        groups.setdefault(repr(sorted(update.items())), (update, []))[1].append((row, outcome))
    written: list[tuple[Any, Outcome]] = []
    with transaction.atomic():
        for update, members in groups.values():
            rows = [row for row, _ in members]
            mine = outbox_owned_many(kind=kind, rows=rows, also=[update["status"]])
            if len(rows) == 1:  # one conditional UPDATE
                owned = {rows[0].pk} if kind.model.objects.filter(mine).update(**update) else set()
            else:
                owned = set(kind.model.objects.select_for_update().filter(mine).values_list("pk", flat=True))
                kind.model.objects.filter(pk__in=owned).update(**update)
            for row, outcome in members:
                if row.pk in owned:
                    written.append((row, outcome))
                else:
                    outbox_stale_write(kind=kind, row=row, what=f"success ({outcome.status})")
    if kind.on_success:
        for row, outcome in written:
            kind.on_success(row, outcome)
    return [row for row, _ in written]


def outbox_succeed(*, kind: OutboxKind, row: Any, outcome: Outcome, attempt: Any = None) -> bool:
    """Record a finished row: its final status, note and fields; the lease is released.

    Returns False (nothing written, logged) when the claim that returned ``row`` no longer holds it: its lease
    expired and the row was re-queued or claimed again meanwhile.
    """
    if kind.finished:
        kind.finished(row, attempt, outcome.status, None, False)
    return bool(_write_success(kind, [(row, outcome)]))
