"""GraphQL reads of orders and fulfillment orders (``order``, ``fulfillmentOrder``; Order.lineItems,
Order.fulfillmentOrders, FulfillmentOrder.assignedLocation/lineItems/order). Read-only: orders are created and
changed through the control API. Records are built per request from the shop's order dicts."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo

from .orders import fo_remaining
from .resolvers import _shop, connection, res
from .util import gid, iso, parse_gid


def _line_record(shop: Any, li: dict[str, Any]) -> dict[str, Any]:
    unfulfilled = max(li["quantity"] - li["fulfilled"] - li["removed"], 0)
    return {
        "__typename": "LineItem", "_n": li["_n"], "id": gid("LineItem", li["_n"]), "sku": li["sku"],
        "name": li["title"] + (f" - {li['variant_title']}" if li["variant_title"] else ""), "title": li["title"],
        "variantTitle": li["variant_title"], "vendor": li["vendor"],
        "quantity": li["quantity"],
        "currentQuantity": li["quantity"] - li.get("removed_by_edit", 0) - li["refunded"],
        "unfulfilledQuantity": unfulfilled, "refundableQuantity": li["quantity"] - li["refunded"],
        "nonFulfillableQuantity": li["fulfilled"] + li["removed"], "requiresShipping": True,
        "variant": shop.variants.get(li["variant"]), "restockable": True, "isGiftCard": False,
        "merchantEditable": True,
    }


def _order_record(shop: Any, order: dict[str, Any]) -> dict[str, Any]:
    return {
        "__typename": "Order", "_n": order["_n"], "_o": order, "id": order["id"], "name": order["name"],
        "createdAt": iso(order["_created"]), "updatedAt": iso(order["_updated"]),
        "processedAt": iso(order["_created"]),
        "cancelledAt": iso(order["_cancelled"]) if order["_cancelled"] else None,
        "closed": False, "confirmed": True, "test": True, "sourceName": order.get("source_name", "web"),
        "displayFulfillmentStatus": "FULFILLED" if order.get("fulfillment_status") == "fulfilled" else "UNFULFILLED",
    }


def _fo_record(shop: Any, order: dict[str, Any], fo: dict[str, Any]) -> dict[str, Any]:
    loc = shop.locations.get(fo["_loc"])
    return {
        "__typename": "FulfillmentOrder", "_n": fo["_n"], "_fo": fo, "_o": order,
        "id": gid("FulfillmentOrder", fo["_n"]), "status": fo["status"], "requestStatus": "UNSUBMITTED",
        "assignedLocation": {"location": loc, "name": loc["name"] if loc else "", "countryCode": "US",
                             "address1": None, "address2": None, "city": None, "phone": None, "province": None,
                             "zip": None},
        "orderId": order["id"], "orderName": order["name"], "createdAt": iso(order["_created"]),
        "updatedAt": iso(order["_updated"]),
    }


@res("QueryRoot", "order")
def q_order(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    shop = _shop(info)
    n = parse_gid(id, "Order")
    order = shop.orders.get(n) if n is not None else None
    return _order_record(shop, order) if order else None


@res("QueryRoot", "fulfillmentOrder")
def q_fulfillment_order(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    shop = _shop(info)
    n = parse_gid(id, "FulfillmentOrder")
    for order in shop.orders.values():
        for fo in order.get("fulfillment_orders", []):
            if fo["_n"] == n:
                return _fo_record(shop, order, fo)
    return None


@res("Order", "lineItems")
def order_lines(o: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    return connection(info, [_line_record(shop, li) for li in o["_o"]["line_items"]], args)


@res("Order", "fulfillmentOrders")
def order_fulfillment_orders(o: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    fos = o["_o"].get("fulfillment_orders", [])
    return connection(info, [_fo_record(shop, o["_o"], fo) for fo in fos], args)


@res("FulfillmentOrder", "lineItems")
def fo_lines(fo: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = []
    for fl in fo["_fo"]["lines"]:
        li = fl["line"]
        items.append({
            "__typename": "FulfillmentOrderLineItem", "_n": fl["_n"], "id": gid("FulfillmentOrderLineItem", fl["_n"]),
            "totalQuantity": max(li["quantity"] - li["removed"], 0), "remainingQuantity": fo_remaining(fl),
            "lineItem": _line_record(shop, li), "sku": li["sku"], "productTitle": li["title"],
            "variantTitle": li["variant_title"], "requiresShipping": True,
            "inventoryItemId": gid("InventoryItem", shop.variants[li["variant"]]["_item"])
            if li["variant"] in shop.variants else None,
        })
    return connection(info, items, args)


@res("FulfillmentOrder", "order")
def fo_order(fo: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _order_record(_shop(info), fo["_o"])
