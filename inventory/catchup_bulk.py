"""Gap replay by one bulk operation (issue 18): when a gap holds many orders, read them all with one
``bulkOperationRunQuery`` instead of two queries per order.

Shopify's bulk query rules (https://shopify.dev/docs/api/usage/bulk-operations/queries, "Operation restrictions":
at most 5 connections, nested at most 2 deep, no connection inside a list field) keep some parts of an order out
of the bulk query: the sales of each agreement and the lines of each fulfillment order (3 deep), the line items of
refunds and fulfillments (connections inside list fields). So the bulk read builds the replay facts only for a
plain sale: not cancelled, one sales agreement (the OrderAgreement: no edit, no refund), no fulfillment, every
line still at its ordered quantity and at most one fulfillment order's location (every line committed there).
Every other order is left to ``order_replay_read`` (the per-order way). The facts are the same dict
``order_replay_read`` returns, so ``order_replay_merge`` is unchanged.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from channels.shopify import queries
from channels.shopify.bulk_query_api import default_child_key
from channels.shopify.ids import gid_to_id

from . import orders as order_writeback


def _child_key(child: dict) -> str:
    if str(child.get("__typename") or "").endswith("Agreement"):
        return "agreements"
    return default_child_key(child)


def _search(since: datetime) -> str:
    return f"updated_at:>='{since.astimezone(timezone.get_fixed_timezone(0)).strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def _num(ref: str | None) -> int | None:
    return int(gid_to_id(ref)) if ref else None


def order_replay_facts_from_bulk(*, node: dict) -> dict | None:
    """Return the replay facts of one grouped bulk-result order (as ``order_replay_read``), or None when the
    order needs more than the bulk query can hold (read it the per-order way)."""
    if node.get("cancelledAt") or node.get("refunds") or node.get("fulfillments"):
        return None
    agreements = node.get("agreements") or []
    if [a.get("__typename") for a in agreements] != ["OrderAgreement"]:
        return None
    lines = node.get("lineItems") or []
    if any(int(li.get("quantity") or 0) != int(li.get("currentQuantity") or 0) for li in lines):
        return None
    routed = [fo for fo in node.get("fulfillmentOrders") or [] if fo.get("status") != "CANCELLED"]
    if len(routed) > 1:
        return None
    order_id = str(gid_to_id(node["id"]))
    base = {"id": int(order_id), "name": node.get("name") or "", "created_at": node.get("createdAt"),
            "updated_at": node.get("updatedAt"), "cancelled_at": node.get("cancelledAt"),
            "location_id": _num((node.get("retailLocation") or {}).get("id")), "fulfillments": []}
    line_json = [{"id": int(gid_to_id(li["id"])), "quantity": int(li.get("quantity") or 0),
                  "sku": li.get("sku") or "", "name": li.get("name") or "",
                  "variant_id": _num((li.get("variant") or {}).get("id"))}
                 for li in lines]
    routing = [dict(fo, lineItems={"nodes": [{"totalQuantity": li.get("quantity"), "lineItem": {"id": li["id"]}}
                                             for li in lines]}) for fo in routed]
    fetched = order_writeback._normalise_order({"id": node["id"], "cancelledAt": None,
                                                "lineItems": {"nodes": lines},
                                                "fulfillmentOrders": {"nodes": routing}})
    return {"order_id": order_id, "name": base["name"], "created": dict(base, refunds=[], line_items=line_json),
            "edits": [], "added": dict(base, refunds=[], line_items=[]), "fetched": fetched}


def order_replay_bulk_read(*, client, since: datetime, order_ids: set[str]) -> dict[str, dict]:
    """Run one bulk query over the orders updated since ``since``; return the replay facts by order id of those in
    ``order_ids`` that the bulk result holds completely (the others are for ``order_replay_read``).

    Raises ShopifyError (ShopifyBulkOperationError when the operation fails or its file cannot be read).
    """
    query = queries.ORDERS_REPLAY_BULK % {"search": _search(since).replace("\\", "\\\\").replace('"', '\\"')}
    facts: dict[str, dict] = {}
    for node in client.bulk_run_query(query=query, child_key=_child_key):
        order_id = str(gid_to_id(node["id"]))
        if order_id not in order_ids:
            continue
        read = order_replay_facts_from_bulk(node=node)
        if read is not None:
            facts[order_id] = read
    return facts
