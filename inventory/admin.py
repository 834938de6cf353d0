"""Admin of stock: locations and their Shopify mapping, levels per variant, the read-only ledger, the push
outbox (the webhook inbox: ``webhooks.admin``), drifts, and per-store inventory actions (auto-map locations, full sync)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from channels.shopify.exceptions import ShopifyError
from channels.shopify.ids import gid_to_id
from outbox.admin import OutboxRowAdmin
from pim.admin_base import ReadOnlyAdmin
from pim.models import Variant

from . import selectors
from .drift import inventory_drift_accept, inventory_drift_overwrite
from .errors import StockError
from .ledger import stock_adjust, stock_count, stock_receive
from .locations import store_location_map, store_locations_automap
from .models import (
    InventoryDrift,
    InventoryPush,
    InventorySyncRun,
    Location,
    ShopifyOrderLine,
    StockLevel,
    StockMovement,
    StoreInventory,
    StoreInventorySettings,
    StoreLocation,
    UnmatchedSale,
    WebhookSubscriptionHealth,
)
from .pushes import INVENTORY_PUSH_KIND
from .queueing import INVENTORY_QUEUE
from .reconciliation_admin import SyncRunConfirmMixin  # also registers the reconciliation admins


def _confirm(modeladmin, request, queryset, *, action: str, title: str, intro: str,
             template: str = "admin/confirm_action.html", extra: dict | None = None, force: bool = False):
    """Render the confirmation page of an action, or return None once the user confirmed."""
    if request.POST.get("confirmed") == "yes" and not force:
        return None
    return TemplateResponse(
        request,
        template,
        {
            **(extra or {}),
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "objects": queryset,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": modeladmin.model._meta,
        },
    )


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name",)


class StoreLocationForm(forms.ModelForm):
    class Meta:
        model = StoreLocation
        fields = ("store", "location", "shopify_location_id", "shopify_location_name", "is_default")
        help_texts = {"shopify_location_id": "Numeric id or gid://shopify/Location/... (see 'Map locations' action)."}

    def clean_shopify_location_id(self):
        raw = (self.cleaned_data.get("shopify_location_id") or "").strip()
        if raw.startswith("gid://"):
            try:
                return str(gid_to_id(raw, resource="Location"))
            except ValueError as exc:
                raise ValidationError(str(exc))
        if not raw.isdigit():
            raise ValidationError("Enter the Shopify location's numeric id or its GID.")
        return raw


@admin.register(StoreLocation)
class StoreLocationAdmin(admin.ModelAdmin):
    form = StoreLocationForm
    list_display = ("location", "store", "shopify_location_id", "shopify_location_name", "is_default")
    list_filter = ("store", "is_default")
    list_select_related = ("store", "location")
    search_fields = ("location__name", "shopify_location_name", "shopify_location_id")

    def save_model(self, request, obj, form, change):
        if change and "location" in form.changed_data:
            StoreLocation.objects.filter(pk=obj.pk).delete()
        saved = store_location_map(
            store=obj.store, location=obj.location, shopify_location_id=obj.shopify_location_id,
            shopify_location_name=obj.shopify_location_name, is_default=obj.is_default,
        )
        obj.pk = saved.pk


class MovementForm(forms.Form):
    KINDS = (
        ("receipt", "Receipt (add stock)"),
        ("adjustment", "Adjustment (add or remove, with a reason)"),
        ("stocktake", "Stocktake (counted quantity on hand)"),
    )
    sku = forms.CharField(label="SKU")
    location = forms.ModelChoiceField(queryset=Location.objects.filter(is_active=True))
    kind = forms.ChoiceField(choices=KINDS)
    quantity = forms.IntegerField(help_text="Receipt: units received. Adjustment: change (+/-). Stocktake: count.")
    reason = forms.CharField(required=False, max_length=500)

    def clean_sku(self):
        sku = self.cleaned_data["sku"].strip()
        matches = list(Variant.objects.filter(sku__iexact=sku)[:2])  # any case, as everywhere in the admin
        exact = [v for v in matches if v.sku == sku]
        if len(matches) > 1 and len(exact) != 1:
            raise ValidationError("Several variants have this SKU (an adopted catalog may): give them their own SKUs "
                                  "first (Variants, filter 'SKU to fix').")
        if not matches:
            raise ValidationError("No variant has this SKU.")
        return exact[0] if exact else matches[0]


@admin.register(StockLevel)
class StockLevelAdmin(ReadOnlyAdmin):
    list_display = ("sku", "product", "location", "on_hand", "reserved", "available", "updated_at")
    list_filter = ("location",)
    list_select_related = ("variant__product", "location")
    search_fields = ("variant__sku", "variant__product__title")
    ordering = ("variant__sku", "location__name")
    change_list_template = "admin/inventory/stocklevel_change_list.html"

    @admin.display(description="SKU", ordering="variant__sku")
    def sku(self, obj: StockLevel) -> str:
        return obj.variant.sku

    @admin.display(description="product", ordering="variant__product__title")
    def product(self, obj: StockLevel) -> str:
        return obj.variant.product.title

    def get_urls(self):
        return [
            path("record/", self.admin_site.admin_view(self.record_view), name="inventory_stocklevel_record"),
        ] + super().get_urls()

    def record_view(self, request):
        """Record a receipt, adjustment or stocktake through the stock services."""
        if not request.user.has_perm("inventory.add_stockmovement"):
            messages.error(request, "You may not record stock movements.")
            return redirect("admin:inventory_stocklevel_changelist")
        form = MovementForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            variant, location, quantity = data["sku"], data["location"], data["quantity"]
            try:
                if data["kind"] == "receipt":
                    stock_receive(variant=variant, location=location, quantity=quantity, actor=request.user,
                                           reason=data["reason"])
                elif data["kind"] == "adjustment":
                    stock_adjust(variant=variant, location=location, quantity=quantity, actor=request.user,
                                          reason=data["reason"])
                else:
                    stock_count(variant=variant, location=location, counted=quantity, actor=request.user,
                                         reason=data["reason"])
            except StockError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Recorded {data['kind']} of {variant.sku} at {location}.")
                return redirect("admin:inventory_stocklevel_changelist")
        return TemplateResponse(request, "admin/inventory/record_movement.html", {
            **self.admin_site.each_context(request), "title": "Record a stock movement", "form": form,
            "opts": self.model._meta,
        })


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "sku", "location", "quantity", "on_hand_after", "actor_label", "reason")
    list_filter = ("kind", "location", "store")
    list_select_related = ("variant", "location", "store", "actor")
    search_fields = ("variant__sku", "source_ref", "reason")
    date_hierarchy = "created_at"

    @admin.display(description="SKU", ordering="variant__sku")
    def sku(self, obj: StockMovement) -> str:
        return obj.variant.sku


@admin.register(InventoryPush)
class InventoryPushAdmin(OutboxRowAdmin):
    """Pushes are outbox rows: read-only, with *Replay* (``outbox_replay``: a dead push is redone as an absolute
    set of its level)."""

    outbox_kind = INVENTORY_PUSH_KIND
    replay_permission = "inventory.replay_inventorypush"
    replay_intro = "Each level is set in Shopify to the PIM's current quantity (compare-and-set)."
    list_display = ("created_at", "store", "sku", "location", "shopify_location", "kind", "delta", "status",
                    "attempts", "latency_ms", "result")
    list_filter = ("status", "kind", "store")

    @admin.display(description="Shopify location (mapping used)")
    def shopify_location(self, obj: InventoryPush) -> str:
        return f"{obj.shopify_location_id} ({obj.mapping_used})" if obj.shopify_location_id else "–"
    list_select_related = ("store", "variant", "location")
    search_fields = ("variant__sku", "idempotency_key", "result", "last_error")

    @admin.display(description="SKU", ordering="variant__sku")
    def sku(self, obj: InventoryPush) -> str:
        return obj.variant.sku

    @admin.action(description="Replay selected dead pushes (absolute set in Shopify)", permissions=["replay"])
    def replay(self, request, queryset):
        """Redo the selected dead pushes as absolute sets after a confirmation page."""
        return self.replay_confirmed(request, queryset, action="replay")


@admin.register(InventoryDrift)
class InventoryDriftAdmin(ReadOnlyAdmin):
    list_display = ("detected_at", "store", "sku", "location", "shopify_available", "pim_available", "action",
                    "resolved_at")
    list_filter = ("action", "store")
    list_select_related = ("store", "variant", "location")
    search_fields = ("variant__sku",)
    actions = ("accept_shopify", "overwrite_shopify")

    @admin.display(description="SKU", ordering="variant__sku")
    def sku(self, obj: InventoryDrift) -> str:
        return obj.variant.sku

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("inventory.resolve_inventorydrift")

    @admin.action(description="Accept Shopify's quantity into the PIM", permissions=["resolve"])
    def accept_shopify(self, request, queryset):
        open_drifts = queryset.filter(resolved_at__isnull=True).select_related("store", "variant", "location")
        page = _confirm(self, request, open_drifts, action="accept_shopify", title="Accept Shopify's quantities?",
                        intro="The PIM records a sync correction to Shopify's quantity; other stores are updated.")
        if page is not None:
            return page
        for drift in open_drifts:
            inventory_drift_accept(drift=drift, actor=request.user)
        self.message_user(request, f"{len(open_drifts)} drift(s) accepted.", messages.SUCCESS)
        return None

    @admin.action(description="Overwrite Shopify with the PIM's quantity", permissions=["resolve"])
    def overwrite_shopify(self, request, queryset):
        open_drifts = queryset.filter(resolved_at__isnull=True).select_related("store", "variant", "location")
        page = _confirm(self, request, open_drifts, action="overwrite_shopify", title="Overwrite Shopify?",
                        intro="Shopify's quantity is set to the PIM's (compare-and-set) for each selected level.")
        if page is not None:
            return page
        for drift in open_drifts:
            inventory_drift_overwrite(drift=drift, actor=request.user)
        self.message_user(request, f"{len(open_drifts)} level(s) queued for overwrite.", messages.SUCCESS)
        return None


class StoreLocationInline(admin.TabularInline):
    model = StoreLocation
    fk_name = "store"
    extra = 0
    can_delete = False
    fields = ("location", "shopify_location_id", "shopify_location_name", "is_default")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(InventorySyncRun)
class InventorySyncRunAdmin(SyncRunConfirmMixin, ReadOnlyAdmin):
    # An applied run started from here is open (no finished_at) while the workers run its sets' batches.
    list_display = ("started_at", "finished_at", "store", "applied", "levels_checked", "differences", "sets_queued",
                    "levels_set", "skipped", "error", "confirmed")
    list_filter = ("applied", "store")
    list_select_related = ("store", "confirmation")
    actions = ("confirm_result",)


@admin.register(StoreInventory)
class StoreInventoryAdmin(ReadOnlyAdmin):
    list_display = ("name", "shop_domain", "is_active", "inventory_push_enabled", "full_sync_done", "locations",
                    "pushes")
    list_filter = ("is_active", "inventory_push_enabled")
    search_fields = ("name", "shop_domain")
    fields = ("name", "shop_domain", "is_active", "inventory_push_enabled", "default_conflict_policy")
    readonly_fields = fields
    inlines = (StoreLocationInline,)
    actions = ("automap_locations", "full_sync")

    @admin.display(description="initial full sync", boolean=True)
    def full_sync_done(self, obj) -> bool:
        return selectors.store_full_sync_done(store=obj)

    @admin.display(description="mapped locations")
    def locations(self, obj) -> int:
        return StoreLocation.objects.filter(store=obj).count()

    @admin.display(description="push outbox")
    def pushes(self, obj) -> str:
        health = selectors.inventory_push_health(store=obj)
        url = reverse("admin:inventory_inventorypush_changelist") + f"?store__id__exact={obj.pk}"
        return format_html('<a href="{}">{} pending, {} retrying, {} dead</a>', url, health.pending,
                           health.retrying, health.dead)

    def has_sync_permission(self, request) -> bool:
        return request.user.has_perm("inventory.sync_storeinventory")

    @admin.action(description="Map Shopify locations to PIM locations by name", permissions=["sync"])
    def automap_locations(self, request, queryset):
        page = _confirm(self, request, queryset, action="automap_locations", title="Map locations from Shopify?",
                        intro="Reads each store's locations from Shopify and maps those whose name matches a PIM "
                              "location (missing PIM locations are created).")
        if page is not None:
            return page
        for store in queryset:
            try:
                report = store_locations_automap(store=store, create_missing=True)
            except ShopifyError as exc:
                self.message_user(request, f"{store}: {exc}", messages.ERROR)
                continue
            self.message_user(request, f"{store}: {len(report.mapped)} location(s) mapped, created "
                                       f"{', '.join(report.created_locations) or 'none'}.", messages.SUCCESS)
        return None

    @admin.action(description="Run a full inventory sync (overwrite Shopify with the PIM)", permissions=["sync"])
    def full_sync(self, request, queryset):
        page = _confirm(self, request, queryset, action="full_sync", title="Overwrite Shopify's inventory?",
                        intro="The workers compare every level and set Shopify to the PIM's quantities "
                              "(compare-and-set), a short batch of levels at a time; the run shows as finished "
                              "when its last batch is. It refuses while order webhooks are unprocessed.")
        if page is not None:
            return page
        import django_rq

        from .tasks import inventory_full_sync_run

        for store in queryset:
            django_rq.get_queue(INVENTORY_QUEUE).enqueue(
                inventory_full_sync_run, store.pk, f"user {request.user.get_username()}"
            )
        self.message_user(request, f"Full sync queued for {queryset.count()} store(s); see inventory sync runs.",
                          messages.SUCCESS)
        return None


class StockLevelInline(admin.TabularInline):
    """Stock per location on the variant's page (read-only: record movements to change it)."""

    model = StockLevel
    extra = 0
    can_delete = False
    fields = ("location", "on_hand", "reserved", "available", "updated_at")
    readonly_fields = fields
    verbose_name = "stock level"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("location")



@admin.register(WebhookSubscriptionHealth)
class WebhookSubscriptionHealthAdmin(ReadOnlyAdmin):
    """Each store's webhook subscriptions as last checked; *Check and repair now* queues a check per store."""

    list_display = ("store", "state", "summary", "checked_at", "next_check_at")
    list_filter = ("state",)
    list_select_related = ("store",)
    readonly_fields = ("store", "callback_url", "state", "findings", "last_error", "checked_at", "next_check_at")
    actions = ["check_now"]

    @admin.display(description="findings")
    def summary(self, obj: WebhookSubscriptionHealth) -> str:
        if obj.last_error:
            return obj.last_error[:120]
        if not obj.findings:
            return "–"
        return "; ".join(f"{f['topic']}: {f['problem']}{' (repaired)' if f.get('repaired') else ''}"
                         for f in obj.findings)

    def has_repair_permission(self, request) -> bool:
        return request.user.has_perm("inventory.change_webhooksubscriptionhealth")

    @admin.action(description="Check and repair webhook subscriptions now", permissions=["repair"])
    def check_now(self, request, queryset):
        page = _confirm(self, request, queryset, action="check_now", title="Check and repair webhook subscriptions",
                        intro="Each selected store's subscriptions are compared with the topics the PIM needs; "
                              "missing or wrongly shaped ones are re-created. This runs on a worker.")
        if page is not None:
            return page
        import django_rq

        from .tasks import webhook_subscriptions_check_run

        queue = django_rq.get_queue("default")
        store_ids = list(queryset.values_list("store_id", flat=True))
        for store_id in store_ids:
            queue.enqueue(webhook_subscriptions_check_run, store_id)
        self.message_user(request, f"Queued a subscription check for {len(store_ids)} store(s).", messages.SUCCESS)
        return None


@admin.display(description="units sold (last 30 days, stores that keep order lines)")
def variant_units_sold(obj: Variant) -> str:
    """Read-only reference data on the variant page: units sold per store and day (never changes the catalog)."""
    from django.utils.html import format_html_join

    from .order_lines import units_sold

    rows = units_sold(variant=obj) if obj and obj.pk else []
    if not rows:
        return "–"
    body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                            ((r["day"], r["store"], r["units"], r["orders"]) for r in rows))
    return format_html("<table><tr><th>day</th><th>store</th><th>units</th><th>orders</th></tr>{}</table>", body)


@admin.register(UnmatchedSale)
class UnmatchedSaleAdmin(ReadOnlyAdmin):
    """Order lines that matched no PIM variant: a manager maps or re-matches them, then their stock applies once."""

    list_display = ("created_at", "store", "order_name", "sku", "title", "shopify_variant_id", "quantity",
                    "match_note")
    list_filter = ("store",)
    search_fields = ("sku", "title", "order__name", "order__order_id")
    list_select_related = ("store", "order")
    actions = ("apply_matches", "map_to_sku")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(match=ShopifyOrderLine.Match.UNMATCHED)

    @admin.display(description="order")
    def order_name(self, obj: ShopifyOrderLine) -> str:
        return obj.order.name or obj.order.order_id

    def has_apply_permission(self, request) -> bool:
        return request.user.has_perm("inventory.apply_shopifyorderline")

    @admin.action(description="Match again by binding or SKU and apply the stock", permissions=["apply"])
    def apply_matches(self, request, queryset):
        page = _confirm(self, request, queryset, action="apply_matches", title="Apply these unmatched sales?",
                        intro="Each line is matched again (Shopify variant binding, then a SKU that exactly one PIM "
                              "variant has); matched lines change stock once, at the order's location.")
        if page is not None:
            return page
        from .order_lines import order_lines_apply

        result = order_lines_apply(line_ids=list(queryset.values_list("pk", flat=True)),
                                   actor_label=f"user {request.user.get_username()}")
        self.message_user(request, f"{result['applied']} sale(s) applied, {result['still_unmatched']} still "
                                   f"unmatched.", messages.SUCCESS)
        return None

    @admin.action(description="Map to a PIM variant (by SKU) and apply the stock", permissions=["apply"])
    def map_to_sku(self, request, queryset):
        sku = (request.POST.get("sku") or "").strip()
        variant = Variant.objects.filter(sku=sku).first() if sku else None
        error = f"No PIM variant has SKU {sku}." if sku and variant is None else ""
        page = _confirm(self, request, queryset, action="map_to_sku", title="Map these sales to a PIM variant?",
                        intro="The selected lines are recorded as sales of the variant with this SKU, once.",
                        template="admin/inventory/map_unmatched.html", extra={"sku": sku, "error": error},
                        force=variant is None)
        if page is not None:
            return page
        from .order_lines import order_lines_apply

        result = order_lines_apply(line_ids=list(queryset.values_list("pk", flat=True)),
                                   actor_label=f"user {request.user.get_username()}", variant=variant)
        self.message_user(request, f"{result['applied']} sale(s) mapped to {variant.sku} and applied.",
                          messages.SUCCESS)
        return None


@admin.register(StoreInventorySettings)
class StoreInventorySettingsAdmin(admin.ModelAdmin):
    """What each store may write back to the PIM (ids always flow back) and how unstocked levels are pushed."""

    list_display = ("store", "sales_write_back", "merchant_edits_write_back", "keep_order_lines",
                    "activate_unstocked", "updated_at")
    list_select_related = ("store",)

    def save_model(self, request, obj, form, change):
        from .store_settings import FIELDS, store_inventory_settings_update

        saved = store_inventory_settings_update(store=obj.store, **{name: getattr(obj, name) for name in FIELDS})
        obj.pk = saved.pk
