"""Admin of the category tree, and what categories add to the product admin (inline, column, filter, actions).

Categories are edited through ``pim.categories`` services (cycle checks, history with the user, the stores told).
The product admin gets its categories through a ``ProductAdminExtension`` registered in ``PimConfig.ready()``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.db.models import Count, Prefetch
from django.db.models.expressions import RawSQL
from django.template.response import TemplateResponse
from django.utils.html import format_html_join
from simple_history.admin import SimpleHistoryAdmin

from . import categories
from .admin_extensions import ProductAdminExtension
from .models import Category, ProductCategory, ProductTaxonomy, ProductTranslation, TaxonomyCategory
from .translations import translations_changed


class CategoryPathChoiceField(forms.ModelChoiceField):
    """A category select that shows each option's full path, so a parent is chosen without guessing."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._paths: dict[int, str] | None = None

    def label_from_instance(self, obj):
        if self._paths is None:
            self._paths = categories.category_paths()
        return self._paths.get(obj.pk, obj.name)


class CategoryAdminForm(forms.ModelForm):
    parent = CategoryPathChoiceField(queryset=Category.objects.all(), required=False,
                                     help_text=Category._meta.get_field("parent").help_text)

    class Meta:
        model = Category
        fields = ("name", "parent", "handle", "description_html", "position")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            below = categories.category_descendant_ids(category_ids=[self.instance.pk])
            self.fields["parent"].queryset = Category.objects.exclude(pk__in=below)


@admin.register(Category)
class CategoryAdmin(SimpleHistoryAdmin):
    form = CategoryAdminForm
    list_display = ("path", "handle", "product_count", "position")
    search_fields = ("name", "handle")
    ordering = ("parent_id", "position", "name")

    def get_queryset(self, request):
        table = Category._meta.db_table
        # Each row's full path in the same query (a correlated recursive query; nothing kept on the admin object,
        # which all requests share).
        path_sql = f"""(WITH RECURSIVE up(id, parent_id, name, depth) AS (
                SELECT c.id, c.parent_id, c.name, 0 FROM {table} c WHERE c.id = {table}.id
                UNION ALL SELECT p.id, p.parent_id, p.name, up.depth + 1 FROM {table} p JOIN up ON p.id = up.parent_id
            ) SELECT string_agg(name, ' › ' ORDER BY depth DESC) FROM up)"""  # noqa: S608 - table from the model
        return super().get_queryset(request).annotate(n_products=Count("product_links", distinct=True),
                                                      full_path=RawSQL(path_sql, []))  # noqa: S611 - no input

    @admin.display(description="category", ordering="full_path")
    def path(self, obj):
        return getattr(obj, "full_path", None) or obj.name

    @admin.display(description="products (directly)", ordering="n_products")
    def product_count(self, obj):
        return obj.n_products

    def save_model(self, request, obj, form, change):
        categories.category_save(category=obj, actor=request.user, reason="Admin edit")

    def delete_model(self, request, obj):
        categories.category_delete(category=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for category in queryset:
            categories.category_delete(category=category, actor=request.user)


class ProductCategoryInline(admin.TabularInline):
    model = ProductCategory
    extra = 0
    fields = ("category",)
    verbose_name = "category"
    verbose_name_plural = "categories (a product is in any number; mapped ones become Shopify collections)"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "category":
            kwargs["form_class"] = CategoryPathChoiceField
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(TaxonomyCategory)
class TaxonomyCategoryAdmin(admin.ModelAdmin):
    """Shopify's product categories as read from a store (Stores › *Read Shopify's product taxonomy*); read-only,
    searched by the product page's category field."""

    list_display = ("full_name", "id", "is_leaf")
    search_fields = ("full_name",)
    readonly_fields = ("id", "name", "full_name", "level", "is_leaf", "fetched_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ProductTaxonomyInline(admin.StackedInline):
    model = ProductTaxonomy
    extra = 0
    max_num = 1
    autocomplete_fields = ("category",)
    verbose_name = "Shopify product category (standard taxonomy)"
    verbose_name_plural = "Shopify product category (standard taxonomy; search by name, e.g. “t-shirts”)"


class ProductTranslationInline(admin.StackedInline):
    model = ProductTranslation
    extra = 0
    fields = ("locale", "title", "description_html", "seo_title", "seo_description", "option_names",
              "option_values")
    verbose_name = "translation"
    verbose_name_plural = "translations (per locale; an empty field shows the default language in the store)"


def list_queryset(queryset):
    return queryset.prefetch_related(
        Prefetch("category_links", queryset=ProductCategory.objects.select_related("category"))
    )


@admin.display(description="categories")
def categories_column(product):
    names = sorted(link.category.name for link in product.category_links.all())
    return format_html_join(", ", "{}", ((n,) for n in names)) or "—"


class CategoryFilter(admin.SimpleListFilter):
    title = "category (with subcategories)"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        paths = categories.category_paths()
        return sorted(((str(pk), path) for pk, path in paths.items()), key=lambda x: x[1].lower())

    def queryset(self, request, queryset):
        if not (self.value() or "").isdigit():
            return queryset
        ids = categories.category_descendant_ids(category_ids=[int(self.value())])
        return queryset.filter(category_links__category_id__in=ids).distinct()


class CategoryChoiceForm(forms.Form):
    category = CategoryPathChoiceField(queryset=Category.objects.all())


def _category_action(modeladmin, request, queryset, *, action: str, title: str, intro: str, add: bool):
    form = CategoryChoiceForm(request.POST if request.POST.get("confirmed") == "yes" else None)
    if request.POST.get("confirmed") == "yes" and form.is_valid():
        category = form.cleaned_data["category"]
        ids = list(queryset.values_list("pk", flat=True))
        with transaction.atomic():
            if add:
                count = categories.products_category_add(product_ids=ids, category=category, actor=request.user)
            else:
                count = categories.products_category_remove(product_ids=ids, category=category, actor=request.user)
        verb = "added to" if add else "removed from"
        modeladmin.message_user(request, f"{count} product(s) {verb} {category.name}.", messages.SUCCESS)
        return None
    return TemplateResponse(request, "admin/pim/category_action.html", {
        **modeladmin.admin_site.each_context(request), "title": title, "intro": intro, "objects": queryset[:200],
        "count": queryset.count(), "form": form, "action": action, "opts": modeladmin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME, "ids": list(queryset.values_list("pk", flat=True)),
    })


@admin.action(description="Add to a category…", permissions=["change"])
def add_to_category(modeladmin, request, queryset):
    return _category_action(modeladmin, request, queryset, action="add_to_category", title="Add to a category",
                            intro="The selected products are added to the category you choose; stores that map "
                                  "it to a collection get them there.", add=True)


@admin.action(description="Remove from a category…", permissions=["change"])
def remove_from_category(modeladmin, request, queryset):
    return _category_action(modeladmin, request, queryset, action="remove_from_category",
                            title="Remove from a category",
                            intro="The selected products leave the category you choose (and its mapped "
                                  "collections).", add=False)


def categories_panel(request, product) -> str:
    """The product page's record of category changes: who added or removed which category, when (last 20)."""
    from django.utils.html import format_html

    rows = list(ProductCategory.history.filter(product_id=product.pk).select_related("history_user")
                .order_by("-history_date")[:20])
    if not rows:
        return ""
    paths = categories.category_paths()
    items = format_html_join("", "<li>{} — {} {} ({})</li>", (
        (f"{r.history_date:%Y-%m-%d %H:%M}", "added to" if r.history_type == "+" else "removed from",
         paths.get(r.category_id, f"category {r.category_id}"), r.history_user or "system")
        for r in rows))
    return format_html("<h2>Category changes</h2><ul>{}</ul>", items)


def product_saved(request, product) -> str | None:
    """After a product page save: the categories inline may have changed, so tell the stores (they no-op if not)."""
    categories.categories_changed(product_ids=[product.pk], category_ids=[])
    translations_changed(product_ids=[product.pk])  # the translations inline may have changed too
    return None


def extension() -> ProductAdminExtension:
    return ProductAdminExtension(
        name="categories",
        inlines=(ProductCategoryInline, ProductTaxonomyInline, ProductTranslationInline),
        list_columns=(categories_column,),
        list_filters=(CategoryFilter,),
        list_queryset=list_queryset,
        actions=(add_to_category, remove_from_category),
        panel=categories_panel,
        saved=product_saved,
    )
