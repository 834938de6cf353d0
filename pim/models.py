"""The catalog: products, variants, images and typed attributes (metafields). The PIM is their master."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from .adoption import validate_adopted_handle
from .validators import METAFIELD_TYPES, validate_handle


class Product(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    class Workflow(models.TextChoices):
        # Only READY products reach any store; DRAFT and REVIEW stay inside the PIM.
        DRAFT = "draft", "Draft (PIM only)"
        REVIEW = "review", "In review (PIM only)"
        READY = "ready", "Ready to publish"

    class Origin(models.TextChoices):
        # The PIM's own rules (ASCII handles, required and unique SKUs) hold for products created in the PIM;
        # a catalog adopted from a store keeps what Shopify allows, and what breaks the PIM's rules is flagged.
        PIM = "pim", "Created in the PIM"
        SHOPIFY = "shopify", "Adopted from a Shopify store"

    title = models.CharField(max_length=255)
    handle = models.CharField(
        max_length=255,
        unique=True,
        blank=True,
        help_text="URL handle in Shopify. Left empty, it is made from the title. "
        "It cannot be changed once the product has been published to a store.",
    )
    description_html = models.TextField("description (HTML)", blank=True)
    vendor = models.CharField(max_length=255, blank=True, db_index=True)
    product_type = models.CharField(max_length=255, blank=True, db_index=True)
    tags = models.TextField(blank=True, help_text="Comma-separated tags.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    workflow_state = models.CharField(
        max_length=16, choices=Workflow.choices, default=Workflow.DRAFT, db_index=True
    )
    seo_title = models.CharField("SEO title", max_length=255, blank=True)
    seo_description = models.TextField("SEO description", blank=True)
    option1_name = models.CharField(max_length=255, blank=True)
    option2_name = models.CharField(max_length=255, blank=True)
    option3_name = models.CharField(max_length=255, blank=True)
    allow_zero_price = models.BooleanField(
        default=False, help_text="Allow variants priced 0 (free items). Off by default to stop mistakes."
    )
    origin = models.CharField(
        max_length=16, choices=Origin.choices, default=Origin.PIM, editable=False,
        help_text="Where the product was created: in the PIM, or adopted from a Shopify store's catalog.",
    )
    # Set by the publishing pipeline on the first successful publish to any store; the handle is frozen after.
    first_published_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Optimistic concurrency: every change to the product or its children moves it on, so a page saved from an
    # older version is refused instead of silently overwriting someone else's edit.
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["title"])]
        permissions = [("approve_product", "Can approve products: set them Ready to publish")]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if self.handle:
            check = validate_adopted_handle if self.origin == self.Origin.SHOPIFY else validate_handle
            try:
                check(self.handle)
            except ValidationError as exc:
                raise ValidationError({"handle": exc.messages})
        names = [self.option1_name, self.option2_name, self.option3_name]
        filled = [bool(n) for n in names]
        if filled != sorted(filled, reverse=True):
            raise ValidationError("Fill option names in order: option 1 first, then option 2, then option 3.")
        given = [n.strip().lower() for n in names if n]
        if len(given) != len(set(given)):
            raise ValidationError("Option names must be different from each other.")

    @property
    def is_adopted(self) -> bool:
        return self.origin == self.Origin.SHOPIFY

    @property
    def option_names(self) -> list[str]:
        return [n for n in (self.option1_name, self.option2_name, self.option3_name) if n]

    @property
    def has_options(self) -> bool:
        return bool(self.option_names)

    @property
    def tag_list(self) -> list[str]:
        return split_tags(self.tags)

    @property
    def is_published(self) -> bool:
        return self.first_published_at is not None


def split_tags(raw: str) -> list[str]:
    """Split a comma-separated tag string into unique, trimmed tags in their first order."""
    seen: dict[str, None] = {}
    for tag in (raw or "").split(","):
        tag = " ".join(tag.split())
        if tag and tag.lower() not in {t.lower() for t in seen}:
            seen[tag] = None
    return list(seen)


class Variant(models.Model):
    class WeightUnit(models.TextChoices):
        GRAMS = "GRAMS", "g"
        KILOGRAMS = "KILOGRAMS", "kg"
        OUNCES = "OUNCES", "oz"
        POUNDS = "POUNDS", "lb"

    product = models.ForeignKey(Product, related_name="variants", on_delete=models.CASCADE)
    # Required and unique for variants created in the PIM (constraints below); a variant adopted from a store
    # may have none or share one, as Shopify allows, and is flagged for a manager to fix (pim.adoption).
    sku = models.CharField("SKU", max_length=255, blank=True, db_index=True)
    barcode = models.CharField(max_length=255, blank=True)
    option1 = models.CharField(max_length=255, blank=True)
    option2 = models.CharField(max_length=255, blank=True)
    option3 = models.CharField(max_length=255, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    compare_at_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    cost = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))]
    )
    weight = models.DecimalField(
        max_digits=10, decimal_places=3, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))]
    )
    weight_unit = models.CharField(max_length=16, choices=WeightUnit.choices, default=WeightUnit.KILOGRAMS)
    inventory_tracked = models.BooleanField(default=True)
    # Excluded variants never get inventory pushed to any store (e.g. made to order).
    inventory_sync_excluded = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=1)
    adopted = models.BooleanField(
        default=False, editable=False,
        help_text="Came with a catalog adopted from a Shopify store: the PIM's SKU rules are not enforced on it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["product_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sku"],
                condition=Q(adopted=False),
                name="variant_unique_sku_when_created_in_pim",
                violation_error_message="Variant with this SKU already exists.",
            ),
            models.CheckConstraint(
                condition=Q(adopted=True) | ~Q(sku=""),
                name="variant_sku_required_when_created_in_pim",
                violation_error_message="Enter a SKU.",
            ),
            models.UniqueConstraint(
                fields=["product", "option1", "option2", "option3"],
                name="variant_unique_option_combination",
                violation_error_message="Another variant of this product already has these option values.",
            ),
            models.CheckConstraint(
                condition=Q(compare_at_price__isnull=True) | Q(compare_at_price__gte=0),
                name="variant_compare_at_price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        values = " / ".join(self.option_values)
        label = self.sku or "(no SKU)"
        return f"{label} ({values})" if values else label

    def clean(self) -> None:
        self.sku = (self.sku or "").strip()
        if self.adopted:
            return
        if not self.sku:
            raise ValidationError({"sku": "Enter a SKU."})
        # The unique constraint only covers PIM variants; a PIM variant may not take an adopted variant's SKU.
        if Variant.objects.filter(sku=self.sku).exclude(pk=self.pk).exists():
            raise ValidationError({"sku": "Variant with this SKU already exists."})

    @property
    def option_values(self) -> list[str]:
        return [v for v in (self.option1, self.option2, self.option3) if v]


class ProductImage(models.Model):
    product = models.ForeignKey(Product, related_name="images", on_delete=models.CASCADE)
    src = models.URLField("image URL", max_length=2000)
    alt = models.CharField("alt text", max_length=512, blank=True)
    position = models.PositiveIntegerField(default=1)

    history = HistoricalRecords()

    class Meta:
        ordering = ["product_id", "position", "id"]

    def __str__(self) -> str:
        return self.alt or self.src.rsplit("/", 1)[-1]


class ProductAttribute(models.Model):
    """A typed extended attribute; the store's field selection maps it to a Shopify metafield."""

    product = models.ForeignKey(Product, related_name="attributes", on_delete=models.CASCADE)
    namespace = models.CharField(max_length=255, default="pim")
    key = models.CharField(max_length=64)
    type = models.CharField(max_length=32, choices=METAFIELD_TYPES, default="single_line_text_field")
    value = models.TextField()

    history = HistoricalRecords()

    class Meta:
        verbose_name = "attribute (metafield)"
        verbose_name_plural = "attributes (metafields)"
        ordering = ["product_id", "namespace", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "namespace", "key"],
                name="attribute_unique_per_product",
                violation_error_message="This product already has an attribute with this namespace and key.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.namespace}.{self.key}"


class Category(models.Model):
    """A node of the catalog's category tree (issue 19). A store maps a category to one of its collections."""

    name = models.CharField(max_length=255)
    parent = models.ForeignKey(
        "self", related_name="children", null=True, blank=True, on_delete=models.PROTECT,
        help_text="Leave empty for a top-level category. A category cannot be moved under itself or its children.",
    )
    handle = models.CharField(
        max_length=255, unique=True, blank=True, validators=[validate_handle],
        help_text="Suggested handle of the Shopify collection the PIM creates for it. Left empty, made from the name.",
    )
    description_html = models.TextField("description (HTML)", blank=True)
    position = models.PositiveIntegerField(default=0)
    products = models.ManyToManyField(Product, through="ProductCategory", related_name="categories", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["position", "name", "id"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name"], name="category_unique_name_per_parent", nulls_distinct=False,
                violation_error_message="Another category with this name already has the same parent.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ProductCategory(models.Model):
    """A product in a category (a product belongs to any number); each add and remove is kept in history."""

    product = models.ForeignKey(Product, related_name="category_links", on_delete=models.CASCADE)
    category = models.ForeignKey(Category, related_name="product_links", on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["product_id", "category_id"]
        verbose_name = "category of the product"
        verbose_name_plural = "categories of the product"
        constraints = [
            models.UniqueConstraint(
                fields=["product", "category"], name="product_category_unique",
                violation_error_message="The product is already in this category.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.product_id} in {self.category_id}"


class TaxonomyCategory(models.Model):
    """A category of Shopify's standard product taxonomy, as read from a shop through the API (issue 19)."""

    id = models.CharField(primary_key=True, max_length=255)  # gid://shopify/TaxonomyCategory/aa-1-13-8
    name = models.CharField(max_length=255)
    full_name = models.CharField(max_length=1000, db_index=True)
    level = models.PositiveSmallIntegerField(default=1)
    is_leaf = models.BooleanField(default=True)
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["full_name"]
        verbose_name = "Shopify product category"
        verbose_name_plural = "Shopify product categories (taxonomy)"

    def __str__(self) -> str:
        return self.full_name


class ProductTaxonomy(models.Model):
    """The Shopify standard product category of a product, sent with it to every store (issue 19)."""

    product = models.OneToOneField(Product, primary_key=True, related_name="taxonomy", on_delete=models.CASCADE)
    category = models.ForeignKey(TaxonomyCategory, on_delete=models.PROTECT, related_name="+")

    history = HistoricalRecords()

    class Meta:
        verbose_name = "Shopify product category"
        verbose_name_plural = "Shopify product category"

    def __str__(self) -> str:
        return str(self.category_id)


class ProductTranslation(models.Model):
    """A product's content in one locale (issue 19); an empty field falls back to the default language."""

    product = models.ForeignKey(Product, related_name="translations", on_delete=models.CASCADE)
    locale = models.CharField(max_length=16, help_text="Shopify locale code, e.g. fr, de, pt-BR.",
                              validators=[RegexValidator(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$",
                                                         "Use a locale code such as fr, de or pt-BR.")])
    title = models.CharField(max_length=255, blank=True)
    description_html = models.TextField("description (HTML)", blank=True)
    seo_title = models.CharField("SEO title", max_length=255, blank=True)
    seo_description = models.TextField("SEO description", blank=True)
    option_names = models.JSONField(default=dict, blank=True,
                                    help_text='Option name → translation, e.g. {"Size": "Taille"}.')
    option_values = models.JSONField(default=dict, blank=True,
                                     help_text='Option value → translation, e.g. {"Blue": "Bleu"}.')

    history = HistoricalRecords()

    class Meta:
        ordering = ["product_id", "locale"]
        constraints = [models.UniqueConstraint(fields=["product", "locale"], name="product_translation_unique",
                                               violation_error_message="This product already has this locale.")]

    def __str__(self) -> str:
        return f"{self.product_id} [{self.locale}]"

    def clean(self) -> None:
        for name in ("option_names", "option_values"):
            value = getattr(self, name)
            if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                      for k, v in value.items()):
                raise ValidationError({name: 'Give an object of texts, e.g. {"Blue": "Bleu"}.'})
