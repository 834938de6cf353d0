"""POST /shopify/webhooks/: HMAC first, durable and deduplicated inbox, enqueue after commit, quick 200."""

from __future__ import annotations

import json

import django_rq
import pytest
from django.test import Client

from channels.models import Store
from inventory.inbox import webhook_event_process, webhook_events_reprocess
from inventory.models import WebhookEvent
from inventory.queueing import WEBHOOKS_QUEUE
from inventory.sweep import inventory_sweep

from .conftest import WEBHOOK_PATH, webhook_headers

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "shpss_test_secret_a"


@pytest.fixture
def store():
    return Store.objects.create(name="A", shop_domain="shop-x.myshopify.com", access_token="shpat_x",
                                webhook_secret=SECRET)


def post(client, body: bytes, *, topic="orders/create", shop="shop-x.myshopify.com", secret=SECRET, **ids):
    headers = webhook_headers(topic=topic, shop=shop, body=body, secret=secret, **ids)
    return client.post(WEBHOOK_PATH, data=body, content_type="application/json", headers=headers), headers


def queued() -> int:
    return django_rq.get_queue(WEBHOOKS_QUEUE).count


ORDER = json.dumps({"id": 1001, "name": "#1001", "line_items": []}).encode()


def test_a_verified_delivery_is_stored_whole_and_queued_after_commit(store):
    response, headers = post(Client(enforce_csrf_checks=True), ORDER)
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.store, event.shop_domain, event.topic) == (store, "shop-x.myshopify.com", "orders/create")
    assert bytes(event.raw_body) == ORDER
    assert event.webhook_id == headers["X-Shopify-Webhook-Id"]
    assert event.event_id == headers["X-Shopify-Event-Id"]
    assert "X-Shopify-Hmac-Sha256" not in event.headers  # the signature is never stored
    assert event.api_version == "2026-07" and event.triggered_at is not None
    assert event.status == WebhookEvent.Status.RECEIVED and event.dispatched_at is not None
    assert queued() == 1
    job = django_rq.get_queue(WEBHOOKS_QUEUE).jobs[0]
    assert job.func_name == "inventory.tasks.webhook_event_run" and job.args == (event.pk,)


@pytest.mark.parametrize("case", ["wrong secret", "tampered body", "no signature", "empty secret"])
def test_a_bad_signature_gets_401_and_nothing_is_stored(store, case):
    client = Client()
    body = ORDER
    headers = webhook_headers(topic="orders/create", shop=store.shop_domain, body=body,
                              secret="not-the-secret" if case == "wrong secret" else SECRET)
    if case == "tampered body":
        body = ORDER.replace(b"1001", b"1002")
    if case == "no signature":
        del headers["X-Shopify-Hmac-Sha256"]
    if case == "empty secret":
        Store.objects.filter(pk=store.pk).update(webhook_secret="")
    response = client.post(WEBHOOK_PATH, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 401
    assert WebhookEvent.objects.count() == 0
    assert queued() == 0


def test_an_unknown_shop_gets_401(store):
    response, _ = post(Client(), ORDER, shop="someone-else.myshopify.com")
    assert response.status_code == 401
    # The shop is known but the store is disabled: also unknown.
    Store.objects.filter(pk=store.pk).update(is_active=False)
    response, _ = post(Client(), ORDER)
    assert response.status_code == 401
    assert WebhookEvent.objects.count() == 0


def test_a_replayed_delivery_is_answered_but_stored_and_queued_once(store):
    client = Client()
    first, headers = post(client, ORDER)
    again, _ = post(client, ORDER, webhook_id=headers["X-Shopify-Webhook-Id"],
                    event_id=headers["X-Shopify-Event-Id"])
    # A second subscription (another connection's app) delivers the same event with its own webhook id.
    other, _ = post(client, ORDER, event_id=headers["X-Shopify-Event-Id"])
    assert [first.status_code, again.status_code, other.status_code] == [200, 200, 200]
    assert again.content == b"duplicate" and other.content == b"duplicate"
    event = WebhookEvent.objects.get()
    assert event.duplicates == 2
    assert queued() == 1
    # The same event id under another topic is a different event.
    post(client, ORDER, topic="orders/cancelled", event_id=headers["X-Shopify-Event-Id"])
    assert WebhookEvent.objects.count() == 2


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2, 3]", b"\xff\xfe garbage"])
def test_a_malformed_body_with_a_valid_signature_is_kept_as_failed(store, body):
    response, _ = post(Client(), body)
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED
    assert "malformed" in event.last_error
    assert bytes(event.raw_body) == body
    assert queued() == 0


def test_an_unknown_topic_is_recorded_and_ignored(store):
    response, _ = post(Client(), b'{"id": 5}', topic="customers/create")
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.IGNORED and event.topic == "customers/create"
    assert queued() == 0


def test_connections_sharing_a_shop_each_verify_with_their_own_secret(store):
    second = Store.objects.create(name="A (second app)", shop_domain=store.shop_domain, access_token="shpat_y",
                                  webhook_secret="second-secret")
    response, _ = post(Client(), ORDER, secret="second-secret")
    assert response.status_code == 200
    assert WebhookEvent.objects.get().store == second


def test_a_body_above_djangos_upload_cap_is_still_accepted(store):
    lines = [{"id": n, "variant_id": n, "sku": f"SKU-{n}", "quantity": 1, "title": "x" * 200} for n in range(12000)]
    body = json.dumps({"id": 1002, "name": "#1002", "line_items": lines}).encode()
    assert len(body) > 2.5 * 1024 * 1024
    response, _ = post(Client(), body)
    assert response.status_code == 200
    assert len(bytes(WebhookEvent.objects.get().raw_body)) == len(body)


def test_only_post_is_accepted(store):
    assert Client().get(WEBHOOK_PATH).status_code == 405
    assert WebhookEvent.objects.count() == 0


def test_the_event_is_kept_when_redis_is_down_and_the_sweeper_sends_it_later(store, settings):
    original = settings.RQ_QUEUES
    settings.RQ_QUEUES = {**original, WEBHOOKS_QUEUE: {"URL": "redis://127.0.0.1:1/0"}}
    response, _ = post(Client(), ORDER)
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.RECEIVED and event.dispatched_at is None
    settings.RQ_QUEUES = original
    report = inventory_sweep()
    assert report.events_dispatched == 1
    assert queued() == 1


def test_a_signed_payload_of_the_wrong_shape_fails_at_processing_without_retries(store):
    post(Client(), json.dumps({"id": 77, "name": "#77"}).encode())  # orders/create without line_items
    event = WebhookEvent.objects.get()
    assert webhook_event_process(event_id=event.pk) == WebhookEvent.Status.FAILED
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.FAILED and "line_items" in event.last_error
    assert event.attempts == 1
    # Failed events can be sent again after a fix; processing twice changes nothing more.
    assert webhook_events_reprocess(event_ids=[event.pk]) == 1
    assert webhook_event_process(event_id=event.pk) == WebhookEvent.Status.FAILED
    assert webhook_event_process(event_id=event.pk) == "not-claimed"
