"""The cheapest hand-off of rows just recorded with ``dispatched_at`` already set (the webhook endpoint's)."""

from __future__ import annotations

import logging

from .kinds import OutboxKind
from .services import outbox_wake

logger = logging.getLogger(__name__)


def outbox_dispatch_recorded(*, kind: OutboxKind, ids: list[int]) -> bool:
    """Wake the lane for rows just recorded (committed) with ``dispatched_at`` already set; return whether it woke.

    The cheap hand-off of the webhook endpoint: no read-back and no UPDATE when Redis answers (one round trip,
    none to PostgreSQL). A failure to reach Redis is logged, not raised, and clears ``dispatched_at`` so the sweep
    sends the rows at once (a crash between the insert and the wake leaves them for the sweep's stale re-send).
    """
    if not ids:
        return False
    try:
        outbox_wake(lane=kind.lane)
        return True
    except Exception:  # Redis down: the sweep re-dispatches from PostgreSQL.
        logger.exception("could not wake the %s drain for %s %s; the sweep will retry", kind.lane, kind.name, ids)
        kind.model.objects.filter(pk__in=ids).update(dispatched_at=None)
        return False
