"""Periodic tasks the sweeper runs (apps register them in ``AppConfig.ready()``).

A task decides itself whether it is due (e.g. a Redis key with an expiry) and returns a note to print, or None.
Tasks run on every ``outbox_sweeper --loop`` pass; those registered with ``also_once=True`` also on a single
``outbox_sweeper`` run (sweeps of their own, as opposed to scheduled jobs like the nightly drift sweep).
"""

from __future__ import annotations

from collections.abc import Callable

_periodic: dict[str, tuple[Callable[[], object], bool]] = {}


def periodic_task_register(*, name: str, task: Callable[[], object], also_once: bool = False) -> None:
    """Add (or replace) the task ``name`` the sweeper runs on every pass."""
    _periodic[name] = (task, also_once)


def periodic_tasks(*, loop: bool = True) -> list[tuple[str, Callable[[], object]]]:
    """Return the tasks a sweeper pass runs (``loop=False``: a single run) as (name, task), in registration order."""
    return [(name, task) for name, (task, also_once) in _periodic.items() if loop or also_once]
