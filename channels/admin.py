"""Admin for stores, channel assignments, sync jobs (with replay) and the sync health page."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from outbox.admin import OutboxRowAdmin
from pim.admin import ServiceHistoryAdmin
from pim.admin_base import ReadOnlyAdmin

from . import selectors, services
from .models import (
    PUBLISH_FIELDS,
    Alert,
    ChannelAssignment,
    ImageBinding,
    Store,
    StoreMetafieldMapping,
    SyncAttempt,
    SyncJob,
    VariantBinding,
    VariantOverride,
    default_publications,
    default_publish_fields,
)
from .shopify.exceptions import ShopifyAuthError, ShopifyError, ShopifyScopeError

SECRET_FIELDS = ("access_token", "client_secret", "webhook_secret")


class StoreForm(forms.ModelForm):
    """Credentials are write-only: never rendered back, kept unchanged when left empty."""

    access_token = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                                   help_text="Write-only. Leave empty to keep the stored token.")
    client_secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                                    help_text="Write-only. Leave empty to keep the stored secret.")
    webhook_secret = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False), label="API secret key (webhooks)",
        help_text="Write-only. Only for a custom app made in the shop's admin: its API secret key, which signs "
                  "webhooks. A Dev Dashboard app's webhooks are verified with its client secret above.")
    api_base_url = forms.URLField(
        required=False, assume_scheme="https", label="API base URL",
        help_text="Leave empty for Shopify (https://your-store.myshopify.com). Only for the local simulator.",
    )
    publications = forms.CharField(
        required=False, label="Sales channels",
        help_text="Comma-separated sales channels (as Shopify names them, e.g. Online Store, Point of Sale) every "
        "published product is put on. Test connection lists the shop's channels. Empty: on no channel.",
    )
    publish_mode = forms.ChoiceField(
        choices=Store.PublishMode.choices, required=False, initial=Store.PublishMode.IMMEDIATE,
        help_text="When catalog changes go out to this store. Removing a product from the store always goes out "
                  "at once.")
    publish_batch_times = forms.CharField(
        required=False, label="Publish batch times",
        help_text="For scheduled batches: comma-separated times of day (HH:MM, server time zone), e.g. 06:00, 14:00.")
    publish_fields = forms.MultipleChoiceField(
        choices=PUBLISH_FIELDS, widget=forms.CheckboxSelectMultiple, required=False,
        help_text="Fields this store receives. Unselected fields are never touched in Shopify.",
    )

    class Meta:
        model = Store
        fields = (
            "name", "shop_domain", "api_base_url", "api_version", "auth_mode", "access_token", "client_id",
            "client_secret", "webhook_secret", "plan", "is_active", "default_conflict_policy", "unpublish_action",
            "publish_fields", "publications", "publish_mode", "publish_batch_times", "inventory_push_enabled",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            self.initial[name] = ""
        if self.instance.pk is None and "publish_fields" not in self.data:
            # A new store receives every field unless the manager unticks some (an empty list would publish
            # nothing at all).
            self.initial["publish_fields"] = default_publish_fields()
        if not settings.SHOPIFY_ALLOW_BASE_URL_OVERRIDE and not self.instance.api_base_url:
            del self.fields["api_base_url"]  # production: every store talks to https://<shop domain>
        channels = self.instance.publications if self.instance.pk else default_publications()
        self.initial["publications"] = ", ".join(channels or [])
        self.initial["publish_batch_times"] = ", ".join(self.instance.publish_batch_times or [])

    def clean_publish_mode(self):
        return self.cleaned_data.get("publish_mode") or self.instance.publish_mode or Store.PublishMode.IMMEDIATE

    def clean_publish_batch_times(self):
        from django.core.exceptions import ValidationError

        from .models import publish_batch_times_validate

        times = [t.strip() for t in (self.cleaned_data.get("publish_batch_times") or "").split(",") if t.strip()]
        times = [f"0{t}" if len(t) == 4 and t[1] == ":" else t for t in times]  # 6:00 -> 06:00
        try:
            publish_batch_times_validate(times)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None
        return sorted(times)

    def clean_publications(self):
        names = [" ".join(n.split()) for n in (self.cleaned_data.get("publications") or "").split(",")]
        return list(dict.fromkeys(n for n in names if n))

    def clean(self):
        data = super().clean()
        for name in SECRET_FIELDS:
            if not data.get(name) and self.instance.pk:
                data[name] = getattr(self.instance, name)  # keep what is stored
        if data.get("auth_mode") == Store.AuthMode.STATIC_TOKEN and not data.get("access_token"):
            self.add_error("access_token", "Enter the Admin API access token of the custom app.")
        if data.get("auth_mode") == Store.AuthMode.CLIENT_CREDENTIALS:
            if not data.get("client_id"):
                self.add_error("client_id", "Enter the app's client id.")
            if not data.get("client_secret"):
                self.add_error("client_secret", "Enter the app's client secret.")
        return data

    def clean_shop_domain(self):
        # Validated in full by the model (channels.endpoints.shop_domain_validate), not by suffix.
        return (self.cleaned_data.get("shop_domain") or "").strip().lower()


class ConnectStoreForm(StoreForm):
    """The guided connection form: only what connecting needs; every publish field is on by default."""

    class Meta(StoreForm.Meta):
        fields = ("name", "shop_domain", "api_base_url", "auth_mode", "access_token", "webhook_secret", "client_id",
                  "client_secret", "plan", "publications")
        widgets = {"auth_mode": forms.RadioSelect}
        labels = {"auth_mode": "Kind of app"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["auth_mode"].choices = [
            (Store.AuthMode.STATIC_TOKEN, "Custom app made in the store's Shopify admin (an access token)"),
            (Store.AuthMode.CLIENT_CREDENTIALS, "App made in Shopify's Dev Dashboard (client ID and secret)"),
        ]
        # The store receives every field; narrowing it down is a later choice on the store's page.
        self.fields.pop("publish_fields", None)
        self.fields.pop("publish_mode", None)  # immediately, the default; a later choice on the store's page
        self.fields.pop("publish_batch_times", None)
        self.fields["shop_domain"].help_text = "The store's your-store.myshopify.com name (not its public domain)."
        for name in ("access_token", "webhook_secret", "client_secret"):
            self.fields[name].help_text = "Write-only: stored encrypted, never shown again."


class MetafieldMappingInline(admin.TabularInline):
    model = StoreMetafieldMapping
    extra = 0


@admin.register(Store)
class StoreAdmin(ServiceHistoryAdmin):  # history is shown read-only (no revert)
    form = StoreForm
    list_display = ("name", "shop_domain", "plan", "is_active", "default_conflict_policy", "circuit", "health_link")
    list_filter = ("is_active", "plan")
    search_fields = ("name", "shop_domain")
    inlines = (MetafieldMappingInline,)
    actions = ("test_connection", "refresh_collections", "import_taxonomy", "publish_waiting")

    @admin.action(description="Publish what is waiting now (scheduled or on-request stores)",
                  permissions=["publish"])
    def publish_waiting(self, request, queryset):
        """Queue every product waiting on the selected stores for their next batch or a request, after confirmation."""
        from pim.admin_base import action_confirm

        from .publish_modes import publish_waiting

        page = action_confirm(self, request, queryset, action="publish_waiting", title="Publish what is waiting now?",
                              intro="Every product changed since the store's last batch or publish request is queued "
                                    "now (unchanged ones are skipped by the workers).")
        if page is not None:
            return page
        with transaction.atomic():
            jobs = sum(len(publish_waiting(store=store)) for store in queryset)
        self.message_user(request, f"Queued {jobs} publish job(s).", messages.SUCCESS)
        return None

    def has_publish_permission(self, request) -> bool:
        return request.user.has_perm("channels.change_channelassignment")

    @admin.action(description="Read Shopify's product taxonomy from the stores (to set product categories)",
                  permissions=["change"])
    def import_taxonomy(self, request, queryset):  # issue 19; enqueues only
        import django_rq

        from .tasks import taxonomy_import

        for store in queryset:
            transaction.on_commit(lambda pk=store.pk: django_rq.get_queue("default").enqueue(taxonomy_import, pk))
        self.message_user(request, "Reading Shopify's product taxonomy; the categories are searchable on the "
                                   "product page in a moment.", messages.SUCCESS)

    @admin.action(description="Read the stores' collections from Shopify (to map categories)", permissions=["change"])
    def refresh_collections(self, request, queryset):  # issue 19; enqueues only
        from .collections_admin import _enqueue_refresh

        _enqueue_refresh(self, request, list(queryset))

    @admin.display(description="circuit")
    def circuit(self, obj: Store) -> str:
        if obj.unavailable_reason:
            return f"paused: {obj.unavailable_reason}"
        if obj.circuit_is_open():
            return f"open until {obj.circuit_open_until:%H:%M:%S}"
        return "half-open" if obj.circuit_failures else "closed"

    @admin.display(description="sync health")
    def health_link(self, obj: Store) -> str:
        return format_html('<a href="{}">health</a>', reverse("admin:channels_store_health", args=[obj.pk]))

    def save_model(self, request, obj, form, change):
        services.store_save(store=obj)

    @admin.action(description="Test connection to Shopify", permissions=["change"])
    def test_connection(self, request, queryset):
        """Call Shopify for each selected store (after confirmation) and report shop name and missing scopes."""
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(
                request,
                "admin/confirm_action.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Test the connection to Shopify?",
                    "intro": "This sends one read-only request to each selected store.",
                    "objects": queryset,
                    "action": "test_connection",
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                    "opts": self.model._meta,
                },
            )
        for store in queryset:
            try:
                report = services.store_test_connection(store=store)
            except ShopifyAuthError:
                self.message_user(request, f"{store}: Shopify refused the credentials (401). Check the access "
                                  "token or client id/secret, and that the app is still installed.", messages.ERROR)
            except ShopifyScopeError as exc:
                self.message_user(request, f"{store}: access denied (403): the app lacks the scope "
                                  f"{exc.missing_scope or 'needed'}.", messages.ERROR)
            except ShopifyError as exc:
                self.message_user(request, f"{store}: {exc}", messages.ERROR)
            else:
                missing = ", ".join(report.missing_scopes) or "none"
                level = messages.WARNING if report.missing_scopes else messages.SUCCESS
                channels = ", ".join(report.publications) or "unknown (needs read_publications)"
                self.message_user(request, f"{store}: connected to '{report.shop_name}' ({report.plan}); "
                                  f"missing scopes: {missing}; sales channels in the shop: {channels}.", level)
        return None

    def get_urls(self):
        return [
            path("connect/", self.admin_site.admin_view(self.connect_view), name="channels_store_connect"),
            path("<int:store_id>/connect/test/", self.admin_site.admin_view(self.connect_test_view),
                 name="channels_store_connect_test"),
            path("<int:store_id>/health/", self.admin_site.admin_view(self.health_view), name="channels_store_health"),
            path("health/", self.admin_site.admin_view(self.health_view), name="channels_sync_health"),
        ] + super().get_urls()

    def _webhook_url(self, request) -> str:
        return settings.SHOPIFY_WEBHOOK_URL or request.build_absolute_uri(reverse("webhooks:shopify_webhook"))

    def connect_view(self, request):
        """Connect a store step by step: which app to create, the scopes to grant, the credentials; then save,
        test, and (when the test passes) list locations and register webhooks."""
        from .connect import CUSTOM_APP_STEPS, DEV_DASHBOARD_STEPS, required_scopes, store_connect_check

        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ConnectStoreForm(request.POST or None)
        check = store = None
        if request.method == "POST" and form.is_valid():
            with transaction.atomic():
                store = form.save(commit=False)
                services.store_save(store=store)
            check = store_connect_check(store=store, webhook_url=self._webhook_url(request))  # outside the commit
        return TemplateResponse(request, "admin/channels/store_connect.html", {
            **self.admin_site.each_context(request), "title": "Connect a Shopify store", "form": form,
            "store": store, "check": check, "scopes": ", ".join(required_scopes()),
            "custom_app_steps": CUSTOM_APP_STEPS, "dev_dashboard_steps": DEV_DASHBOARD_STEPS,
            "opts": self.model._meta})

    def connect_test_view(self, request, store_id: int):
        """Test a saved store's connection again (POST) and run the connect steps when it passes."""
        from .connect import store_connect_check

        store = get_object_or_404(Store, pk=store_id)
        if request.method != "POST" or not self.has_change_permission(request, store):
            raise PermissionDenied
        check = store_connect_check(store=store, webhook_url=self._webhook_url(request))
        return TemplateResponse(request, "admin/channels/store_connect.html", {
            **self.admin_site.each_context(request), "title": f"Connection of {store}", "store": store,
            "check": check, "opts": self.model._meta})

    def health_view(self, request, store_id: int | None = None):
        """Show queue depth, oldest pending age, retry rate, dead letters and edit-to-live latency per store.

        Only for users who may view stores (403 otherwise).
        """
        store = get_object_or_404(Store, pk=store_id) if store_id else None
        if not self.has_view_or_change_permission(request, store):
            raise PermissionDenied
        stores = [store] if store else list(Store.objects.all())
        rows = [selectors.store_health(store=s) for s in stores]
        return TemplateResponse(
            request,
            "admin/channels/health.html",
            {**self.admin_site.each_context(request), "title": "Sync health", "rows": rows,
             "opts": self.model._meta},
        )


class VariantOverrideInline(admin.TabularInline):
    model = VariantOverride
    extra = 0
    raw_id_fields = ("variant",)


@admin.register(ChannelAssignment)
class ChannelAssignmentAdmin(ServiceHistoryAdmin):  # history is shown read-only (no revert)
    list_display = ("product", "store", "publish", "held", "shopify_product_id", "published_at")
    list_filter = ("store", "publish", "held")
    list_select_related = ("product", "store")
    search_fields = ("product__title", "product__handle", "shopify_product_id")
    raw_id_fields = ("product",)
    readonly_fields = ("shopify_product_id", "published_hash", "published_at", "unpublished_at", "published_snapshot")
    inlines = (VariantOverrideInline,)

    def save_model(self, request, obj, form, change):
        overrides = {f: getattr(obj, f) for f in ("title_override", "tags_override", "status_override",
                                                  "handle_override")}
        saved = services.assignment_set(product=obj.product, store=obj.store, publish=obj.publish, **overrides)
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.sync_jobs_record_for_products(product_ids=[form.instance.product_id])

    def get_urls(self):
        return [
            path("publish-now/<int:product_id>/", self.admin_site.admin_view(self.publish_now_view),
                 name="channels_channelassignment_publish_now"),
            path("prices/", self.admin_site.admin_view(self.price_upload_view), name="channels_price_upload"),
        ] + super().get_urls()

    def price_upload_view(self, request):
        """Prices by SKU from a CSV: check (dry run) first, then apply the same text; permissions checked here."""
        from django.core.exceptions import PermissionDenied

        from .price_import import prices_import

        if not request.user.has_perm("pim.change_variant"):
            raise PermissionDenied
        form = PriceUploadForm(request.POST or None, request.FILES or None)
        report, text = None, ""
        if request.method == "POST":
            if request.POST.get("apply") == "yes":
                text = request.POST.get("text", "")
            elif form.is_valid():
                try:
                    text = form.cleaned_data["file"].read().decode("utf-8-sig")
                except UnicodeDecodeError:
                    form.add_error("file", "The file is not UTF-8 text; save it as CSV UTF-8.")
            if text:
                report = prices_import(text=text, apply=False)
                per_store = any(c.store for c in report.changes)
                if per_store and not request.user.has_perm("channels.change_channelassignment"):
                    report.errors.append("This file sets store prices; you may not change store assignments.")
                if request.POST.get("apply") == "yes" and not report.errors:
                    report = prices_import(text=text, apply=True, actor=request.user)
                    self.message_user(request, report.summary(), messages.SUCCESS)
        return TemplateResponse(request, "admin/channels/price_upload.html", {
            **self.admin_site.each_context(request), "title": "Change prices by SKU", "form": form,
            "report": report, "text": text, "opts": self.model._meta})

    def publish_now_view(self, request, product_id: int):
        """Publish one product to all its stores now (the product page's button); confirmation first."""
        from django.core.exceptions import PermissionDenied
        from django.shortcuts import redirect

        from pim.models import Product

        if not request.user.has_perm("channels.change_channelassignment"):
            raise PermissionDenied
        product = get_object_or_404(Product, pk=product_id)
        back = reverse("admin:pim_product_change", args=[product.pk])
        if request.method != "POST":
            return TemplateResponse(request, "admin/channels/publish_now.html", {
                **self.admin_site.each_context(request), "title": f"Publish {product} now?", "product": product,
                "stores": product.assignments.filter(publish=True).select_related("store"), "back": back,
                "opts": self.model._meta})
        with transaction.atomic():
            jobs = services.publish_request(product_ids=[product.pk])
        self.message_user(request, f"Queued {len(jobs)} publish job(s) for {product}.", messages.SUCCESS)
        return redirect(back)


class PriceUploadForm(forms.Form):
    file = forms.FileField(label="Prices CSV", help_text="sku, price[, compare_at_price][, store]")


class SyncAttemptInline(admin.TabularInline):
    model = SyncAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("number", "started_at", "finished_at", "outcome", "error_type", "error", "retryable", "worker")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SyncJob)
class SyncJobAdmin(OutboxRowAdmin):
    outbox_kind = "sync_job"
    replay_permission = "channels.replay_syncjob"
    replay_intro = "They are queued again with fresh attempts and publish the current PIM state."
    list_display = ("id", "store", "product_label", "status", "attempts", "result", "latency_ms", "created_at",
                    "finished_at")
    list_filter = ("status", "kind", "store", "created_at")
    list_select_related = ("store",)
    search_fields = ("product_label", "shopify_product_id", "=product__variants__sku")
    inlines = (SyncAttemptInline,)
    date_hierarchy = "created_at"

    @admin.action(description="Replay selected dead-lettered or held jobs", permissions=["replay"])
    def replay(self, request, queryset):
        return super().replay(request, queryset)


@admin.register(VariantBinding)
class VariantBindingAdmin(admin.ModelAdmin):
    list_display = ("variant", "store", "shopify_variant_id", "shopify_inventory_item_id")
    list_select_related = ("variant", "store")
    list_filter = ("store",)
    search_fields = ("=variant__sku", "shopify_variant_id", "shopify_inventory_item_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    """Alerts sent to operators (one per condition, store and window): an audit trail, read-only."""

    list_display = ("created_at", "kind", "store", "message")
    list_filter = ("kind", "store")
    list_select_related = ("store",)


@admin.register(ImageBinding)
class ImageBindingAdmin(admin.ModelAdmin):
    """Shopify media per PIM image and store, with Shopify's processing state (a FAILED image shows why)."""

    list_display = ("image", "store", "shopify_media_id", "status", "error")
    list_select_related = ("image", "store")
    list_filter = ("store", "status")
    search_fields = ("shopify_media_id", "source")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
