"""The field registry: every field the PIM keeps in sync with Shopify, declared once.

Each ``SyncedField`` says which store field group carries it (``Store.publish_fields``), how its value is read
from the PIM (with the store's overrides) and normalised into the snapshot, what it writes into ``productSet``,
how it is read back from a live Shopify product, and how a Shopify value is accepted into the PIM. The payload
builder, the snapshot of a live product, the drift compare, the conflict policies, conflict *accept* and the admin
read this list instead of listing fields themselves.

Snapshot shape (what the PIM last wrote, and a live product read the same way)::

    {"title": ..., ..., "options": [...], "images": [[src, alt], ...],
     "metafields": {"ns.key": [type, value]},
     "variants": {"<PIM variant id>": {"sku": ..., "options": [...], "price": ..., ...}}}

Variants are keyed by the PIM variant's id, not by SKU: several variants adopted from a store may have no SKU (or
share one). A live variant is matched to its key through the store's variant bindings (Shopify variant id), else by
a SKU unique among the written variants; a live variant matching none is keyed ``shopify:<id>``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from typing import Any

from pim.models import split_tags

# --- normalisation ------------------------------------------------------------------------------------


class _HTMLNormaliser(HTMLParser):
    """Re-serialise HTML with collapsed whitespace and sorted attributes, so equal markup compares equal."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        rendered = "".join(f' {k}="{v or ""}"' for k, v in sorted(attrs))
        self.parts.append(f"<{tag}{rendered}>")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag not in {"br", "img", "hr", "input", "meta", "link"}:
            self.parts.append(f"</{tag}>")

    def handle_data(self, data):
        self.parts.append(data)


def normalise_html(value: str | None) -> str:
    """Return ``value`` with whitespace collapsed, void tags unified and attributes ordered."""
    if not value:
        return ""
    parser = _HTMLNormaliser()
    parser.feed(value)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r">\s+<", "><", text)
    return text.strip()


def normalise_decimal(value: Any) -> str | None:
    """Return a price as a fixed two-decimal string ("20" and "20.00" compare equal); None stays None."""
    if value is None or value == "":
        return None
    try:
        return str(Decimal(str(value)).quantize(Decimal("0.01")))
    except InvalidOperation:
        return str(value)


def normalise_tags(value: Any) -> list[str]:
    """Return tags trimmed, de-duplicated case-insensitively and sorted (Shopify does not keep tag order)."""
    tags = split_tags(value) if isinstance(value, str) else [" ".join(str(t).split()) for t in value or []]
    unique = {t.lower(): t for t in tags if t}
    return sorted(unique.values(), key=str.lower)


def normalise_text(value: Any) -> str:
    return " ".join(str(value or "").split())


def snapshot_hash(snapshot: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, default=str).encode()).hexdigest()


def nodes_of(connection: Any) -> list[dict[str, Any]]:
    """Items of a GraphQL connection given as a list, as ``nodes`` or as ``edges``."""
    if not connection:
        return []
    if isinstance(connection, list):
        return connection
    if "nodes" in connection:
        return connection["nodes"]
    return [edge["node"] for edge in connection.get("edges", [])]


# --- the registry -------------------------------------------------------------------------------------

# Store field groups (Store.publish_fields): an unselected group is never sent to, or touched in, Shopify.
PUBLISH_GROUPS = (
    ("title", "Title"),
    ("description", "Description"),
    ("vendor", "Vendor"),
    ("product_type", "Product type"),
    ("tags", "Tags"),
    ("status", "Status"),
    ("seo", "SEO title and description"),
    ("variants", "Options and variants (SKU, barcode, weight)"),
    ("prices", "Prices and compare-at prices"),
    ("images", "Images"),
    ("metafields", "Attributes as metafields"),
)

# Write sections of one publish: which parts of productSet (or metafieldsSet) a changed field needs.
CORE, HANDLE, VARIANTS, IMAGES, METAFIELDS = "core", "handle", "variants", "images", "metafields"

MISSING = object()  # a field with no value for this product (e.g. no Shopify category): left out entirely


@dataclass(frozen=True)
class PimContext:
    """What the PIM side of a field reads: the product, its store assignment and (for variant fields) a variant."""

    product: Any
    assignment: Any
    variant: Any = None
    override: Any = None  # the variant's per-store price override, if any


@dataclass(frozen=True)
class SyncedField:
    key: str  # snapshot key and conflict field ("title", "variant.price")
    label: str
    groups: tuple[str, ...]  # any of these store groups carries it; () = always sent (the handle)
    section: str  # write section of productSet it belongs to
    pim: Callable[[PimContext], Any]  # the normalised value written (the snapshot value)
    write: Callable[[PimContext], dict] | None  # its fragment of the productSet (variant) input
    shopify: Callable[[dict], Any] | None  # the normalised value of a live product (variant) node; None: not compared
    accept: Callable[..., None] | None = None  # (*, store, product, variant, raw, actor, reason); None: cannot accept

    @property
    def level(self) -> str:
        return "variant" if self.key.startswith("variant.") else "product"

    @property
    def name(self) -> str:
        """The key inside its snapshot level ("price" for "variant.price")."""
        return self.key.split(".", 1)[1] if self.level == "variant" else self.key

    @property
    def compared(self) -> bool:
        return self.shopify is not None


def _accept_product(attribute: str, convert: Callable[[str], Any] = lambda raw: raw):
    def accept(*, product, raw: str, actor, reason: str, **_):
        from pim import services as pim_services

        pim_services.product_update(product=product, actor=actor, reason=reason, **{attribute: convert(raw)})

    return accept


def _accept_variant(attribute: str, convert: Callable[[str], Any] = lambda raw: raw):
    def accept(*, variant, raw: str, actor, reason: str, **_):
        from pim import services as pim_services

        pim_services.variant_update(variant=variant, actor=actor, reason=reason, **{attribute: convert(raw)})

    return accept


def _price(raw: str) -> Decimal | None:
    from django.core.exceptions import ValidationError

    try:
        return Decimal(raw) if raw else None
    except InvalidOperation:
        raise ValidationError(f"'{raw}' is not a price.") from None


def _tags_text(raw: str) -> str:
    return ", ".join(json.loads(raw)) if raw else ""


def _accept_metafield(*, store, product, field: str, raw: str, actor, reason: str, **_):
    from pim import services as pim_services

    namespace_key = field.split(":", 1)[1]
    value = json.loads(raw)[1] if raw else ""
    mapped = {(m.metafield_namespace, m.metafield_key): (m.attribute_namespace, m.attribute_key)
              for m in store.metafield_mappings.all()}
    namespace, key = namespace_key.split(".", 1)
    namespace, key = mapped.get((namespace, key), (namespace, key))
    attribute = product.attributes.get(namespace=namespace, key=key)
    attribute.value = value
    pim_services.attribute_save(attribute=attribute, actor=actor, reason=reason)
    pim_services.catalog_changed(product_ids=[product.pk])


def _status(ctx: PimContext) -> str:
    return (ctx.assignment.status_override or ctx.product.status).upper()


def _category(ctx: PimContext):
    # Issue 19: Shopify's standard product category travels with the product type (a reverse one-to-one).
    taxonomy = getattr(ctx.product, "taxonomy", None)
    return taxonomy.category_id if taxonomy is not None else MISSING


def _weight(ctx: PimContext) -> str | None:
    # Shopify reads a zero weight back as no weight: both are "none", or every publish would see a conflict.
    variant = ctx.variant
    if variant.weight is None or variant.weight == 0:
        return None
    return f"{variant.weight.normalize():f} {variant.weight_unit}"


def _weight_write(ctx: PimContext) -> dict:
    variant = ctx.variant
    item: dict[str, Any] = {"tracked": variant.inventory_tracked, "sku": variant.sku}
    if variant.cost is not None:
        item["cost"] = str(variant.cost)
    if variant.weight is not None:
        item["measurement"] = {"weight": {"value": float(variant.weight), "unit": variant.weight_unit}}
    return {"inventoryItem": item}


def _live_weight(v: dict) -> str | None:
    measurement = ((v.get("inventoryItem") or {}).get("measurement") or {}).get("weight")
    if measurement and measurement.get("value") not in (None, 0, 0.0):
        return f"{Decimal(str(measurement['value'])).normalize():f} {measurement['unit']}"
    return None


def _price_value(ctx: PimContext):
    o = ctx.override
    return o.price if o is not None and o.price is not None else ctx.variant.price


def _compare_at_value(ctx: PimContext):
    o = ctx.override
    return o.compare_at_price if o is not None and o.compare_at_price is not None else ctx.variant.compare_at_price


def _option_values(ctx: PimContext) -> list[str]:
    return list(ctx.variant.option_values) if ctx.product.has_options else ["Default Title"]


def _live_images(node: dict) -> list:
    images = []
    for media in nodes_of(node.get("media")):
        image = media.get("image") or {}
        images.append([media.get("originalSource") or image.get("url") or "",
                       normalise_text(media.get("alt") or image.get("altText"))])
    return images


FIELDS: tuple[SyncedField, ...] = (
    SyncedField("title", "Title", ("title",), CORE,
                lambda c: normalise_text(c.assignment.title_override or c.product.title),
                lambda c: {"title": c.assignment.title_override or c.product.title},
                lambda n: normalise_text(n.get("title")), _accept_product("title")),
    SyncedField("description", "Description", ("description",), CORE,
                lambda c: normalise_html(c.product.description_html),
                lambda c: {"descriptionHtml": c.product.description_html},
                lambda n: normalise_html(n.get("descriptionHtml")), _accept_product("description_html")),
    SyncedField("vendor", "Vendor", ("vendor",), CORE,
                lambda c: normalise_text(c.product.vendor), lambda c: {"vendor": c.product.vendor},
                lambda n: normalise_text(n.get("vendor")), _accept_product("vendor")),
    SyncedField("product_type", "Product type", ("product_type",), CORE,
                lambda c: normalise_text(c.product.product_type), lambda c: {"productType": c.product.product_type},
                lambda n: normalise_text(n.get("productType")), _accept_product("product_type")),
    SyncedField("tags", "Tags", ("tags",), CORE,
                lambda c: normalise_tags(c.assignment.tags_override or c.product.tags),
                lambda c: {"tags": normalise_tags(c.assignment.tags_override or c.product.tags)},
                lambda n: normalise_tags(n.get("tags") or []), _accept_product("tags", _tags_text)),
    SyncedField("status", "Status", ("status",), CORE, _status, lambda c: {"status": _status(c)},
                lambda n: (n.get("status") or "").upper(), _accept_product("status", str.lower)),
    SyncedField("seo_title", "SEO title", ("seo",), CORE,
                lambda c: normalise_text(c.product.seo_title), lambda c: {"seo": {"title": c.product.seo_title}},
                lambda n: normalise_text((n.get("seo") or {}).get("title")), _accept_product("seo_title")),
    SyncedField("seo_description", "SEO description", ("seo",), CORE,
                lambda c: normalise_text(c.product.seo_description),
                lambda c: {"seo": {"description": c.product.seo_description}},
                lambda n: normalise_text((n.get("seo") or {}).get("description")),
                _accept_product("seo_description")),
    SyncedField("category", "Shopify category", ("product_type",), CORE, _category,
                lambda c: {"category": _category(c)}, None),
    SyncedField("handle", "Handle", (), HANDLE,
                lambda c: c.assignment.handle_override or c.product.handle,
                lambda c: {"handle": c.assignment.handle_override or c.product.handle},
                lambda n: n.get("handle")),
    SyncedField("options", "Options", ("variants", "prices"), VARIANTS,
                lambda c: list(c.product.option_names or ["Title"]), None,
                lambda n: [o.get("name") for o in n.get("options") or []]),
    SyncedField("images", "Images", ("images",), IMAGES, None, None, _live_images),  # built by the payload builder
    SyncedField("metafields", "Metafield", ("metafields",), METAFIELDS, None, None, None, _accept_metafield),
    SyncedField("variant.price", "Variant price", ("prices",), VARIANTS,
                lambda c: normalise_decimal(_price_value(c)), lambda c: {"price": str(_price_value(c))},
                lambda v: normalise_decimal(v.get("price")), _accept_variant("price", _price)),
    SyncedField("variant.compare_at_price", "Variant compare-at price", ("prices",), VARIANTS,
                lambda c: normalise_decimal(_compare_at_value(c)),
                lambda c: {"compareAtPrice": str(_compare_at_value(c)) if _compare_at_value(c) is not None else None},
                lambda v: normalise_decimal(v.get("compareAtPrice")), _accept_variant("compare_at_price", _price)),
    SyncedField("variant.barcode", "Variant barcode", ("variants",), VARIANTS,
                lambda c: c.variant.barcode or None, lambda c: {"barcode": c.variant.barcode or None},
                lambda v: v.get("barcode") or None, _accept_variant("barcode")),
    SyncedField("variant.weight", "Variant weight", ("variants",), VARIANTS, _weight, _weight_write, _live_weight),
    SyncedField("variant.options", "Variant option values", ("variants", "prices"), VARIANTS, _option_values, None,
                lambda v: [o.get("value") for o in v.get("selectedOptions") or []]),
)
BY_KEY = {f.key: f for f in FIELDS}
PRODUCT_FIELDS = tuple(f for f in FIELDS if f.level == "product")
VARIANT_FIELDS = tuple(f for f in FIELDS if f.level == "variant")
# Product fields compared value by value (images and metafields have comparisons of their own).
SCALAR_FIELDS = tuple(f for f in PRODUCT_FIELDS if f.compared and f.key not in ("images", "metafields"))
SECTION_KEYS: dict[str, tuple[str, ...]] = {
    section: tuple(f.key for f in PRODUCT_FIELDS if f.section == section)
    for section in (CORE, HANDLE, VARIANTS, IMAGES, METAFIELDS)
}

# What a conflict can be about besides a field's value.
EXISTENCE_CONFLICTS = (
    ("variant.exists", "Variant deleted or added in Shopify"),
    ("product.exists", "Product deleted in Shopify"),
    ("product.shopify_only", "Product exists only in Shopify"),
)
# Fields a policy can be set for (per store, FieldPolicy).
POLICY_FIELDS = tuple((f.key, f.label) for f in FIELDS if f.compared or f.key == "metafields") + EXISTENCE_CONFLICTS


def field_for(conflict_field: str) -> SyncedField | None:
    """The registry entry of a conflict's field ("metafield:ns.key" is the metafields field), or None."""
    if conflict_field.startswith("metafield:"):
        return BY_KEY["metafields"]
    return BY_KEY.get(conflict_field)


def acceptable(conflict_field: str) -> bool:
    field = field_for(conflict_field)
    return field is not None and field.accept is not None


def carried(field: SyncedField, groups: set[str]) -> bool:
    """Whether a store receiving ``groups`` receives ``field``."""
    return not field.groups or bool(groups & set(field.groups))


def deep_merge(target: dict, fragment: dict) -> dict:
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = value
    return target
