"""Row helpers for stock levels: lock a PIM ``StockLevel``, get-or-create a store's ``ShopifyLevel``, find a
level's Shopify inventory item and location.
"""

from __future__ import annotations

from channels.models import Store, VariantBinding
from channels.shopify.ids import inventory_item_gid, location_gid

from .models import (
    ShopifyLevel,
    StockLevel,
    StoreLocation,
)


def _lock_level(variant_id: int, location_id: int) -> StockLevel:
    level = StockLevel.objects.select_for_update().filter(variant_id=variant_id, location_id=location_id).first()
    if level is None:
        StockLevel.objects.bulk_create([StockLevel(variant_id=variant_id, location_id=location_id)],
                                       ignore_conflicts=True)
        level = StockLevel.objects.select_for_update().get(variant_id=variant_id, location_id=location_id)
    return level


def _shopify_level(store_id: int, variant_id: int, location_id: int) -> ShopifyLevel:
    level = ShopifyLevel.objects.filter(store_id=store_id, variant_id=variant_id, location_id=location_id).first()
    if level is None:
        ShopifyLevel.objects.bulk_create(
            [ShopifyLevel(store_id=store_id, variant_id=variant_id, location_id=location_id)], ignore_conflicts=True
        )
        level = ShopifyLevel.objects.get(store_id=store_id, variant_id=variant_id, location_id=location_id)
    return level


def _level_target(store: Store, variant_id: int, location_id: int) -> tuple[str, str] | None:
    item = (
        VariantBinding.objects.filter(store=store, variant_id=variant_id)
        .exclude(shopify_inventory_item_id="")
        .values_list("shopify_inventory_item_id", flat=True)
        .first()
    )
    shopify_location = (
        StoreLocation.objects.filter(store=store, location_id=location_id)
        .values_list("shopify_location_id", flat=True)
        .first()
    )
    if not item or not shopify_location:
        return None
    return inventory_item_gid(item), location_gid(shopify_location)
