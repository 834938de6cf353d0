"""Gap replay (issue 18): orders missed while webhooks were not delivered are read from the simulator's
``orders(query: "updated_at:>=…")`` and merged through the same idempotent writeback; the watermark, the sweeper's
durable replay, the manual command (dry run first), and a webhook and the replay delivering one order at once."""

from __future__ import annotations

import io
from datetime import timedelta

import django_rq
import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from inventory import catchup, subscriptions
from inventory.models import (
    OrderWatermark,
    ShopifyOrder,
    StockMovement,
    WebhookEvent,
    WebhookSubscriptionHealth,
)
from webhooks import inbox

from .conftest import SKU, WEBHOOK_PATH, drain, run_concurrently


def gap_story(world):
    """While no webhook reaches the PIM: a sale, a partial refund with restock, a cancellation, an edit (line
    lowered and a line added), a fulfilled order fully returned. Returns the orders."""
    main = world.locations["shop-a"]["Main Warehouse"]
    c = world.control
    sold = c.place_order("shop-a", [{"sku": SKU, "quantity": 3}])
    refunded = c.place_order("shop-a", [{"sku": SKU, "quantity": 4}])
    c.refund("shop-a", refunded["id"], line_items=[{"line_item_id": refunded["line_items"][0]["id"], "quantity": 1}],
             restock=True)
    cancelled = c.place_order("shop-a", [{"sku": SKU, "quantity": 2}])
    c.cancel_order("shop-a", cancelled["id"], restock=True)
    edited = c.place_order("shop-a", [{"sku": SKU, "quantity": 5}], location_id=main)
    c.edit_order("shop-a", edited["id"], set_quantity=[{"line_item_id": edited["line_items"][0]["id"],
                                                        "quantity": 2}])
    c.edit_order("shop-a", edited["id"], add=[{"sku": SKU, "quantity": 1}])
    returned = c.place_order("shop-a", [{"sku": SKU, "quantity": 2}])
    c.fulfill("shop-a", returned["id"])
    c.refund("shop-a", returned["id"], restock=True)
    return [sold, refunded, cancelled, edited, returned]


@pytest.fixture
def gap(world, live_server):
    """Webhooks registered, then every delivery dropped (recorded by the simulator, never delivered)."""
    subscriptions.webhook_subscriptions_register(store=world.store_a, callback_url=live_server.url + WEBHOOK_PATH)
    start = timezone.now() - timedelta(seconds=2)
    world.control.drop_webhooks("shop-a", rate=1.0)
    orders = gap_story(world)
    assert world.sim.wait_webhooks(30)
    world.control.faults("shop-a", webhook_drop_rate=0.0)
    drain()
    assert world.pim_available() == 300  # the PIM missed everything
    return start, orders


def test_replay_after_a_gap_converges_and_twice_changes_nothing(world, gap):
    start, _ = gap
    # 3 sold, 4 sold - 1 restocked, 2 cancelled (restocked), 5 -> 2 edited + 1 added, 2 fulfilled and returned
    assert world.shopify_available("shop-a") == 300 - 3 - 3 - 3
    report = catchup.order_catchup_run(store=world.store_a, since=start, apply=True)
    drain()
    assert report.orders_found == 5 and report.orders_read == 5 and not report.too_large, report.text()
    assert world.pim_available() == world.shopify_available("shop-a") == 291
    assert world.shopify_available("shop-b") == 291
    kinds = {k: sum(StockMovement.objects.filter(kind=k).values_list("quantity", flat=True))
             for k in ("sale", "order_edit", "refund_restock", "cancellation")}
    assert kinds == {"sale": -16, "order_edit": 2, "refund_restock": 3, "cancellation": 2}
    movements = StockMovement.objects.count()

    again = catchup.order_catchup_run(store=world.store_a, since=start, apply=True)
    drain()
    assert again.movements == 0 and not again.changes, again.text()
    assert StockMovement.objects.count() == movements
    assert world.pim_available() == 291

    # the webhooks of the gap arriving late (Shopify's retries) change nothing either
    client = Client()
    for delivery in world.control.deliveries("shop-a"):
        if delivery["topic"].startswith(("orders/", "refunds/")):
            world.post(client, delivery["topic"], delivery["payload"])
    drain()
    assert StockMovement.objects.count() == movements
    assert world.pim_available() == world.shopify_available("shop-b") == 291


def test_dry_run_writes_nothing_and_reports_the_changes(world, gap):
    start, _ = gap
    before = (StockMovement.objects.count(), ShopifyOrder.objects.count())
    out = io.StringIO()
    call_command("inventory_catchup", store="Shop A", since=start.isoformat(), stdout=out)
    text = out.getvalue()
    assert "5 order(s) updated since" in text and "dry run: nothing written" in text, text
    assert f"{SKU} at Main Warehouse: -9" in text, text
    assert (StockMovement.objects.count(), ShopifyOrder.objects.count()) == before
    assert world.pim_available() == 300

    call_command("inventory_catchup", store="Shop A", since=start.isoformat(), apply=True, stdout=io.StringIO())
    drain()
    assert world.pim_available() == world.shopify_available("shop-a") == 291


def test_catchup_command_refuses_bad_input(world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not an ISO date"):
        call_command("inventory_catchup", store="Shop A", since="yesterday")
    with pytest.raises(CommandError, match="in the future"):
        call_command("inventory_catchup", store="Shop A", since=(timezone.now() + timedelta(days=1)).isoformat())


@pytest.mark.parametrize("rounds", [3])
def test_webhook_and_replay_delivering_the_same_order_at_once_change_stock_once(world, live_server, rounds):
    """Two threads, each with its own database connection: one posts and processes the order's webhooks, the
    other replays the same orders from the API; the order's row lock and the unique references keep it once."""
    subscriptions.webhook_subscriptions_register(store=world.store_a, callback_url=live_server.url + WEBHOOK_PATH)
    world.control.drop_webhooks("shop-a", rate=1.0)
    expected = 300
    for round_ in range(rounds):
        start = timezone.now() - timedelta(seconds=2)
        order = world.control.place_order("shop-a", [{"sku": SKU, "quantity": 2}])
        world.control.refund("shop-a", order["id"], line_items=[{"line_item_id": order["line_items"][0]["id"],
                                                                 "quantity": 1}], restock=True)
        assert world.sim.wait_webhooks(30)
        expected -= 1
        payloads = [(d["topic"], d["payload"]) for d in world.control.deliveries("shop-a")
                    if d["topic"] in ("orders/create", "refunds/create", "orders/updated")
                    and (d["payload"].get("order_id") or d["payload"].get("id")) == order["id"]]
        assert payloads

        def webhooks(payloads=payloads):
            client = Client()
            for topic, payload in payloads:
                world.post(client, topic, payload)
            for pk in WebhookEvent.objects.filter(status="received").values_list("pk", flat=True):
                inbox.webhook_event_process(event_id=pk)

        def replay(start=start):
            catchup.order_catchup_run(store=world.store_a, since=start, apply=True)

        run_concurrently([webhooks, replay], threads=2)
        drain()
        assert world.pim_available() == world.shopify_available("shop-a") == expected, round_
    refs = list(StockMovement.objects.filter(source_ref__contains=":order:").values_list("source_ref", flat=True))
    assert len(refs) == len(set(refs)) == rounds * 2


def test_watermark_advances_holds_and_records_gaps(world, settings):
    settings.ORDER_WATERMARK_MARGIN_SECONDS = 60
    settings.ORDER_GAP_AFTER_SECONDS = 600
    settings.ORDER_CATCHUP_VERIFY_SECONDS = 0
    t0 = timezone.now()
    mark = catchup.order_watermark_tick(store=world.store_a, now=t0)
    assert mark.complete_until == t0 - timedelta(seconds=60) and mark.gap_since is None
    mark = catchup.order_watermark_tick(store=world.store_a, now=t0 + timedelta(seconds=30))
    assert mark.complete_until == t0 - timedelta(seconds=30)

    # an order event still waiting in the inbox holds the watermark before it
    event = WebhookEvent.objects.create(store=world.store_a, shop_domain=world.store_a.shop_domain,
                                        topic="orders/create", webhook_id="w-1", raw_body=b"{}",
                                        received_at=t0 + timedelta(seconds=40))
    mark = catchup.order_watermark_tick(store=world.store_a, now=t0 + timedelta(seconds=300))
    assert mark.complete_until == t0 + timedelta(seconds=40)
    event.delete()

    # the sweeper silent for longer than ORDER_GAP_AFTER_SECONDS: a gap from the watermark, which then holds
    mark = catchup.order_watermark_tick(store=world.store_a, now=t0 + timedelta(seconds=2000))
    assert mark.gap_since == t0 + timedelta(seconds=40) and "did not run" in mark.gap_reason
    mark = catchup.order_watermark_tick(store=world.store_a, now=t0 + timedelta(seconds=2010))
    assert mark.complete_until == t0 + timedelta(seconds=40)
    lines = catchup.order_watermark_health_lines(world.store_a)
    assert lines[0].problem and "gap since" in lines[0].value


def test_subscription_recreated_is_a_gap(world, settings):
    settings.ORDER_CATCHUP_VERIFY_SECONDS = 0
    t0 = timezone.now()
    catchup.order_watermark_tick(store=world.store_a, now=t0)
    WebhookSubscriptionHealth.objects.create(
        store=world.store_a, callback_url="https://pim.example.com/shopify/webhooks/",
        state=WebhookSubscriptionHealth.State.REPAIRED, checked_at=t0 + timedelta(seconds=5),
        findings=[{"topic": "ORDERS_CREATE", "problem": "missing", "detail": "", "repaired": True}])
    mark = catchup.order_watermark_tick(store=world.store_a, now=t0 + timedelta(seconds=10))
    assert mark.gap_since is not None and "missing" in mark.gap_reason
    # seen once: the next tick does not record it again
    gap_since = mark.gap_since
    mark = catchup.order_watermark_tick(store=world.store_a, now=t0 + timedelta(seconds=20))
    assert mark.gap_since == gap_since


def test_sweeper_queues_a_durable_replay_that_closes_the_gap(world, gap, settings):
    start, _ = gap
    settings.ORDER_CATCHUP_VERIFY_SECONDS = 0
    settings.ORDER_WATERMARK_MARGIN_SECONDS = 1
    OrderWatermark.objects.update_or_create(store=world.store_a, defaults={
        "complete_until": start, "ticked_at": timezone.now() - timedelta(hours=5)})
    queue = django_rq.get_queue("default")
    queue.empty()
    assert catchup.order_watermarks_sweep() == 1  # the 5-hour silence is a gap: one replay queued
    assert catchup.order_watermarks_sweep() == 0  # claimed under a lease: not queued twice
    jobs = queue.get_jobs()
    assert [j.func_name for j in jobs] == ["inventory.tasks.order_catchup_task"]
    # the job is lost (Redis flushed): once the lease expires the sweeper queues it again
    queue.empty()
    OrderWatermark.objects.filter(store=world.store_a).update(replay_lease_until=timezone.now())
    assert catchup.order_watermarks_sweep() == 1
    job = queue.get_jobs()[0]
    job.perform()
    drain()
    mark = OrderWatermark.objects.get(store=world.store_a)
    assert mark.gap_since is None and mark.last_replay_error == "" and mark.complete_until > start
    assert world.pim_available() == world.shopify_available("shop-a") == world.shopify_available("shop-b") == 291
    assert not catchup.order_watermark_health_lines(world.store_a)[0].problem
