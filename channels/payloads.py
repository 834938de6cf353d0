"""Build what the PIM publishes to one store, and the normalised snapshot used for hashing and drift checks.

The snapshot is a plain dict of comparable values, the same shape whether it is built from the PIM (what we
are about to write) or from a live Shopify product (what is there now), so a field-by-field comparison finds
Shopify-side edits without being fooled by Shopify's own reformatting.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pim.models import Product

from .mapping import (  # noqa: F401 - re-exported: the normalisers' historical home
    BY_KEY,
    CORE,
    MISSING,
    PRODUCT_FIELDS,
    SECTION_KEYS,
    VARIANT_FIELDS,
    PimContext,
    carried,
    deep_merge,
    nodes_of,
    normalise_decimal,
    normalise_html,
    normalise_tags,
    normalise_text,
    snapshot_hash,
)
from .models import ChannelAssignment, ImageBinding, Store, VariantBinding
from .shopify.ids import gid_to_id, to_gid

# The normalisers and the field list live in the field registry (channels.mapping).
CORE_KEYS = SECTION_KEYS[CORE]
SHOPIFY_ONLY_PREFIX = "shopify:"


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


def variant_key(variant) -> str:
    """The key of a PIM variant in snapshots: its id (stable whatever its SKU)."""
    return str(variant.pk)


def publish_plan_build(
    *,
    assignment: ChannelAssignment,
    bindings: dict[int, VariantBinding] | None = None,
    image_bindings: dict[int, ImageBinding] | None = None,
) -> PublishPlan:
    """Build the snapshot and the ``productSet`` input for ``assignment`` from the current PIM state (pure: reads
    the PIM and the store's settings, writes nothing, calls nothing).

    Every field comes from the field registry (``channels.mapping``) and goes out only when the store receives its
    group: groups the store does not receive are absent from both, so they are never touched in Shopify.
    ``bindings`` maps variant id to its binding in this store; every bound variant goes out with its Shopify id
    (productSet creates a new variant for an input without one). ``image_bindings`` maps image id to its media
    binding: an image already in Shopify is referenced by its media id (never uploaded again), only new or changed
    URLs are sent as ``originalSource``.
    """
    product: Product = assignment.product
    store: Store = assignment.store
    groups = set(store.publish_fields or [])
    bindings = bindings or {}
    image_bindings = image_bindings or {}
    overrides = {o.variant_id: o for o in assignment.variant_overrides.all()} if assignment.pk else {}
    mappings = {
        (m.attribute_namespace, m.attribute_key): (m.metafield_namespace, m.metafield_key)
        for m in store.metafield_mappings.all()
    }
    variants = sorted(product.variants.all(), key=lambda v: (v.position, v.id))
    images = sorted(product.images.all(), key=lambda i: (i.position, i.id))
    ctx = PimContext(product=product, assignment=assignment)

    snapshot: dict[str, Any] = {}
    product_input: dict[str, Any] = {}
    for f in PRODUCT_FIELDS:
        if f.pim is None or not carried(f, groups):
            continue
        value = f.pim(ctx)
        if value is MISSING:
            continue
        snapshot[f.key] = value
        if f.write is not None:
            deep_merge(product_input, f.write(ctx))

    if "options" in snapshot:
        option_names = snapshot["options"]
        variant_fields = [f for f in VARIANT_FIELDS if carried(f, groups)]
        variant_snapshots: dict[str, dict[str, Any]] = {}
        variant_inputs: list[dict[str, Any]] = []
        option_values: list[list[str]] = [[] for _ in option_names]
        for variant in variants:
            vctx = PimContext(product=product, assignment=assignment, variant=variant,
                              override=overrides.get(variant.id))
            values = BY_KEY["variant.options"].pim(vctx)
            for index, value in enumerate(values):
                if value not in option_values[index]:
                    option_values[index].append(value)
            entry: dict[str, Any] = {"sku": variant.sku}
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
            for f in variant_fields:
                entry[f.name] = f.pim(vctx)
                if f.write is not None:
                    deep_merge(vinput, f.write(vctx))
            variant_snapshots[variant_key(variant)] = entry
            variant_inputs.append(vinput)
        snapshot["variants"] = variant_snapshots
        product_input["productOptions"] = [
            {"name": name, "position": index + 1, "values": [{"name": v} for v in option_values[index]]}
            for index, name in enumerate(option_names)
        ]
        product_input["variants"] = variant_inputs

    if carried(BY_KEY["images"], groups):
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
    if carried(BY_KEY["metafields"], groups):
        entries = {}
        for attribute in sorted(product.attributes.all(), key=lambda a: (a.namespace, a.key)):
            namespace, key = mappings.get((attribute.namespace, attribute.key), (attribute.namespace, attribute.key))
            entries[f"{namespace}.{key}"] = [attribute.type, attribute.value]
            metafields.append({"namespace": namespace, "key": key, "type": attribute.type, "value": attribute.value})
        snapshot["metafields"] = entries

    return PublishPlan(snapshot=snapshot, product_input=product_input, metafields=metafields,
                       publications=list(store.publications or []))


def changed_sections(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    """Return which write sections differ between two snapshots: core, handle, variants, images, metafields."""
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


_SECTION_INPUT_KEYS = {
    "core": {"title", "descriptionHtml", "vendor", "productType", "tags", "status", "seo", "category"},
    "variants": {"productOptions", "variants"},
    "images": {"files"},
    "handle": {"handle"},
}


def product_input_for_sections(product_input: dict, sections: set[str], *, creating: bool) -> dict:
    """The part of a plan's ``productSet`` input that the changed ``sections`` need (all of it when creating)."""
    keys: set[str] = set()
    for section, names in _SECTION_INPUT_KEYS.items():
        if creating or section in sections:
            keys |= names
    result = {k: v for k, v in product_input.items() if k in keys}
    if not creating and "handle" in sections:
        # A changed handle keeps old links working: Shopify redirects the old URL to the new handle.
        result["redirectNewHandle"] = True
    return result


# --- the Shopify side ---------------------------------------------------------------------------------


def live_variant_keys(*, node: dict[str, Any], like: dict[str, Any],
                      keys_by_shopify_id: dict[str, str] | None = None) -> list[tuple[str, dict]]:
    """Pair each live variant node with its snapshot key: by its Shopify id (the store's bindings), else by a SKU
    unique among the variants in ``like``, else ``shopify:<id>`` (a variant only Shopify has)."""
    keys_by_shopify_id = keys_by_shopify_id or {}
    written = like.get("variants") or {}
    skus = Counter(entry.get("sku", key) for key, entry in written.items())
    by_sku = {entry.get("sku", key): key for key, entry in written.items() if skus[entry.get("sku", key)] == 1}
    pairs = []
    taken: set[str] = set()
    for v in nodes_of(node.get("variants")):
        numeric = str(gid_to_id(v["id"])) if v.get("id") else ""
        key = keys_by_shopify_id.get(numeric)
        if key is None and v.get("sku") and v.get("sku") in by_sku:
            key = by_sku[v["sku"]]
        if key is None or key in taken:
            key = f"{SHOPIFY_ONLY_PREFIX}{numeric or v.get('sku') or len(pairs)}"
        taken.add(key)
        pairs.append((key, v))
    return pairs


def snapshot_from_shopify(*, node: dict[str, Any], like: dict[str, Any],
                          keys_by_shopify_id: dict[str, str] | None = None) -> dict[str, Any]:
    """Build a snapshot of a live Shopify product with the same keys as ``like`` (what we last wrote).

    ``node`` is a product as returned by the PRODUCT_DRIFT query (or a bulk export line); ``keys_by_shopify_id``
    maps the store's Shopify variant ids to snapshot keys (see ``live_variant_keys``).
    """
    live: dict[str, Any] = {}
    for f in PRODUCT_FIELDS:
        if f.key in like and f.shopify is not None and f.key != "images":
            live[f.key] = f.shopify(node)
    if "variants" in like:
        sample = next(iter(like["variants"].values()), {})
        live_variants: dict[str, dict[str, Any]] = {}
        for key, v in live_variant_keys(node=node, like=like, keys_by_shopify_id=keys_by_shopify_id):
            entry: dict[str, Any] = {"options": BY_KEY["variant.options"].shopify(v)}
            if "sku" in sample:
                entry["sku"] = v.get("sku") or ""
            for f in VARIANT_FIELDS:
                if f.name in sample and f.name != "options":
                    entry[f.name] = f.shopify(v)
            live_variants[key] = entry
        live["variants"] = live_variants
    if "images" in like:
        live["images"] = BY_KEY["images"].shopify(node)
    if "metafields" in like:
        wanted_keys = set(like["metafields"])
        live["metafields"] = {
            f"{m['namespace']}.{m['key']}": [m.get("type"), m.get("value")]
            for m in nodes_of(node.get("metafields"))
            if f"{m['namespace']}.{m['key']}" in wanted_keys
        }
    return live
