"""orders/edited (quantity changed, line added, line removed) changes PIM stock by the difference, exactly once,
also when duplicated or reordered with the order's other events. The simulator commits the edits and sends
Shopify's orders/edited payload (``order_edit.line_items.additions/removals``) and orders/updated."""

from __future__ import annotations

import copy
import random

import pytest
from django.test import Client

from inventory.models import ShopifyOrderLine, StockMovement, WebhookEvent
from inventory.subscriptions import webhook_subscriptions_register

from .conftest import SKU, drain


def deliveries(world, topic):
    return [d["payload"] for d in world.control.deliveries("shop-a", topic=topic)]


def edit_story(world):
    """Sell 3, lower the line to 1, add a new line of 2, raise the first line to 2: 4 sold in the end."""
    order = world.control.place_order("shop-a", [{"sku": SKU, "quantity": 3}],
                                      location_id=world.locations["shop-a"]["Main Warehouse"])
    line_id = order["line_items"][0]["id"]
    world.control.edit_order("shop-a", order["id"], set_quantity=[{"line_item_id": line_id, "quantity": 1}])
    world.control.edit_order("shop-a", order["id"], add=[{"sku": SKU, "quantity": 2}])
    world.control.edit_order("shop-a", order["id"], set_quantity=[{"line_item_id": line_id, "quantity": 2}])
    return order


def test_order_edits_change_stock_by_the_difference_once(world, live_server):
    from .conftest import WEBHOOK_PATH

    webhook_subscriptions_register(store=world.store_a, callback_url=live_server.url + WEBHOOK_PATH)
    world.control.duplicate_webhooks("shop-a", rate=0.5)
    edit_story(world)
    assert world.sim.wait_webhooks(30)
    drain()
    edits = deliveries(world, "orders/edited")
    assert edits and all("order_edit" in e and "additions" in e["order_edit"]["line_items"] for e in edits)
    assert world.shopify_available("shop-a") == 296
    assert world.pim_available() == 296
    assert world.shopify_available("shop-b") == 296
    kinds = {k: sum(StockMovement.objects.filter(kind=k).values_list("quantity", flat=True))
             for k in ("sale", "order_edit")}
    # The order sold 3; the edits removed 2, added a line of 2 and added 1: −1 more in all.
    assert kinds == {"sale": -3, "order_edit": -1}
    added = ShopifyOrderLine.objects.get(added_by_edit=True)
    assert (added.in_create, added.edits) == (False, {next(iter(added.edits)): 2})
    assert ShopifyOrderLine.objects.count() == 2
    assert not WebhookEvent.objects.exclude(status__in=["processed", "ignored"]).exists()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("webhook_version", ["2026-07", "2026-01"])
def test_order_edits_reordered_and_duplicated_apply_once(world, live_server, seed, webhook_version):
    """The same story, its deliveries replayed by the test in a random order with duplicates; the older webhook
    API version sends orders/edited without the discounts and shipping_lines groups."""
    from .conftest import WEBHOOK_PATH

    world.control.config("shop-a", webhook_api_version=webhook_version)
    webhook_subscriptions_register(store=world.store_a, callback_url=live_server.url + WEBHOOK_PATH)
    world.control.faults("shop-a", webhook_drop_rate=1.0)  # recorded by the simulator, never delivered
    edit_story(world)
    assert world.sim.wait_webhooks(30)
    events = [(d["topic"], d["payload"]) for d in world.control.deliveries("shop-a")
              if d["topic"] in ("orders/create", "orders/edited", "orders/updated")]
    assert any(t == "orders/edited" for t, _ in events)
    edited = next(p for t, p in events if t == "orders/edited")["order_edit"]
    assert ("discounts" in edited) == (webhook_version >= "2026-04")
    rng = random.Random(seed)
    replay = events + [copy.deepcopy(rng.choice(events)) for _ in range(4)]
    rng.shuffle(replay)
    client = Client()
    for topic, payload in replay:
        world.post(client, topic, payload)
    drain()
    assert world.pim_available() == 296
    assert world.shopify_available("shop-b") == 296
    # Only the line the second edit added is "added by an edit", whichever came first: an edit raising the order's
    # first line, or the orders/create that lists it.
    assert [line.added_by_edit for line in ShopifyOrderLine.objects.order_by("line_id")] == [False, True]


def test_an_edit_raising_a_line_before_the_orders_create_does_not_mark_it_added(world, live_server):
    """Shopify does not order its webhooks: the edit that raises the first line (an ``additions`` entry for it) may
    be processed before the orders/create that lists the line; the line is still the order's own, not an edit's."""
    from .conftest import WEBHOOK_PATH

    webhook_subscriptions_register(store=world.store_a, callback_url=live_server.url + WEBHOOK_PATH)
    world.control.faults("shop-a", webhook_drop_rate=1.0)  # recorded by the simulator, never delivered
    edit_story(world)
    assert world.sim.wait_webhooks(30)
    events = [(d["topic"], d["payload"]) for d in world.control.deliveries("shop-a")
              if d["topic"] in ("orders/create", "orders/edited")]
    edits = [e for e in events if e[0] == "orders/edited"]
    creates = [e for e in events if e[0] == "orders/create"]
    client = Client()
    for topic, payload in [edits[-1], *creates, *edits[:-1]]:
        world.post(client, topic, payload)
    drain()
    assert world.pim_available() == 296
    assert [line.added_by_edit for line in ShopifyOrderLine.objects.order_by("line_id")] == [False, True]
