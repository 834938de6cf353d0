"""Catalog admin: products with variant, image and attribute inlines, history, and bounded queries."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import OuterRef, Prefetch, Subquery
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from . import adoption, history, services
from .admin_base import action_confirm
from .admin_extensions import product_admin_extensions, variant_admin_extensions
from .fast_widgets import fast_widget
from .models import Product, ProductAttribute, ProductImage, Variant
from .validators import MAX_IMAGES_PER_PRODUCT, validate_metafield_value

OPTION_FIELDS = ("option1", "option2", "option3")


def _live_forms(formset) -> list[forms.ModelForm]:
    return [
        f
        for f in formset.forms
        if f.cleaned_data and not f.cleaned_data.get("DELETE", False) and (f.has_changed() or f.instance.pk)
    ]


class VariantInlineFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        product: Product = self.instance
        live = _live_forms(self)
        if not live:
            raise ValidationError("Add at least one variant: a simple product has exactly one.")
        if not product.has_options and len(live) > 1:
            raise ValidationError(services.SIMPLE_PRODUCT_MESSAGE)
        super().clean()
        for form in live:
            try:
                services.variant_check_price(product=product, price=form.cleaned_data.get("price"))
            except ValidationError as exc:
                form.add_error("price", exc.message_dict["price"])
            names = [product.option1_name, product.option2_name, product.option3_name]
            for name, field in zip(names, OPTION_FIELDS, strict=True):
                if field not in form.cleaned_data:
                    continue
                value = form.cleaned_data.get(field)
                if name and not value:
                    form.add_error(field, f"Enter a value for option '{name}'.")
                elif value and not name:
                    form.add_error(field, "The product does not define this option; clear the value.")


class ImageInlineFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if not any(self.errors) and len(_live_forms(self)) > MAX_IMAGES_PER_PRODUCT:
            raise ValidationError(f"A product can have at most {MAX_IMAGES_PER_PRODUCT} images.")


class AttributeForm(forms.ModelForm):
    class Meta:
        model = ProductAttribute
        fields = ("namespace", "key", "type", "value")

    def clean(self):
        data = super().clean()
        if data.get("type") and "value" in data:
            try:
                data["value"] = validate_metafield_value(type_name=data["type"], value=data["value"])
            except ValidationError as exc:
                self.add_error("value", exc.messages)
        return data


MORE_VARIANT_FIELDS = ("barcode", "cost", "weight", "weight_unit", "inventory_tracked", "inventory_sync_excluded")


class SkuIssueFilter(admin.SimpleListFilter):
    """Variants (or products with variants) whose SKU breaks the PIM's rules: adopted from a store as is."""

    title = "SKU to fix"
    parameter_name = "sku_issue"

    def lookups(self, request, model_admin):
        return [(adoption.MISSING_SKU, "No SKU"), (adoption.SHARED_SKU, "Shared SKU"), ("any", "Either")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        issue = None if value == "any" else value
        if issue not in (None, *adoption.SKU_ISSUES):
            return queryset
        if queryset.model is Product:
            return adoption.products_with_sku_issue(queryset=queryset, issue=issue)
        return adoption.variants_with_sku_issue(queryset=queryset, issue=issue)


def _sku_issue_text(obj: Variant) -> str:
    issue = adoption.variant_sku_issue(sku=obj.sku, shared=bool(getattr(obj, "_sku_shared", False)))
    return adoption.SKU_ISSUES.get(issue, "")


class VariantInline(admin.TabularInline):
    """The variant table: SKU and price first, option columns headed by the product's option names, stock from the
    extensions; barcode, cost, weight and inventory flags fold away (see the change form's toggle)."""

    model = Variant
    formset = VariantInlineFormSet
    extra = 0
    min_num = 1
    readonly_fields = ("sku_issue",)
    fields = (
        "sku",
        "price",
        "compare_at_price",
        "option1",
        "option2",
        "option3",
        *MORE_VARIANT_FIELDS,
        "position",
        "sku_issue",
    )

    @admin.display(description="SKU to fix")
    def sku_issue(self, obj: Variant) -> str:
        return _sku_issue_text(obj) if obj.pk else ""

    @staticmethod
    def _is_simple(obj) -> bool:
        return obj is not None and obj.pk is not None and not obj.has_options

    def _columns(self) -> list:
        return [c for ext in product_admin_extensions() for c in ext.variant_columns]

    def get_fields(self, request, obj=None):
        fields = list(self.fields)
        # A product without options is shown as a simple product: one variant, no option columns; a product
        # with fewer than three options shows only the ones it has.
        names = obj.option_names if obj is not None and obj.pk is not None else None
        if names is not None:
            fields = [f for f in fields if f not in OPTION_FIELDS[len(names):]]
        at = fields.index("barcode")
        return [*fields[:at], *self._columns(), *fields[at:]]

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), *self._columns())

    def get_queryset(self, request):
        queryset = adoption.annotate_sku_shared(super().get_queryset(request))
        for ext in product_admin_extensions():
            if ext.variant_queryset is not None:
                queryset = ext.variant_queryset(queryset)
        return queryset

    def get_max_num(self, request, obj=None, **kwargs):
        return 1 if self._is_simple(obj) else super().get_max_num(request, obj, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None:
            field.widget = fast_widget(field.widget)  # a 100-variant table renders ~1,700 of them
        return field

    def get_formset(self, request, obj=None, **kwargs):
        if obj is not None and obj.pk is not None:
            # Column headings are the product's own option names ("Size", "Colour"), not "Option1".
            kwargs["labels"] = dict(zip(OPTION_FIELDS, obj.option_names, strict=False))
        # Inline instances are made per request, so setting the heading here is safe.
        self.verbose_name = "price, SKU and stock (simple product)" if self._is_simple(obj) else "variant"
        return super().get_formset(request, obj, **kwargs)


class ImageInline(admin.TabularInline):
    model = ProductImage
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    formset = ImageInlineFormSet
    extra = 0
    fields = ("src", "alt", "position")


class AttributeInline(admin.TabularInline):
    model = ProductAttribute
    form = AttributeForm
    extra = 0
    verbose_name = "attribute (Shopify metafield)"
    verbose_name_plural = "attributes (Shopify metafields)"


class ServiceHistoryAdmin(SimpleHistoryAdmin):
    """History pages where reverting is an ordinary edit: it needs the change permission (checked on POST, not
    only by hiding the button) and goes through ``history_revert`` (a service: validated, recorded, published).

    Admins without a ``history_revert`` show history read-only.
    """

    def history_revert(self, *, obj, version_id: int, actor, fields: dict):
        return None

    def _reverts(self) -> bool:
        return type(self).history_revert is not ServiceHistoryAdmin.history_revert

    def revert_disabled(self, request, obj=None):
        return not self._reverts() or super().revert_disabled(request, obj) or not self.has_change_permission(
            request, obj)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "POST":
            return super().history_form_view(request, object_id, version_id, extra_context)
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if self.revert_disabled(request, obj):
            raise PermissionDenied
        record = self.model.history.filter(id=obj.pk, history_id=version_id).first()
        if record is None:
            raise Http404
        historic = record.instance
        historic._state.adding = False
        form = self.get_form(request, historic)(request.POST, request.FILES, instance=historic)
        if not form.is_valid():
            errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
            self.message_user(request, f"Not reverted: {errors}", messages.ERROR)
            return redirect(request.path)
        names = {f.name for f in self.model._meta.concrete_fields}
        fields = {k: v for k, v in form.cleaned_data.items() if k in names}
        try:
            self.history_revert(obj=obj, version_id=int(version_id), actor=request.user, fields=fields)
        except ValidationError as exc:
            self.message_user(request, f"Not reverted: {' '.join(exc.messages)}", messages.ERROR)
            return redirect(request.path)
        self.message_user(request, f"{obj} reverted to version {version_id}.", messages.SUCCESS)
        opts = self.model._meta
        return redirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))


class ProductAdminForm(forms.ModelForm):
    """The product form: remembers the version the editor loaded, and refuses a save over someone else's."""

    version_seen = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Product
        fields = ("title",)  # the admin's fieldsets decide the rest

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["version_seen"].initial = self.instance.version

    def clean(self):
        data = super().clean()
        seen = data.get("version_seen")
        if self.instance.pk and seen is not None:
            try:
                services.product_check_version(product_id=self.instance.pk, expected_version=seen)
            except services.ConcurrentEditError as exc:
                raise ValidationError(exc.messages)
        return data


class WorkflowForm(forms.Form):
    workflow_state = forms.ChoiceField(choices=Product.Workflow.choices, label="Set workflow state to")


@admin.action(description="Set workflow state…", permissions=["change"])
def set_workflow_state(modeladmin, request, queryset):
    """Move the selected products to a workflow state (Ready needs the approve permission), after confirmation."""
    form = WorkflowForm(request.POST if request.POST.get("confirmed") == "yes" else None)
    intro = "The selected products move to the state you choose."
    if not request.user.has_perm(services.APPROVE_PERMISSION):
        intro += " You may send products for review; setting them Ready to publish needs the approve permission."
    page = action_confirm(modeladmin, request, queryset, action="set_workflow_state", title="Set the workflow state",
                          intro=intro, form=form)
    if page is not None:
        return page
    state = form.cleaned_data["workflow_state"]
    moved, refused = 0, []
    for product in queryset:
        try:
            services.product_update(product=product, actor=request.user, reason="Bulk workflow change",
                                    workflow_state=state)
            moved += 1
        except ValidationError as exc:
            refused.append(f"{product}: {' '.join(exc.messages)}")
    if moved:
        modeladmin.message_user(request, f"{moved} product(s) set to '{Product.Workflow(state).label}'.",
                                messages.SUCCESS)
    for line in refused[:20]:
        modeladmin.message_user(request, line, messages.ERROR)
    return None


@admin.register(Product)
class ProductAdmin(ServiceHistoryAdmin):
    """The catalog manager's product list and page; apps above the catalog add their columns, filters, actions
    and the per-store panel through ``pim.admin_extensions`` (registered in their ``AppConfig.ready()``)."""

    list_display = (
        "thumbnail",
        "title",
        "skus",
        "price_range",
        "workflow_state",
        "status",
        "variant_count",
        "updated_at",
    )
    list_display_links = ("title",)
    list_filter = ("workflow_state", "status", "origin", SkuIssueFilter, "vendor", "product_type")
    # Case-insensitive partial matches on title, handle, SKU and barcode ("tee-s" finds "TEE-S-RED").
    search_fields = ("title", "handle", "variants__sku", "variants__barcode")
    search_help_text = "Title, handle, SKU or barcode (partial, any case)."
    inlines = (VariantInline, ImageInline, AttributeInline)
    list_per_page = 50
    show_full_result_count = False
    readonly_fields = ("origin", "first_published_at", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("title", "handle", "status", "workflow_state", "origin")}),
        ("Content", {"fields": ("description_html", "vendor", "product_type", "tags")}),
        ("Options", {"fields": ("option1_name", "option2_name", "option3_name", "allow_zero_price")}),
        ("Search engine listing", {"fields": ("seo_title", "seo_description"), "classes": ("collapse",)}),
        ("Dates", {"fields": ("first_published_at", "created_at", "updated_at"), "classes": ("collapse",)}),
    )
    history_list_display = ("status", "workflow_state")
    change_form_template = "admin/pim/product/change_form.html"
    change_list_template = "admin/pim/product/change_list.html"
    form = ProductAdminForm
    actions = (set_workflow_state,)

    def get_fieldsets(self, request, obj=None):
        fieldsets = [list(f) for f in super().get_fieldsets(request, obj)]
        if obj is not None:
            first = dict(fieldsets[0][1])
            first["fields"] = (*first["fields"], "version_seen")
            fieldsets[0][1] = first
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if request.user.has_perm(services.APPROVE_PERMISSION) or (
                obj is not None and obj.workflow_state == Product.Workflow.READY):
            return form

        class EditorForm(form):
            """An editor without the approve permission may send a product for review, not set it Ready."""

            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                field = self.fields.get("workflow_state")
                if field is not None:
                    field.choices = [c for c in field.choices if c[0] != Product.Workflow.READY]
                    field.help_text = services.NEEDS_APPROVAL_MESSAGE

        return EditorForm

    def __getattr__(self, name: str):
        # has_<x>_permission of an extension's action (admin.action(permissions=["x"])) comes from the extension.
        if name.startswith("has_") and name.endswith("_permission"):
            for ext in product_admin_extensions():
                check = ext.permissions.get(name[len("has_"):-len("_permission")])
                if check is not None:
                    return lambda request, _check=check: _check(self, request)
        raise AttributeError(name)

    # The list's figures (SKUs, price range, variant count, thumbnail) come from what the changelist prefetches
    # for the page's 50 products; annotating aggregates would make PostgreSQL aggregate the whole catalog's
    # variants on every page (bench/bench_admin.py).

    def get_changelist(self, request, **kwargs):
        # The list's own columns (SKUs) and every extension's (stores, stock) read prefetched or annotated data.
        return _ProductChangeList

    def get_list_display(self, request):
        columns = [c for ext in product_admin_extensions() for c in ext.list_columns]
        base = list(super().get_list_display(request))
        at = base.index("workflow_state")
        return (*base[:at], *columns, *base[at:])

    def get_list_filter(self, request):
        return (*super().get_list_filter(request), *(f for ext in product_admin_extensions() for f in ext.list_filters))

    def get_inlines(self, request, obj):
        return (*super().get_inlines(request, obj), *(i for ext in product_admin_extensions() for i in ext.inlines))

    def get_actions(self, request):
        actions = super().get_actions(request)
        for ext in product_admin_extensions():
            for func in ext.actions:
                action = self.get_action(func)
                if action is not None and self._filter_actions_by_permissions(request, [action]):
                    actions[action[1]] = action
        return actions

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            for ext in product_admin_extensions():
                if ext.search is not None:
                    results = results | ext.search(queryset, term)
                    may_have_duplicates = True
        return results, may_have_duplicates

    def changelist_view(self, request, extra_context=None):
        tools = [{"label": label, "url": url()} for ext in product_admin_extensions()
                 for label, url, allowed in ext.list_tools if allowed(request)]
        return super().changelist_view(request, {**(extra_context or {}), "extension_tools": tools})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        panels = []
        if obj is not None:
            for ext in product_admin_extensions():
                if ext.panel is not None:
                    html = ext.panel(request, obj)
                    if html:
                        panels.append(html)
        extra_context = {**(extra_context or {}), "extension_panels": panels}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="")
    def thumbnail(self, obj: Product):
        images = getattr(obj, "_first_images", None)
        if not images:
            return ""
        return format_html('<img src="{}" alt="" loading="lazy" style="height:32px;width:32px;object-fit:cover">',
                           images[0].src)

    @admin.display(description="SKUs")
    def skus(self, obj: Product) -> str:
        skus = [v.sku for v in obj.variants.all()]  # prefetched by the changelist
        shown = ", ".join(skus[:3])
        return f"{shown} (+{len(skus) - 3})" if len(skus) > 3 else shown

    @admin.display(description="price")
    def price_range(self, obj: Product) -> str:
        prices = [v.price for v in obj.variants.all()]  # prefetched by the changelist
        if not prices:
            return "–"
        low, high = min(prices), max(prices)
        return f"{low:,.2f}" if low == high else f"{low:,.2f} – {high:,.2f}"

    @admin.display(description="variants")
    def variant_count(self, obj: Product) -> int:
        return len(obj.variants.all())

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and obj.is_published:
            fields += ("handle",)
        return fields

    def save_model(self, request, obj, form, change):
        original = form.initial.get("handle") if change else None
        services.product_save(product=obj, actor=request.user, reason="Admin edit", original_handle=original)

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for deleted in formset.deleted_objects:
            deleted._history_user = request.user
            deleted.delete()
        for instance in instances:
            if isinstance(instance, Variant):
                services.variant_save(variant=instance, actor=request.user, reason="Admin edit")
            elif isinstance(instance, ProductAttribute):
                services.attribute_save(attribute=instance, actor=request.user, reason="Admin edit")
            else:
                services._stamp(instance, actor=request.user, reason="Admin edit")
                instance.full_clean()
                instance.save()
        formset.save_m2m()

    def history_revert(self, *, obj, version_id: int, actor, fields: dict):
        return history.product_revert(product=obj, version_id=version_id, actor=actor, fields=fields)

    def delete_model(self, request, obj):
        services.product_delete(product=obj, actor=request.user, reason="Deleted in the admin")

    def delete_queryset(self, request, queryset):
        for product in queryset:
            services.product_delete(product=product, actor=request.user, reason="Deleted in the admin")

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # The admin request is one transaction: the sync jobs are recorded with the edit or not at all.
        services.product_check_integrity(product=form.instance)
        services.catalog_changed(product_ids=[form.instance.pk])
        for ext in product_admin_extensions():
            line = ext.saved(request, form.instance) if ext.saved else None
            if line:
                messages.info(request, line)


class _ProductChangeList(ChangeList):
    """The product list: one query for the page's variants and whatever the extensions prefetch."""

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        first = ProductImage.objects.filter(position=Subquery(
            ProductImage.objects.filter(product=OuterRef("product")).order_by("position", "id").values("position")[:1]))
        queryset = queryset.prefetch_related(
            Prefetch("variants", queryset=Variant.objects.only("id", "product_id", "sku", "price", "position")),
            Prefetch("images", queryset=first.only("id", "product_id", "src", "position"), to_attr="_first_images"))
        for ext in product_admin_extensions():
            if ext.list_queryset is not None:
                queryset = ext.list_queryset(queryset)
        return queryset


class VariantAdminForm(forms.ModelForm):
    class Meta:
        model = Variant
        fields = ("product", *(f for f in VariantInline.fields if f != "sku_issue"))

    def clean(self):
        data = super().clean()
        if "price" in data and self.instance.product_id:
            try:
                services.variant_check_price(product=self.instance.product, price=data["price"])
            except ValidationError as exc:
                self.add_error("price", exc.message_dict["price"])
        return data


@admin.register(Variant)
class VariantAdmin(ServiceHistoryAdmin):
    form = VariantAdminForm
    list_display = ("sku", "product", "option1", "option2", "option3", "price", "inventory_tracked", "sku_issue")
    list_select_related = ("product",)
    search_fields = ("=sku", "barcode", "product__title")
    list_filter = ("inventory_tracked", "inventory_sync_excluded", "adopted", SkuIssueFilter)
    raw_id_fields = ("product",)
    readonly_fields = ("adopted",)

    def get_queryset(self, request):
        return adoption.annotate_sku_shared(super().get_queryset(request))

    def get_inlines(self, request, obj):
        return (*super().get_inlines(request, obj), *(i for ext in variant_admin_extensions() for i in ext.inlines))

    def get_readonly_fields(self, request, obj=None):
        extra = (f for ext in variant_admin_extensions() for f in ext.readonly_fields)
        return (*super().get_readonly_fields(request, obj), *extra)

    @admin.display(description="SKU to fix")
    def sku_issue(self, obj: Variant) -> str:
        return _sku_issue_text(obj)

    def has_add_permission(self, request):
        # Variants are created on their product's page so the product's rules apply.
        return False

    def save_model(self, request, obj, form, change):
        services.variant_save(variant=obj, actor=request.user, reason="Admin edit")
        services.catalog_changed(product_ids=[obj.product_id])

    def history_revert(self, *, obj, version_id: int, actor, fields: dict):
        return history.variant_revert(variant=obj, version_id=version_id, actor=actor, fields=fields)
