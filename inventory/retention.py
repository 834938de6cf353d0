"""Inbox retention: delete old processed webhook deliveries, keep every one that still needs a person."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from pim.clock import clock_now

from .models import WebhookEvent

# Deliveries whose work is over. Anything else (failed, waiting, or any state added later for review) is kept.
PURGEABLE = (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED)


def webhook_events_purge(*, now: datetime | None = None, days: int | None = None, batch: int = 5000,
                         dry_run: bool = False) -> int:
    """Delete processed and ignored webhook events received more than ``days`` (default
    WEBHOOK_EVENT_RETENTION_DAYS, at least 2) ago, in batches; return how many were (or would be) deleted.

    Deleting an event forgets its delivery id, so a later redelivery of it is stored again; its stock effect is
    still applied once, because each movement's source reference is unique. Raises ValueError for days < 2.
    """
    days = settings.WEBHOOK_EVENT_RETENTION_DAYS if days is None else days
    if days < 2:
        raise ValueError("Webhook events are kept at least 2 days (Shopify retries a delivery for 4 hours).")
    cutoff = (now or clock_now()) - timedelta(days=days)
    old = WebhookEvent.objects.filter(status__in=PURGEABLE, received_at__lt=cutoff)
    if dry_run:
        return old.count()
    deleted = 0
    while True:
        ids = list(old.order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += WebhookEvent.objects.filter(pk__in=ids).delete()[0]
