"""Apply and adopt: bind matched products in a store and take over Shopify's handles.

``bindings_write`` binds (Shopify product, PIM product) pairs with their variants (paired by
``variant_pairs``); ``handle_adopt`` and ``store_handle_set`` take a Shopify handle into the PIM or into the
store's handle override.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from channels.binder import ONBOARDING_MARK, bind_adopted
from channels.models import ChannelAssignment, Store, VariantBinding
from pim import services as pim_services
from pim.models import Product, Variant

from .matching import ShopifyProduct, ShopifyVariant
from .outcomes import ALREADY_BOUND, BOUND, PUBLISH_OFF, REPAIRED


@transaction.atomic
def bindings_write(*, store: Store, items: list[tuple[ShopifyProduct, int]]) -> list[str]:
    """Bind each (Shopify product, PIM product id) pair in ``store`` and return what was done for each.

    Creates the assignment when missing (publish on), sets its Shopify product id and ``ONBOARDING_MARK``
    (so the first publish logs every overwritten field as a conflict) unless it was already bound to that
    product, and writes each variant's Shopify variant and inventory item ids (variants paired by
    ``variant_pairs``: SKU, else option values). Assignments with
    publishing turned off are left alone. Idempotent: pairs already bound as given change nothing.
    """
    pids = [pid for _, pid in items]
    assignments = {
        a.product_id: a
        for a in ChannelAssignment.objects.select_for_update().filter(store=store, product_id__in=pids)
    }
    pim_variants: dict[int, list[tuple[int, str, tuple[str, ...]]]] = {}
    rows = Variant.objects.filter(product_id__in=pids).values_list("id", "product_id", "sku", "option1", "option2",
                                                                   "option3")
    for vid, pid, sku, *options in rows:
        pim_variants.setdefault(pid, []).append((vid, sku.strip(), tuple(o for o in options if o)))
    all_vids = [vid for variants in pim_variants.values() for vid, _, _ in variants]
    current = {
        variant_id: (shopify_vid, item)
        for variant_id, shopify_vid, item in VariantBinding.objects.filter(store=store, variant_id__in=all_vids)
        .values_list("variant_id", "shopify_variant_id", "shopify_inventory_item_id")
    }
    shopify_vids = [v.id for product, _ in items for v in product.variants if v.id]
    holders = dict(
        VariantBinding.objects.filter(store=store, shopify_variant_id__in=shopify_vids).values_list(
            "shopify_variant_id", "variant_id"
        )
    )
    actions: list[str] = []
    new_assignments: list[ChannelAssignment] = []
    replace_variant_ids: list[int] = []
    release_shopify_vids: list[str] = []
    new_bindings: list[VariantBinding] = []
    bound_existing: list[tuple[int, str]] = []
    mark = {ONBOARDING_MARK: True}
    for product, pid in items:
        assignment = assignments.get(pid)
        already = assignment is not None and assignment.shopify_product_id == product.id
        if assignment is not None and not assignment.publish and not already:
            actions.append(PUBLISH_OFF)
            continue
        if assignment is not None and assignment.shopify_product_id not in ("", product.id):
            actions.append(f"not bound: bound to another Shopify product ({assignment.shopify_product_id})")
            continue
        changed = 0
        for vid, variant in variant_pairs(pim_variants=pim_variants.get(pid, []), shopify_variants=product.variants):
            if not variant.id:
                continue
            wanted = (variant.id, variant.inventory_item_id)
            if current.get(vid) == wanted:
                continue
            if vid in current:
                replace_variant_ids.append(vid)
            holder = holders.get(variant.id)
            if holder is not None and holder != vid:
                release_shopify_vids.append(variant.id)
            new_bindings.append(VariantBinding(store=store, variant_id=vid, shopify_variant_id=variant.id,
                                               shopify_inventory_item_id=variant.inventory_item_id))
            changed += 1
        if assignment is None:
            new_assignments.append(ChannelAssignment(
                product_id=pid, store=store, publish=True, shopify_product_id=product.id,
                published_snapshot=mark, published_hash="",
            ))
            actions.append(BOUND)
        elif not assignment.shopify_product_id:
            bound_existing.append((assignment.pk, product.id))
            actions.append(BOUND)
        else:
            actions.append(REPAIRED if changed else ALREADY_BOUND)
    bind_adopted(store=store, bound=bound_existing, new_assignments=new_assignments, new_bindings=new_bindings,
                 release_shopify_variant_ids=release_shopify_vids, replace_variant_ids=replace_variant_ids)
    return actions


def variant_pairs(
    *, pim_variants: list[tuple[int, str, tuple[str, ...]]], shopify_variants: list[ShopifyVariant]
) -> Iterator[tuple[int, ShopifyVariant]]:
    """Pair one product's PIM variants (id, SKU, option values) with its Shopify variants.

    By SKU when the SKU is on exactly one variant on each side; otherwise (no SKU, a shared SKU) by option
    values, which Shopify keeps unique within a product. Variants neither identifies are left unpaired.
    """
    pim_count = Counter(sku for _, sku, _ in pim_variants if sku)
    shopify_count = Counter(v.sku for v in shopify_variants if v.sku)
    by_sku = {sku: vid for vid, sku, _ in pim_variants if sku and pim_count[sku] == 1}
    by_options: dict[tuple[str, ...], list[int]] = {}
    for vid, _, options in pim_variants:
        by_options.setdefault(options, []).append(vid)
    used: set[int] = set()
    for variant in shopify_variants:
        vid = by_sku.get(variant.sku) if variant.sku and shopify_count[variant.sku] == 1 else None
        if vid is None:
            same = by_options.get(tuple(variant.options), [])
            vid = same[0] if len(same) == 1 else None
        if vid is not None and vid not in used:
            used.add(vid)
            yield vid, variant


@transaction.atomic
def handle_adopt(*, product_id: int, handle: str, store: Store | None) -> Product:
    """Give a never-published PIM product the handle its Shopify counterpart already has.

    Records history naming the store. No sync job is recorded (nothing changes in Shopify). Raises
    ValidationError when the product has been published (its handle is frozen) or the handle is invalid or
    taken.
    """
    product = Product.objects.select_for_update().get(pk=product_id)
    if product.handle == handle:
        return product
    if product.first_published_at is not None:
        raise ValidationError(pim_services.HANDLE_IMMUTABLE_MESSAGE)
    original = product.handle
    product.handle = handle
    where = f" from store {store.name}" if store else ""
    return pim_services.product_save(product=product, reason=f"Adopted the Shopify handle{where}",
                                     original_handle=original)


@transaction.atomic
def store_handle_set(*, product_id: int, handle: str, store: Store) -> ChannelAssignment:
    """Set ``handle`` as the product's handle in ``store`` (the assignment's override), creating the assignment.

    Used for products whose PIM handle is frozen or taken. Raises ValidationError for an invalid handle.
    """
    assignment, _ = ChannelAssignment.objects.select_for_update().get_or_create(
        product_id=product_id, store=store, defaults={"publish": True}
    )
    if assignment.handle_override != handle:
        assignment.handle_override = handle
        assignment.full_clean()
        ChannelAssignment.objects.filter(pk=assignment.pk).update(handle_override=handle, updated_at=timezone.now())
    return assignment
