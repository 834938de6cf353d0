"""Create an imported product: the PIM product of an import plan, its stock, and its binding.

``importing.import_plan_build`` decides what a Shopify product becomes; ``product_import`` writes it and
``stock_import`` records its quantities as stocktakes.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from channels.models import Store
from pim import services as pim_services
from pim.models import Product

from .adopting import bindings_write
from .importing import ImportPlan
from .matching import ShopifyProduct, ShopifyVariant


def product_import(
    *,
    plan: ImportPlan,
    store: Store | None,
    shopify_product_id: str,
    reason: str,
    levels: dict[tuple[str, str], int] | None = None,
    locations: list[tuple[Any, str]] = (),
    from_csv: bool = False,
) -> tuple[Product, int]:
    """Create the PIM product of an import plan, record its stock, and bind it in ``store``; return it and
    the number of stock levels recorded.

    Stock (see ``stock_import``) is recorded before the binding exists, so no inventory push goes back to
    the shop it came from. The binding carries ``ONBOARDING_MARK`` like any onboarded product. Raises
    ValidationError (nothing of this product is saved) when the PIM refuses the product, and the inventory
    app's StockError (a ValueError) when it refuses a quantity.
    """
    if not plan.importable:
        raise ValidationError(plan.problems)
    with transaction.atomic():
        product = pim_services.product_create(
            reason=reason, variants=plan.variants, images=plan.images, attributes=plan.attributes, **plan.fields
        )
        stocked = stock_import(product=product, plan=plan, levels=levels or {}, locations=list(locations),
                               store=store, from_csv=from_csv)
        if store is not None and shopify_product_id:
            # Variants are bound by position (the plan's order), whatever their SKUs: adopted variants without
            # a SKU or with a shared one are then matched by their Shopify ids, never by SKU.
            refs = []
            for variant, (variant_id, item_id) in zip(product.variants.order_by("position"), plan.shopify_ids,
                                                      strict=True):
                refs.append(ShopifyVariant(id=variant_id, sku=variant.sku, inventory_item_id=item_id,
                                           options=tuple(variant.option_values)))
            shopify = ShopifyProduct(id=shopify_product_id, handle=product.handle, title=product.title, status="",
                                     variants=refs)
            bindings_write(store=store, items=[(shopify, product.pk)])
    return product, stocked


def stock_import(
    *,
    product: Product,
    plan: ImportPlan,
    levels: dict[tuple[str, str], int],
    locations: list[tuple[Any, str]],
    store: Store | None = None,
    from_csv: bool = False,
) -> int:
    """Record imported quantities as stocktakes of ``product``'s tracked variants; return how many levels.

    ``locations`` are (PIM location, Shopify location id) pairs; ``levels`` maps (inventory item id, Shopify
    location id) to Shopify's available quantity; with ``from_csv`` the plan's CSV quantities (one per
    variant, by position) are used instead. The stocktakes' source references make a repeat a no-op. Raises
    the inventory app's StockError.
    """
    if not locations or not (levels or from_csv):
        return 0
    from inventory.ledger import stock_count

    count = 0
    variants = list(product.variants.order_by("position"))
    for variant, (_, item), quantity in zip(variants, plan.shopify_ids, plan.quantities, strict=True):
        if not variant.inventory_tracked:
            continue
        for location, shopify_location in locations:
            counted = quantity if from_csv else levels.get((item, shopify_location))
            if counted is None:
                continue
            where = f"store {store.pk}" if store is not None else "csv"
            stock_count(
                variant=variant, location=location, counted=max(0, counted),
                source_ref=f"onboarding:{where}:variant {variant.pk}:location {location.pk}",
                actor_label="Onboarding import", reason="Stock imported from Shopify",
            )
            count += 1
    return count
