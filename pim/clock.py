"""The services' clock: ``clock_now()`` is ``timezone.now()`` unless a test froze or advanced it.

Services that decide on time (retry backoff, leases, what is due, sweeps) read ``clock_now()``, so a test moves
time forward with ``clock_advance(seconds=...)`` instead of sleeping until a retry is due. The offset is per
process and zero unless a test sets it (``tests`` fixture ``clock``); worker processes always run on real time.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from django.utils import timezone

_lock = threading.Lock()
_offset = timedelta(0)
_frozen: datetime | None = None


def clock_now() -> datetime:
    """Return the current time (aware, UTC) as the services see it."""
    if _frozen is not None:
        return _frozen
    return timezone.now() + _offset


def clock_advance(*, seconds: float) -> datetime:
    """Move the services' clock forward by ``seconds`` (tests only); return the new time."""
    global _offset, _frozen
    with _lock:
        if _frozen is not None:
            _frozen += timedelta(seconds=seconds)
        else:
            _offset += timedelta(seconds=seconds)
    return clock_now()


def clock_freeze(*, at: datetime | None = None) -> datetime:
    """Stop the services' clock at ``at`` (default: now) until ``clock_reset()`` (tests only); return it."""
    global _frozen
    with _lock:
        _frozen = at or clock_now()
    return _frozen


def clock_reset() -> None:
    """Back to real time."""
    global _offset, _frozen
    with _lock:
        _offset, _frozen = timedelta(0), None
