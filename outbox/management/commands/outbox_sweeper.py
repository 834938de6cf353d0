"""Sweep every kind of durable work (issue 14): once, or every ``--interval`` seconds with ``--loop``.

Reclaims expired leases and re-sends due rows whose hand-off was lost, for every registered outbox kind; with
``--loop`` it also runs the periodic tasks the apps registered (``outbox.periodic``: the nightly drift sweep,
alerts, webhook subscription checks), each deciding itself whether it is due. ``sync_sweeper`` and
``inventory_sweeper`` are the same command under their old names.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from outbox.periodic import periodic_tasks
from outbox.services import outbox_sweep


class Command(BaseCommand):
    help = "Make sure no durable work is lost: reclaim expired leases, re-send waiting rows of every kind."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep sweeping until stopped")
        parser.add_argument("--interval", type=float, default=5.0)

    def handle(self, *args, loop=False, interval=5.0, **options):
        while True:
            close_old_connections()
            for name, task in periodic_tasks(loop=loop):
                try:
                    note = task()
                    if note:
                        self.stdout.write(f"{name}: {note}")
                except Exception as exc:  # one failing task does not stop the others or the sweep
                    self.stderr.write(f"{name} failed: {exc}")
            try:
                reports = outbox_sweep()
                for name, r in reports.items():
                    if r.reclaimed or r.dispatched or not loop:
                        self.stdout.write(f"{name}: reclaimed {r.reclaimed}, dispatched {r.dispatched}")
            except Exception as exc:  # keep the loop alive through a database or Redis restart
                self.stderr.write(f"sweep failed: {exc}")
            if not loop:
                return
            time.sleep(interval)
