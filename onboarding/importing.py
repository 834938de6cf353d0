"""Turn a Shopify product (bulk export, ``product_get`` or CSV shape) into arguments of ``product_create``.

Rules for importing a Shopify-only product into the PIM:

- the product is adopted (``origin="shopify"``): it keeps what Shopify allows, not the PIM's stricter rules;
- handle = the Shopify handle, in any script Shopify allows (``pim.adoption.validate_adopted_handle``); it
  must be free in the PIM;
- variants without a SKU and SKUs shared by several variants are imported as they are and flagged (notes, and
  the admin's "SKU to fix" filter); their inventory is matched by their Shopify ids (bindings), never by SKU;
- a price of 0 only with ``allow_zero_price`` (the product is then marked "allow zero price");
- status ACTIVE/DRAFT/ARCHIVED map to the PIM's; UNLISTED has no PIM equivalent and is refused;
- a single "Title: Default Title" option is a simple product (no options);
- images are the product's image media (videos and 3D models are skipped and noted), at most 250;
- product metafields of the PIM's attribute types become attributes (reverse-mapped through the store's
  metafield mappings); other types and reserved namespaces are left in Shopify untouched and noted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

from channels.payloads import nodes_of as _nodes
from pim.adoption import validate_adopted_handle
from pim.models import Product
from pim.validators import (
    MAX_IMAGES_PER_PRODUCT,
    METAFIELD_KEY_RE,
    METAFIELD_NAMESPACE_RE,
    METAFIELD_TYPES,
    validate_metafield_value,
)

ATTRIBUTE_TYPES = {name for name, _ in METAFIELD_TYPES}
RESERVED_NAMESPACES = ("shopify", "shopify--", "app--")
STATUS_MAP = {"ACTIVE": Product.Status.ACTIVE, "DRAFT": Product.Status.DRAFT, "ARCHIVED": Product.Status.ARCHIVED}


@dataclass(frozen=True)
class PlanProblem:
    """Why a product cannot be imported; ``line`` is the CSV line of the variant it is about (None: the product)."""

    message: str
    line: int | None = None

    def __str__(self) -> str:
        return self.message


@dataclass
class ImportPlan:
    """What importing one Shopify product would create, or why it cannot be imported."""

    fields: dict[str, Any] = field(default_factory=dict)
    variants: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    attributes: list[dict[str, Any]] = field(default_factory=list)
    # Per variant, in the order of ``variants``: its Shopify variant id and inventory item id (online, ""
    # from a CSV) and its CSV quantity (None when the file has none).
    shopify_ids: list[tuple[str, str]] = field(default_factory=list)
    quantities: list[int | None] = field(default_factory=list)
    problems: list[PlanProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    flagged: int = 0  # variants imported with a SKU the PIM's own rules would refuse (missing or shared)

    @property
    def importable(self) -> bool:
        return not self.problems


def _money(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def _numeric(value: Any) -> str:
    text = str(value or "")
    return text.rsplit("/", 1)[-1] if text.startswith("gid://") else text


def import_plan_build(
    *,
    node: dict[str, Any],
    allow_zero_price: bool,
    taken_handles: dict[str, int],
    mappings: dict[tuple[str, str], tuple[str, str]] | None = None,
    workflow_state: str = Product.Workflow.READY,
) -> ImportPlan:
    """Map one Shopify product to PIM create arguments and list every reason it cannot be imported.

    ``taken_handles`` maps PIM handles to their product ids; ``mappings`` maps a Shopify metafield
    (namespace, key) to the PIM attribute (namespace, key) the store publishes it from. Never raises for bad
    data: problems are returned in the plan.
    """
    plan = ImportPlan()
    notes = plan.notes

    def problem(message: str, line: int | None = None) -> None:
        plan.problems.append(PlanProblem(message, line))

    mappings = mappings or {}
    handle = str(node.get("handle") or "")
    title = str(node.get("title") or "").strip()
    if not title:
        problem("the product has no title")
    try:
        validate_adopted_handle(handle)
        if not handle:
            raise ValidationError("the product has no handle")
    except ValidationError as exc:
        problem(f"handle '{handle}': {' '.join(exc.messages)}")
    if handle in taken_handles:
        problem(f"handle '{handle}' is already used by PIM product {taken_handles[handle]}")
    status = STATUS_MAP.get(str(node.get("status") or "").upper())
    if status is None:
        problem(f"status {node.get('status')!r} has no PIM equivalent (active, draft or archived)")

    options = sorted(node.get("options") or [], key=lambda o: o.get("position") or 0)
    names = [str(o.get("name") or "") for o in options]
    if len(options) == 1 and names[0] == "Title" and list(options[0].get("values") or []) in ([], ["Default Title"]):
        names = []
    if len(names) > 3:
        problem(f"the product has {len(names)} options; the PIM supports at most 3")
        names = names[:3]
    seo = node.get("seo") or {}
    tags = node.get("tags") or []
    plan.fields = {
        "title": title[:255],
        "handle": handle,
        "description_html": node.get("descriptionHtml") or "",
        "vendor": str(node.get("vendor") or ""),
        "product_type": str(node.get("productType") or ""),
        "tags": ", ".join(tags) if isinstance(tags, list) else str(tags),
        "status": status or Product.Status.DRAFT,
        "workflow_state": workflow_state,
        "origin": Product.Origin.SHOPIFY,
        "seo_title": str(seo.get("title") or ""),
        "seo_description": str(seo.get("description") or ""),
        "option1_name": names[0] if len(names) > 0 else "",
        "option2_name": names[1] if len(names) > 1 else "",
        "option3_name": names[2] if len(names) > 2 else "",
    }
    if len(plan.fields["title"]) < len(title):
        problem("the title is longer than 255 characters")

    variants = sorted(_nodes(node.get("variants")), key=lambda v: v.get("position") or 0)
    if not variants:
        problem("the product has no variants")
    sku_count: dict[str, int] = {}
    for v in variants:
        sku = str(v.get("sku") or "").strip()
        sku_count[sku] = sku_count.get(sku, 0) + 1
    zero = False
    for index, v in enumerate(variants, start=1):
        sku = str(v.get("sku") or "").strip()
        line = v.get("_line")
        where = f"line {line}: " if line else ""
        label = f"variant {sku}" if sku else f"variant '{v.get('title') or index}'"
        if not sku:
            notes.append(f"{where}{label} has no SKU: imported as is and flagged for a manager (its stock is "
                         "matched by its Shopify variant id)")
            plan.flagged += 1
        elif sku_count[sku] > 1:
            notes.append(f"{where}SKU {sku} is on several variants of this product: imported as is and flagged "
                         "for a manager")
            plan.flagged += 1
        price = _money(v.get("price"))
        if price is None:
            problem(f"{label} has no valid price ({v.get('price')!r})", line)
            continue
        if price < 0:
            problem(f"{label} has a negative price ({price})", line)
            continue
        if price == 0:
            if allow_zero_price:
                zero = True
            else:
                problem(f"{label} has a price of 0; import it with --allow-zero-price if it is free", line)
        selected = {o.get("name"): str(o.get("value") or "") for o in v.get("selectedOptions") or []}
        values = [selected.get(name, "") for name in names]
        for name, value in zip(names, values, strict=True):
            if not value:
                problem(f"{label} has no value for option '{name}'", line)
        item = v.get("inventoryItem") or {}
        data: dict[str, Any] = {
            "sku": sku,
            "barcode": str(v.get("barcode") or ""),
            "option1": values[0] if len(values) > 0 else "",
            "option2": values[1] if len(values) > 1 else "",
            "option3": values[2] if len(values) > 2 else "",
            "price": price,
            "compare_at_price": _money(v.get("compareAtPrice")),
            "inventory_tracked": bool(item.get("tracked", True)),
        }
        cost = _money(v.get("_cost") or (item.get("unitCost") or {}).get("amount"))
        if cost is not None:
            data["cost"] = cost
        weight = v.get("_weight") or ((item.get("measurement") or {}).get("weight"))
        if weight and weight.get("value") not in (None, 0, "0"):
            data["weight"] = Decimal(str(weight["value"])).quantize(Decimal("0.001"))
            data["weight_unit"] = weight.get("unit") or "KILOGRAMS"
        plan.variants.append(data)
        plan.shopify_ids.append((_numeric(v.get("id")), _numeric(item.get("id"))))
        plan.quantities.append(None if v.get("_quantity") is None else int(v["_quantity"]))
    if zero:
        plan.fields["allow_zero_price"] = True

    skipped_media = 0
    for media in _nodes(node.get("media")):
        image = media.get("image") or {}
        src = media.get("originalSource") or image.get("url")
        kind = media.get("mediaContentType") or ("IMAGE" if src else "")
        if kind != "IMAGE" or not src:
            skipped_media += 1
            continue
        plan.images.append({"src": src, "alt": str(media.get("alt") or image.get("altText") or "")[:512]})
    if skipped_media:
        notes.append(f"{skipped_media} non-image media (video, 3D model) left in Shopify only")
    if len(plan.images) > MAX_IMAGES_PER_PRODUCT:
        problem(f"the product has {len(plan.images)} images; the PIM allows at most {MAX_IMAGES_PER_PRODUCT}")

    for metafield in _nodes(node.get("metafields")):
        namespace, key = str(metafield.get("namespace") or ""), str(metafield.get("key") or "")
        type_name = str(metafield.get("type") or "")
        label = f"{namespace}.{key}"
        if namespace.startswith(RESERVED_NAMESPACES):
            notes.append(f"metafield {label} is in a reserved namespace and stays in Shopify only")
            continue
        if type_name not in ATTRIBUTE_TYPES:
            notes.append(f"metafield {label} has type {type_name}, which the PIM has no attribute type for")
            continue
        attr_namespace, attr_key = mappings.get((namespace, key), (namespace, key))
        if not METAFIELD_NAMESPACE_RE.match(attr_namespace) or not METAFIELD_KEY_RE.match(attr_key):
            notes.append(f"metafield {label}: the namespace or key does not fit the PIM's attribute rules")
            continue
        try:
            value = validate_metafield_value(type_name=type_name, value=metafield.get("value"))
        except ValidationError as exc:
            notes.append(f"metafield {label} was not imported: {' '.join(exc.messages)}")
            continue
        plan.attributes.append({"namespace": attr_namespace, "key": attr_key, "type": type_name, "value": value})
    return plan
