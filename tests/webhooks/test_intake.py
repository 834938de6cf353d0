"""The endpoint's group commit (issue 15, ``webhooks/intake.py``): concurrent deliveries share one INSERT and one
commit (the request thread that finds no batch in progress leads one with every delivery queued), and each request
still gets its own outcome (stored, duplicate, refused, failed, 401, and 500 for a row the database refuses)."""

from __future__ import annotations

import hashlib
import json
import threading
import time

import django_rq
import pytest
from django.db import OperationalError, connection
from django.test import Client, RequestFactory

from channels.models import Store
from tests.inventory.conftest import WEBHOOK_PATH, webhook_headers
from webhooks import intake, views
from webhooks.inbox import webhook_event_build, webhook_not_stored, webhook_shop_connections
from webhooks.models import WebhookBodyClaim, WebhookEvent
from webhooks.views import shopify_webhook

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
        try:
            responses[i] = Client(raise_request_exception=False).post(
                WEBHOOK_PATH, data=body, content_type="application/json", headers=headers)
        finally:
            connection.close()  # this thread's own (the request stored through it); a server's threads live on

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(deliveries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    return responses


@pytest.fixture
def gate(monkeypatch):
    """Hold the first batch's leader until ``gate.expected`` deliveries are in its batch or queued behind it;
    record the batch sizes."""
    box = intake._deliveries
    real = intake._deliveries_store
    state = {"expected": 0, "sizes": []}

    def gated(batch):
        if not state["sizes"]:
            deadline = time.monotonic() + WAIT
            with box.cond:  # the request threads queue under this lock; they do not notify, so look again often
                while len(batch) + len(box.queue) < state["expected"] and time.monotonic() < deadline:
                    box.cond.wait(0.01)
        state["sizes"].append(len(batch))
        return real(batch)

    monkeypatch.setattr(intake, "_deliveries_store", gated)
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


def test_a_lost_connection_answers_every_request_of_its_batch_with_500_and_the_next_one_stores(stores, gate,
                                                                                               monkeypatch):
    real = intake.webhook_events_insert
    calls = []

    def failing_twice(*, events):  # the statement and its retry on a fresh connection
        calls.append(len(events))
        if len(calls) <= 2:
            raise OperationalError("server closed the connection unexpectedly")
        return real(events=events)

    monkeypatch.setattr(intake, "webhook_events_insert", failing_twice)
    gate["expected"] = 2
    first = post_all([delivery(order(20)), delivery(order(21))])
    failed = calls[0]  # the first batch (one or both): every request in it is answered 500, none stored
    assert calls[1] == failed  # tried once more, not one by one: the database was away, not a row at fault
    assert sorted(r.status_code for r in first) == [200] * (2 - failed) + [500] * failed
    assert WebhookEvent.objects.count() == 2 - failed
    again = post_all([delivery(order(22))])
    assert again[0].status_code == 200 and again[0].content == b"stored"


def test_a_delivery_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(stores, gate):
    # A NUL in a kept header: jsonb refuses "\u0000", so the batch's statement fails for this row's sake.
    body, headers = delivery(order(30))
    poisoned = (body, {**headers, "X-Shopify-Note": "a\x00b"})
    gate["expected"] = 4
    answers = post_all([delivery(order(31)), poisoned, delivery(order(32)), delivery(order(33))])

    assert max(gate["sizes"]) >= 2  # the refused row shared a statement with at least one other delivery
    assert [r.status_code for r in answers] == [200, 500, 200, 200]
    assert all(r.content == b"stored" for i, r in enumerate(answers) if i != 1)
    assert sorted(json.loads(bytes(e.raw_body))["id"] for e in WebhookEvent.objects.all()) == [31, 32, 33]
    # Shopify delivers the refused one again: the same webhook id is still free, nothing half-stored.
    assert not WebhookEvent.objects.filter(webhook_id=headers["X-Shopify-Webhook-Id"]).exists()
    assert not WebhookBodyClaim.objects.filter(body_sha256=hashlib.sha256(body).hexdigest()).exists()


def test_many_concurrent_deliveries_are_each_stored_once_in_few_commits(stores, gate):
    deliveries = [delivery(order(100 + i)) for i in range(12)]
    deliveries += [deliveries[0], deliveries[5]]  # two redeliveries racing their first copies
    gate["expected"] = len(deliveries)
    answers = post_all(deliveries)

    assert all(r.status_code == 200 for r in answers)
    assert sorted(r.content for r in answers) == [b"duplicate"] * 2 + [b"stored"] * 12
    assert sum(gate["sizes"]) == 14 and len(gate["sizes"]) < 14  # shared commits
    assert WebhookEvent.objects.count() == 12
    assert sorted(WebhookEvent.objects.values_list("duplicates", flat=True)) == [0] * 10 + [1, 1]


def test_the_look_up_loads_what_the_orm_loads(stores):
    store_a, _ = stores
    Store.objects.create(name="IA2", shop_domain=SHOP_A, access_token="t", client_secret="cs",
                         auth_mode=Store.AuthMode.CLIENT_CREDENTIALS)
    Store.objects.create(name="IA3", shop_domain=SHOP_A, access_token="t", webhook_secret="x", is_active=False)
    raw = intake.webhook_intake_shop_connections(shop_domain=" Intake-A.myshopify.com ")
    orm = webhook_shop_connections(shop_domain=SHOP_A)
    fields = ("pk", "name", "shop_domain", "auth_mode", "is_active", "webhook_signing_secret")
    assert [[getattr(s, f) for f in fields] for s in raw] == [[getattr(s, f) for f in fields] for s in orm]
    assert [s.webhook_signing_secret for s in raw] == [SECRET, "cs"]
    assert intake.webhook_intake_shop_connections(shop_domain="not a shop") == []


def test_the_leader_wakes_the_lane_once_its_answer_is_sent(stores):
    body, headers = delivery(order(40))
    request = RequestFactory().post(WEBHOOK_PATH, data=body, content_type="application/json", headers=headers)
    response = shopify_webhook(request)

    assert response.status_code == 200 and response.content == b"stored"
    assert WebhookEvent.objects.get().dispatched_at is not None  # durable before the answer, handed to its lane
    assert drains("webhooks") == 0  # no request of the batch waited for Redis
    response.close()  # what the WSGI server does once the answer is sent
    assert drains("webhooks") == 1


def drains(lane: str) -> int:
    return sum(1 for job in django_rq.get_queue(lane).jobs if job.func_name == "outbox.tasks.outbox_drain")


def test_a_leader_waits_for_a_delivery_of_its_process_already_on_its_way(stores, gate, monkeypatch):
    monkeypatch.setattr(intake, "GATHER_SECONDS", WAIT)  # only the arrival ends the wait here
    box = intake._deliveries
    real_lookup = intake.webhook_intake_shop_connections
    held = threading.Event()

    def lookup(*, shop_domain):
        if threading.current_thread().name == "second":
            held.wait(WAIT)  # still reading its shop while the first delivery's leader gathers
        return real_lookup(shop_domain=shop_domain)

    monkeypatch.setattr(views, "webhook_intake_shop_connections", lookup)
    answers: dict = {}

    def send(name: str, body: bytes, headers: dict) -> None:
        try:
            answers[name] = Client().post(WEBHOOK_PATH, data=body, content_type="application/json", headers=headers)
        finally:
            connection.close()

    second = threading.Thread(target=send, args=("second", *delivery(order(51))), name="second")
    second.start()
    watched(lambda: box.coming == 1)  # the second is on its way (past its headers, reading its shop)
    first = threading.Thread(target=send, args=("first", *delivery(order(50))), name="first")
    first.start()
    # The first leads, and waits for the second instead of committing alone.
    assert watched(lambda: box.leading and box.coming == 1 and len(box.queue) == 1)
    held.set()
    for t in (first, second):
        t.join(WAIT)

    assert answers["first"].content == b"stored" and answers["second"].content == b"stored"
    assert gate["sizes"] == [2]  # one statement, one commit for both
    assert box.coming == 0


def watched(condition) -> bool:
    """Wait until ``condition`` holds under the group commit's lock (nothing notifies the test: look again often)."""
    box = intake._deliveries
    deadline = time.monotonic() + WAIT
    with box.cond:
        while not condition() and time.monotonic() < deadline:
            box.cond.wait(0.01)
        return condition()


def test_a_refused_request_does_not_stay_counted_on_its_way(stores):
    answers = post_all([delivery(order(60), secret="wrong"), delivery(order(61), shop="nobody.myshopify.com"),
                        delivery(order(62))])
    assert [r.status_code for r in answers] == [401, 401, 200]
    assert intake._deliveries.coming == 0  # else every later leader would wait GATHER_SECONDS for nothing
