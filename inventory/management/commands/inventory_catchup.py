"""Replay a store's orders updated since a moment: ``inventory_catchup --store X --since ISO [--apply]``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from channels.shopify.exceptions import ShopifyError
from inventory.catchup import order_catchup_run

from .register_webhooks import store_by_name_or_domain


def _moment(text: str):
    moment = parse_datetime(text)
    if moment is None and parse_date(text) is not None:
        moment = parse_datetime(text + "T00:00:00")
    if moment is None:
        raise CommandError(f"--since {text!r} is not an ISO date or date-time (e.g. 2026-12-03T08:00:00Z)")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_fixed_timezone(0))
    if moment > timezone.now():
        raise CommandError(f"--since {text} is in the future")
    return moment


class Command(BaseCommand):
    help = ("Read the orders (with their edits, refunds, cancellations and fulfillments) of one store updated since "
            "--since from Shopify and feed them through the same idempotent writeback as the webhooks. Without "
            "--apply a dry run: the orders found and the stock changes the replay would make, nothing written.")

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store name or myshopify domain")
        parser.add_argument("--since", required=True, help="ISO date or date-time (UTC unless an offset is given)")
        parser.add_argument("--apply", action="store_true", help="record the stock changes (otherwise a dry run)")

    def handle(self, *args, store: str, since: str, apply=False, **options):
        target = store_by_name_or_domain(store)
        moment = _moment(since)
        try:
            report = order_catchup_run(store=target, since=moment, apply=apply)
        except ShopifyError as exc:
            raise CommandError(f"could not read {target.name}'s orders from Shopify: {type(exc).__name__}: {exc}")
        self.stdout.write(report.text())
        if report.too_large:
            raise CommandError(f"{len(report.too_large)} order(s) too large to replay: check them by hand")
