"""Compare every published product of a store with Shopify: ``manage.py check_drift --store X`` (records only)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from channels.models import ChannelAssignment, Store
from channels.shopify.exceptions import ShopifyError
from conflicts.sweep import drift_sweep


class Command(BaseCommand):
    help = "Run the drift sweep for one store (or all active stores): records conflicts, never overwrites."

    def add_arguments(self, parser):
        parser.add_argument("--store", help="store name or shop domain (default: every active store)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, store=None, no_progress=False, **options):
        stores = Store.objects.filter(is_active=True)
        if store:
            stores = stores.filter(name=store) | stores.filter(shop_domain=store)
            if not stores.exists():
                raise CommandError(f"No active store named '{store}'.")
        failed = False
        for s in stores:
            started = time.monotonic()
            total = ChannelAssignment.objects.filter(store=s).exclude(shopify_product_id="").count()
            try:
                # Log lines (throttle waits, retries) are written above the bar instead of through it.
                with logging_redirect_tqdm(), tqdm(total=total, unit="product", disable=no_progress,
                                                   file=self.stdout, desc=s.name) as bar:
                    report = drift_sweep(store=s, progress=bar.update)
            except ShopifyError as exc:
                self.stderr.write(f"{s.name}: the sweep failed: {exc}")
                failed = True
                continue
            self.stdout.write(
                f"{s.name}: compared {report.compared} products in {time.monotonic() - started:.1f}s; "
                f"{report.conflicts} field conflicts, {report.deleted_in_shopify} deleted in Shopify, "
                f"{report.shopify_only} only in Shopify."
            )
        if failed:
            raise CommandError("The sweep failed for at least one store.")
