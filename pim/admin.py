"""Catalog admin: products with variant, image and attribute inlines, history, and bounded queries."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count
from simple_history.admin import SimpleHistoryAdmin

from . import adoption, services
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
    model = Variant
    formset = VariantInlineFormSet
    extra = 0
    min_num = 1
    readonly_fields = ("sku_issue",)
    fields = (
        "sku",
        "option1",
        "option2",
        "option3",
        "price",
        "compare_at_price",
        "cost",
        "barcode",
        "weight",
        "weight_unit",
        "inventory_tracked",
        "inventory_sync_excluded",
        "position",
        "sku_issue",
    )

    def get_queryset(self, request):
        return adoption.annotate_sku_shared(super().get_queryset(request))

    @admin.display(description="SKU to fix")
    def sku_issue(self, obj: Variant) -> str:
        return _sku_issue_text(obj) if obj.pk else ""

    @staticmethod
    def _is_simple(obj) -> bool:
        return obj is not None and obj.pk is not None and not obj.has_options

    def get_fields(self, request, obj=None):
        # A product without options is shown as a simple product: one variant, no option columns.
        if self._is_simple(obj):
            return [f for f in self.fields if f not in OPTION_FIELDS]
        return list(self.fields)

    def get_max_num(self, request, obj=None, **kwargs):
        return 1 if self._is_simple(obj) else super().get_max_num(request, obj, **kwargs)

    def get_formset(self, request, obj=None, **kwargs):
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


@admin.register(Product)
class ProductAdmin(SimpleHistoryAdmin):
    list_display = (
        "title",
        "handle",
        "vendor",
        "product_type",
        "status",
        "workflow_state",
        "variant_count",
        "updated_at",
    )
    list_filter = ("status", "workflow_state", "origin", SkuIssueFilter, "vendor", "product_type")
    search_fields = ("title", "handle", "=variants__sku")
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

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_variant_count=Count("variants", distinct=True))

    @admin.display(description="variants", ordering="_variant_count")
    def variant_count(self, obj: Product) -> int:
        return obj._variant_count

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
class VariantAdmin(SimpleHistoryAdmin):
    form = VariantAdminForm
    list_display = ("sku", "product", "option1", "option2", "option3", "price", "inventory_tracked", "sku_issue")
    list_select_related = ("product",)
    search_fields = ("=sku", "barcode", "product__title")
    list_filter = ("inventory_tracked", "inventory_sync_excluded", "adopted", SkuIssueFilter)
    raw_id_fields = ("product",)
    readonly_fields = ("adopted",)

    def get_queryset(self, request):
        return adoption.annotate_sku_shared(super().get_queryset(request))

    @admin.display(description="SKU to fix")
    def sku_issue(self, obj: Variant) -> str:
        return _sku_issue_text(obj)

    def has_add_permission(self, request):
        # Variants are created on their product's page so the product's rules apply.
        return False

    def save_model(self, request, obj, form, change):
        services.variant_save(variant=obj, actor=request.user, reason="Admin edit")
        services.catalog_changed(product_ids=[obj.product_id])
