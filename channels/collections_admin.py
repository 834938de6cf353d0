"""Admin of categories → collections (issue 19): the store's collections (smart ones read-only, explained),
the mappings, and their membership jobs. Actions only enqueue work; nothing here calls Shopify."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.response import TemplateResponse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from outbox.admin import OutboxRowAdmin, messages
from pim.categories_admin import CategoryPathChoiceField
from pim.models import Category

from . import collections
from .models import CollectionMapping, CollectionSyncJob, Store, StoreCollection

SMART_EXPLAINED = ("Smart collection: Shopify fills it from its rules (for example a product tag), so the PIM "
                   "cannot put products in it. To get a category's products there, give them the tag the rule "
                   "names (or map the category to a custom collection).")


@admin.register(StoreCollection)
class StoreCollectionAdmin(admin.ModelAdmin):
    list_display = ("title", "store", "kind", "handle", "products_count", "fetched_at")
    list_filter = ("store", "is_smart")
    search_fields = ("title", "handle")
    readonly_fields = ("store", "shopify_collection_id", "title", "handle", "is_smart", "rule_summary",
                       "products_count", "fetched_at")
    exclude = ("rules",)
    actions = ("refresh_from_shopify",)

    @admin.display(description="kind")
    def kind(self, obj):
        return "smart (rules decide; read-only)" if obj.is_smart else "custom"

    @admin.display(description="rules")
    def rule_summary(self, obj):
        if not obj.is_smart:
            return "— (custom collection: products are added by hand or by the PIM)"
        rules = "; ".join(f"{r['column'].lower()} {r['relation'].lower().replace('_', ' ')} “{r['condition']}”"
                          for r in obj.rules)
        return format_html("{}<br><em>{}</em>", rules, SMART_EXPLAINED)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Refresh the collections of the selected rows' stores from Shopify",
                  permissions=["view"])
    def refresh_from_shopify(self, request, queryset):
        stores = list(Store.objects.filter(pk__in=queryset.values("store_id")))
        _enqueue_refresh(self, request, stores)


def _enqueue_refresh(modeladmin, request, stores):
    import django_rq

    from .tasks import store_collections_refresh

    for store in stores:
        transaction.on_commit(lambda pk=store.pk: django_rq.get_queue("default").enqueue(
            store_collections_refresh, pk))
    modeladmin.message_user(request, f"Reading the collections of {len(stores)} store(s) from Shopify; reload "
                                     "this page in a moment.", messages.SUCCESS)


class CollectionMappingForm(forms.ModelForm):
    category = CategoryPathChoiceField(queryset=Category.objects.all())
    image_url = forms.URLField(required=False, max_length=2000, assume_scheme="https",
                               help_text="Image of a new collection (Shopify downloads it).")

    class Meta:
        model = CollectionMapping
        fields = ("store", "category", "mode", "existing", "include_subcategories", "title", "handle",
                  "description_html", "image_url", "sort_order")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["existing"].queryset = StoreCollection.objects.filter(is_smart=False).select_related("store")
        self.fields["existing"].label_from_instance = lambda c: f"{c.title} ({c.handle}) — {c.store.name}"

    def clean(self):
        data = super().clean()
        mode, existing, store = data.get("mode"), data.get("existing"), data.get("store")
        if mode == CollectionMapping.Mode.EXISTING:
            if existing is None:
                self.add_error("existing", "Choose one of the store's collections (refresh them first if the list "
                                           "is empty).")
            elif store is not None and existing.store_id != store.pk:
                self.add_error("existing", "This collection belongs to another store.")
        return data


@admin.register(CollectionMapping)
class CollectionMappingAdmin(SimpleHistoryAdmin):
    form = CollectionMappingForm
    list_display = ("category", "store", "mode", "collection", "include_subcategories", "last_job")
    list_filter = ("store", "mode")
    list_select_related = ("category", "store", "existing")
    actions = ("sync_now",)

    @admin.display(description="Shopify collection")
    def collection(self, obj):
        if obj.mode == CollectionMapping.Mode.EXISTING and obj.existing:
            return obj.existing.title
        return obj.shopify_collection_id and f"created (id {obj.shopify_collection_id})" or "not created yet"

    def get_queryset(self, request):
        from django.db.models import OuterRef, Subquery

        last = CollectionSyncJob.objects.filter(mapping=OuterRef("pk")).order_by("-created_at", "-id")
        return super().get_queryset(request).annotate(
            last_status=Subquery(last.values("status")[:1]), last_result=Subquery(last.values("result")[:1]),
            last_error=Subquery(last.values("last_error")[:1]))  # one query for the page, not one per row

    @admin.display(description="last membership job")
    def last_job(self, obj):
        status = getattr(obj, "last_status", None)
        if not status:
            return "—"
        return f"{CollectionSyncJob.Status(status).label}: {obj.last_result or (obj.last_error or '')[:80]}"

    def save_model(self, request, obj, form, change):
        try:
            collections.collection_mapping_save(mapping=obj, actor=request.user)
        except ValidationError as exc:  # the form checked already; a race shows as a message, nothing saved
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)

    @admin.action(description="Bring the selected collections in step now…", permissions=["change"])
    def sync_now(self, request, queryset):
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(request, "admin/confirm_action.html", {
                **self.admin_site.each_context(request), "title": "Bring these collections in step now?",
                "intro": "Each selected collection is compared with Shopify; missing products are added and products "
                         "that left the category are removed. A merchant's own change follows the store's policy.",
                "objects": queryset[:200], "action": "sync_now", "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME})
        with transaction.atomic():
            jobs = collections.collection_jobs_record(mapping_ids=list(queryset.values_list("pk", flat=True)),
                                                      check_drift=True)
        self.message_user(request, f"Queued {len(jobs)} membership job(s).", messages.SUCCESS)
        return None


@admin.register(CollectionSyncJob)
class CollectionSyncJobAdmin(OutboxRowAdmin):
    outbox_kind = "collection_job"
    replay_permission = "channels.replay_syncjob"
    list_display = ("id", "mapping", "store", "status", "attempts", "calls", "added", "removed", "result",
                    "created_at", "finished_at")
    list_filter = ("status", "store")
    list_select_related = ("mapping__category", "mapping__store", "store")

