"""Map a store's Shopify locations to PIM locations by name: ``map_locations --store X [--create-missing]``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from channels.shopify.exceptions import ShopifyError
from inventory.locations import store_locations_automap

from .register_webhooks import store_by_name_or_domain


class Command(BaseCommand):
    help = "Read the store's locations from Shopify and map each to the PIM location with the same name."

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store name or myshopify domain")
        parser.add_argument("--create-missing", action="store_true", help="create PIM locations that don't exist")

    def handle(self, *args, store: str, create_missing=False, **options):
        target = store_by_name_or_domain(store)
        try:
            report = store_locations_automap(store=target, create_missing=create_missing)
        except ShopifyError as exc:
            raise CommandError(f"Shopify error: {exc}")
        for mapping in report.mapped:
            self.stdout.write(f"mapped  {mapping}")
        for name in report.unmatched:
            self.stdout.write(f"no PIM location named {name!r} (use --create-missing)")
        self.stdout.write(self.style.SUCCESS(f"{target.name}: {len(report.mapped)} location(s) mapped."))
