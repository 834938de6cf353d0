"""Build what the PIM publishes to one store, and the normalised snapshot used for hashing and drift checks.

The snapshot is a plain dict of comparable values, the same shape whether it is built from the PIM (what we
are about to write) or from a live Shopify product (what is there now), so a field-by-field comparison finds
Shopify-side edits without being fooled by Shopify's own reformatting.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from typing import Any

from pim.models import Product, Variant, split_tags

from .models import ChannelAssignment, ImageBinding, Store, VariantBinding
from .shopify.ids import to_gid

# Which snapshot keys belong to each selectable field group.
GROUP_KEYS: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "description": ("description",),
    "vendor": ("vendor",),
    "product_type": ("product_type",),
    "tags": ("tags",),
    "status": ("status",),
    "seo": ("seo_title", "seo_description"),
    "variants": ("options", "variants"),
    "prices": (),  # inside each variant
    "images": ("images",),
    "metafields": ("metafields",),
}
CORE_KEYS = ("title", "description", "vendor", "product_type", "tags", "status", "seo_title", "seo_description",
             "category")  # category: issue 19, Shopify's standard product category


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


# --- the PIM side -------------------------------------------------------------------------------------


@dataclass
class PublishPlan:
    """What one publish of one product to one store would write."""

    snapshot: dict[str, Any]
    product_input: dict[str, Any]
    metafields: list[dict[str, str]] = field(default_factory=list)
    # Sales channels (publication titles) the product is put on; not part of the compared snapshot.
    publications: list[str] = field(default_factory=list)

    @property
    def hash(self) -> str:
        if not self.publications:
            return snapshot_hash(self.snapshot)
        return snapshot_hash({**self.snapshot, "_publications": self.publications})


def _weight(variant: Variant) -> str | None:
    # Shopify reads a zero weight back as no weight: both are "none", or every publish would see a conflict.
    if variant.weight is None or variant.weight == 0:
        return None
    return f"{variant.weight.normalize():f} {variant.weight_unit}"


def _metafield_target(store: Store, namespace: str, key: str, mappings: dict) -> tuple[str, str]:
    return mappings.get((namespace, key), (namespace, key))


def publish_plan_build(
    *,
    assignment: ChannelAssignment,
    bindings: dict[int, VariantBinding] | None = None,
    image_bindings: dict[int, ImageBinding] | None = None,
) -> PublishPlan:
    """Build the snapshot and the ``productSet`` input for ``assignment`` from the current PIM state.

    Applies the store's overrides and field selection: groups the store does not receive are absent from
    both, so they are never touched in Shopify. ``bindings`` maps variant id to its binding in this store;
    every bound variant goes out with its Shopify id (productSet creates a new variant for an input without
    one). ``image_bindings`` maps image id to its media binding: an image already in Shopify is referenced by
    its media id (never uploaded again), only new or changed URLs are sent as ``originalSource``.
    """
    product: Product = assignment.product
    store: Store = assignment.store
    fields = set(store.publish_fields or [])
    bindings = bindings or {}
    image_bindings = image_bindings or {}
    overrides = {o.variant_id: o for o in assignment.variant_overrides.all()} if assignment.pk else {}
    mappings = {
        (m.attribute_namespace, m.attribute_key): (m.metafield_namespace, m.metafield_key)
        for m in store.metafield_mappings.all()
    }
    variants = sorted(product.variants.all(), key=lambda v: (v.position, v.id))
    images = sorted(product.images.all(), key=lambda i: (i.position, i.id))

    title = assignment.title_override or product.title
    tags = normalise_tags(assignment.tags_override or product.tags)
    status = (assignment.status_override or product.status).upper()
    snapshot: dict[str, Any] = {}
    product_input: dict[str, Any] = {}
    if "title" in fields:
        snapshot["title"] = normalise_text(title)
        product_input["title"] = title
    if "description" in fields:
        snapshot["description"] = normalise_html(product.description_html)
        product_input["descriptionHtml"] = product.description_html
    if "vendor" in fields:
        snapshot["vendor"] = normalise_text(product.vendor)
        product_input["vendor"] = product.vendor
    if "product_type" in fields:
        snapshot["product_type"] = normalise_text(product.product_type)
        product_input["productType"] = product.product_type
    if "tags" in fields:
        snapshot["tags"] = tags
        product_input["tags"] = tags
    if "status" in fields:
        snapshot["status"] = status
        product_input["status"] = status
    if "seo" in fields:
        snapshot["seo_title"] = normalise_text(product.seo_title)
        snapshot["seo_description"] = normalise_text(product.seo_description)
        product_input["seo"] = {"title": product.seo_title, "description": product.seo_description}
    # Issue 19: Shopify's standard product category travels with the product type (a reverse one-to-one:
    # getattr gives None when the product has none).
    taxonomy = getattr(product, "taxonomy", None)
    if "product_type" in fields and taxonomy is not None:
        snapshot["category"] = taxonomy.category_id
        product_input["category"] = taxonomy.category_id

    if "variants" in fields or "prices" in fields:
        option_names = product.option_names or ["Title"]
        snapshot["options"] = list(option_names)
        variant_snapshots: dict[str, dict[str, Any]] = {}
        variant_inputs: list[dict[str, Any]] = []
        option_values: list[list[str]] = [[] for _ in option_names]
        for variant in variants:
            values = variant.option_values if product.has_options else ["Default Title"]
            for index, value in enumerate(values):
                if value not in option_values[index]:
                    option_values[index].append(value)
            override = overrides.get(variant.id)
            price = override.price if override and override.price is not None else variant.price
            compare_at = (
                override.compare_at_price if override and override.compare_at_price is not None
                else variant.compare_at_price
            )
            entry: dict[str, Any] = {"options": values}
            vinput: dict[str, Any] = {
                "optionValues": [
                    {"optionName": name, "name": value} for name, value in zip(option_names, values, strict=True)
                ],
                "sku": variant.sku,
                "position": variant.position,
            }
            binding = bindings.get(variant.id)
            if binding:
                vinput["id"] = to_gid("ProductVariant", binding.shopify_variant_id)
            if "variants" in fields:
                entry["barcode"] = variant.barcode or None
                entry["weight"] = _weight(variant)
                vinput["barcode"] = variant.barcode or None
                inventory_item: dict[str, Any] = {"tracked": variant.inventory_tracked, "sku": variant.sku}
                if variant.cost is not None:
                    inventory_item["cost"] = str(variant.cost)
                if variant.weight is not None:
                    inventory_item["measurement"] = {
                        "weight": {"value": float(variant.weight), "unit": variant.weight_unit}
                    }
                vinput["inventoryItem"] = inventory_item
            if "prices" in fields:
                entry["price"] = normalise_decimal(price)
                entry["compare_at_price"] = normalise_decimal(compare_at)
                vinput["price"] = str(price)
                vinput["compareAtPrice"] = str(compare_at) if compare_at is not None else None
            variant_snapshots[variant.sku] = entry
            variant_inputs.append(vinput)
        snapshot["variants"] = variant_snapshots
        product_input["productOptions"] = [
            {"name": name, "position": index + 1, "values": [{"name": v} for v in option_values[index]]}
            for index, name in enumerate(option_names)
        ]
        product_input["variants"] = variant_inputs

    if "images" in fields:
        snapshot["images"] = [[image.src, normalise_text(image.alt)] for image in images]
        files = []
        for image in images:
            media = image_bindings.get(image.id)
            if media is not None and media.source == image.src:
                files.append({"id": media.shopify_media_id, "alt": image.alt})
            else:
                files.append({"originalSource": image.src, "alt": image.alt, "contentType": "IMAGE"})
        product_input["files"] = files

    metafields: list[dict[str, str]] = []
    if "metafields" in fields:
        entries = {}
        for attribute in sorted(product.attributes.all(), key=lambda a: (a.namespace, a.key)):
            namespace, key = _metafield_target(store, attribute.namespace, attribute.key, mappings)
            entries[f"{namespace}.{key}"] = [attribute.type, attribute.value]
            metafields.append({"namespace": namespace, "key": key, "type": attribute.type, "value": attribute.value})
        snapshot["metafields"] = entries

    handle = assignment.handle_override or product.handle
    snapshot["handle"] = handle
    product_input["handle"] = handle
    return PublishPlan(snapshot=snapshot, product_input=product_input, metafields=metafields,
                       publications=list(store.publications or []))


def changed_sections(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    """Return which write sections differ between two snapshots: core, variants, images, metafields."""
    sections = set()
    if any(old.get(k) != new.get(k) for k in CORE_KEYS if k in new):
        sections.add("core")
    if old.get("handle") != new.get("handle"):
        sections.add("handle")
    if ("variants" in new and old.get("variants") != new.get("variants")) or (
        "options" in new and old.get("options") != new.get("options")
    ):
        sections.add("variants")
    if "images" in new and old.get("images") != new.get("images"):
        sections.add("images")
    if "metafields" in new and old.get("metafields") != new.get("metafields"):
        sections.add("metafields")
    return sections


# --- the Shopify side ---------------------------------------------------------------------------------


def snapshot_from_shopify(*, node: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    """Build a snapshot of a live Shopify product with the same keys as ``like`` (what we last wrote).

    ``node`` is a product as returned by the PRODUCT_BY_ID query.
    """
    live: dict[str, Any] = {}
    seo = node.get("seo") or {}
    values = {
        "title": lambda: normalise_text(node.get("title")),
        "description": lambda: normalise_html(node.get("descriptionHtml")),
        "vendor": lambda: normalise_text(node.get("vendor")),
        "product_type": lambda: normalise_text(node.get("productType")),
        "tags": lambda: normalise_tags(node.get("tags") or []),
        "status": lambda: (node.get("status") or "").upper(),
        "seo_title": lambda: normalise_text(seo.get("title")),
        "seo_description": lambda: normalise_text(seo.get("description")),
        "handle": lambda: node.get("handle"),
        "options": lambda: [o.get("name") for o in node.get("options") or []],
    }
    for key, getter in values.items():
        if key in like:
            live[key] = getter()
    if "variants" in like:
        wanted = like["variants"]
        sample = next(iter(wanted.values()), {})
        live_variants: dict[str, dict[str, Any]] = {}
        for v in nodes_of(node.get("variants")):
            sku = v.get("sku") or ""
            entry: dict[str, Any] = {"options": [o.get("value") for o in v.get("selectedOptions") or []]}
            if "barcode" in sample:
                entry["barcode"] = v.get("barcode") or None
            if "weight" in sample:
                measurement = ((v.get("inventoryItem") or {}).get("measurement") or {}).get("weight")
                entry["weight"] = (
                    f"{Decimal(str(measurement['value'])).normalize():f} {measurement['unit']}"
                    if measurement and measurement.get("value") not in (None, 0, 0.0)
                    else None
                )
            if "price" in sample:
                entry["price"] = normalise_decimal(v.get("price"))
                entry["compare_at_price"] = normalise_decimal(v.get("compareAtPrice"))
            live_variants[sku] = entry
        live["variants"] = live_variants
    if "images" in like:
        images = []
        for media in nodes_of(node.get("media")):
            image = media.get("image") or {}
            images.append([media.get("originalSource") or image.get("url") or "", normalise_text(media.get("alt") or image.get("altText"))])
        live["images"] = images
    if "metafields" in like:
        wanted_keys = set(like["metafields"])
        live["metafields"] = {
            f"{m['namespace']}.{m['key']}": [m.get("type"), m.get("value")]
            for m in nodes_of(node.get("metafields"))
            if f"{m['namespace']}.{m['key']}" in wanted_keys
        }
    return live


def nodes_of(connection: Any) -> list[dict[str, Any]]:
    """Items of a GraphQL connection given as a list, as ``nodes`` or as ``edges``."""
    if not connection:
        return []
    if isinstance(connection, list):
        return connection
    if "nodes" in connection:
        return connection["nodes"]
    return [edge["node"] for edge in connection.get("edges", [])]
