"""Sending inventory work to RQ: the queues, the one-waiting-drain-job flag, tuning knobs, worker names, backoff.

Immediate work is one *drain* job per queue (it processes everything waiting), enqueued only when no drain job of
that queue is waiting already; delayed retries are one job per id at its time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)


WEBHOOKS_QUEUE = "webhooks"

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


def _drain_flag(queue_name: str) -> str:
    return f"inventory:drain-queued:{queue_name}"


# Claim the right to enqueue a drain job: the flag names the waiting job; a flag whose job is gone (queue
# emptied, job deleted) no longer counts. One round trip, atomic.
_CLAIM_DRAIN = """
local current = redis.call('GET', KEYS[1])
if current and redis.call('EXISTS', ARGV[3] .. current) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""

# Clear the flag only if it still names this job (a newer waiting job keeps its flag).
_RELEASE_DRAIN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _enqueue(queue_name: str, task: Callable, ids: list[int], delay: float | None) -> None:
    """Send work to RQ: a delayed retry is one job per id at its time; immediate work is one drain job
    (which processes everything waiting), enqueued only if no drain job of this queue is already waiting."""
    from rq.job import Job

    queue = _rq_queue(queue_name)
    if delay:
        for pk in ids:
            queue.enqueue_in(timedelta(seconds=delay), task, pk)
        return
    job_id = f"drain-{queue_name}-{uuid.uuid4().hex}"
    ttl = int(_setting("INVENTORY_DRAIN_FLAG_SECONDS", 60))
    claimed = queue.connection.eval(_CLAIM_DRAIN, 1, _drain_flag(queue_name), job_id, ttl,
                                    Job.redis_job_namespace_prefix)
    if claimed:
        queue.enqueue(task, ids[0], job_id=job_id)


def _drain_started(queue_name: str) -> None:
    """Let the next arrival enqueue a new drain job: this one no longer waits in the queue."""
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        return
    try:
        _rq_queue(queue_name).connection.eval(_RELEASE_DRAIN, 1, _drain_flag(queue_name), job.id)
    except Exception:
        logger.warning("could not clear the drain flag of %s", queue_name)


def _drain_budget() -> float:
    return float(_setting("INVENTORY_DRAIN_SECONDS", 2.0))


def worker_name() -> str:
    """Return this process's label for leases and logs (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _backoff_seconds(attempts: int) -> float:
    """Return the retry delay after ``attempts`` failures (the publishing pipeline's backoff with jitter)."""
    from channels.services import backoff_seconds as channel_backoff

    return channel_backoff(attempts)
