"""Who is working and when to try again: the worker label used for leases and the retry backoff schedule."""

from __future__ import annotations

import os
import random
import socket

from django.conf import settings


def worker_name() -> str:
    """Return this process's label for leases and logs (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff_seconds(attempts: int) -> float:
    """Return the delay before the next try after ``attempts`` failures, with jitter (50 % to 100 %).

    Delays follow SYNC_RETRY_SCHEDULE (seconds per failure; the last entry repeats), each capped at
    SYNC_RETRY_MAX_SECONDS. The default schedule (1 s, 5 s, 30 s, 1 min, 5 min, 30 min, 2 h, 6 h) heals a glitch
    in seconds and keeps retrying through an outage of hours before anything is dead-lettered.
    """
    schedule = settings.SYNC_RETRY_SCHEDULE
    raw = min(float(schedule[min(max(attempts, 1), len(schedule)) - 1]), settings.SYNC_RETRY_MAX_SECONDS)
    return raw * (0.5 + random.random() / 2)
