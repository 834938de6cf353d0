"""Order routing, fulfillment orders, order edits and their webhooks (called with ``shop.lock`` held).

Shopify (https://shopify.dev/docs/apps/build/orders-fulfillment/order-routing-apps and the FulfillmentOrder
reference): an online order's ``location_id`` is null; order routing assigns each line to a location and creates
one fulfillment order per assigned location (``Order.fulfillmentOrders.assignedLocation``); the stock is
committed there. ``fulfillment_orders/order_routing_complete`` fires when routing is done,
``fulfillment_orders/moved`` when a merchant or app moves a fulfillment order (``fulfillmentOrderMove``: the
destination must stock the items; fulfilled units stay where they are). Point-of-sale orders carry their
``location_id``. ``orders/edited`` describes an order edit as line item additions and removals with deltas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .util import gid, iso, now, parse_gid

if TYPE_CHECKING:  # pragma: no cover
    from .store import ShopState


def _err(message: str, status: int = 422) -> Exception:
    from .store import SimError

    return SimError(message, status)


def route_line(shop: ShopState, item: dict[str, Any], qty: int, forced: dict[str, Any] | None) -> dict[str, Any]:
    """The location order routing assigns to a line: ``forced`` (a routing rule of the test), else the first
    location (primary first) that stocks the item with ``qty`` available, else the first that stocks it."""
    if forced is not None:
        return forced
    locs = [shop.primary_location] + [loc for loc in shop.locations.values() if loc is not shop.primary_location]
    stocked = [loc for loc in locs if shop.level(item["_n"], loc["_n"]) is not None]
    for loc in stocked:
        if shop.level(item["_n"], loc["_n"])["_q"]["available"] >= qty:
            return loc
    return stocked[0] if stocked else shop.primary_location


def create_fulfillment_orders(shop: ShopState, order: dict[str, Any], fulfilled: bool) -> None:
    """One fulfillment order per assigned location, holding that location's lines."""
    by_loc: dict[int, dict[str, Any]] = {}
    for li in order["line_items"]:
        fo = by_loc.get(li["_loc"])
        if fo is None:
            fo = {"_n": shop.next_id(), "_loc": li["_loc"], "status": "CLOSED" if fulfilled else "OPEN", "lines": []}
            by_loc[li["_loc"]] = fo
            order["fulfillment_orders"].append(fo)
        fo["lines"].append({"_n": shop.next_id(), "line": li})
    if fulfilled:
        for fo in by_loc.values():
            order["fulfillments"].append({
                "_n": shop.next_id(), "_loc": fo["_loc"], "_created": order["_created"],
                "lines": [(fl["line"], fl["line"]["quantity"]) for fl in fo["lines"]],
            })


def fo_remaining(fl: dict[str, Any]) -> int:
    li = fl["line"]
    return max(li["quantity"] - li["fulfilled"] - li["removed"], 0)


def fulfillment_order_ref(fo: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    return {"id": gid("FulfillmentOrder", fo["_n"]), "status": (status or fo["status"]).lower()}


def routing_complete_payload(fo: dict[str, Any]) -> dict[str, Any]:
    """fulfillment_orders/order_routing_complete (shopify.dev webhook reference: only the fulfillment order's
    id and status; the app reads the assigned location through the API)."""
    return {"fulfillment_order": fulfillment_order_ref(fo)}


def find_fulfillment_order(shop: ShopState, ref: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    n = parse_gid(ref, "FulfillmentOrder") if not isinstance(ref, int) else ref
    for order in shop.orders.values():
        for fo in order.get("fulfillment_orders", []):
            if fo["_n"] == n:
                return order, fo
    raise _err(f"fulfillment order not found: {ref!r}", 404)


def move_fulfillment_order(shop: ShopState, ref: Any, location_ref: Any) -> dict[str, Any]:
    """``fulfillmentOrderMove``: move the unfulfilled units of a fulfillment order to another location.

    Fails (as Shopify's userErrors do) when the fulfillment order is closed or the destination doesn't stock
    an item. Committed stock moves with the units; fires fulfillment_orders/moved."""
    ts = now()
    order, fo = find_fulfillment_order(shop, ref)
    dest = shop._resolve_location(location_ref)
    if fo["status"] != "OPEN":
        raise _err("Fulfillment order is not in an open state and can't be moved.")
    if dest["_n"] == fo["_loc"]:
        raise _err("Cannot move a fulfillment order to its current location.")
    moving = [(fl, fo_remaining(fl)) for fl in fo["lines"] if fo_remaining(fl) > 0]
    for fl, _ in moving:
        li = fl["line"]
        item = shop.items.get(shop.variants[li["variant"]]["_item"]) if li["variant"] in shop.variants else None
        if item is not None and li["tracked"] and shop.level(item["_n"], dest["_n"]) is None:
            raise _err(f"The destination location doesn't stock {li['sku'] or li['title']}.")
    source = shop.locations[fo["_loc"]]
    touched = []
    for fl, qty in moving:
        li = fl["line"]
        item = shop.items.get(shop.variants[li["variant"]]["_item"]) if li["variant"] in shop.variants else None
        if item is not None and li["tracked"]:
            old = shop.level(item["_n"], fo["_loc"])
            new = shop.level(item["_n"], dest["_n"])
            shop.set_quantity(old, "committed", old["_q"]["committed"] - qty, ts)
            shop.set_quantity(old, "available", old["_q"]["available"] + qty, ts)
            shop.set_quantity(new, "available", new["_q"]["available"] - qty, ts)
            shop.set_quantity(new, "committed", new["_q"]["committed"] + qty, ts)
            touched += [old, new]
        li["_loc"] = dest["_n"]
    fo["_loc"] = dest["_n"]
    order["_updated"] = ts
    payload = {
        "original_fulfillment_order": fulfillment_order_ref(fo),
        "moved_fulfillment_order": fulfillment_order_ref(fo),
        "destination_location_id": gid("Location", dest["_n"]),
        "fulfillment_order_line_items_requested": None,
        "source_location": {"id": gid("Location", source["_n"])},
    }
    shop.emit("fulfillment_orders/moved", payload)
    shop._emit_levels(touched)
    return payload


def edit_order(shop: ShopState, ref: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Commit an order edit (``orderEditBegin`` … ``orderEditCommit``): ``set_quantity: [{line_item_id, quantity,
    restock=True}]`` and ``add: [{variant_id | sku, quantity}]``. Fires orders/edited and orders/updated."""
    from . import webhooks as wh

    ts = now()
    order = shop.order(ref)
    if order["_cancelled"] is not None:
        raise _err("The order is cancelled and can't be edited.")
    additions, removals, touched = [], [], []
    for change in spec.get("set_quantity") or []:
        n = parse_gid(change.get("line_item_id"), "LineItem")
        li = next((x for x in order["line_items"] if x["_n"] == n), None)
        if li is None:
            raise _err(f"line item not found: {change!r}", 404)
        target = int(change["quantity"])
        current = li["quantity"] - li["removed_by_edit"]
        minimum = li["fulfilled"]
        if target < minimum:
            raise _err(f"Quantity can't be lower than the fulfilled quantity ({minimum}).")
        delta = target - current
        if delta == 0:
            continue
        lvl = _line_level(shop, li)
        if delta > 0:
            if lvl is not None:
                shop.set_quantity(lvl, "available", lvl["_q"]["available"] - delta, ts)
                shop.set_quantity(lvl, "committed", lvl["_q"]["committed"] + delta, ts)
            li["quantity"] += delta
            li["added_by_edit"] += delta
            additions.append({"id": li["_n"], "delta": delta})
        else:
            if lvl is not None:
                shop.set_quantity(lvl, "committed", lvl["_q"]["committed"] + delta, ts)
                if change.get("restock", True):
                    shop.set_quantity(lvl, "available", lvl["_q"]["available"] - delta, ts)
            li["removed_by_edit"] += -delta
            li["removed"] += -delta
            removals.append({"id": li["_n"], "delta": -delta})
        if lvl is not None:
            touched.append(lvl)
    for add in spec.get("add") or []:
        v = shop._resolve_variant(add)
        qty = int(add.get("quantity", 1))
        if qty <= 0:
            raise _err("quantity must be positive")
        item = shop.items[v["_item"]]
        p = shop.products[v["_product"]]
        loc = route_line(shop, item, qty, shop._resolve_location(add["location_id"]) if add.get("location_id")
                         else None)
        li = shop.new_line_item(v, p, item, qty, loc, add.get("price"))
        li["_added_by_edit_line"] = True  # not part of the OrderAgreement (the sale at creation)
        order["line_items"].append(li)
        fo = next((f for f in order["fulfillment_orders"] if f["_loc"] == loc["_n"] and f["status"] == "OPEN"), None)
        if fo is None:
            fo = {"_n": shop.next_id(), "_loc": loc["_n"], "status": "OPEN", "lines": []}
            order["fulfillment_orders"].append(fo)
        fo["lines"].append({"_n": shop.next_id(), "line": li})
        lvl = _line_level(shop, li)
        if lvl is not None:
            shop.set_quantity(lvl, "available", lvl["_q"]["available"] - qty, ts)
            shop.set_quantity(lvl, "committed", lvl["_q"]["committed"] + qty, ts)
            touched.append(lvl)
        additions.append({"id": li["_n"], "delta": qty})
    if not additions and not removals:
        raise _err("The order edit has no changes.")
    edit = {"_n": shop.next_id(), "_created": ts, "additions": additions, "removals": removals}
    order.setdefault("edits", []).append(edit)
    order["_updated"] = ts
    shop.emit("orders/edited", lambda: edited_payload(shop, order, edit))
    shop.emit("orders/updated", lambda: wh.order_payload(shop, order))
    shop._emit_levels(touched)
    return edited_payload(shop, order, edit)


def _line_level(shop: ShopState, li: dict[str, Any]) -> dict[str, Any] | None:
    item = shop.items.get(shop.variants[li["variant"]]["_item"]) if li["variant"] in shop.variants else None
    if item is None or not li["tracked"]:
        return None
    return shop.level(item["_n"], li["_loc"])


def edited_payload(shop: ShopState, order: dict[str, Any], edit: dict[str, Any]) -> dict[str, Any]:
    """orders/edited as in Shopify's webhook reference (``order_edit`` with line item additions/removals);
    webhook API versions before 2026-04 are sent without the ``discounts`` and ``shipping_lines`` groups
    (unconfirmed: the shape the PIM reads, ``line_items.additions/removals``, is the same in every version)."""
    body: dict[str, Any] = {
        "id": edit["_n"],
        "app_id": None,
        "created_at": iso(edit["_created"]).replace("Z", "+00:00"),
        "notify_customer": False,
        "order_id": order["_n"],
        "staff_note": "",
        "user_id": None,
        "line_items": {"additions": list(edit["additions"]), "removals": list(edit["removals"])},
    }
    if shop.cfg.webhook_api_version >= "2026-04":
        body["discounts"] = {"line_item": {"additions": [], "removals": []}}
        body["shipping_lines"] = {"additions": [], "removals": []}
    return {"order_edit": body}
