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


# --- the orders list and what a gap replay reads (issue 18) -------------------------------------------------------
# Shopify: ``orders(query:, sortKey:)`` (https://shopify.dev/docs/api/admin-graphql/latest/queries/orders; search
# syntax https://shopify.dev/docs/api/usage/search-syntax), Order.refunds / Refund.refundLineItems (restockType,
# location), Order.fulfillments (location, fulfillmentLineItems), Order.agreements (OrderAgreement: the sale at
# creation; OrderEditAgreement: each committed edit; RefundAgreement: each refund) and Order.retailLocation.

from . import search  # noqa: E402
from .resolvers import _filter, _p  # noqa: E402
from .search import Field  # noqa: E402

search.register("orders", {
    "id": Field(_p(lambda s, o: o["_n"]), "id"),
    "name": Field(_p(lambda s, o: o["name"])),
    "updated_at": Field(_p(lambda s, o: o["_updated"]), "date"),
    "created_at": Field(_p(lambda s, o: o["_created"]), "date"),
    "processed_at": Field(_p(lambda s, o: o["_created"]), "date"),
    "status": Field(_p(lambda s, o: "cancelled" if o["_cancelled"] else "open")),
}, _p(lambda s, o: o["name"]))

ORDER_SORT = {
    "ID": lambda o: (o["_n"],),
    "UPDATED_AT": lambda o: (o["_updated"], o["_n"]),
    "CREATED_AT": lambda o: (o["_created"], o["_n"]),
    "PROCESSED_AT": lambda o: (o["_created"], o["_n"]),
    "ORDER_NUMBER": lambda o: (o["order_number"], o["_n"]),
}


@res("QueryRoot", "orders")
def q_orders(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """Orders matching ``query`` sorted by ``sortKey`` (ID, UPDATED_AT, CREATED_AT, PROCESSED_AT, ORDER_NUMBER;
    others sort by id). Cursors carry the sort value, so an order updated while a reader pages moves behind it and
    is read again on a later page, as with Shopify's cursor over a sort key."""
    shop = _shop(info)
    orders = _filter(info, "orders", list(shop.orders.values()), args.get("query"))
    key = ORDER_SORT.get(args.get("sortKey") or "ID", ORDER_SORT["ID"])
    orders.sort(key=key)
    records = [_order_record(shop, o) for o in orders]
    sort_value = None if (args.get("sortKey") or "ID") == "ID" else (lambda r: list(key(r["_o"]))[0])
    return connection(info, records, args, sort_value)


@res("QueryRoot", "ordersCount")
def q_orders_count(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    n = len(_filter(info, "orders", list(shop.orders.values()), args.get("query")))
    limit = args.get("limit", 10000)
    return {"count": min(n, limit) if limit is not None else n,
            "precision": "AT_LEAST" if limit is not None and n > limit else "EXACT"}


@res("Order", "retailLocation")
def order_retail_location(o: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    loc = o["_o"].get("_loc")
    return _shop(info).locations.get(loc) if loc is not None else None


@res("Order", "refunds")
def order_refunds(o: dict[str, Any], info: GraphQLResolveInfo, first: int | None = None) -> Any:
    refunds = o["_o"]["refunds"][:first] if first is not None else o["_o"]["refunds"]
    return [{"__typename": "Refund", "_n": r["_n"], "_r": r, "_o": o["_o"], "id": gid("Refund", r["_n"]),
             "legacyResourceId": str(r["_n"]), "createdAt": iso(r["_created"]), "processedAt": iso(r["_created"]),
             "updatedAt": iso(r["_created"]), "note": r.get("note")} for r in refunds]


@res("Refund", "refundLineItems")
def refund_lines(r: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = [{"__typename": "RefundLineItem", "_n": rl["_n"], "id": gid("RefundLineItem", rl["_n"]),
              "quantity": rl["quantity"], "restockType": rl["restock_type"].upper(),
              "restocked": rl["restock_type"] != "no_restock",
              "location": shop.locations.get(rl["_loc"]) if rl["_loc"] is not None else None,
              "lineItem": _line_record(shop, rl["line"])} for rl in r["_r"]["lines"]]
    return connection(info, items, args)


@res("Order", "fulfillments")
def order_fulfillments(o: dict[str, Any], info: GraphQLResolveInfo, first: int | None = None,
                       query: str | None = None) -> Any:
    shop = _shop(info)
    fulfillments = o["_o"].get("fulfillments", [])
    fulfillments = fulfillments[:first] if first is not None else fulfillments
    return [{"__typename": "Fulfillment", "_n": f["_n"], "_f": f, "id": gid("Fulfillment", f["_n"]),
             "status": "SUCCESS", "createdAt": iso(f["_created"]), "updatedAt": iso(f["_created"]),
             "location": shop.locations.get(f["_loc"])} for f in fulfillments]


@res("Fulfillment", "fulfillmentLineItems")
def fulfillment_lines(f: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = [{"__typename": "FulfillmentLineItem", "_n": li["_n"] * 1000 + i,
              "id": gid("FulfillmentLineItem", f["_n"] * 1000 + i), "quantity": qty,
              "lineItem": _line_record(shop, li)} for i, (li, qty) in enumerate(f["_f"]["lines"])]
    return connection(info, items, args)


def _sale(shop: Any, n: int, li: dict[str, Any], quantity: int, action: str) -> dict[str, Any]:
    return {"__typename": "ProductSale", "_n": n, "id": gid("Sale", n), "actionType": action,
            "lineType": "PRODUCT", "quantity": quantity, "lineItem": _line_record(shop, li), "taxes": []}


@res("Order", "agreements")
def order_agreements(o: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    """The order's sales agreements, oldest first: one OrderAgreement (each line's units at creation), one
    OrderEditAgreement per committed edit (id = the ``order_edit.id`` of orders/edited; additions as ORDER sales
    with positive quantities, removals as RETURN sales with negative ones), one RefundAgreement per refund.
    Unconfirmed: that Shopify's OrderEditAgreement id equals the webhook's ``order_edit.id``, and the sign of a
    removal's quantity (the PIM reads the direction from ``actionType``)."""
    shop = _shop(info)
    order = o["_o"]
    by_n = {li["_n"]: li for li in order["line_items"]}
    created = [li for li in order["line_items"] if not li.get("_added_by_edit_line")]
    items: list[dict[str, Any]] = [{
        "__typename": "OrderAgreement", "_n": order["_n"], "id": gid("SalesAgreement", order["_n"]),
        "happenedAt": iso(order["_created"]), "reason": "ORDER", "app": None, "user": None,
        "_sales": [_sale(shop, li["_n"] * 10, li, li.get("_orig", li["quantity"]), "ORDER") for li in created],
    }]
    for edit in order.get("edits", []):
        sales = [_sale(shop, edit["_n"] * 100 + i, by_n[a["id"]], a["delta"], "ORDER")
                 for i, a in enumerate(edit["additions"]) if a["id"] in by_n]
        sales += [_sale(shop, edit["_n"] * 100 + 50 + i, by_n[r["id"]], -r["delta"], "RETURN")
                  for i, r in enumerate(edit["removals"]) if r["id"] in by_n]
        items.append({"__typename": "OrderEditAgreement", "_n": edit["_n"], "id": gid("SalesAgreement", edit["_n"]),
                      "happenedAt": iso(edit["_created"]), "reason": "ORDER_EDIT", "app": None, "user": None,
                      "_sales": sales})
    for refund in order["refunds"]:
        sales = [_sale(shop, rl["_n"] * 10, rl["line"], -rl["quantity"], "RETURN") for rl in refund["lines"]]
        items.append({"__typename": "RefundAgreement", "_n": refund["_n"], "id": gid("SalesAgreement", refund["_n"]),
                      "happenedAt": iso(refund["_created"]), "reason": "REFUND", "app": None, "user": None,
                      "_sales": sales})
    return connection(info, items, args)


for _agreement_type in ("OrderAgreement", "OrderEditAgreement", "RefundAgreement"):
    res(_agreement_type, "sales")(lambda a, info, **args: connection(info, a["_sales"], args))
