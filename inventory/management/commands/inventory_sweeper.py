"""Re-send waiting webhook events and inventory pushes: once, or every ``--interval`` seconds with ``--loop``."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from inventory.catchup import order_watermarks_sweep
from inventory.subscriptions import webhook_subscriptions_sweep
from inventory.sweep import inventory_sweep


class Command(BaseCommand):
    help = ("Make sure no webhook event or inventory push is lost: reclaim expired leases, re-send waiting work; "
            "queue the periodic check and repair of every store's webhook subscriptions; keep each store's order "
            "watermark and queue a gap replay when orders may have been missed.")

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep sweeping until stopped")
        parser.add_argument("--interval", type=float, default=5.0)

    def handle(self, *args, loop=False, interval=5.0, **options):
        while True:
            close_old_connections()
            try:
                r = inventory_sweep()
                if not loop or any((r.events_reclaimed, r.events_dispatched, r.pushes_reclaimed,
                                    r.pushes_dispatched, r.sets_requested)):
                    self.stdout.write(
                        f"events: {r.events_reclaimed} reclaimed, {r.events_dispatched} sent; pushes: "
                        f"{r.pushes_reclaimed} reclaimed, {r.pushes_dispatched} sent; {r.sets_requested} set(s) queued"
                    )
            except Exception as exc:  # keep the loop alive through a database or Redis restart
                self.stderr.write(f"sweep failed: {exc}")
            try:
                checks = webhook_subscriptions_sweep()
                if checks:
                    self.stdout.write(f"webhook subscriptions: {checks} store check(s) queued")
            except Exception as exc:
                self.stderr.write(f"webhook subscription sweep failed: {exc}")
            try:
                replays = order_watermarks_sweep()
                if replays:
                    self.stdout.write(f"orders: {replays} gap replay(s) queued")
            except Exception as exc:
                self.stderr.write(f"order watermark sweep failed: {exc}")
            if not loop:
                return
            time.sleep(interval)
