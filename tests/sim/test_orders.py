"""Orders placed through the control API move stock available -> committed and fire webhooks."""

from __future__ import annotations

import pytest

from shopify_sim.control import SimControlError

from .test_webhooks import subscribe

LEVEL = """query($item: ID!, $loc: ID!) { inventoryItem(id: $item) { inventoryLevel(locationId: $loc) {
  quantities(names: ["available", "committed", "on_hand"]) { name quantity } } } }"""


def q(gql, item, loc):
    out = gql(LEVEL, {"item": item, "loc": loc})
    return {x["name"]: x["quantity"] for x in out["data"]["inventoryItem"]["inventoryLevel"]["quantities"]}


@pytest.fixture
def stocked(sim_control):
    p = sim_control.seed("shop-a", products=[{"title": "Sneaker", "variants": [
        {"sku": "SN-1", "price": "50", "inventory": {"0": 10, "1": 3}},
        {"sku": "SN-2", "price": "60", "inventory": {"0": 2}}], "options": [{"name": "Size", "values": ["40", "41"]}]}])[0]
    return p


def test_order_commits_stock_and_fires_webhooks(gql, sim_control, webhook_receiver, stocked, locations):
    subscribe(gql, webhook_receiver, "ORDERS_CREATE", "PRODUCTS_UPDATE", "INVENTORY_LEVELS_UPDATE")
    before = gql("query($id: ID!) { product(id: $id) { updatedAt } }", {"id": stocked["id"]})
    v1, v2 = stocked["variants"]
    order = sim_control.place_order("shop-a", [{"sku": "SN-1", "quantity": 2},
                                               {"variant_id": v2["id"], "quantity": 1}], location_id=locations[0])
    assert order["name"] == "#1001" and order["financial_status"] == "paid"
    assert [(li["sku"], li["quantity"]) for li in order["line_items"]] == [("SN-1", 2), ("SN-2", 1)]
    assert q(gql, v1["inventoryItemId"], locations[0]) == {"available": 8, "committed": 2, "on_hand": 10}
    assert q(gql, v2["inventoryItemId"], locations[0]) == {"available": 1, "committed": 1, "on_hand": 2}
    assert q(gql, v1["inventoryItemId"], locations[1]) == {"available": 3, "committed": 0, "on_hand": 3}

    created = webhook_receiver.wait_for(1, topic="orders/create")[0].json()
    assert created["admin_graphql_api_id"] == order["admin_graphql_api_id"]
    li = created["line_items"][0]
    assert li["variant_id"] == int(v1["id"].rsplit("/", 1)[1])
    assert li["product_id"] == int(stocked["id"].rsplit("/", 1)[1])
    assert li["sku"] == "SN-1" and li["quantity"] == 2 and li["price"] == "50.00"
    assert created["location_id"] == int(locations[0].rsplit("/", 1)[1])
    assert created["total_price"] == "160.00"
    product_update = webhook_receiver.wait_for(1, topic="products/update")[0].json()
    assert product_update["admin_graphql_api_id"] == stocked["id"]
    levels = webhook_receiver.wait_for(2, topic="inventory_levels/update")
    assert sorted(h.json()["available"] for h in levels) == [1, 8]
    after = gql("query($id: ID!) { product(id: $id) { updatedAt } }", {"id": stocked["id"]})
    assert after["data"]["product"]["updatedAt"] >= before["data"]["product"]["updatedAt"]


def test_oversell_is_rejected(sim_control, stocked):
    with pytest.raises(SimControlError) as exc:
        sim_control.place_order("shop-a", [{"sku": "SN-2", "quantity": 3}])
    assert exc.value.status == 422
    sim_control.place_order("shop-a", [{"sku": "SN-2", "quantity": 3}], allow_oversell=True)
    assert sim_control.inventory("shop-a", sku="SN-2")["levels"][0]["available"] == -1


def test_cancel_with_and_without_restock(gql, sim_control, webhook_receiver, stocked, locations):
    subscribe(gql, webhook_receiver, "ORDERS_CANCELLED")
    item = stocked["variants"][0]["inventoryItemId"]
    o1 = sim_control.place_order("shop-a", [{"sku": "SN-1", "quantity": 2}])
    cancelled = sim_control.cancel_order("shop-a", o1["id"], restock=True)
    assert cancelled["cancelled_at"] and cancelled["cancel_reason"] == "customer"
    assert q(gql, item, locations[0]) == {"available": 10, "committed": 0, "on_hand": 10}
    body = webhook_receiver.wait_for(1, topic="orders/cancelled")[0].json()
    assert body["id"] == o1["id"] and body["cancelled_at"]
    o2 = sim_control.place_order("shop-a", [{"sku": "SN-1", "quantity": 4}])
    sim_control.cancel_order("shop-a", o2["id"], restock=False)
    assert q(gql, item, locations[0]) == {"available": 6, "committed": 0, "on_hand": 6}


def test_refunds(gql, sim_control, webhook_receiver, stocked, locations):
    subscribe(gql, webhook_receiver, "REFUNDS_CREATE")
    item = stocked["variants"][0]["inventoryItemId"]
    order = sim_control.place_order("shop-a", [{"sku": "SN-1", "quantity": 3}])
    line_id = order["line_items"][0]["id"]
    refund = sim_control.refund("shop-a", order["id"], [{"line_item_id": line_id, "quantity": 1}], restock=True)
    assert refund["refund_line_items"][0]["restock_type"] == "cancel"
    assert q(gql, item, locations[0]) == {"available": 8, "committed": 2, "on_hand": 10}
    body = webhook_receiver.wait_for(1, topic="refunds/create")[0].json()
    assert body["order_id"] == order["id"] and body["restock"] is True
    rli = body["refund_line_items"][0]
    assert rli["line_item_id"] == line_id and rli["quantity"] == 1
    assert rli["location_id"] == int(locations[0].rsplit("/", 1)[1])
    assert rli["line_item"]["variant_id"] == int(stocked["variants"][0]["id"].rsplit("/", 1)[1])
    assert rli["line_item"]["sku"] == "SN-1"
    sim_control.refund("shop-a", order["id"], [{"sku": "SN-1", "quantity": 1}], restock=False)
    assert q(gql, item, locations[0]) == {"available": 8, "committed": 1, "on_hand": 9}
    body = webhook_receiver.wait_for(2, topic="refunds/create")[1].json()
    assert body["restock"] is False and body["refund_line_items"][0]["restock_type"] == "no_restock"
    assert body["refund_line_items"][0]["location_id"] is None
    with pytest.raises(SimControlError):
        sim_control.refund("shop-a", order["id"], [{"line_item_id": line_id, "quantity": 5}])


def test_fulfill_then_refund_returns_stock(gql, sim_control, stocked, locations):
    item = stocked["variants"][0]["inventoryItemId"]
    order = sim_control.place_order("shop-a", [{"sku": "SN-1", "quantity": 2}])
    sim_control.fulfill("shop-a", order["id"])
    assert q(gql, item, locations[0]) == {"available": 8, "committed": 0, "on_hand": 8}
    refund = sim_control.refund("shop-a", order["id"], restock=True)
    assert refund["refund_line_items"][0]["restock_type"] == "return"
    assert q(gql, item, locations[0]) == {"available": 10, "committed": 0, "on_hand": 10}


def test_batch_orders(sim_control, stocked):
    orders = sim_control.place_orders("shop-a", [{"line_items": [{"sku": "SN-1", "quantity": 1}]}] * 3)
    assert [o["name"] for o in orders] == ["#1001", "#1002", "#1003"]
    assert sim_control.inventory("shop-a", sku="SN-1")["levels"][0]["committed"] == 3
