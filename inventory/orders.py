"""Order writeback: Shopify orders, edits, refunds, cancellations and fulfillment-order moves → PIM stock.

Every order webhook adds *facts* to the order's ``ShopifyOrderLine`` rows (merged so that duplicated or
reordered deliveries give the same facts), then the line's stock movements are *reconciled* with what the
facts imply: each component of a line (sale, edit, cancellation, each refund line's restock, moves between
locations) has a target; only the difference to what the ledger already holds is recorded, under the order's
row lock, with a unique source reference. Repeating or reordering deliveries therefore changes stock once.

Facts and the Shopify fields they come from
    * quantity: REST ``line_items[].quantity`` of orders/create (units at creation). Until orders/create is
      seen, the first snapshot (orders/updated, orders/cancelled, a refund's ``line_item``) that names the line
      stands in for it, unless an order edit added the line.
    * edits: ``order_edit.line_items.additions/removals[].delta`` of orders/edited, by ``order_edit.id``; a line
      named in ``additions`` that orders/create did not list was added by the edit (its units count as edits).
      No timestamps are compared (Shopify's have second precision): the facts are sets and maxima.
    * fulfilled: the most units seen in any snapshot's ``fulfillments[].line_items`` (status not
      cancelled/failure/error), or ``quantity`` when ``fulfillment_status`` is ``fulfilled``.
    * refund lines, by ``refund_line_items[].id``: ``quantity``, ``restock_type`` (``cancel`` / ``return`` /
      ``legacy_restock`` put stock back; ``no_restock`` doesn't), ``location_id``.
    * cancelled: orders/cancelled, or a snapshot or API read with ``cancelled_at``.
    * location: a fulfillment's ``location_id`` (orders created fulfilled), else the order's ``location_id``
      (point of sale), else the assigned location of the fulfillment orders that hold the line
      (``Order.fulfillmentOrders.assignedLocation``, read through the API because online orders carry a null
      ``location_id``), else the store's default mapping until one of those is known.
    ``current_quantity`` is not used: whether it counts cancelled units as removed is not documented.

Targets per line (stock change, units)
    sale        −quantity (0 for a line an edit added)
    edit        −Σ edit deltas                 (removals put stock back; Shopify's admin restocks by default)
    restock     +quantity of each refund line whose restock_type puts stock back, at its location
    cancel      once cancelled: +open units, where
                open = ordered − fulfilled − cancel-type refunded  (ordered = sale units + Σ edit deltas)
                       − max(0, no_restock refunded − max(0, fulfilled − return-type refunded))
                i.e. the units still unfulfilled and not yet restocked; a refund without restock is taken to be of
                shipped units first (as Shopify's ``fulfillable_quantity = quantity − max(refunded, fulfilled)``).
    move        the line's sold units follow the fulfillment orders' assigned locations (not after cancellation).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from channels.clients import client_for_store
from channels.models import Store, VariantBinding
from channels.shopify import queries
from channels.shopify.exceptions import ShopifyError
from channels.shopify.ids import gid_to_id
from pim.models import Variant

from . import selectors
from .errors import PayloadError, _quantity, _rest_id
from .ledger import _Change, _Origin, _record
from .models import (
    ShopifyOrder,
    ShopifyOrderLine,
    StockMovement,
    StoreLocation,
    WebhookEvent,
)
from .store_settings import store_settings

logger = logging.getLogger(__name__)

SNAPSHOT_TOPICS = ("orders/create", "orders/updated", "orders/cancelled")
FULFILLMENT_ORDER_TOPICS = ("fulfillment_orders/order_routing_complete", "fulfillment_orders/moved")
ORDER_TOPICS = selectors.ORDER_TOPICS
RESTOCKING_TYPES = ("cancel", "return", "restock", "legacy_restock")
_SALE_SIDE = ("sale", "edit", "cancel", "move")
_KINDS = {
    "sale": StockMovement.Kind.SALE,
    "edit": StockMovement.Kind.ORDER_EDIT,
    "cancel": StockMovement.Kind.CANCELLATION,
    "move": StockMovement.Kind.SALE_MOVED,
}


# --- reading the order from Shopify (outside any transaction) --------------------------------------------------


def _order_id_of(topic: str, payload: dict) -> str | None:
    if topic == "refunds/create":
        return _rest_id(payload.get("order_id"), "order id")
    if topic == "orders/edited":
        edit = payload.get("order_edit")
        if not isinstance(edit, dict):
            raise PayloadError("order_edit is missing")
        return _rest_id(edit.get("order_id"), "order_edit.order_id")
    if topic in FULFILLMENT_ORDER_TOPICS:
        return None
    return _rest_id(payload.get("id"), "order id")


def _fulfillment_order_gid(payload: dict) -> str:
    for key in ("fulfillment_order", "original_fulfillment_order", "moved_fulfillment_order"):
        value = payload.get(key)
        if isinstance(value, dict) and value.get("id"):
            ref = str(value["id"])
            return ref if ref.startswith("gid://") else f"gid://shopify/FulfillmentOrder/{_rest_id(ref, key)}"
    raise PayloadError("no fulfillment order id in the payload")


def _normalise_order(node: dict) -> dict:
    lines, allocation = {}, {}
    for li in (node.get("lineItems") or {}).get("nodes") or []:
        lid = str(gid_to_id(li["id"]))
        variant = li.get("variant") or {}
        lines[lid] = {"variant_id": str(gid_to_id(variant["id"])) if variant.get("id") else "",
                      "sku": li.get("sku") or "", "title": li.get("name") or ""}
    for fo in (node.get("fulfillmentOrders") or {}).get("nodes") or []:
        if fo.get("status") == "CANCELLED":
            continue
        location = ((fo.get("assignedLocation") or {}).get("location") or {}).get("id")
        if not location:
            continue
        loc = str(gid_to_id(location))
        for fl in (fo.get("lineItems") or {}).get("nodes") or []:
            lid = str(gid_to_id((fl.get("lineItem") or {}).get("id")))
            allocation.setdefault(lid, {})
            allocation[lid][loc] = allocation[lid].get(loc, 0) + int(fl.get("totalQuantity") or 0)
    return {"order_id": str(gid_to_id(node["id"])), "lines": lines, "allocation": allocation,
            "cancelled": bool(node.get("cancelledAt")), "fetched_at": timezone.now().isoformat()}


def order_event_prefetch(*, event: WebhookEvent, payload: dict) -> dict | None:
    """Read what an order event needs from Shopify before its transaction; return the normalised order or None.

    Fulfillment-order events and order edits always read the order (their payloads name neither the locations
    nor the added lines' variants); other order events read it when the sale's location is not known yet and the
    store maps more than one location.
    Raises ShopifyError for events that cannot be processed without it (they are retried); for the others a
    failed read is logged and the sale is booked at the store's default location until the location is known.
    """
    store = event.store
    if store is None or not store.is_active or not store_settings(store=store).sales_write_back:
        return None
    topic = event.topic
    required = topic in FULFILLMENT_ORDER_TOPICS or topic == "orders/edited"
    if topic in SNAPSHOT_TOPICS and not isinstance(payload.get("line_items"), list):
        raise PayloadError("line_items is missing or not a list")
    if not required:
        if topic in SNAPSHOT_TOPICS and (isinstance(payload.get("location_id"), int) or payload.get("fulfillments")):
            return None
        order_id = _order_id_of(topic, payload)
        known = ShopifyOrder.objects.filter(shop_domain=event.shop_domain, order_id=order_id).values_list(
            "allocation_fetched_at", "shopify_location_id").first()
        if known and (known[0] or known[1]):
            return None
        if StoreLocation.objects.filter(store=store).count() <= 1:
            return None  # one mapped location (or none): every sale lands there, nothing to find out
    try:
        client = client_for_store(store)
        if topic in FULFILLMENT_ORDER_TOPICS:
            data = client.execute(queries.FULFILLMENT_ORDER_FOR_STOCK, {"id": _fulfillment_order_gid(payload)})
            node = (data.get("fulfillmentOrder") or {}).get("order")
        else:
            order_id = _order_id_of(topic, payload)
            document = queries.ORDER_FOR_STOCK if topic == "orders/edited" else queries.ORDER_LOCATIONS
            data = client.execute(document, {"id": f"gid://shopify/Order/{order_id}"})
            node = data.get("order")
    except ShopifyError as exc:
        if required:
            raise
        logger.warning("shop %s: could not read order of %s %s; booking at the default location for now",
                       event.shop_domain, topic, event.pk, exc_info=True)
        return {"error": f"{type(exc).__name__}: {exc}"[:200]}
    return _normalise_order(node) if node else None


# --- merging facts ----------------------------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


class _Order:
    """The locked order row, its lines by Shopify line id, and the event's origin."""

    def __init__(self, *, shop: str, store: Store | None, order_id: str, origin: _Origin):
        self.shop = shop
        self.store = store
        ShopifyOrder.objects.bulk_create(
            [ShopifyOrder(shop_domain=self.shop, order_id=order_id, store=self.store)], ignore_conflicts=True)
        self.row = ShopifyOrder.objects.select_for_update().get(shop_domain=self.shop, order_id=order_id)
        self.lines = {ln.line_id: ln for ln in ShopifyOrderLine.objects.filter(order=self.row)}
        self.dirty: set[str] = set()
        self.notes: list[str] = []
        self.applied = 0
        self.repeated = 0
        self.origin = origin

    def line(self, line_id: str) -> ShopifyOrderLine:
        found = self.lines.get(line_id)
        if found is None:
            found = ShopifyOrderLine.objects.create(order=self.row, line_id=line_id, store=self.store,
                                                    created_at=self.row.ordered_at or timezone.now())
            self.lines[line_id] = found
        self.dirty.add(line_id)
        return found

    def identify(self, line: ShopifyOrderLine, data: dict) -> None:
        if not line.shopify_variant_id and data.get("variant_id"):
            line.shopify_variant_id = str(data["variant_id"])
        if not line.sku and data.get("sku"):
            line.sku = str(data["sku"]).strip()[:255]
        title = data.get("name") or data.get("title")
        if not line.title and title:
            line.title = str(title)[:500]
        if data.get("gift_card"):
            line.gift_card = True

    def save(self) -> None:
        for line_id in self.dirty:
            self.lines[line_id].save()
        self.row.save()


def _refund_lines(order: _Order, refund: dict) -> dict[str, int]:
    """Merge one refund's lines; return the refunded units per Shopify line id."""
    if not isinstance(refund, dict):
        raise PayloadError("a refund is not an object")
    refund_id = _rest_id(refund.get("id"), "refund id")
    rlis = refund.get("refund_line_items") or []
    if not isinstance(rlis, list):
        raise PayloadError("refund_line_items is not a list")
    units: dict[str, int] = defaultdict(int)
    for rli in rlis:
        if not isinstance(rli, dict):
            raise PayloadError("a refund line is not an object")
        item = rli.get("line_item") if isinstance(rli.get("line_item"), dict) else {}
        line_id = _rest_id(rli.get("line_item_id") or item.get("id"), "refunded line item id")
        quantity = _quantity(rli.get("quantity"), "refund line quantity")
        line = order.line(line_id)
        order.identify(line, item)
        if line.quantity is None and item.get("quantity") is not None:
            line.quantity = _quantity(item.get("quantity"), "line item quantity")
        location = rli.get("location_id")
        line.refund_lines[_rest_id(rli.get("id"), "refund line id")] = {
            "refund": refund_id, "quantity": quantity, "type": str(rli.get("restock_type") or "no_restock").lower(),
            "location": str(location) if isinstance(location, int) and not isinstance(location, bool) else "",
        }
        units[line_id] += quantity
    return units


def _merge_snapshot(order: _Order, payload: dict, *, cancelled_topic: bool, create: bool) -> None:
    lines = payload.get("line_items")
    if not isinstance(lines, list):
        raise PayloadError("line_items is missing or not a list")
    row = order.row
    updated = _when(payload.get("updated_at")) or _when(payload.get("created_at"))
    if payload.get("name") and not row.name:
        row.name = str(payload["name"])[:100]
    if row.ordered_at is None:
        row.ordered_at = _when(payload.get("created_at"))
    location = payload.get("location_id")
    if isinstance(location, int) and not isinstance(location, bool) and not row.shopify_location_id:
        row.shopify_location_id = str(location)
    if (cancelled_topic or payload.get("cancelled_at")) and row.cancelled_seen_at is None:
        row.cancelled_seen_at = timezone.now()
    refunds = payload.get("refunds") or []
    if not isinstance(refunds, list):
        raise PayloadError("refunds is not a list")
    refunded: dict[str, int] = defaultdict(int)
    for refund in refunds:
        for line_id, units in _refund_lines(order, refund).items():
            refunded[line_id] += units
    fulfilled: dict[str, int] = defaultdict(int)
    fulfilled_at: dict[str, str] = {}
    for fulfillment in payload.get("fulfillments") or []:
        if not isinstance(fulfillment, dict) or fulfillment.get("status") in ("cancelled", "failure", "error"):
            continue
        for item in fulfillment.get("line_items") or []:
            if isinstance(item, dict) and item.get("id") is not None:
                line_id = _rest_id(item.get("id"), "fulfilled line id")
                fulfilled[line_id] += _quantity(item.get("quantity", 0), "fulfilled quantity")
                loc = fulfillment.get("location_id")
                if isinstance(loc, int) and not isinstance(loc, bool):
                    fulfilled_at.setdefault(line_id, str(loc))
    for item in lines:
        if not isinstance(item, dict):
            raise PayloadError("an order line is not an object")
        line_id = _rest_id(item.get("id"), "line item id")
        quantity = _quantity(item.get("quantity"), "line item quantity")
        line = order.line(line_id)
        order.identify(line, item)
        if line_id in fulfilled_at and line.location_source != "fulfillment":
            line.shopify_location_id, line.location_source = fulfilled_at[line_id], "fulfillment"
        if create:
            # A line orders/create lists is the order's own, even when an edit raising it was merged first
            # (Shopify does not order its webhooks).
            line.quantity, line.in_create, line.added_by_edit = quantity, True, False
        elif line.quantity is None:
            line.quantity = quantity
        done = fulfilled[line_id]
        if not done and item.get("fulfillment_status") == "fulfilled":
            done = quantity
        line.fulfilled = max(line.fulfilled, done)
    if updated is not None and (row.snapshot_at is None or updated > row.snapshot_at):
        row.snapshot_at = updated


def _merge_edit(order: _Order, edit: dict) -> None:
    edit_id = _rest_id(edit.get("id"), "order_edit.id")
    groups = edit.get("line_items")
    if not isinstance(groups, dict):
        raise PayloadError("order_edit.line_items is missing")
    for key, sign in (("additions", 1), ("removals", -1)):
        for change in groups.get(key) or []:
            if not isinstance(change, dict):
                raise PayloadError(f"an order_edit {key} entry is not an object")
            line = order.line(_rest_id(change.get("id"), f"order_edit {key} id"))
            line.edits[edit_id] = sign * _quantity(change.get("delta"), f"order_edit {key} delta")
            if key == "additions" and not line.in_create:
                line.added_by_edit = True


def _merge_fetched(order: _Order, fetched: dict) -> None:
    for line_id, data in fetched["lines"].items():
        order.identify(order.line(line_id), data)
    row = order.row
    fetched_at = _when(fetched["fetched_at"])
    if row.allocation_fetched_at is None or (fetched_at and fetched_at >= row.allocation_fetched_at):
        row.fulfillment_allocation = fetched["allocation"]
        row.allocation_fetched_at = fetched_at


def _locate_lines(order: _Order) -> None:
    """Give each line its Shopify location: fulfillment, else point of sale, else routing (see the module doc)."""
    allocation = order.row.fulfillment_allocation or {}
    for line_id, line in order.lines.items():
        if line.location_source == "fulfillment":
            continue
        places = allocation.get(line_id) or {}
        if order.row.shopify_location_id:
            where, source = order.row.shopify_location_id, "pos"
        elif places:
            where, source = max(places.items(), key=lambda kv: kv[1])[0], "routing"
        else:
            continue
        if (line.shopify_location_id, line.location_source) != (where, source):
            line.shopify_location_id, line.location_source = where, source
            order.dirty.add(line_id)


# --- matching and targets ---------------------------------------------------------------------------------------


def order_line_match(*, line: ShopifyOrderLine, store: Store | None, shop_domain: str) -> None:
    """Find the line's PIM variant: its Shopify variant binding first, then its SKU if exactly one variant has
    it and that variant is not bound to another Shopify variant in the shop. Sets ``match`` and its note."""
    if line.match == ShopifyOrderLine.Match.DISMISSED or line.variant_id:
        return
    variant, note = None, ""
    if line.gift_card:
        note = "gift card: not a stocked product"
    if not note and line.shopify_variant_id:
        bindings = VariantBinding.objects.filter(store__shop_domain=shop_domain,
                                                 shopify_variant_id=line.shopify_variant_id)
        own = bindings.filter(store=store).first() if store else None
        binding = own or bindings.first()
        variant = binding.variant if binding else None
    if variant is None and not note:
        if not line.sku:
            note = "custom item: no variant id and no SKU" if not line.shopify_variant_id else "no binding, no SKU"
        else:
            candidates = list(Variant.objects.filter(sku__iexact=line.sku)[:3])
            if len(candidates) > 1:
                note = f"SKU {line.sku} is shared by several PIM variants: map it by hand"
            elif not candidates:
                note = f"no PIM variant has SKU {line.sku}"
            else:
                other = VariantBinding.objects.filter(store__shop_domain=shop_domain, variant=candidates[0]).exclude(
                    shopify_variant_id="").exclude(shopify_variant_id=line.shopify_variant_id).first()
                if other is not None and line.shopify_variant_id:
                    note = (f"SKU {line.sku} belongs to a PIM variant bound to another Shopify variant "
                            f"({other.shopify_variant_id}): map it by hand")
                else:
                    variant = candidates[0]
    if variant is None:
        line.match, line.match_note = ShopifyOrderLine.Match.UNMATCHED, note[:500]
        return
    line.variant = variant
    if variant.inventory_tracked:
        line.match, line.match_note = ShopifyOrderLine.Match.MATCHED, ""
    else:
        line.match, line.match_note = ShopifyOrderLine.Match.NOT_TRACKED, f"{variant.sku} does not track inventory"


def order_line_targets(*, line: ShopifyOrderLine, cancelled: bool, created_seen: bool) -> dict[str, int]:
    """Return the stock change each sale-side component of ``line`` should add up to (see the module doc)."""
    original = line.in_create or (not created_seen and not line.added_by_edit)
    sold = (line.quantity or 0) if original else 0
    edits = sum(int(delta) for delta in line.edits.values())
    ordered = max(0, sold + edits)
    by_type: dict[str, int] = defaultdict(int)
    for rli in line.refund_lines.values():
        by_type[rli["type"]] += rli["quantity"]
    targets = {"sale": -sold, "edit": -(ordered - sold), "cancel": 0}
    if cancelled:
        shipped_kept = max(0, line.fulfilled - by_type["return"])
        no_restock_unshipped = max(0, by_type["no_restock"] - shipped_kept)
        open_units = ordered - line.fulfilled - by_type["cancel"] - no_restock_unshipped
        targets["cancel"] = max(0, open_units)
    return targets


def _line_ref(order: _Order, line: ShopifyOrderLine) -> str:
    return f"shopify:{order.shop}:order:{order.row.order_id}:line:{line.line_id}"


def _component(ref: str, prefix: str) -> str:
    return ref[len(prefix) + 1:].split(":", 1)[0]


def _pim_location(order: _Order, shopify_location_id: str) -> int | None:
    maps = StoreLocation.objects.filter(store__shop_domain=order.shop)
    own = maps.filter(store=order.store) if order.store is not None else maps.none()
    for candidates in (own, maps):
        if shopify_location_id:
            found = candidates.filter(shopify_location_id=shopify_location_id).values_list("location_id", flat=True).first()
            if found:
                return found
    for candidates in (own, maps):
        found = candidates.filter(is_default=True).values_list("location_id", flat=True).first()
        if found:
            return found
    return None


def _line_reconcile(order: _Order, line: ShopifyOrderLine) -> None:
    """Record the movements that bring the line's ledger to its targets (see the module doc)."""
    location_id = _pim_location(order, line.shopify_location_id)
    if location_id is None:
        order.notes.append(f"{line.sku or line.line_id}: no location mapped for this shop (set a default)")
        return
    prefix = _line_ref(order, line)
    booked: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    refs = set()
    for ref, quantity in StockMovement.objects.filter(order_line=line).values_list("source_ref", "quantity"):
        component = _component(ref, prefix)
        booked[component] += quantity
        count[component] += 1
        refs.add(ref)
    cancelled = order.row.cancelled_seen_at is not None
    changes = []
    label = order.row.name or order.row.order_id
    reasons = {"sale": f"Sold in Shopify order {label}", "edit": f"Shopify order {label} edited",
               "cancel": f"Shopify order {label} cancelled"}
    for component, target in order_line_targets(line=line, cancelled=cancelled,
                                                created_seen=order.row.created_seen_at is not None).items():
        diff = target - booked[component]
        if diff:
            suffix = f":{count[component] + 1}" if count[component] else ""
            changes.append(_Change(variant=line.variant, location_id=location_id, kind=_KINDS[component],
                                   quantity=diff, source_ref=f"{prefix}:{component}{suffix}",
                                   reason=reasons[component], order_line_id=line.pk))
    for rli_id, rli in sorted(line.refund_lines.items()):
        if rli["type"] not in RESTOCKING_TYPES or rli["quantity"] <= 0:
            continue
        ref = f"{prefix}:restock-{rli['type']}:{rli['refund']}:{rli_id}"
        if ref in refs:
            continue
        at = _pim_location(order, rli["location"]) if rli["location"] else location_id
        changes.append(_Change(variant=line.variant, location_id=at or location_id,
                               kind=StockMovement.Kind.REFUND_RESTOCK, quantity=rli["quantity"], source_ref=ref,
                               reason=f"Restocked by refund {rli['refund']} ({rli['type']}) of order {label}",
                               order_line_id=line.pk))
    _apply(order, changes)
    if not cancelled:
        _line_move(order, line, prefix, location_id)


def _line_move(order: _Order, line: ShopifyOrderLine, prefix: str, location_id: int) -> None:
    """Move the line's sold units to where Shopify's fulfillment orders hold them."""
    out: dict[int, int] = defaultdict(int)
    moves = 0
    for ref, loc, quantity in StockMovement.objects.filter(order_line=line).values_list(
            "source_ref", "location_id", "quantity"):
        component = _component(ref, prefix)
        if component in _SALE_SIDE:
            out[loc] -= quantity
        moves += component == "move"
    total = sum(out.values())
    allocation = (order.row.fulfillment_allocation or {}).get(line.line_id)
    desired: dict[int, int] = defaultdict(int)
    if allocation:
        for shopify_loc, units in allocation.items():
            pim_loc = _pim_location(order, shopify_loc)
            if pim_loc is not None:
                desired[pim_loc] += units
    else:
        desired[location_id] = total
    surplus = {loc: out[loc] - desired.get(loc, 0) for loc in out if out[loc] > desired.get(loc, 0)}
    deficit = {loc: desired[loc] - out.get(loc, 0) for loc in desired if desired[loc] > out.get(loc, 0)}
    changes = []
    for src, extra in sorted(surplus.items()):
        for dst in sorted(deficit):
            units = min(extra, deficit[dst])
            if units <= 0:
                continue
            for loc, qty in ((src, units), (dst, -units)):
                moves += 1
                changes.append(_Change(
                    variant=line.variant, location_id=loc, kind=StockMovement.Kind.SALE_MOVED, quantity=qty,
                    source_ref=f"{prefix}:move:{moves}",
                    reason=f"Shopify moved order {order.row.name or order.row.order_id} to another location",
                    order_line_id=line.pk))
            extra -= units
            deficit[dst] -= units
    _apply(order, changes)


def _apply(order: _Order, changes: list[_Change]) -> None:
    if not changes:
        return
    for _, created in _record(changes, order.origin, allow_negative=True):
        if created:
            order.applied += 1
        else:
            order.repeated += 1


def order_reconcile(*, order: _Order, only: set[str] | None = None) -> None:
    """Match the order's lines and bring the stock of every matched, tracked line to its targets."""
    write_back = store_settings(store=order.store).sales_write_back
    for line_id in sorted(only if only is not None else order.lines):
        line = order.lines[line_id]
        before = (line.variant_id, line.match)
        order_line_match(line=line, store=order.store, shop_domain=order.shop)
        if (line.variant_id, line.match) != before:
            order.dirty.add(line_id)
        if line.match == ShopifyOrderLine.Match.UNMATCHED:
            order.notes.append(f"unmatched line {line.sku or line.title or line_id}: {line.match_note}")
            continue
        if line.match == ShopifyOrderLine.Match.NOT_TRACKED:
            order.notes.append(f"{line.match_note}: not recorded")
            continue
        if line.match != ShopifyOrderLine.Match.MATCHED or not write_back:
            continue
        line.save()
        _line_reconcile(order, line)
    if not write_back:
        order.notes.append("this store does not write sales back: lines recorded only")


def handle_order_event(*, event: WebhookEvent, payload: dict, fetched: dict | None = None) -> str:
    """Merge one order webhook's facts into its order and reconcile the stock of the order's lines; return a
    summary. Runs inside the caller's transaction (no network). Raises PayloadError for a malformed payload."""
    topic = event.topic
    read_error = fetched.pop("error", None) if fetched else None
    fetched = fetched or None
    order_id = fetched["order_id"] if (fetched and topic in FULFILLMENT_ORDER_TOPICS) else _order_id_of(topic, payload)
    if order_id is None:
        return "fulfillment order not found in Shopify: nothing to do"
    origin = _Origin(actor_label=f"Shopify webhook {topic} ({event.shop_domain})"[:255], store=event.store,
                     shop_domain=event.shop_domain, webhook_event=event)
    order = _Order(shop=event.shop_domain, store=event.store, order_id=order_id, origin=origin)
    if read_error:
        order.notes.append(f"could not read the order's fulfillment orders ({read_error}): lines without a known "
                           f"location are booked at the default location until routing is known")
    if topic in SNAPSHOT_TOPICS:
        _merge_snapshot(order, payload, cancelled_topic=topic == "orders/cancelled", create=topic == "orders/create")
        if topic == "orders/create" and order.row.created_seen_at is None:
            order.row.created_seen_at = timezone.now()
    elif topic == "refunds/create":
        _refund_lines(order, payload)
    elif topic == "orders/edited":
        _merge_edit(order, payload["order_edit"])
    if fetched:
        _merge_fetched(order, fetched)
        if fetched.get("cancelled") and order.row.cancelled_seen_at is None:
            order.row.cancelled_seen_at = timezone.now()
    _locate_lines(order)
    order.save()
    order_reconcile(order=order)
    order.save()
    text = (f"{topic} of order {order.row.name or order_id}: {order.applied} movement(s) recorded, "
            f"{order.repeated} already recorded")
    return text + ("; " + "; ".join(order.notes) if order.notes else "")
