"""Scheduled inventory reconciliation of one store: set its schedule, or run one reconciliation now and print it."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from inventory import reconciliation as recon

from .register_webhooks import store_by_name_or_domain


class Command(BaseCommand):
    help = ("Inventory reconciliation of one store. With --schedule, set when it runs (off, daily or weekly at "
            "--hour in --timezone; switching on needs a confirmed full sync). Without it, reconcile now: compare every "
            "mapped level with Shopify, correct normal differences (compare-and-set), skip levels with sales or pushes "
            "on their way, hold large differences for review; prints the report.")

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store name or myshopify domain")
        parser.add_argument("--schedule", choices=["off", "daily", "weekly"])
        parser.add_argument("--hour", type=int, default=3, help="hour of the day, 0-23 (default 3)")
        parser.add_argument("--weekday", type=int, default=0, help="weekly runs: 0 = Monday … 6 = Sunday")
        parser.add_argument("--timezone", default="UTC", help="IANA timezone of the hour (default UTC)")

    def handle(self, *args, store: str, schedule=None, hour=3, weekday=0, timezone="UTC", **options):
        target = store_by_name_or_domain(store)
        if schedule:
            try:
                saved = recon.reconciliation_schedule_set(store=target, frequency=schedule, hour=hour,
                                                          weekday=weekday, timezone_name=timezone)
            except recon.ReconciliationError as exc:
                raise CommandError(str(exc))
            self.stdout.write(f"{saved}")
            return
        try:
            run = recon.reconciliation_run_request(store=target, dispatch=False)
        except recon.ReconciliationRefused as exc:
            raise CommandError(str(exc))
        run = recon.reconciliation_run_execute(run_id=run.pk)
        for entry in run.report:
            self.stdout.write(f"{entry['outcome']:>9}  {entry['sku']} @ {entry['location']}: PIM {entry['pim']}, "
                              f"Shopify {entry['shopify']} — {entry['detail']}")
        self.stdout.write(f"run {run.pk} {run.status}: {run.levels_checked} level(s) checked, {run.matched} matched, "
                          f"{run.corrected} corrected, {run.skipped} skipped, {run.held} held, {run.stale} stale"
                          + (f"; {run.last_error}" if run.last_error else ""))
        if run.status == run.Status.FAILED:
            raise CommandError(run.last_error)
