"""The endpoint's group commit (issue 15, ``webhooks/intake.py``): concurrent deliveries share one INSERT and one
commit, and each request still gets its own outcome (stored, duplicate, refused, failed, 401)."""

from __future__ import annotations

import hashlib
import json
import threading

import django_rq
import pytest
from django.db import DatabaseError
from django.test import Client

from channels.models import Store
from tests.inventory.conftest import WEBHOOK_PATH, webhook_headers
from webhooks import intake
from webhooks.inbox import webhook_event_build, webhook_not_stored
from webhooks.models import WebhookBodyClaim, WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)  # the intake stores on its own connection, outside a test's

SECRET = "shpss_intake_secret"  # one app on two shops: the same secret signs both
SHOP_A, SHOP_B = "intake-a.myshopify.com", "intake-b.myshopify.com"
WAIT = 30


@pytest.fixture(autouse=True)
def clean_redis():
    conn = django_rq.get_connection("default")
    conn.flushdb()
    yield
    conn.flushdb()


@pytest.fixture
def stores():
    return (Store.objects.create(name="IA", shop_domain=SHOP_A, access_token="t", webhook_secret=SECRET),
            Store.objects.create(name="IB", shop_domain=SHOP_B, access_token="t", webhook_secret=SECRET))


def order(n: int) -> bytes:
    return json.dumps({"id": n, "line_items": []}).encode()


def delivery(body: bytes, *, shop: str = SHOP_A, secret: str = SECRET, **ids) -> tuple[bytes, dict]:
    return body, webhook_headers(topic="orders/create", shop=shop, body=body, secret=secret, **ids)


def post_all(deliveries: list[tuple[bytes, dict]]) -> list:
    """POST every delivery from its own thread at once; return the responses in the same order."""
    responses: list = [None] * len(deliveries)

    def send(i: int) -> None:
        body, headers = deliveries[i]
        responses[i] = Client(raise_request_exception=False).post(
            WEBHOOK_PATH, data=body, content_type="application/json", headers=headers)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(deliveries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    return responses


@pytest.fixture
def gate(monkeypatch):
    """Hold the intake's first batch until ``gate.expected`` deliveries are waiting in all; record batch sizes."""
    box = intake._deliveries
    real = box.run_batch
    state = {"expected": 0, "sizes": []}

    def gated(batch):
        if not state["sizes"]:
            with box.cond:  # this runs on the intake thread: nothing else waits on the condition meanwhile
                box.cond.wait_for(lambda: len(batch) + len(box.jobs) >= state["expected"], timeout=WAIT)
        state["sizes"].append(len(batch))
        real(batch)

    monkeypatch.setattr(box, "run_batch", gated)
    return state


def test_concurrent_deliveries_share_one_insert_and_each_gets_its_own_outcome(stores, gate):
    same = delivery(order(2), webhook_id="wh-same")
    shared_body = order(3)  # the same signed body sent for both shops: only the first is kept
    cases = {
        "plain": delivery(order(1)),
        "first copy": same, "second copy": same,
        "for A": delivery(shared_body), "for B": delivery(shared_body, shop=SHOP_B),
        "malformed": delivery(b"[1, 2]"),
        "unknown shop": delivery(order(4), shop="nobody.myshopify.com"),
        "bad signature": delivery(order(5), secret="wrong"),
    }
    gate["expected"] = 6  # every case but the two refused before the body is stored
    answers = dict(zip(cases, ((r.status_code, r.content) for r in post_all(list(cases.values()))), strict=True))

    # The first batch (as many as had queued when the intake woke), then all the others at once.
    assert sum(gate["sizes"]) == 6 and len(gate["sizes"]) <= 2
    assert answers["plain"] == (200, b"stored")
    assert sorted([answers["first copy"], answers["second copy"]]) == [(200, b"duplicate"), (200, b"stored")]
    assert sorted([answers["for A"], answers["for B"]]) == [(200, b"stored"), (409, b"body already delivered for another shop")]
    assert answers["malformed"] == (200, b"failed")
    assert answers["unknown shop"][0] == 401 and answers["bad signature"][0] == 401
    assert WebhookEvent.objects.count() == 4  # plain, the copy, the shared body once, the malformed one
    assert WebhookEvent.objects.get(webhook_id="wh-same").duplicates == 1
    kept = WebhookEvent.objects.get(raw_body=shared_body)
    claim = WebhookBodyClaim.objects.get(body_sha256=hashlib.sha256(shared_body).hexdigest())
    assert claim.shop_domain == kept.shop_domain  # the shop that got 200 owns the body
    received = WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED)
    assert received.count() == 3 and not received.filter(dispatched_at__isnull=True).exists()
    assert sum(1 for job in django_rq.get_queue("webhooks").jobs if job.func_name == "outbox.tasks.outbox_drain") == 1


def test_one_statement_keeps_the_first_of_a_webhook_id_and_of_a_body_across_shops(stores):
    store_a, store_b = stores
    body = order(10)

    def build(store, raw, webhook_id):
        _, headers = delivery(raw, shop=store.shop_domain, webhook_id=webhook_id)
        return webhook_event_build(store=store, headers=headers, raw_body=raw)

    events = [build(store_a, body, "w1"), build(store_a, body, "w1"), build(store_b, body, "w2"),
              build(store_a, body, "w3"), build(store_a, order(11), "w4")]
    ids = intake.webhook_events_insert(events=events)
    assert [pk is not None for pk in ids] == [True, False, False, True, True]
    assert webhook_not_stored(event=events[1], claim_body=True).outcome == "duplicate"
    assert webhook_not_stored(event=events[2], claim_body=True).outcome == "refused"
    stored = WebhookEvent.objects.get(pk=ids[0])
    assert bytes(stored.raw_body) == body and stored.headers == events[0].headers and stored.duplicates == 1
    assert "X-Shopify-Hmac-Sha256" not in stored.headers


def test_a_failed_batch_answers_every_request_in_it_with_500_and_the_next_one_stores(stores, gate, monkeypatch):
    real = intake.webhook_events_insert
    calls = []

    def failing_once(*, events):
        calls.append(len(events))
        if len(calls) == 1:
            raise DatabaseError("disk full")
        return real(events=events)

    monkeypatch.setattr(intake, "webhook_events_insert", failing_once)
    gate["expected"] = 2
    first = post_all([delivery(order(20)), delivery(order(21))])
    failed = calls[0]  # the first batch (one or both): every request in it is answered 500, none stored
    assert sorted(r.status_code for r in first) == [200] * (2 - failed) + [500] * failed
    assert WebhookEvent.objects.count() == 2 - failed
    again = post_all([delivery(order(22))])
    assert again[0].status_code == 200 and again[0].content == b"stored"
