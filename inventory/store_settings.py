"""Per-store inventory settings: what a store may write back to the PIM and how unstocked levels are pushed."""

from __future__ import annotations

from django.db import transaction

from channels.models import Store

from .models import ShopifyLevel, StoreInventorySettings

FIELDS = ("sales_write_back", "merchant_edits_write_back", "keep_order_lines", "activate_unstocked")


def store_settings(*, store: Store | None) -> StoreInventorySettings:
    """Return the store's inventory settings (defaults, unsaved, when none were made)."""
    if store is None:
        return StoreInventorySettings()
    found = StoreInventorySettings.objects.filter(store=store).first()
    return found or StoreInventorySettings(store=store)


@transaction.atomic
def store_inventory_settings_update(*, store: Store, **values: bool) -> StoreInventorySettings:
    """Change the store's inventory settings; raises ValueError for an unknown setting.

    Turning ``activate_unstocked`` on makes the levels recorded as not stocked eligible again (the sweeper
    requests their sets, which then activate them in Shopify).
    """
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown inventory setting(s): {', '.join(sorted(unknown))}")
    current, _ = StoreInventorySettings.objects.select_for_update().get_or_create(store=store)
    turned_on = values.get("activate_unstocked") and not current.activate_unstocked
    for name, value in values.items():
        setattr(current, name, bool(value))
    current.save()
    if turned_on:
        ShopifyLevel.objects.filter(store=store, not_stocked_at__isnull=False).update(
            not_stocked_at=None, not_stocked_shopify_location_id="")
    return current
