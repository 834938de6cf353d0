"""Cancellations restock exactly what is still unfulfilled and not yet restocked, whatever came before and in
whatever order the webhooks arrive (every permutation, with duplicates).

Payloads are Shopify's REST shapes (orders/create, orders/updated, orders/cancelled with their ``refunds`` and
``fulfillments``; refunds/create with ``restock_type`` cancel / return / no_restock)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from inventory.models import StockMovement, WebhookEvent

from .conftest import drain, order_payload, refund_payload

QTY = 4
T0 = timezone.now().replace(microsecond=0) - timedelta(hours=1)

# name, units fulfilled before the end, refunds [(restock_type, units)], cancelled, expected stock change
SCENARIOS = [
    ("cancel only", 0, [], True, 0),
    ("fulfilled 1, cancel", 1, [], True, -1),
    ("fulfilled 1, returned 1, cancel", 1, [("return", 1)], True, 0),
    ("cancel-refund 1, cancel", 0, [("cancel", 1)], True, 0),
    ("no-restock refund 1 (unshipped), cancel", 0, [("no_restock", 1)], True, -1),
    ("fulfilled 2, refund without return 1, cancel", 2, [("no_restock", 1)], True, -2),
    ("fulfilled 1, cancel-refund 2, cancel", 1, [("cancel", 2)], True, -1),
    ("cancelled with refund and restock", 0, [("cancel", QTY)], True, 0),
    ("cancelled with refund, no restock", 0, [("no_restock", QTY)], True, -QTY),
    ("fulfilled 1, refund without return 1, cancel-refund 1, cancel", 1, [("no_restock", 1), ("cancel", 1)], True, -1),
    ("fulfilled 4, returned 2, cancel", 4, [("return", 2)], True, -2),
    ("fulfilled 2, returned 1, not cancelled", 2, [("return", 1)], False, -3),
    ("cancel-refund 2, not cancelled", 0, [("cancel", 2)], False, -2),
    ("fulfilled 2, returned 1, refund without return 1, cancel", 2, [("return", 1), ("no_restock", 1)], True, -1),
]


def _refunds(world, order_id: int, line_id: int, refunds) -> list[dict]:
    out = []
    for n, (kind, units) in enumerate(refunds):
        refund = refund_payload(order_id * 10 + n, order_id, [{
            "id": order_id * 100 + n, "line_item_id": line_id, "variant_id": world.variants["shop-a"],
            "sku": world.variant.sku, "quantity": units, "line_quantity": QTY,
            "location_id": None if kind == "no_restock" else world.locations["shop-a"]["Main Warehouse"],
        }], restock_type=kind)
        refund["created_at"] = (T0 + timedelta(minutes=2 + n)).isoformat()
        out.append(refund)
    return out


def _snapshot(world, order_id, line_id, *, at, fulfilled, refunds, cancelled) -> dict:
    payload = order_payload(order_id, [world.line(line_id, quantity=QTY)],
                            location_id=world.locations["shop-a"]["Main Warehouse"], refunds=refunds,
                            cancelled=cancelled)
    payload["created_at"] = T0.isoformat()
    payload["updated_at"] = at.isoformat()
    refunded = sum(rli["quantity"] for r in refunds for rli in r["refund_line_items"])
    payload["line_items"][0]["current_quantity"] = QTY - refunded
    if fulfilled:
        payload["fulfillments"] = [{"id": order_id + 1, "status": "success", "location_id": payload["location_id"],
                                    "line_items": [{"id": line_id, "quantity": fulfilled}]}]
        payload["line_items"][0]["fulfillment_status"] = "fulfilled" if fulfilled == QTY else "partial"
    return payload


def _events(world, order_id: int, fulfilled, refunds, cancelled) -> list[tuple[str, dict]]:
    line_id = order_id + 7
    refund_payloads = _refunds(world, order_id, line_id, refunds)
    events = [("orders/create", _snapshot(world, order_id, line_id, at=T0, fulfilled=0, refunds=[],
                                          cancelled=False))]
    if fulfilled:
        events.append(("orders/updated", _snapshot(world, order_id, line_id, at=T0 + timedelta(minutes=1),
                                                   fulfilled=fulfilled, refunds=[], cancelled=False)))
    events += [("refunds/create", r) for r in refund_payloads]
    if cancelled:
        events.append(("orders/cancelled", _snapshot(world, order_id, line_id, at=T0 + timedelta(minutes=30),
                                                     fulfilled=fulfilled, refunds=refund_payloads, cancelled=True)))
    return events


def _net(order_id: int) -> int:
    return StockMovement.objects.filter(order_line__order__order_id=str(order_id)).aggregate(
        n=Sum("quantity"))["n"] or 0


@pytest.mark.parametrize("name,fulfilled,refunds,cancelled,expected", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_every_order_of_delivery_gives_the_same_stock(world, name, fulfilled, refunds, cancelled, expected):
    client = Client()
    template = _events(world, 1, fulfilled, refunds, cancelled)
    orders = []
    permutations = list(itertools.permutations(range(len(template))))
    if len(permutations) > 24:  # five events: every third of the 120 orders (both ends and the middle)
        permutations = permutations[::3]
    for n, permutation in enumerate(permutations):
        order_id = 700000 + n * 1000
        events = _events(world, order_id, fulfilled, refunds, cancelled)
        for i in permutation:
            topic, payload = events[i]
            world.post(client, topic, payload)
            if n % 2:  # every other permutation: each delivery arrives twice (a new webhook id each time)
                world.post(client, topic, payload)
        orders.append(order_id)
    drain()
    assert not WebhookEvent.objects.exclude(status="processed").exists()
    nets = {order_id: _net(order_id) for order_id in orders}
    assert set(nets.values()) == {expected}, nets
    assert world.pim_available() == 300 + expected * len(orders)
    assert world.shopify_available("shop-b") == world.pim_available()
