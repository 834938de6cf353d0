"""Unmatched sales (order lines that match no PIM variant) and order lines as reference data."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from pim.models import Variant

from .ledger import _Origin
from .models import ShopifyOrderLine
from .orders import _Order, order_reconcile


def order_lines_apply(*, line_ids: list[int], actor_label: str, variant: Variant | None = None) -> dict[str, int]:
    """Match the given unmatched order lines (to ``variant`` when given, else by binding / unique SKU) and apply
    their stock once; return counts ``applied``, ``still_unmatched``. Lines already applied change nothing."""
    result = {"applied": 0, "still_unmatched": 0}
    for line_id in line_ids:
        with transaction.atomic():
            head = ShopifyOrderLine.objects.select_related("order", "order__store").get(pk=line_id)
            origin = _Origin(actor_label=actor_label[:255], store=head.order.store, shop_domain=head.order.shop_domain)
            order = _Order(shop=head.order.shop_domain, store=head.order.store, order_id=head.order.order_id,
                           origin=origin)
            line = next(ln for ln in order.lines.values() if ln.pk == line_id)
            if variant is not None and line.variant_id is None:
                line.variant = variant
                line.match = (ShopifyOrderLine.Match.MATCHED if variant.inventory_tracked
                              else ShopifyOrderLine.Match.NOT_TRACKED)
                line.match_note = f"mapped by {actor_label}"[:500]
            order.dirty.add(line.line_id)
            order_reconcile(order=order, only={line.line_id})
            if line.match == ShopifyOrderLine.Match.UNMATCHED:
                result["still_unmatched"] += 1
            else:
                if line.applied_at is None:
                    line.applied_at, line.applied_by = timezone.now(), actor_label[:255]
                result["applied"] += 1
            order.save()
    return result


def units_sold(*, variant: Variant, days: int = 30) -> list[dict]:
    """Units sold of ``variant`` per store and day (stores that keep order lines as reference data)."""
    since = timezone.now() - timedelta(days=days)
    rows = (ShopifyOrderLine.objects.filter(variant=variant, created_at__gte=since,
                                            store__inventory_settings__keep_order_lines=True)
            .values("store__name", "created_at__date")
            .annotate(units=Sum("quantity"), orders=Count("order", distinct=True))
            .order_by("-created_at__date", "store__name"))
    return [{"store": r["store__name"], "day": r["created_at__date"], "units": r["units"] or 0,
             "orders": r["orders"]} for r in rows]
