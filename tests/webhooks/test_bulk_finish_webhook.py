"""``bulk_operations/finish`` wakes the bulk publish run whose operation finished (issue 17): its step runs now,
not at its next poll; another app's operation and a run whose step is running are left alone."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.utils import timezone

from channels import services
from channels.bulk_models import BulkPublishOperation, BulkPublishRun
from channels.bulk_publish import bulk_publish_step
from inventory.subscriptions import WEBHOOK_TOPICS
from tests.channels.conftest import sim_store  # noqa: F401 - the fixture
from tests.channels.test_bulk_publish import _assign, _catalog
from tests.security.test_webhooks import headers_for
from webhooks.inbox import webhook_event_process
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)


def _deliver(store, payload: dict) -> WebhookEvent:
    body = json.dumps(payload).encode()
    response = Client().post("/shopify/webhooks/", data=body, content_type="application/json",
                             headers=headers_for(body, shop=store.shop_domain, topic="bulk_operations/finish",
                                                 secret=store.webhook_secret))
    assert response.status_code == 200
    event = WebhookEvent.objects.filter(topic="bulk_operations/finish").latest("id")
    webhook_event_process(event_id=event.pk, worker="test")
    event.refresh_from_db()
    return event


def test_bulk_operations_finish_wakes_the_run(shopify_sim, sim_store, settings, monkeypatch):  # noqa: F811
    settings.BULK_PUBLISH_THRESHOLD = 3
    settings.BULK_PUBLISH_POLL_SECONDS = 3600  # without the webhook, the next step would be an hour away
    requests.post(f"{shopify_sim.url}/_sim/config", json={"bulk_mutation_points_per_second": 100000}, timeout=5)
    queued = []
    monkeypatch.setattr("channels.bulk_publish.bulk_publish_enqueue",
                        lambda *, run_id, delay=None: queued.append((run_id, delay)))
    assert "BULK_OPERATIONS_FINISH" in WEBHOOK_TOPICS  # register_webhooks subscribes it
    _assign(_catalog(5, prefix="W"), sim_store)
    services.publish_request(store=sim_store)
    run = BulkPublishRun.objects.get(store=sim_store)
    deadline = time.monotonic() + 30
    while not BulkPublishOperation.objects.filter(run=run, kind="product_set").exclude(shopify_operation_id="")\
            .exists() and time.monotonic() < deadline:
        BulkPublishRun.objects.filter(pk=run.pk).update(next_step_at=None)
        bulk_publish_step(run_id=run.pk)
    op = BulkPublishOperation.objects.get(run=run, kind="product_set")
    run.refresh_from_db()
    assert run.next_step_at > timezone.now() + timedelta(minutes=50)  # waiting for its poll
    assert bulk_publish_step(run_id=run.pk) == "not-due"

    # Another app's operation (or a reconcile export) is ignored.
    other = _deliver(sim_store, {"admin_graphql_api_id": "gid://shopify/BulkOperation/1", "status": "completed",
                                 "type": "mutation"})
    assert other.status == "processed" and "ignored" in other.result
    queued.clear()

    event = _deliver(sim_store, {"admin_graphql_api_id": op.shopify_operation_id, "status": "completed",
                                 "type": "mutation"})

    assert event.status == "processed" and f"run {run.pk} woken" in event.result
    assert queued == [(run.pk, None)]
    run.refresh_from_db()
    assert run.next_step_at <= timezone.now()
    # The woken step maps the finished operation (the simulator ran it meanwhile) without waiting for the poll.
    deadline = time.monotonic() + 30
    while BulkPublishOperation.objects.get(pk=op.pk).status != "COMPLETED" and time.monotonic() < deadline:
        bulk_publish_step(run_id=run.pk)
        BulkPublishRun.objects.filter(pk=run.pk).update(next_step_at=timezone.now())
    assert BulkPublishOperation.objects.get(pk=op.pk).mapped


def test_a_running_step_is_not_woken_twice(shopify_sim, sim_store, settings, monkeypatch):  # noqa: F811
    settings.BULK_PUBLISH_THRESHOLD = 3
    monkeypatch.setattr("channels.bulk_publish.bulk_publish_enqueue", lambda **kwargs: None)
    _assign(_catalog(5, prefix="V"), sim_store)
    services.publish_request(store=sim_store)
    run = BulkPublishRun.objects.get(store=sim_store)
    leased = timezone.now() + timedelta(seconds=settings.BULK_PUBLISH_STEP_LEASE_SECONDS)
    BulkPublishRun.objects.filter(pk=run.pk).update(handles_operation_id="gid://shopify/BulkOperation/77",
                                                    next_step_at=leased)

    event = _deliver(sim_store, {"admin_graphql_api_id": "gid://shopify/BulkOperation/77", "status": "completed",
                                 "type": "query"})

    assert "a step is running" in event.result
    assert BulkPublishRun.objects.get(pk=run.pk).next_step_at == leased
