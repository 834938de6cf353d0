"""What ``channels`` adds to the product admin: the stores inline, per-store sync state (list column, filters and
a panel on the product page with *Publish now*), and bulk actions (assign to / remove from a store, publish now).

Registered with ``pim.admin_extensions`` in ``ChannelsConfig.ready()``; the catalog admin never imports this.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html_join

from pim.admin_base import action_confirm
from pim.admin_extensions import ProductAdminExtension
from pim.models import Product

from . import services
from .models import ChannelAssignment, Store, SyncJob
from .publish_modes import waiting_label

PUBLISH_PERMISSION = "channels.change_channelassignment"
# The panel and the list show store names and domains: never load (and decrypt) the stores' credentials for that.
STORE_SECRETS = ("store__access_token", "store__client_secret", "store__webhook_secret")
OPEN_JOB_STATUSES = (SyncJob.Status.PENDING, SyncJob.Status.RUNNING, SyncJob.Status.DEAD, SyncJob.Status.HELD)


class AssignmentInline(admin.TabularInline):
    model = ChannelAssignment
    extra = 0
    fields = ("store", "publish", "title_override", "tags_override", "status_override", "handle_override",
              "shopify_product_id", "held")
    readonly_fields = ("shopify_product_id", "held")
    verbose_name = "store assignment"
    verbose_name_plural = "store assignments"


@dataclass
class StoreState:
    """One product's state on one store, in words a catalog manager reads."""

    assignment: ChannelAssignment
    code: str  # published | pending | waiting | failed | held | not_ready | off | never
    label: str
    error: str = ""

    @property
    def store(self) -> Store:
        return self.assignment.store


STATE_COLOURS = {"published": "#2e7d32", "pending": "#8a6d00", "waiting": "#8a6d00", "failed": "#ba2121", "held": "#ba2121",
                 "not_ready": "#666", "off": "#666", "never": "#666"}


def assignment_state(*, assignment: ChannelAssignment, product: Product, jobs: list[SyncJob]) -> StoreState:
    """Return the product's state on the assignment's store from its open jobs (pending, running, dead, held)."""
    mine = [j for j in jobs if j.store_id == assignment.store_id]
    dead = next((j for j in mine if j.status == SyncJob.Status.DEAD), None)
    if not assignment.publish:
        if assignment.shopify_product_id and not assignment.unpublished_at:
            return StoreState(assignment, "pending", "being removed")
        return StoreState(assignment, "off", "not published here")
    if assignment.held or any(j.status == SyncJob.Status.HELD for j in mine):
        return StoreState(assignment, "held", "held by a conflict")
    if dead is not None:
        return StoreState(assignment, "failed", "failed", error=_in_words(dead.last_error))
    if any(j.status in (SyncJob.Status.PENDING, SyncJob.Status.RUNNING) for j in mine):
        return StoreState(assignment, "pending", "publishing")
    if assignment.waiting_since is not None and product.workflow_state == Product.Workflow.READY:
        return StoreState(assignment, "waiting", waiting_label(store=assignment.store))
    if product.workflow_state != Product.Workflow.READY:
        return StoreState(assignment, "not_ready", f"waiting: {product.get_workflow_state_display()}")
    if assignment.shopify_product_id:
        return StoreState(assignment, "published", "published")
    return StoreState(assignment, "never", "not published yet")


def _in_words(error: str) -> str:
    """The last error without the exception class prefix and stack-ish noise, shortened."""
    text = (error or "").strip()
    head, sep, rest = text.partition(": ")
    if sep and head.replace("_", "").isalnum() and head[:1].isupper():
        text = rest
    return " ".join(text.split())[:300]


def _states(product: Product) -> list[StoreState]:
    assignments = getattr(product, "_assignments", None)
    if assignments is None:
        assignments = list(product.assignments.select_related("store").defer(*STORE_SECRETS)
                           .order_by("store__name"))
    jobs = getattr(product, "_open_jobs", None)
    if jobs is None:
        jobs = list(product.sync_jobs.filter(status__in=OPEN_JOB_STATUSES).only("store_id", "status", "last_error"))
    return [assignment_state(assignment=a, product=product, jobs=jobs) for a in assignments]


def list_queryset(queryset):
    """Prefetch each product's assignments with their stores and its open sync jobs (two queries per page)."""
    return queryset.prefetch_related(
        Prefetch("assignments", queryset=ChannelAssignment.objects.select_related("store").defer(*STORE_SECRETS)
                 .order_by("store__name"),
                 to_attr="_assignments"),
        Prefetch("sync_jobs", queryset=SyncJob.objects.filter(status__in=OPEN_JOB_STATUSES)
                 .only("id", "product_id", "store_id", "status", "last_error"), to_attr="_open_jobs"),
    )


@admin.display(description="stores")
def stores_column(product: Product):
    states = _states(product)
    if not states:
        return "–"
    return format_html_join(
        " ", '<span title="{}" style="white-space:nowrap;color:{}">{}: {}</span>',
        ((s.error or s.label, STATE_COLOURS[s.code], s.store.name, s.label) for s in states))


class StoreFilter(admin.SimpleListFilter):
    title = "store"
    parameter_name = "store"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Store.objects.order_by("name").values_list("pk", "name")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(assignments__store_id=self.value(), assignments__publish=True)
        return queryset


class SyncStateFilter(admin.SimpleListFilter):
    title = "sync state"
    parameter_name = "sync"

    def lookups(self, request, model_admin):
        return (("pending", "Publishing"), ("waiting", "Waiting for a batch or a publish request"),
                ("failed", "Failed"), ("held", "Held by a conflict"),
                ("published", "Published everywhere assigned"), ("never", "Assigned, never published"))

    def queryset(self, request, queryset):
        jobs = SyncJob.objects.filter(product=OuterRef("pk"))
        value = self.value()
        if value == "pending":
            return queryset.filter(Exists(jobs.filter(status__in=[SyncJob.Status.PENDING, SyncJob.Status.RUNNING])))
        if value == "waiting":
            return queryset.filter(Exists(ChannelAssignment.objects.filter(product=OuterRef("pk"), publish=True,
                                                                           waiting_since__isnull=False)))
        if value == "failed":
            return queryset.filter(Exists(jobs.filter(status=SyncJob.Status.DEAD)))
        if value == "held":
            return queryset.filter(Exists(ChannelAssignment.objects.filter(product=OuterRef("pk"), held=True)))
        unpublished = ChannelAssignment.objects.filter(product=OuterRef("pk"), publish=True, shopify_product_id="")
        if value == "published":
            return queryset.filter(Exists(ChannelAssignment.objects.filter(product=OuterRef("pk"), publish=True))
                                   ).exclude(Exists(unpublished))
        if value == "never":
            return queryset.filter(Exists(unpublished))
        return queryset


def product_panel(request, product: Product) -> str:
    """The per-store panel on the product page: state, last published, live link, last error, Publish now."""
    states = _states(product)
    can_publish = request.user.has_perm(PUBLISH_PERMISSION)
    rows = []
    for s in states:
        a = s.assignment
        live = ""
        if a.shopify_product_id and s.code != "off":
            handle = a.handle_override or product.handle
            live = f"https://{a.store.shop_domain}/products/{handle}"
        rows.append({"state": s, "colour": STATE_COLOURS[s.code], "live": live,
                     "admin_link": _shopify_admin_link(a), "published_at": a.published_at})
    return render_to_string("admin/channels/product_panel.html", {
        "rows": rows, "product": product, "can_publish": can_publish and product.pk is not None,
        "publish_url": reverse("admin:channels_channelassignment_publish_now", args=[product.pk]),
    }, request=request)


def _shopify_admin_link(assignment: ChannelAssignment) -> str:
    if not assignment.shopify_product_id:
        return ""
    shop = assignment.store.shop_domain.removesuffix(".myshopify.com")
    return f"https://admin.shopify.com/store/{shop}/products/{assignment.shopify_product_id}"


def product_saved(request, product: Product) -> str | None:
    """Say what the save queued: which stores get the change, or why none does."""
    stores = list(ChannelAssignment.objects.filter(product=product, store__is_active=True)
                  .filter(Q(publish=True) | ~Q(shopify_product_id="")).values_list("store__name", flat=True))
    if not stores:
        return "Not assigned to any store: nothing was queued."
    if product.workflow_state != Product.Workflow.READY:
        return (f"Saved in the PIM only: the workflow state is '{product.get_workflow_state_display()}'; "
                f"it reaches {', '.join(stores)} once it is Ready to publish.")
    return f"Queued to publish to {', '.join(sorted(stores))}."


class StoreChoiceForm(forms.Form):
    store = forms.ModelChoiceField(queryset=Store.objects.filter(is_active=True).order_by("name"))


def _store_action(modeladmin, request, queryset, *, action: str, title: str, intro: str, publish: bool):
    form = StoreChoiceForm(request.POST if request.POST.get("confirmed") == "yes" else None)
    page = action_confirm(modeladmin, request, queryset, action=action, title=title, intro=intro, form=form)
    if page is not None:
        return page
    store = form.cleaned_data["store"]
    ids = list(queryset.values_list("pk", flat=True))
    with transaction.atomic():
        count = services.assignments_bulk_set(store=store, product_ids=ids, publish=publish, actor=request.user)
    verb = "assigned to" if publish else "removed from"
    modeladmin.message_user(request, f"{count} product(s) {verb} {store.name}; the workers publish the change.",
                            messages.SUCCESS)
    return None


def _has_publish_permission(modeladmin, request) -> bool:
    return request.user.has_perm(PUBLISH_PERMISSION)


@admin.action(description="Assign to a store…", permissions=["publish"])
def assign_to_store(modeladmin, request, queryset):
    return _store_action(modeladmin, request, queryset, action="assign_to_store", title="Assign to a store",
                         intro="The selected products are assigned to the store you choose and published there "
                               "(products not yet Ready to publish wait for it).", publish=True)


@admin.action(description="Remove from a store…", permissions=["publish"])
def remove_from_store(modeladmin, request, queryset):
    return _store_action(modeladmin, request, queryset, action="remove_from_store", title="Remove from a store",
                         intro="The selected products stop being published to the store you choose; there they "
                               "become draft or archived, as the store is set up.", publish=False)


@admin.action(description="Publish now to their stores", permissions=["publish"])
def publish_now(modeladmin, request, queryset):
    page = action_confirm(modeladmin, request, queryset, action="publish_now", title="Publish these products now?",
                          intro="Each selected product is queued for every store it is assigned to; unchanged "
                                "products are skipped by the workers.")
    if page is not None:
        return page
    ids = list(queryset.values_list("pk", flat=True))
    with transaction.atomic():
        jobs = services.publish_request(product_ids=ids)
    modeladmin.message_user(request, f"Queued {len(jobs)} publish job(s) for {len(ids)} product(s).", messages.SUCCESS)
    return None


PREVIEW_PERMISSION = "channels.view_channelassignment"


class PreviewForm(StoreChoiceForm):
    output = forms.ChoiceField(choices=(("page", "Show here"), ("csv", "Download CSV"), ("json", "Download JSON")),
                               initial="page", label="Report")


def _has_preview_permission(modeladmin, request) -> bool:
    return request.user.has_perm(PREVIEW_PERMISSION)


@admin.action(description="Preview changes on a store…", permissions=["preview"])
def preview_changes(modeladmin, request, queryset):
    """Show (or download) what publishing the selected products to a store would change; nothing is written."""
    from django.http import HttpResponse
    from django.template.response import TemplateResponse
    from django.utils import timezone

    from .preview import publish_preview
    from .shopify.exceptions import ShopifyError

    form = PreviewForm(request.POST if request.POST.get("confirmed") == "yes" else None)
    page = action_confirm(modeladmin, request, queryset, action="preview_changes", title="Preview changes",
                          intro="For each selected product: what the store has now, what a publish would write and "
                                "which Shopify-side edits would become conflicts under the store's policy. Nothing "
                                "is written to Shopify or to the PIM.", form=form)
    if page is not None:
        return page
    store = form.cleaned_data["store"]
    try:
        report = publish_preview(store=store, product_ids=list(queryset.values_list("pk", flat=True)))
    except ShopifyError as exc:
        modeladmin.message_user(request, f"Could not read {store.name}: {exc}", messages.ERROR)
        return None
    stamp = f"{timezone.now():%Y%m%d-%H%M}"
    if form.cleaned_data["output"] == "json":
        response = HttpResponse(report.as_json(), content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="preview-{store.pk}-{stamp}.json"'
        return response
    if form.cleaned_data["output"] == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="preview-{store.pk}-{stamp}.csv"'
        report.write_csv(response)
        return response
    return TemplateResponse(request, "admin/channels/publish_preview.html", {
        **modeladmin.admin_site.each_context(request), "title": f"Preview of a publish to {store.name}",
        "report": report, "opts": modeladmin.model._meta})


class _Echo:
    def write(self, value: str) -> str:
        return value


@admin.action(description="Export to Shopify's product CSV", permissions=["view"])
def export_shopify_csv(modeladmin, request, queryset):
    """Download the selected products as a Shopify product CSV (2025 header), after confirmation."""
    import csv

    from django.http import StreamingHttpResponse
    from django.utils import timezone

    from .csv_export import products_csv_rows

    page = action_confirm(modeladmin, request, queryset, action="export_shopify_csv",
                          title="Export these products to Shopify's CSV format?",
                          intro="You get a CSV file in the format Shopify's product export and import use (one "
                                "row per variant, images on rows of their own). Nothing changes.")
    if page is not None:
        return page
    products = queryset.order_by("pk").prefetch_related("variants", "images", "attributes")
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(row) for row in products_csv_rows(products=products.iterator(
        chunk_size=500))), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="products-{timezone.now():%Y%m%d-%H%M}.csv"'
    return response


def extension() -> ProductAdminExtension:
    return ProductAdminExtension(
        name="channels",
        inlines=(AssignmentInline,),
        list_columns=(stores_column,),
        list_filters=(StoreFilter, SyncStateFilter),
        list_queryset=list_queryset,
        actions=(assign_to_store, remove_from_store, publish_now, preview_changes, export_shopify_csv),
        panel=product_panel,
        saved=product_saved,
        permissions={"publish": _has_publish_permission, "preview": _has_preview_permission},
        list_tools=(("Change prices by SKU (CSV)", lambda: reverse("admin:channels_price_upload"),
                     lambda request: request.user.has_perm("pim.change_variant")),),
    )
