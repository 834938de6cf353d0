"""Which levels a store's waiting order webhooks may still change (the reconciliation leaves those alone)."""

from __future__ import annotations

import json

from django.db.models import Q

from channels.models import Store, VariantBinding
from pim.models import Variant

from . import selectors
from .models import ShopifyOrderLine, WebhookEvent


def order_event_blocks(*, store: Store, limit: int = 500) -> tuple[dict[int, str], str]:
    """Return ``({variant id: why}, why_all)``: the variants an unprocessed (or failed) order webhook of the store's
    shop may still change, and a reason that blocks every level when an event's variants cannot be known before it
    is processed (fulfillment-order moves, edits adding lines, unreadable bodies, too many events)."""
    statuses = [*selectors.UNPROCESSED_STATUSES, WebhookEvent.Status.FAILED]
    events = list(WebhookEvent.objects.filter(shop_domain=store.shop_domain, topic__in=selectors.ORDER_TOPICS,
                                              status__in=statuses).order_by("pk")[: limit + 1])
    if len(events) > limit:
        return {}, f"more than {limit} order webhooks of the shop are waiting: nothing is compared until they are in"
    wanted: list[tuple[str, set, set, set, set]] = []  # (why, shopify variant ids, skus, (order, line), orders)
    for event in events:
        state = "failed processing (review it under Webhook events)" if event.status == WebhookEvent.Status.FAILED \
            else "is not processed yet"
        why = f"order webhook #{event.pk} ({event.topic}) {state}"
        try:
            payload = json.loads(bytes(event.raw_body))
        except ValueError:
            return {}, f"{why}; its body is unreadable"
        if not isinstance(payload, dict) or event.topic.startswith("fulfillment_orders/"):
            return {}, f"{why}; which lines it moves is known only once it is processed"
        variant_ids, skus, lines, orders = set(), set(), set(), set()
        if event.topic == "orders/edited":
            edit = payload.get("order_edit") or {}
            groups = edit.get("line_items") or {}
            for change in (groups.get("additions") or []) + (groups.get("removals") or []):
                lines.add((str(edit.get("order_id")), str((change or {}).get("id"))))
        else:
            items = payload.get("line_items") or []
            if event.topic == "refunds/create":
                items = [(rli or {}).get("line_item") or {} for rli in payload.get("refund_line_items") or []]
                orders.add(str(payload.get("order_id")))
            else:
                orders.add(str(payload.get("id")))
            for item in items:
                if isinstance(item, dict):
                    if item.get("variant_id"):
                        variant_ids.add(str(item["variant_id"]))
                    if item.get("sku"):
                        skus.add(str(item["sku"]))
        wanted.append((why, variant_ids, skus, lines, orders))
    if not wanted:
        return {}, ""
    by_shopify = dict(VariantBinding.objects.filter(
        store=store, shopify_variant_id__in={v for w in wanted for v in w[1]}).values_list("shopify_variant_id",
                                                                                          "variant_id"))
    by_sku = dict(Variant.objects.filter(sku__in={s for w in wanted for s in w[2]}).values_list("sku", "pk"))
    known = ShopifyOrderLine.objects.filter(order__shop_domain=store.shop_domain, variant__isnull=False).filter(
        Q(order__order_id__in={o for w in wanted for o in w[4]})
        | Q(order__order_id__in={o for w in wanted for o, _ in w[3]}))
    order_lines = list(known.values_list("order__order_id", "line_id", "variant_id"))
    blocked: dict[int, str] = {}
    for why, variant_ids, skus, lines, orders in wanted:
        found = {by_shopify[v] for v in variant_ids if v in by_shopify} | {by_sku[s] for s in skus if s in by_sku}
        found |= {variant for order, _, variant in order_lines if order in orders}
        for order_line in lines:
            match = [variant for order, line, variant in order_lines if (order, line) == order_line]
            if not match:
                return {}, f"{why}; it changes a line the PIM does not know yet"
            found |= set(match)
        for variant_id in found:
            blocked.setdefault(variant_id, why)
    return blocked, ""
