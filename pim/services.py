"""Write services of the catalog: every change to products goes through here.

Each service validates the whole change, saves it with the history user and change reason, and tells the
publishing pipeline which products changed (inside the caller's transaction, so the sync jobs are recorded
atomically with the edit).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from slugify import slugify

from .hooks import catalog_changed_notify
from .models import Product, ProductAttribute, ProductImage, Variant
from .validators import (
    HANDLE_MAX_LENGTH,
    MAX_IMAGES_PER_PRODUCT,
    validate_metafield_key,
    validate_metafield_namespace,
    validate_metafield_value,
    validate_tags,
    validate_variant_count,
)

PRODUCT_FIELDS = (
    "title",
    "handle",
    "description_html",
    "vendor",
    "product_type",
    "tags",
    "status",
    "workflow_state",
    "seo_title",
    "seo_description",
    "option1_name",
    "option2_name",
    "option3_name",
    "allow_zero_price",
)
VARIANT_FIELDS = (
    "sku",
    "barcode",
    "option1",
    "option2",
    "option3",
    "price",
    "compare_at_price",
    "cost",
    "weight",
    "weight_unit",
    "inventory_tracked",
    "inventory_sync_excluded",
    "position",
)

HANDLE_IMMUTABLE_MESSAGE = (
    "The handle cannot be changed because this product has been published to a store: Shopify uses the "
    "handle in the product's URL, so changing it would break links, search results and the binding with "
    "the store. Set a per-store handle on the channel assignment instead."
)


def _stamp(instance: Any, *, actor: AbstractBaseUser | None, reason: str | None) -> None:
    """Attach the history user and change reason django-simple-history records with the next save."""
    if actor is not None and getattr(actor, "pk", None):
        instance._history_user = actor
    if reason:
        instance._change_reason = reason[:100]
SIMPLE_PRODUCT_MESSAGE = (
    "A product without options is a simple product and has exactly one variant; add an option name "
    "(such as Size) to sell several variants."
)


# --- handles -----------------------------------------------------------------------------------------


def handle_from_title(*, title: str) -> str:
    """Return the Shopify-style base handle for ``title`` (lowercase ASCII letters, digits, hyphens)."""
    base = slugify(title or "", max_length=HANDLE_MAX_LENGTH - 8, word_boundary=False, lowercase=True)
    return base or "product"


def handle_generate(*, title: str, exclude_product_id: int | None = None) -> str:
    """Return a free handle made from ``title``, adding ``-1``, ``-2``... on collision as Shopify does."""
    base = handle_from_title(title=title)
    taken = set(
        Product.objects.filter(handle__regex=rf"^{base}(-[0-9]+)?$")
        .exclude(pk=exclude_product_id)
        .values_list("handle", flat=True)
    )
    if base not in taken:
        return base
    suffix = 1
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"


# --- validation --------------------------------------------------------------------------------------


def variant_check_price(*, product: Product, price: Decimal | None, field: str = "price") -> None:
    """Refuse a price of 0 or less unless the product is marked as allowed to be free.

    Raises ValidationError keyed on ``field``.
    """
    if price is None:
        raise ValidationError({field: "Enter a price."})
    if price < 0:
        raise ValidationError({field: "A price cannot be negative."})
    if price == 0 and not product.allow_zero_price:
        raise ValidationError(
            {
                field: "A price of 0 is refused to protect against publishing free products by mistake. "
                "Tick 'Allow zero price' on the product if this item really is free."
            }
        )


def product_check_integrity(*, product: Product) -> None:
    """Check the rules that span a product and its children: variants, prices and image count.

    Raises ValidationError with one message per broken rule.
    """
    errors: list[str] = []
    variants = list(product.variants.all())
    if not variants:
        errors.append("A product needs at least one variant (a simple product has exactly one).")
    if not product.has_options and len(variants) > 1:
        errors.append(SIMPLE_PRODUCT_MESSAGE)
    option_names = [product.option1_name, product.option2_name, product.option3_name]
    for variant in variants:
        values = [variant.option1, variant.option2, variant.option3]
        for index, (name, value) in enumerate(zip(option_names, values, strict=True), start=1):
            if name and not value:
                errors.append(f"Variant {variant.sku or variant.position} needs a value for option '{name}'.")
            if value and not name:
                errors.append(f"Variant {variant.sku or variant.position} has a value for option {index}, which the product does not define.")
        try:
            variant_check_price(product=product, price=variant.price)
        except ValidationError as exc:
            errors.extend(f"Variant {variant.sku or variant.position}: {m}" for m in exc.messages)
    if product.images.count() > MAX_IMAGES_PER_PRODUCT:
        errors.append(f"A product can have at most {MAX_IMAGES_PER_PRODUCT} images.")
    for check, value in ((validate_variant_count, len(variants)), (validate_tags, product.tags)):
        try:
            check(value)
        except ValidationError as exc:
            errors.extend(exc.messages)
    if errors:
        raise ValidationError(errors)


# --- products ----------------------------------------------------------------------------------------


APPROVE_PERMISSION = "pim.approve_product"
NEEDS_APPROVAL_MESSAGE = (
    "Only a catalog manager with the approve permission can set a product Ready to publish; send it for review "
    "instead."
)


class ConcurrentEditError(ValidationError):
    """The product changed since the editor loaded it; ``other_change`` says who changed what, when."""

    def __init__(self, message: str, *, other_change: str = ""):
        super().__init__(message)
        self.other_change = other_change


def product_check_approval(*, product: Product, actor: AbstractBaseUser | None, previous_state: str | None) -> None:
    """Refuse moving a product to Ready (the state that publishes) for a user without the approve permission.

    Services called without a user (imports, onboarding, the demo) are trusted. Raises ValidationError.
    """
    if actor is None or product.workflow_state != Product.Workflow.READY or previous_state == Product.Workflow.READY:
        return
    if not actor.has_perm(APPROVE_PERMISSION):
        raise ValidationError({"workflow_state": NEEDS_APPROVAL_MESSAGE})


def product_check_version(*, product_id: int, expected_version: int) -> None:
    """Lock the product row and refuse the edit if it moved on since ``expected_version`` was loaded.

    Call inside the edit's transaction: the lock holds until it commits, so two saves of one version cannot
    both pass. Raises ConcurrentEditError naming the other person's change.
    """
    current = Product.objects.select_for_update().filter(pk=product_id).values_list("version", flat=True).first()
    if current is None or current == expected_version:
        return
    other = product_last_change(product_id=product_id)
    raise ConcurrentEditError(
        "Someone else saved this product while you were editing it, so your changes were not saved. "
        + (other + " " if other else "")
        + "Reload the page to see their version, then make your change again.",
        other_change=other,
    )


def product_last_change(*, product_id: int) -> str:
    """Describe the latest recorded change of the product: who, when and which of its own fields."""
    records = list(Product.history.filter(id=product_id).order_by("-history_date", "-history_id")[:2])
    if not records:
        return ""
    latest = records[0]
    who = latest.history_user.get_username() if latest.history_user else "a background task"
    when = latest.history_date.strftime("%Y-%m-%d %H:%M")
    changed = ""
    if len(records) == 2:
        delta = latest.diff_against(records[1], excluded_fields=["version", "updated_at"])
        names = [Product._meta.get_field(c.field).verbose_name for c in delta.changes]
        if names:
            changed = " (changed: " + ", ".join(names) + ")"
    reason = f" — {latest.history_change_reason}" if latest.history_change_reason else ""
    return f"Last change by {who} at {when} UTC{changed}{reason}."


def _prepare_product(*, product: Product, original_handle: str | None) -> None:
    handle_changed = original_handle is not None and product.handle != original_handle
    if product.pk and product.first_published_at and handle_changed:
        raise ValidationError({"handle": HANDLE_IMMUTABLE_MESSAGE})
    if not product.handle:
        product.handle = handle_generate(title=product.title, exclude_product_id=product.pk)
    product.full_clean()


def product_save(
    *,
    product: Product,
    actor: AbstractBaseUser | None = None,
    reason: str | None = None,
    original_handle: str | None = None,
) -> Product:
    """Validate and save ``product``'s own fields (not its children), recording history and moving its version on.

    Generates the handle when empty and refuses a handle change after the first publish. ``original_handle``
    is the handle stored in the database before the edit (looked up when not given). Raises ValidationError,
    also when ``actor`` sets it Ready to publish without the approve permission.
    """
    stored = (Product.objects.filter(pk=product.pk).values("handle", "workflow_state", "version").first()
              if product.pk else None)
    if stored and original_handle is None:
        original_handle = stored["handle"]
    product_check_approval(product=product, actor=actor, previous_state=stored["workflow_state"] if stored else None)
    _prepare_product(product=product, original_handle=original_handle)
    if stored:
        product.version = stored["version"] + 1
    _stamp(product, actor=actor, reason=reason)
    product.save()
    return product


@transaction.atomic
def product_create(
    *,
    actor: AbstractBaseUser | None = None,
    reason: str = "Created",
    variants: Sequence[dict[str, Any]],
    images: Sequence[dict[str, Any]] = (),
    attributes: Sequence[dict[str, Any]] = (),
    origin: str = Product.Origin.PIM,
    **fields: Any,
) -> Product:
    """Create a product with its variants, images and attributes in one transaction.

    ``fields`` are Product fields (see PRODUCT_FIELDS). With ``origin="shopify"`` (a product adopted from a
    store) the PIM's handle and SKU rules are relaxed to Shopify's (see ``pim.adoption``). Raises
    ValidationError (nothing is saved) for a bad handle, a missing or duplicate SKU (PIM products), a zero
    price without permission, too many images or a wrong attribute type.
    """
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown product fields: {', '.join(sorted(unknown))}.")
    product = Product(**fields, origin=origin)
    if not variants:
        raise ValidationError("A product needs at least one variant (a simple product has exactly one).")
    if not product.has_options and len(variants) > 1:
        raise ValidationError(SIMPLE_PRODUCT_MESSAGE)
    product_save(product=product, actor=actor, reason=reason)
    # Variants of a product adopted from a store keep what Shopify allows (no SKU, a shared SKU).
    adopted = product.origin == Product.Origin.SHOPIFY
    for position, data in enumerate(variants, start=1):
        variant = Variant(product=product, **{"position": position, **data}, adopted=adopted)
        variant_save(variant=variant, actor=actor, reason=reason)
    if len(images) > MAX_IMAGES_PER_PRODUCT:
        raise ValidationError(f"A product can have at most {MAX_IMAGES_PER_PRODUCT} images.")
    for position, data in enumerate(images, start=1):
        image = ProductImage(product=product, **{"position": position, **data})
        image.full_clean()
        _stamp(image, actor=actor, reason=reason)
        image.save()
    for data in attributes:
        attribute_save(attribute=ProductAttribute(product=product, **data), actor=actor, reason=reason)
    product_check_integrity(product=product)
    catalog_changed(product_ids=[product.pk])
    return product


@transaction.atomic
def product_update(
    *,
    product: Product,
    actor: AbstractBaseUser | None = None,
    reason: str = "Updated",
    **fields: Any,
) -> Product:
    """Change product fields and record the change for publishing.

    Raises ValidationError for unknown fields, a handle change after publishing, or invalid values.
    """
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown product fields: {', '.join(sorted(unknown))}.")
    original_handle = product.handle
    for name, value in fields.items():
        setattr(product, name, value)
    product_save(product=product, actor=actor, reason=reason, original_handle=original_handle)
    product_check_integrity(product=product)
    catalog_changed(product_ids=[product.pk])
    return product


@transaction.atomic
def product_delete(*, product: Product, actor: AbstractBaseUser | None = None, reason: str = "Deleted") -> None:
    """Delete a product from the PIM; the pipeline unpublishes it (draft or archive) in every store."""
    product_id = product.pk
    catalog_changed(product_ids=[product_id], deleted=True)
    _stamp(product, actor=actor, reason=reason)
    product.delete()


def variant_save(*, variant: Variant, actor: AbstractBaseUser | None = None, reason: str | None = None) -> Variant:
    """Validate (including zero-price protection) and save one variant. Raises ValidationError."""
    variant.full_clean()
    variant_check_price(product=variant.product, price=variant.price)
    _stamp(variant, actor=actor, reason=reason)
    variant.save()
    return variant


def attribute_save(
    *, attribute: ProductAttribute, actor: AbstractBaseUser | None = None, reason: str | None = None
) -> ProductAttribute:
    """Validate the value against the attribute's type, store its canonical form and save it.

    Raises ValidationError naming the type when the value does not fit it.
    """
    identity: dict[str, list[str]] = {}
    for name, check in (("namespace", validate_metafield_namespace), ("key", validate_metafield_key)):
        try:
            check(getattr(attribute, name))
        except ValidationError as exc:
            identity[name] = exc.messages
    if identity:
        raise ValidationError(identity)
    try:
        attribute.value = validate_metafield_value(type_name=attribute.type, value=attribute.value)
    except ValidationError as exc:
        raise ValidationError({"value": exc.messages})
    attribute.full_clean()
    _stamp(attribute, actor=actor, reason=reason)
    attribute.save()
    return attribute


@transaction.atomic
def variant_update(
    *, variant: Variant, actor: AbstractBaseUser | None = None, reason: str = "Updated", **fields: Any
) -> Variant:
    """Change variant fields and record the change for publishing. Raises ValidationError."""
    unknown = set(fields) - set(VARIANT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown variant fields: {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(variant, name, value)
    variant_save(variant=variant, actor=actor, reason=reason)
    catalog_changed(product_ids=[variant.product_id])
    return variant


def catalog_changed(*, product_ids: Iterable[int], deleted: bool = False) -> None:
    """Tell the publishing pipeline that these products changed, inside the current transaction.

    The pipeline (channels) records one pending sync job per assigned store through the handler it registered
    in ``pim.hooks`` (pim does not know about stores). Raises ImproperlyConfigured if none is registered.
    """
    ids = list(product_ids)
    if not deleted:
        # Any change to a product's children is a change of the product for optimistic concurrency.
        Product.objects.filter(pk__in=ids).update(version=F("version") + 1)
    catalog_changed_notify(product_ids=ids, deleted=deleted)
