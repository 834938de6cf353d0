"""Compare a store's Shopify inventory with the PIM (dry run) or overwrite it: ``inventory_sync --store X --full``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from channels.shopify.exceptions import ShopifyError
from inventory import selectors
from inventory.errors import InventorySyncRefused
from inventory.full_sync import inventory_full_sync

from .register_webhooks import store_by_name_or_domain


class Command(BaseCommand):
    help = ("Full inventory sync of one store: shows every level where Shopify differs from the PIM; with --apply "
            "sets Shopify to the PIM's quantities (compare-and-set). Refuses while order webhooks are unprocessed.")

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store name or myshopify domain")
        parser.add_argument("--full", action="store_true", help="compare every managed level (required)")
        parser.add_argument("--apply", action="store_true", help="overwrite Shopify (otherwise a dry run)")
        parser.add_argument("--confirm-overwrite", action="store_true",
                            help="needed with --apply once the store has had a full sync: confirms overwriting a "
                                 "live store's stock (sales in flight, merchant corrections)")

    def handle(self, *args, store: str, full=False, apply=False, confirm_overwrite=False, **options):
        if not full:
            raise CommandError("Only full syncs are supported: pass --full.")
        target = store_by_name_or_domain(store)
        previous = selectors.last_applied_full_sync(store=target)
        if apply and previous is not None and not confirm_overwrite:
            raise CommandError(
                f"{target.name} went live with a full sync on {previous.started_at:%Y-%m-%d %H:%M} UTC. Another "
                "--apply overwrites every level in Shopify with the PIM's quantity, including any correction a "
                "merchant made there since. Run the dry run first, then pass --confirm-overwrite if that is what "
                "you want.")
        failed = selectors.failed_order_events(shop_domain=target.shop_domain)
        if failed:
            self.stderr.write(f"warning: {failed} order webhook(s) of {target.shop_domain} failed processing; their "
                              "sales are not in the PIM (review them in the admin before overwriting Shopify).")
        try:
            run = inventory_full_sync(store=target, apply=apply, actor_label="command inventory_sync")
        except InventorySyncRefused as exc:
            raise CommandError(str(exc))
        except ShopifyError as exc:
            raise CommandError(f"Shopify error: {exc}")
        rows = [r for r in run.report if r.get("differs")]
        if rows:
            self.stdout.write(f"{'SKU':30} {'location':24} {'Shopify':>8} {'PIM':>8} {'change':>8}")
            for r in rows:
                self.stdout.write(f"{r['sku'][:30]:30} {r['location'][:24]:24} {r['shopify']!s:>8} {r['pim']:>8} "
                                  f"{r['pim'] - (r['shopify'] or 0):>+8}")
        for r in run.report:
            if not r.get("stocked"):
                self.stdout.write(f"not stocked in Shopify: {r['sku']} at {r['location']} (skipped)")
        summary = f"{target.name}: {run.levels_checked} level(s) compared, {run.differences} differ"
        if not apply:
            self.stdout.write(summary + ". Dry run: nothing changed; pass --apply to overwrite Shopify.")
            return
        if run.error:
            raise CommandError(f"{summary}; {run.levels_set} set; stopped: {run.error}")
        self.stdout.write(self.style.SUCCESS(f"{summary}; {run.levels_set} set in Shopify. Initial full sync done."))
