"""Subscribe a store's shop to the webhook topics the PIM handles: ``register_webhooks --store X --url URL``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from channels.models import Store
from channels.shopify.exceptions import ShopifyError
from inventory.subscriptions import (
    WEBHOOK_TOPICS,
    webhook_subscriptions_register,
    webhook_subscriptions_target_record,
)


def store_by_name_or_domain(value: str) -> Store:
    store = Store.objects.filter(name=value).first() or Store.objects.filter(shop_domain=value.lower()).first()
    if store is None:
        raise CommandError(f"No store named {value!r} (give its name or its myshopify domain).")
    return store


class Command(BaseCommand):
    help = ("Register the webhook subscriptions the PIM needs (orders, refunds, products, inventory levels, "
            "app uninstall) for one store; existing ones are kept.")

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store name or myshopify domain")
        parser.add_argument("--url", required=True, help="public HTTPS address of /shopify/webhooks/")
        parser.add_argument("--topic", action="append", dest="topics",
                            help=f"topic enum to register (repeatable; default: {', '.join(WEBHOOK_TOPICS)})")
        parser.add_argument("--replace", action="store_true",
                            help="delete subscriptions of these topics that point to another address")

    def handle(self, *args, store: str, url: str, topics=None, replace=False, **options):
        target = store_by_name_or_domain(store)
        try:
            results = webhook_subscriptions_register(
                store=target, callback_url=url, topics=topics or WEBHOOK_TOPICS, replace=replace
            )
        except ValueError as exc:
            raise CommandError(str(exc))
        except ShopifyError as exc:
            raise CommandError(f"Shopify refused: {exc}")
        # The subscription sweeper checks and repairs this store's subscriptions against this address from now on.
        webhook_subscriptions_target_record(store=target, callback_url=url)
        for row in results:
            self.stdout.write(f"{row['action']:8} {row['topic']:28} {row['uri']}  {row['id'] or ''}")
        created = sum(1 for r in results if r["action"] == "created")
        self.stdout.write(self.style.SUCCESS(f"{target.name}: {created} subscription(s) created."))
