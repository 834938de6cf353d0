"""Print the sync health of every store: ``manage.py sync_status``."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from channels.models import Store
from channels.selectors import store_health


class Command(BaseCommand):
    help = "Show queue depth, oldest pending job, dead letters and edit-to-live latency per store."

    def handle(self, *args, **options):
        stores = list(Store.objects.all())
        if not stores:
            self.stdout.write("No stores connected.")
            return
        for store in stores:
            h = store_health(store=store)
            oldest = f"{h.oldest_pending_seconds:.0f}s" if h.oldest_pending_seconds is not None else "-"
            self.stdout.write(
                f"{store.name} ({store.shop_domain}): circuit {h.circuit}, pending {h.pending}, running {h.running}, "
                f"held {h.held}, dead {h.dead}, oldest pending {oldest}"
            )
            for label, value in h.extras:
                self.stdout.write(f"  {label}: {value}")
            for w in h.windows:
                self.stdout.write(
                    f"  {w.label}: {w.finished} finished, retry rate {w.retry_rate:.1f}%, "
                    f"latency p50 {w.p50} ms, p95 {w.p95} ms, p99 {w.p99} ms"
                )
