"""Which location a sale comes from, as Shopify sends it: online orders carry a null location_id and are routed
(fulfillment orders), point-of-sale orders carry theirs, fulfilled orders name it in their fulfillments; a moved
fulfillment order moves the sale; a refund that arrives before its order does not pin it to the default location.

The simulator places the orders, routes them and delivers its webhooks to the live server."""

from __future__ import annotations

from django.test import Client

from inventory.ledger import stock_receive
from inventory.models import ShopifyOrderLine, StockMovement, WebhookEvent
from inventory.subscriptions import webhook_subscriptions_register

from .conftest import SKU, WEBHOOK_PATH, drain


def subscribe(world, live_server) -> None:
    webhook_subscriptions_register(store=world.store_a, callback_url=live_server.url + WEBHOOK_PATH)


def settle(world) -> None:
    assert world.sim.wait_webhooks(30)
    drain()


def stock_retail(world, quantity: int = 40) -> None:
    stock_receive(variant=world.variant, location=world.retail, quantity=quantity)
    drain()
    assert world.shopify_available("shop-a", "Retail Store") == quantity


def order_reads(world) -> list[dict]:
    return [r for r in world.control.requests("shop-a") if r.get("operation_name") in
            ("OrderLocations", "OrderForStock", "FulfillmentOrderForStock")]


def test_an_online_order_has_no_location_and_is_booked_where_routing_committed_it(world, live_server):
    stock_retail(world)
    subscribe(world, live_server)
    order = world.control.place_order("shop-a", [{"sku": SKU, "quantity": 3}], route_to="Retail Store")
    settle(world)
    create = world.control.deliveries("shop-a", topic="orders/create")[0]
    assert create["payload"]["location_id"] is None  # as Shopify sends online orders
    assert world.control.deliveries("shop-a", topic="fulfillment_orders/order_routing_complete")
    # Shopify committed the units at Retail Store; so does the PIM, and shop B's Retail Store follows.
    assert world.shopify_available("shop-a", "Retail Store") == 37
    assert world.pim_available(world.retail) == 37 and world.pim_available(world.main) == 300
    assert world.shopify_available("shop-b", "Retail Store") == 37
    assert world.shopify_available("shop-b", "Main Warehouse") == 300
    line = ShopifyOrderLine.objects.get(order__order_id=str(order["id"]))
    assert (line.location_source, line.shopify_location_id) == (
        "routing", str(world.locations["shop-a"]["Retail Store"]))
    sale = StockMovement.objects.get(kind="sale")
    assert (sale.location, sale.quantity) == (world.retail, -3)
    assert not StockMovement.objects.filter(kind="sale_moved").exists()


def test_a_moved_fulfillment_order_moves_the_sale_once(world, live_server):
    stock_retail(world)
    subscribe(world, live_server)
    order = world.control.place_order("shop-a", [{"sku": SKU, "quantity": 2}], route_to="Retail Store")
    settle(world)
    world.control.duplicate_webhooks("shop-a", rate=1.0)  # every delivery of the move arrives twice
    [fo] = order["_sim_fulfillment_orders"]
    world.control.move_fulfillment_order("shop-a", fo["id"], world.locations["shop-a"]["Main Warehouse"])
    settle(world)
    moved = world.control.deliveries("shop-a", topic="fulfillment_orders/moved")
    assert len(moved) >= 2 and moved[0]["payload"]["destination_location_id"].endswith(
        str(world.locations["shop-a"]["Main Warehouse"]))
    assert world.shopify_available("shop-a", "Retail Store") == 40
    assert world.shopify_available("shop-a", "Main Warehouse") == 298
    assert world.pim_available(world.retail) == 40 and world.pim_available(world.main) == 298
    assert world.shopify_available("shop-b", "Retail Store") == 40
    assert world.shopify_available("shop-b", "Main Warehouse") == 298
    moves = sorted(StockMovement.objects.filter(kind="sale_moved").values_list("location__name", "quantity"))
    assert moves == [("Main Warehouse", -2), ("Retail Store", 2)]
    # Shop A moved its own stock: the PIM pushed nothing to it for the move.
    assert list(world.store_a.inventory_pushes.filter(kind="delta").values_list("delta", flat=True)) == [40]


def test_a_point_of_sale_order_is_booked_at_its_location_without_reading_the_order(world, live_server):
    stock_retail(world)
    subscribe(world, live_server)
    world.control.clear_requests("shop-a")
    world.control.place_order("shop-a", [{"sku": SKU, "quantity": 1}],
                              location_id=world.locations["shop-a"]["Retail Store"])
    settle(world)
    assert world.pim_available(world.retail) == 39 and world.pim_available(world.main) == 300
    assert ShopifyOrderLine.objects.get().location_source == "pos"
    assert order_reads(world) == []


def test_an_order_created_fulfilled_is_booked_where_it_was_fulfilled(world, live_server):
    stock_retail(world)
    subscribe(world, live_server)
    world.control.clear_requests("shop-a")
    world.control.place_order("shop-a", [{"sku": SKU, "quantity": 2}], route_to="Retail Store", fulfilled=True)
    settle(world)
    payload = world.control.deliveries("shop-a", topic="orders/create")[0]["payload"]
    assert payload["location_id"] is None and payload["fulfillments"][0]["location_id"] == (
        world.locations["shop-a"]["Retail Store"])
    assert world.pim_available(world.retail) == 38 and world.pim_available(world.main) == 300
    assert ShopifyOrderLine.objects.get().location_source == "fulfillment"
    assert order_reads(world) == []


def test_a_refund_before_its_order_does_not_pin_the_sale_to_the_default_location(world):
    """No subscriptions: the test delivers Shopify's payloads itself, the refund first."""
    stock_retail(world)
    order = world.control.place_order("shop-a", [{"sku": SKU, "quantity": 3}], route_to="Retail Store")
    line_id = order["line_items"][0]["id"]
    refund = world.control.refund("shop-a", order["id"], [{"line_item_id": line_id, "quantity": 1}])
    assert refund["refund_line_items"][0]["restock_type"] == "cancel"
    created = world.control.order("shop-a", order["id"])
    client = Client()
    world.post(client, "refunds/create", refund)
    drain()
    # The refund came first: the PIM read the order's routing and booked the sale at Retail Store.
    assert world.pim_available(world.retail) == 38 and world.pim_available(world.main) == 300
    world.post(client, "orders/create", created)
    world.post(client, "refunds/create", refund)  # a late duplicate
    drain()
    assert world.pim_available(world.retail) == 38 and world.pim_available(world.main) == 300
    assert world.shopify_available("shop-a", "Retail Store") == 38
    assert world.shopify_available("shop-b", "Retail Store") == 38
    assert not StockMovement.objects.filter(kind="sale_moved").exists()
    assert WebhookEvent.objects.filter(status="processed").count() == 3


def test_an_online_order_whose_routing_cannot_be_read_is_moved_when_routing_arrives(world, live_server):
    """Shopify down while orders/create is processed: the sale is booked at the default location at once (the
    other stores must see it), then moved when the routing webhook is processed."""
    stock_retail(world)
    order = world.control.place_order("shop-a", [{"sku": SKU, "quantity": 2}], route_to="Retail Store")
    created = world.control.order("shop-a", order["id"])
    world.control.outage("shop-a", 30)
    world.post(Client(), "orders/create", created)
    drain()
    assert world.pim_available(world.main) == 298  # the store's default location, for now
    assert "could not read the order's fulfillment orders" in WebhookEvent.objects.get(topic="orders/create").result
    world.control.clear_faults("shop-a")
    [fo] = order["_sim_fulfillment_orders"]
    world.post(Client(), "fulfillment_orders/order_routing_complete",
               {"fulfillment_order": {"id": fo["id"], "status": "open"}})
    drain()
    assert world.pim_available(world.main) == 300 and world.pim_available(world.retail) == 38
    assert world.shopify_available("shop-b", "Main Warehouse") == 300
    assert world.shopify_available("shop-b", "Retail Store") == 38
