"""Gap replay by one bulk operation (issue 18): with ``ORDER_CATCHUP_BULK_MIN_ORDERS`` lowered, the replay reads
the plain sales of a gap with one ``bulkOperationRunQuery`` on the simulator (which enforces Shopify's bulk query
rules) and only the others (refunded, edited, cancelled, fulfilled) one by one; it applies exactly what the
per-order replay applies."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from channels.clients import client_for_store
from inventory import catchup, catchup_bulk
from inventory.models import ShopifyOrder, StockMovement, WebhookEvent
from webhooks import inbox

from . import test_catchup
from .conftest import SKU, drain, run_concurrently

gap = test_catchup.gap  # the per-order tests' gap: five orders whose webhooks were all dropped


@pytest.fixture
def bulk_from_two(settings):
    settings.ORDER_CATCHUP_BULK_MIN_ORDERS = 2


@pytest.fixture
def per_order_reads(monkeypatch):
    """Count the orders read the per-order way."""
    seen = []
    real = catchup.order_replay_read

    def spy(*, client, order_id):
        seen.append(order_id)
        return real(client=client, order_id=order_id)

    monkeypatch.setattr(catchup, "order_replay_read", spy)
    return seen


def _plain_sales(world, n=3):
    return [world.control.place_order("shop-a", [{"sku": SKU, "quantity": 1}]) for _ in range(n)]


def _without_clock(facts):
    return dict(facts, fetched={k: v for k, v in facts["fetched"].items() if k != "fetched_at"})


def test_bulk_facts_are_the_per_order_facts_and_the_rest_is_left_per_order(world, gap):
    start, orders = gap
    plain = _plain_sales(world)
    client = client_for_store(world.store_a)
    ids = {str(o["id"]) for o in orders + plain}
    bulk = catchup_bulk.order_replay_bulk_read(client=client, since=start, order_ids=ids)
    # the gap story's sale and the three plain sales; refunded, cancelled, edited, fulfilled ones are not held
    assert set(bulk) == {str(orders[0]["id"])} | {str(o["id"]) for o in plain}
    for order_id, facts in bulk.items():
        assert _without_clock(facts) == _without_clock(catchup.order_replay_read(client=client, order_id=order_id))
        assert facts["fetched"]["allocation"], facts  # routed: the line's location is known


def test_bulk_replay_converges_like_the_per_order_one_and_twice_changes_nothing(world, gap, bulk_from_two,
                                                                                 per_order_reads):
    start, orders = gap
    report = catchup.order_catchup_run(store=world.store_a, since=start, apply=True)
    drain()
    assert report.orders_found == report.orders_read == 5 and report.orders_bulk == 1, report.text()
    # only the refunded, cancelled, edited and fulfilled-and-returned orders were read one by one
    assert sorted(per_order_reads) == sorted(str(o["id"]) for o in orders[1:])
    assert world.pim_available() == world.shopify_available("shop-a") == world.shopify_available("shop-b") == 291
    kinds = {k: sum(StockMovement.objects.filter(kind=k).values_list("quantity", flat=True))
             for k in ("sale", "order_edit", "refund_restock", "cancellation")}
    assert kinds == {"sale": -16, "order_edit": 2, "refund_restock": 3, "cancellation": 2}
    movements = StockMovement.objects.count()

    again = catchup.order_catchup_run(store=world.store_a, since=start, apply=True)
    drain()
    assert again.movements == 0 and not again.changes and again.orders_bulk == 1, again.text()
    assert StockMovement.objects.count() == movements

    client = Client()  # the gap's webhooks arriving late change nothing either
    for delivery in world.control.deliveries("shop-a"):
        if delivery["topic"].startswith(("orders/", "refunds/")):
            world.post(client, delivery["topic"], delivery["payload"])
    drain()
    assert StockMovement.objects.count() == movements
    assert world.pim_available() == 291


def test_below_the_threshold_no_bulk_operation_runs(world, gap, per_order_reads, settings):
    settings.ORDER_CATCHUP_BULK_MIN_ORDERS = 6
    start, _ = gap
    report = catchup.order_catchup_run(store=world.store_a, since=start, apply=True)
    assert report.orders_bulk == 0 and len(per_order_reads) == 5, report.text()
    assert world.control.state("shop-a")["bulkOperations"] == []


def test_bulk_dry_run_writes_nothing_and_reports_the_changes(world, gap, bulk_from_two):
    start, _ = gap
    before = (StockMovement.objects.count(), ShopifyOrder.objects.count())
    out = io.StringIO()
    call_command("inventory_catchup", store="Shop A", since=start.isoformat(), stdout=out)
    text = out.getvalue()
    assert "5 order(s) updated since" in text and "dry run: nothing written" in text, text
    assert "read by one bulk operation: 1 order(s); 4 read one by one" in text, text
    assert f"{SKU} at Main Warehouse: -9" in text, text
    assert (StockMovement.objects.count(), ShopifyOrder.objects.count()) == before


def test_webhook_and_bulk_replay_delivering_the_same_orders_at_once_change_stock_once(world, live_server,
                                                                                     bulk_from_two):
    from datetime import timedelta

    from django.utils import timezone

    from inventory import subscriptions

    from .conftest import WEBHOOK_PATH

    subscriptions.webhook_subscriptions_register(store=world.store_a, callback_url=live_server.url + WEBHOOK_PATH)
    world.control.drop_webhooks("shop-a", rate=1.0)
    start = timezone.now() - timedelta(seconds=2)
    plain = _plain_sales(world)
    refunded = world.control.place_order("shop-a", [{"sku": SKU, "quantity": 2}])
    world.control.refund("shop-a", refunded["id"], line_items=[{"line_item_id": refunded["line_items"][0]["id"],
                                                                "quantity": 1}], restock=True)
    assert world.sim.wait_webhooks(30)
    ids = {o["id"] for o in plain + [refunded]}
    payloads = [(d["topic"], d["payload"]) for d in world.control.deliveries("shop-a")
                if d["topic"] in ("orders/create", "refunds/create", "orders/updated")
                and (d["payload"].get("order_id") or d["payload"].get("id")) in ids]
    assert payloads

    def webhooks():
        client = Client()
        for topic, payload in payloads:
            world.post(client, topic, payload)
        for pk in WebhookEvent.objects.filter(status="received").values_list("pk", flat=True):
            inbox.webhook_event_process(event_id=pk)

    def replay():
        report = catchup.order_catchup_run(store=world.store_a, since=start, apply=True)
        assert report.orders_bulk == 3, report.text()

    run_concurrently([webhooks, replay], threads=2)
    drain()
    assert world.pim_available() == world.shopify_available("shop-a") == 300 - 3 - 1
    refs = list(StockMovement.objects.filter(source_ref__contains=":order:").values_list("source_ref", flat=True))
    assert len(refs) == len(set(refs)) == 3 + 2


def test_a_bulk_operation_that_cannot_start_falls_back_to_one_by_one(world, gap, bulk_from_two, per_order_reads):
    start, _ = gap
    world.control.sim_config(max_concurrent_bulk_queries=0)  # e.g. the drift sweep's bulk export is running
    report = catchup.order_catchup_run(store=world.store_a, since=start, apply=True)
    drain()
    assert report.orders_bulk == 0 and len(per_order_reads) == 5, report.text()
    assert "every order read one by one" in report.text()
    assert world.pim_available() == world.shopify_available("shop-a") == 291
