"""No push loop in steady state: a variant not stocked at a mapped Shopify location is recorded once as not
stocked and left alone (the sweeper does not re-request it, sales make no pushes for it) until its mapping or
Shopify's stocking changes, or the store's setting activates it (``inventoryActivate``)."""

from __future__ import annotations

from decimal import Decimal

from django.test import Client

from channels.models import VariantBinding
from channels.shopify.ids import gid_to_id
from inventory.ledger import stock_adjust, stock_receive
from inventory.models import InventoryPush, ShopifyLevel
from inventory.store_settings import store_inventory_settings_update
from inventory.sweep import inventory_missing_sets_request
from outbox.services import outbox_sweep
from pim import services as pim_services

from .conftest import drain, order_payload


def cap_only_at_main_in_shop_b(world):
    """A variant the PIM stocks at both locations that shop B stocks at Main Warehouse only."""
    variant = pim_services.product_create(title="Cap", variants=[{"sku": "CAP-1", "price": Decimal("5")}]).variants.get()
    stock_receive(variant=variant, location=world.main, quantity=10)
    stock_receive(variant=variant, location=world.retail, quantity=6)
    seeded = world.control.seed("shop-b", products=[{"title": "Cap", "variants": [
        {"sku": "CAP-1", "price": "5.00", "inventory": {"Main Warehouse": 0}}]}])
    node = seeded[0]["variants"][0]
    VariantBinding.objects.create(store=world.store_b, variant=variant, shopify_variant_id=str(gid_to_id(node["id"])),
                                  shopify_inventory_item_id=str(gid_to_id(node["inventoryItemId"])))
    return variant, node


def sweep_and_drain(times: int = 1) -> None:
    for _ in range(times):
        outbox_sweep()  # what the sweeper does: every kind, then the missing sets
        inventory_missing_sets_request()
        drain()


def test_an_unstocked_level_is_recorded_once_and_left_alone(world):
    variant, node = cap_only_at_main_in_shop_b(world)
    shop = world.sim.state("shop-b")
    with shop.lock:  # like a merchant who never stocked the cap at Retail Store
        item_n = gid_to_id(node["inventoryItemId"])
        for key in [k for k in shop.levels if k[0] == item_n and shop.locations[k[1]]["name"] == "Retail Store"]:
            del shop.levels[key]
            shop.item_levels.get(item_n, {}).pop(key[1], None)
    sweep_and_drain()
    level = ShopifyLevel.objects.get(store=world.store_b, variant=variant, location=world.retail)
    assert level.not_stocked_at is not None
    assert level.not_stocked_shopify_location_id == str(world.locations["shop-b"]["Retail Store"])
    skipped = InventoryPush.objects.filter(store=world.store_b, variant=variant, status="skipped")
    assert skipped.count() == 1 and "not retried" in skipped.get().result
    total = InventoryPush.objects.count()
    sweep_and_drain(times=5)
    stock_adjust(variant=variant, location=world.retail, quantity=-1, reason="damaged")
    drain()
    assert InventoryPush.objects.count() == total  # no new pushes for the unstocked level, ever
    assert world.control.inventory("shop-b", sku="CAP-1")["levels"][0]["available"] == 10  # Main still pushed

    # The store's setting activates unstocked levels with the PIM's quantity, once.
    store_inventory_settings_update(store=world.store_b, activate_unstocked=True)
    world.control.clear_requests("shop-b")
    sweep_and_drain(times=3)
    activations = world.control.requests("shop-b", operation="InventoryActivate")
    assert len(activations) == 1
    retail = next(lv for lv in world.control.inventory("shop-b", sku="CAP-1")["levels"]
                  if lv["location_id"].endswith(str(world.locations["shop-b"]["Retail Store"])))
    assert retail["available"] == 5
    level.refresh_from_db()
    assert level.not_stocked_at is None and level.baseline_version is not None


def test_shopify_stocking_the_level_ends_the_not_stocked_state(world):
    variant, node = cap_only_at_main_in_shop_b(world)
    ShopifyLevel.objects.update_or_create(store=world.store_b, variant=variant, location=world.retail,
                                          defaults={"not_stocked_at": "2026-01-01T00:00:00Z",
                                                    "not_stocked_shopify_location_id": "1"})
    shop = world.sim.state("shop-b")
    retail_gid = f"gid://shopify/Location/{world.locations['shop-b']['Retail Store']}"
    with shop.lock:  # the merchant stocks the cap at Retail Store (Shopify then sends inventory_levels/connect)
        if not any(lv["location_id"] == retail_gid
                   for lv in [shop.level_state(x) for x in shop.item_levels.get(gid_to_id(node["inventoryItemId"]), {}).values()]):
            shop.inventory_activate(node["inventoryItemId"], retail_gid, 0, None)
        shop.take_outbox()
    payload = {"inventory_item_id": gid_to_id(node["inventoryItemId"]),
               "location_id": world.locations["shop-b"]["Retail Store"], "available": 0,
               "updated_at": "2026-01-01T00:00:00Z"}
    world.post(Client(), "inventory_levels/connect", payload, store=world.store_b)
    drain()
    level = ShopifyLevel.objects.get(store=world.store_b, variant=variant, location=world.retail)
    assert level.not_stocked_at is None and level.baseline_version is not None
    assert InventoryPush.objects.filter(store=world.store_b, variant=variant, location=world.retail, kind="set",
                                        status="done").exists()


def test_sales_of_other_variants_keep_flowing(world):
    world.post(Client(), "orders/create", order_payload(8801, [world.line(8802, quantity=2)],
                                                        location_id=world.locations["shop-a"]["Main Warehouse"]))
    drain()
    assert world.shopify_available("shop-b") == 298
