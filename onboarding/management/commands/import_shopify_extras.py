"""Onboarding step (issue 19): read bound products' Shopify categories and translations into the PIM."""

from django.core.management.base import BaseCommand, CommandError

from channels.models import Store
from onboarding.extras_import import shopify_extras_import


class Command(BaseCommand):
    help = "Read the Shopify product category and translations of the store's bound products into the PIM " \
           "(only where the PIM has none). Run after reconcile_store --apply."

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store name")

    def handle(self, *args, store, **options):
        found = Store.objects.filter(name=store).first()
        if found is None:
            raise CommandError(f"no store named {store!r}")
        report = shopify_extras_import(store=found)
        self.stdout.write(f"categories read: {report.categories}, translations read: {report.translations}, "
                          f"kept the PIM's: {report.kept_pim}")
