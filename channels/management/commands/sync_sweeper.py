"""Reclaim expired sync jobs and dispatch due ones: once, or every ``--interval`` seconds with ``--loop``."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from channels import services
from channels.hooks import periodic_tasks
from channels.monitoring import alerts_check


def _alerts_due() -> bool:
    """True for one sweeper per ALERT_CHECK_SECONDS across machines (a Redis key with that expiry)."""
    import django_rq
    from django.conf import settings

    return bool(django_rq.get_connection("default").set("pim:alerts-check", "1", nx=True,
                                                        ex=max(1, settings.ALERT_CHECK_SECONDS)))


class Command(BaseCommand):
    help = "Make sure no sync job is lost: reclaim expired leases, re-dispatch pending jobs (oldest first)."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep sweeping until stopped")
        parser.add_argument("--interval", type=float, default=5.0)

    def handle(self, *args, loop=False, interval=5.0, **options):
        while True:
            close_old_connections()
            try:
                if loop:
                    for task in periodic_tasks():  # e.g. the nightly drift sweep (conflicts registers it)
                        task()
                report = services.sync_jobs_sweep()
                from channels.collections import collection_jobs_sweep  # issue 19: collection membership jobs

                collection_jobs_sweep()
                from channels.translations import translation_jobs_sweep  # issue 19: translation jobs

                translation_jobs_sweep()
                if loop and _alerts_due():
                    raised = alerts_check()
                    if raised:
                        self.stdout.write(f"raised {raised} alert(s)")
                if report.reclaimed or report.dispatched or not loop:
                    self.stdout.write(f"reclaimed {report.reclaimed}, dispatched {report.dispatched}")
            except Exception as exc:  # keep the loop alive through a database or Redis restart
                self.stderr.write(f"sweep failed: {exc}")
            if not loop:
                return
            time.sleep(interval)
