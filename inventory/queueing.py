"""Sending inventory pushes to RQ (the outbox's lane drain: ``outbox.services.lane_drain_enqueue``), tuning
knobs, worker names, backoff.

Immediate work is one *drain* job per queue (it processes everything waiting), enqueued only when no drain job of
that queue is waiting already; delayed retries are one job per id at its time. (Webhook events are an outbox kind
of the ``webhooks`` app.)
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from django.conf import settings

from outbox.services import lane_drain_enqueue

logger = logging.getLogger(__name__)


INVENTORY_QUEUE = "inventory"


def _setting(name: str, default: Any) -> Any:
    """Read a tuning knob from Django settings, else from the environment (workers), else ``default``."""
    value = getattr(settings, name, None)
    if value is not None:
        return value
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return type(default)(raw)
    except ValueError:
        return default


def _enqueue(queue_name: str, task: Callable, ids: list[int], delay: float | None) -> None:
    """Send work to RQ through the outbox's lane drain: a delayed retry is one job per id at its time; immediate
    work is one drain job (which processes everything waiting), enqueued only if no drain job of this queue is
    already waiting. Raises on Redis errors."""
    if delay:
        for pk in ids:
            lane_drain_enqueue(lane=queue_name, task=task, args=(pk,), delay=delay)
        return
    lane_drain_enqueue(lane=queue_name, task=task, args=(ids[0],))


def _drain_budget() -> float:
    return float(_setting("INVENTORY_DRAIN_SECONDS", 2.0))


def worker_name() -> str:
    """Return this process's label for leases and logs (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _backoff_seconds(attempts: int) -> float:
    """Return the retry delay after ``attempts`` failures (the publishing pipeline's backoff with jitter)."""
    from channels.services import backoff_seconds as channel_backoff

    return channel_backoff(attempts)
