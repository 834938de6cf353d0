"""Operator alerts: each condition alerts once per store and window, by log, email and a chat webhook."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
import responses
from django.core import mail
from django.utils import timezone

from channels import alerts, monitoring
from channels.models import Alert, Store, SyncJob
from inventory.models import WebhookEvent

HOOK = "https://hooks.slack.example/services/T000/B000/secret"


@pytest.fixture
def store(db, settings):
    settings.ALERT_EMAILS = ["ops@example.com"]
    settings.ALERT_WEBHOOK_URL = HOOK
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ALERT_WINDOW_HOURS = 6
    return Store.objects.create(name="North", shop_domain="north.myshopify.com")


@responses.activate
def test_alert_once_per_window_by_email_and_chat_webhook(store, django_capture_on_commit_callbacks, caplog):
    responses.post(HOOK, json={"ok": True})
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts.alert_raise(kind="sync_dead_letters", store=store, message="3 jobs dead", now=now)
        assert not alerts.alert_raise(kind="sync_dead_letters", store=store, message="4 jobs dead", now=now)
        assert alerts.alert_raise(kind="sync_dead_letters", store=None, message="global", now=now)
    assert len(mail.outbox) == 2 and "3 jobs dead" in mail.outbox[0].body
    assert len(responses.calls) == 2
    assert b"3 jobs dead" in responses.calls[0].request.body
    assert "secret" not in caplog.text  # the webhook address is never logged
    later = alerts.alert_window_start(now=now) + timedelta(hours=6, seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts.alert_raise(kind="sync_dead_letters", store=store, message="again", now=later)
    assert Alert.objects.filter(store=store).count() == 2


@responses.activate
def test_a_broken_chat_webhook_never_fails_the_caller(store, django_capture_on_commit_callbacks, caplog):
    responses.post(HOOK, status=500, body=requests.ConnectionError("down"))
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts.alert_raise(kind="x", store=store, message="m")
    assert "alert webhook failed" in caplog.text and "secret" not in caplog.text


def _job(store, status, **fields) -> SyncJob:
    return SyncJob.objects.create(store=store, product_label="P", status=status, **fields)


@responses.activate
def test_dead_letters_and_failed_webhooks_alert_once(store, django_capture_on_commit_callbacks):
    responses.post(HOOK)
    _job(store, SyncJob.Status.DEAD)
    _job(store, SyncJob.Status.DEAD)
    WebhookEvent.objects.create(store=store, shop_domain=store.shop_domain, topic="orders/create", webhook_id="w1",
                                raw_body=b"{", status=WebhookEvent.Status.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        assert monitoring.alerts_check() == 2
        assert monitoring.alerts_check() == 0
    kinds = set(Alert.objects.values_list("kind", flat=True))
    assert kinds == {"sync_dead_letters", "webhook_events_failed"}
    assert "2 sync job(s)" in Alert.objects.get(kind="sync_dead_letters").message


def test_sustained_latency_alerts_and_a_healthy_store_does_not(store, settings):
    settings.ALERT_LATENCY_P95_SECONDS = 60
    settings.ALERT_LATENCY_MIN_JOBS = 3
    now = timezone.now()
    for ms in (500, 700, 900):
        _job(store, SyncJob.Status.DONE, finished_at=now, latency_ms=ms)
    assert monitoring.sync_latency_check(now) == 0
    for _ in range(3):
        _job(store, SyncJob.Status.DONE, finished_at=now, latency_ms=120_000)
    assert monitoring.sync_latency_check(now) == 1
    assert "p95 edit-to-live 120 s" in Alert.objects.get(kind="sync_latency").message


def test_a_backlog_that_does_not_move_alerts(store, settings):
    settings.ALERT_LATENCY_P95_SECONDS = 60
    now = timezone.now()
    _job(store, SyncJob.Status.PENDING, first_edit_at=now - timedelta(minutes=10))
    assert monitoring.sync_latency_check(now) == 1
    assert "oldest waiting edit 600 s" in Alert.objects.get(kind="sync_latency").message
