"""What ``inventory`` adds to the product admin (a total available stock column) and to the admin index
(pushes waiting, failed webhook deliveries). Registered in ``InventoryConfig.ready()``."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Sum
from django.urls import reverse

from channels.models import Store
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


class InventoryStoreForm(forms.Form):
    store = forms.ModelChoiceField(
        queryset=Store.objects.filter(is_active=True, inventory_push_enabled=True).order_by("name"),
        help_text="Shopify's quantity at every mapped location is set to the PIM's (compare-and-set).")


@admin.action(description="Sync stock now…", permissions=["sync_stock"])
def sync_stock_now(modeladmin, request, queryset):
    """Set the selected products' stock in one store to the PIM's now (after confirmation and a store choice)."""
    from django.contrib import messages

    from pim.admin_base import action_confirm
    from pim.models import Variant

    from .errors import InventorySyncRefused
    from .pushes import inventory_sync_request

    form = InventoryStoreForm(request.POST if request.POST.get("confirmed") == "yes" else None)
    page = action_confirm(modeladmin, request, queryset, action="sync_stock_now", title="Sync stock now",
                          intro="The selected products' stock at every mapped location of the store you choose is "
                                "set to the PIM's quantity (compare-and-set, by the workers).", form=form)
    if page is not None:
        return page
    store = form.cleaned_data["store"]
    variant_ids = Variant.objects.filter(product__in=queryset).values_list("pk", flat=True)
    try:
        pushes = inventory_sync_request(store=store, variant_ids=variant_ids)
    except InventorySyncRefused as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
        return None
    modeladmin.message_user(request, f"Queued {len(pushes)} stock level(s) of {queryset.count()} product(s) for "
                                     f"{store.name}.", messages.SUCCESS)
    return None


def _has_sync_stock_permission(modeladmin, request) -> bool:
    return request.user.has_perm("inventory.sync_storeinventory")


def register_product_admin() -> None:
    from .models import InventoryPush, WebhookEvent

    product_admin_extend(extension=ProductAdminExtension(
        name="inventory", list_columns=(available_column,), list_queryset=_with_stock,
        variant_columns=(variant_stock_column,), variant_queryset=_variant_stock, actions=(sync_stock_now,),
        permissions={"sync_stock": _has_sync_stock_permission}))

    from .models import UnmatchedSale

    def unmatched(request):
        if not request.user.has_perm("inventory.view_unmatchedsale"):
            return None
        return UnmatchedSale.objects.filter(match="unmatched").count()

    dashboard_counter_register(key="unmatched_sales", counter=DashboardCounter(
        "Unmatched sales (order lines no variant matches)", unmatched,
        lambda: reverse("admin:inventory_unmatchedsale_changelist"), order=25))

    def pushes_waiting(request):
        if not request.user.has_perm("inventory.view_inventorypush"):
            return None
        return InventoryPush.objects.filter(status__in=[InventoryPush.Status.PENDING, InventoryPush.Status.RETRY]
                                            ).count()

    def failed_events(request):
        if not request.user.has_perm("webhooks.view_webhookevent"):
            return None
        return WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).count()

    dashboard_counter_register(key="webhooks_failed", counter=DashboardCounter(
        "Webhook deliveries that failed (stock may be off)", failed_events,
        lambda: reverse("admin:webhooks_webhookevent_changelist") + "?status__exact=failed", order=30))
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
