"""Inbox retention: old processed and ignored deliveries go, failed ones and recent ones stay."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from inventory.models import WebhookEvent
from inventory.retention import webhook_events_purge


def _event(n: int, status: str, age_days: float) -> WebhookEvent:
    return WebhookEvent.objects.create(shop_domain="shop-a.myshopify.com", topic="orders/create",
                                       webhook_id=f"w-{n}", event_id=f"e-{n}", raw_body=b"{}", status=status,
                                       received_at=timezone.now() - timedelta(days=age_days))


@pytest.mark.django_db
def test_purge_keeps_failed_waiting_and_recent_events(settings):
    settings.WEBHOOK_EVENT_RETENTION_DAYS = 30
    old_done = [_event(1, "processed", 40), _event(2, "ignored", 31)]
    kept = [_event(3, "failed", 400), _event(4, "retry", 40), _event(5, "received", 40), _event(6, "processed", 10)]
    assert webhook_events_purge(dry_run=True) == 2
    assert WebhookEvent.objects.count() == 6
    assert webhook_events_purge(batch=1) == 2
    remaining = set(WebhookEvent.objects.values_list("pk", flat=True))
    assert remaining == {e.pk for e in kept}
    assert not remaining & {e.pk for e in old_done}


@pytest.mark.django_db
def test_command_reports_and_refuses_a_window_shorter_than_shopifys_retries():
    _event(1, "processed", 5)
    out = io.StringIO()
    call_command("purge_webhook_events", "--days", "3", stdout=out)
    assert "Deleted 1 " in out.getvalue()
    with pytest.raises(CommandError, match="at least 2 days"):
        call_command("purge_webhook_events", "--days", "1", stdout=io.StringIO())
