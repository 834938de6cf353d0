"""What ``inventory`` adds to the product admin (a total available stock column) and to the admin index
(pushes waiting, failed webhook deliveries). Registered in ``InventoryConfig.ready()``."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Sum
from django.urls import reverse

from pim.admin_extensions import (
    DashboardCounter,
    ProductAdminExtension,
    dashboard_counter_register,
    product_admin_extend,
)


def _with_stock(queryset):
    """Prefetch each listed product's tracked variants with their summed available stock (one query per page)."""
    from django.db.models import Prefetch

    from pim.models import Variant

    return queryset.prefetch_related(Prefetch(
        "variants", queryset=Variant.objects.filter(inventory_tracked=True).only("id", "product_id")
        .annotate(_available=Sum("stock_levels__available")), to_attr="_stock_variants"))


@admin.display(description="available")
def available_column(product) -> str:
    variants = getattr(product, "_stock_variants", None)
    if not variants:
        return "–"
    return f"{sum(v._available or 0 for v in variants):,}"


def register_product_admin() -> None:
    from .models import InventoryPush, WebhookEvent

    product_admin_extend(extension=ProductAdminExtension(
        name="inventory", list_columns=(available_column,), list_queryset=_with_stock,
        variant_columns=(variant_stock_column,), variant_queryset=_variant_stock))

    def pushes_waiting(request):
        if not request.user.has_perm("inventory.view_inventorypush"):
            return None
        return InventoryPush.objects.filter(status__in=[InventoryPush.Status.PENDING, InventoryPush.Status.RETRY]
                                            ).count()

    def failed_events(request):
        if not request.user.has_perm("inventory.view_webhookevent"):
            return None
        return WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).count()

    dashboard_counter_register(key="webhooks_failed", counter=DashboardCounter(
        "Webhook deliveries that failed (stock may be off)", failed_events,
        lambda: reverse("admin:inventory_webhookevent_changelist") + "?status__exact=failed", order=30))
    dashboard_counter_register(key="pushes_waiting", counter=DashboardCounter(
        "Inventory pushes waiting", pushes_waiting,
        lambda: reverse("admin:inventory_inventorypush_changelist") + "?status__exact=pending", order=50,
        problem_when_nonzero=False))


@admin.display(description="available (per location)")
def variant_stock_column(variant) -> str:
    levels = getattr(variant, "_stock_levels", None)
    if levels is None:
        levels = list(variant.stock_levels.select_related("location"))
    if not variant.inventory_tracked:
        return "not tracked"
    if not levels:
        return "0"
    return ", ".join(f"{lv.location.name}: {lv.available}" for lv in levels)


def _variant_stock(queryset):
    from django.db.models import Prefetch

    from .models import StockLevel

    return queryset.prefetch_related(Prefetch("stock_levels", queryset=StockLevel.objects.select_related("location")
                                              .order_by("location__name"), to_attr="_stock_levels"))
