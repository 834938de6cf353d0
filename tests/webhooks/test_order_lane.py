"""Issue 15: the order lane nothing can starve, and a cheap webhook intake.

Order topics are processed on the ``webhooks`` lane (first in every worker's queue list), other topics on
``default``; a drain of a lower lane yields (ends early and re-wakes its lane) once a higher lane has a job
waiting. State-based: what the queues and rows hold, never how long anything took.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import django_rq
import pytest
from django.db import transaction
from django.test import Client

from channels.models import Store, TranslationSyncJob
from outbox import kinds as outbox_kinds_module
from outbox import services as outbox
from outbox.kinds import OutboxKind, Outcome
from pim import services as pim_services
from tests.inventory.conftest import WEBHOOK_PATH, webhook_headers
from webhooks import inbox
from webhooks.models import WebhookBodyClaim, WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "shpss_lane_secret"
SHOP = "lane-shop.myshopify.com"


@pytest.fixture(autouse=True)
def clean_redis():
    conn = django_rq.get_connection("default")
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture
def store():
    return Store.objects.create(name="Lane", shop_domain=SHOP, access_token="shpat_l", webhook_secret=SECRET)


def post(body: bytes, *, topic: str, shop: str = SHOP, secret: str = SECRET):
    headers = webhook_headers(topic=topic, shop=shop, body=body, secret=secret)
    return Client().post(WEBHOOK_PATH, data=body, content_type="application/json", headers=headers)


def drains(lane: str) -> int:
    return sum(1 for job in django_rq.get_queue(lane).jobs if job.func_name == "outbox.tasks.outbox_drain")


def test_order_topics_go_to_the_order_lane_and_product_echoes_to_default(store):
    assert post(json.dumps({"id": 1, "line_items": []}).encode(), topic="orders/create").status_code == 200
    assert post(json.dumps({"id": 2, "title": "Tee"}).encode(), topic="products/update").status_code == 200
    order = WebhookEvent.objects.get(topic="orders/create")
    echo = WebhookEvent.objects.get(topic="products/update")
    assert inbox.webhook_event_kind(topic=order.topic).lane == "webhooks"
    assert inbox.webhook_event_kind(topic=echo.topic).lane == "default"
    assert (drains("webhooks"), drains("default")) == (1, 1)
    # Each kind claims only its share of the one table.
    assert outbox.outbox_claim(kind=inbox.WEBHOOK_EVENT, worker="w").pk == order.pk
    assert outbox.outbox_claim(kind=inbox.WEBHOOK_EVENT, worker="w") is None
    assert outbox.outbox_claim(kind=inbox.WEBHOOK_BACKGROUND_EVENT, worker="w").pk == echo.pk


def test_every_order_refund_cancellation_and_edit_topic_is_urgent():
    from inventory.selectors import ORDER_TOPICS

    assert {"orders/create", "orders/updated", "orders/edited", "orders/cancelled", "refunds/create"} <= set(
        ORDER_TOPICS)
    assert all(inbox.webhook_event_kind(topic=t) is inbox.WEBHOOK_EVENT for t in ORDER_TOPICS)
    for topic in ("inventory_levels/update", "inventory_levels/connect"):  # cheap, and their checks' timing
        assert inbox.webhook_event_kind(topic=topic) is inbox.WEBHOOK_EVENT
    for topic in ("products/update", "products/delete", "app/uninstalled"):
        assert inbox.webhook_event_kind(topic=topic) is inbox.WEBHOOK_BACKGROUND_EVENT


@pytest.mark.parametrize("batch_size", [0, 64])
def test_the_endpoint_stores_a_delivery_durably_in_two_queries_and_one_wake(store, django_assert_num_queries,
                                                                            settings, batch_size):
    settings.WEBHOOK_INTAKE_BATCH_SIZE = batch_size
    body = json.dumps({"id": 3, "line_items": []}).encode()
    # Unbatched: the shop's connections; the claim and the event in one statement. Batched, the same two run as
    # prepared statements on this thread's connection beside Django's cursors (not counted here; see test_intake).
    with django_assert_num_queries(2 if batch_size == 0 else 0):
        response = post(body, topic="orders/create")
    assert response.status_code == 200 and response.content == b"stored"
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.RECEIVED and event.dispatched_at is not None
    assert WebhookBodyClaim.objects.get().shop_domain == SHOP
    assert drains("webhooks") == 1


def test_the_cross_shop_guard_and_duplicates_still_hold_in_one_statement(store):
    Store.objects.create(name="Other", shop_domain="other-shop.myshopify.com", access_token="shpat_o",
                         webhook_secret=SECRET)
    body = json.dumps({"id": 4, "line_items": []}).encode()
    assert post(body, topic="orders/create").content == b"stored"
    refused = post(body, topic="orders/create", shop="other-shop.myshopify.com")
    assert refused.status_code == 409
    headers = webhook_headers(topic="orders/create", shop=SHOP, body=body, secret=SECRET)
    for _ in range(2):  # the same delivery (same webhook id) twice: stored once, counted once more
        Client().post(WEBHOOK_PATH, data=body, content_type="application/json", headers=headers)
    assert WebhookEvent.objects.count() == 2  # the first post and this delivery; the refused one stored nothing
    assert WebhookEvent.objects.get(webhook_id=headers["X-Shopify-Webhook-Id"]).duplicates == 1


def test_reprocess_replays_each_event_on_its_own_lane(store):
    order = post(json.dumps({"id": 5}).encode(), topic="orders/create")  # no line_items: fails at processing
    assert order.status_code == 200
    event = WebhookEvent.objects.get()
    assert inbox.webhook_event_process(event_id=event.pk) == WebhookEvent.Status.FAILED
    django_rq.get_connection("default").flushdb()
    assert inbox.webhook_events_reprocess(event_ids=[event.pk]) == 1
    assert (drains("webhooks"), drains("default")) == (1, 0)


# --- the drain yields ----------------------------------------------------------------------------------------


@pytest.fixture
def publish_kind(monkeypatch):
    """A test kind on the ``publish`` lane whose first executed row lets order work arrive."""
    arrivals = {"on_row": 1, "ran": []}

    def execute(row):
        arrivals["ran"].append(row.pk)
        if len(arrivals["ran"]) == arrivals["on_row"]:
            outbox.outbox_wake(lane="webhooks")  # an order webhook was just stored
        return Outcome("done", "ok")

    kind = OutboxKind(name="lane_test_kind", model=TranslationSyncJob, execute=execute, lane="publish",
                      key=("store", "product"), folded="done")
    monkeypatch.setattr(outbox_kinds_module, "_kinds", {"lane_test_kind": kind})
    object.__setattr__(kind, "arrivals", arrivals)
    return kind


def backlog(kind, count: int) -> list[int]:
    store = Store.objects.create(name="P", shop_domain="p.myshopify.com", access_token="shpat_p")
    ids = []
    for i in range(count):
        product = pim_services.product_create(title=f"P{i}", option1_name="Size",
                                              variants=[{"sku": f"LANE{i}", "option1": "S", "price": Decimal("1")}])
        with transaction.atomic():
            ids.append(outbox.outbox_record(kind=kind, values={"store_id": store.pk, "product_id": product.pk}))
    return ids


def test_a_publish_drain_yields_when_order_work_arrives_and_wakes_itself_again(publish_kind, settings):
    settings.OUTBOX_LANE_YIELD = True
    ids = backlog(publish_kind, 4)
    assert outbox.outbox_drain(lane="publish", worker="w", budget_seconds=600) == 1
    assert publish_kind.arrivals["ran"] == ids[:1]
    assert TranslationSyncJob.objects.filter(pk__in=ids[1:], status="pending").count() == 3  # left for later
    assert drains("webhooks") == 1 and drains("publish") == 1  # the order lane first, then the rest of publish
    assert outbox.lane_higher_waiting("publish") == "webhooks"
    # Once the order lane's queue is empty (its worker took the job), the publish lane runs to the end.
    django_rq.get_queue("webhooks").empty()
    assert outbox.outbox_drain(lane="publish", worker="w", budget_seconds=600) == 3
    assert not TranslationSyncJob.objects.filter(pk__in=ids, status="pending").exists()


def test_without_lane_yield_the_drain_runs_its_budget(publish_kind, settings):
    settings.OUTBOX_LANE_YIELD = False
    ids = backlog(publish_kind, 3)
    assert outbox.outbox_drain(lane="publish", worker="w", budget_seconds=600) == 3
    assert publish_kind.arrivals["ran"] == ids


def test_the_first_lane_never_yields_and_a_delayed_job_is_not_waiting_work(publish_kind):
    outbox.outbox_wake(lane="webhooks", delay=30)  # a retry scheduled for later: not waiting yet
    assert outbox.lane_higher_waiting("publish") is None
    outbox.outbox_wake(lane="inventory")
    assert outbox.lane_higher_waiting("publish") == "inventory"
    assert outbox.lane_higher_waiting("default") == "inventory"
    assert outbox.lane_higher_waiting("inventory") is None
    outbox.outbox_wake(lane="publish")
    assert outbox.lane_higher_waiting("webhooks") is None  # nothing is ahead of the order lane


def test_a_drain_of_the_inventory_lane_yields_to_the_order_lane_too(publish_kind, monkeypatch):
    kind = OutboxKind(name="lane_inv_kind", model=TranslationSyncJob, execute=publish_kind.execute,
                      lane="inventory", key=("store", "product"), folded="done")
    monkeypatch.setattr(outbox_kinds_module, "_kinds", {"lane_inv_kind": kind})
    backlog(kind, 2)
    assert outbox.outbox_drain(lane="inventory", worker="w", budget_seconds=600) == 1
    assert drains("webhooks") == 1 and drains("inventory") == 1


def test_a_yield_check_costs_nothing_when_redis_is_down(settings):
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "publish": {"URL": "redis://127.0.0.1:1/0"}}
    assert outbox.lane_higher_waiting("publish") is None  # the drain keeps going; never raises


def test_the_sweep_sends_each_event_kind_to_its_lane(store):
    post(json.dumps({"id": 6, "line_items": []}).encode(), topic="orders/create")
    post(json.dumps({"id": 7}).encode(), topic="products/update")
    WebhookEvent.objects.update(dispatched_at=None)  # lost hand-offs (Redis was flushed)
    django_rq.get_connection("default").flushdb()
    later = WebhookEvent.objects.first().received_at + timedelta(seconds=1)
    reports = {k.name: outbox.outbox_sweep_kind(kind=k, now=later).dispatched for k in inbox.WEBHOOK_KINDS}
    assert reports == {"webhook_event": 1, "webhook_event_background": 1}
    assert (drains("webhooks"), drains("default")) == (1, 1)
