"""Each store says which Shopify data writes back to the PIM: sales into stock, merchant stock edits, order lines
as reference data (units sold per variant, store and day, shown on the variant page)."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from inventory.models import InventoryPush, ShopifyOrderLine, StockMovement
from inventory.store_settings import store_inventory_settings_update

from .conftest import drain, order_payload

MAIN = "Main Warehouse"


def sell(world, order_id: int, quantity: int = 2):
    payload = order_payload(order_id, [world.line(order_id + 1, quantity=quantity)],
                            location_id=world.locations["shop-a"][MAIN])
    payload["created_at"] = timezone.now().isoformat()  # the day the units were sold
    world.post(Client(), "orders/create", payload)
    drain()


def test_a_store_that_does_not_write_sales_back_keeps_its_lines_but_not_the_stock(world):
    store_inventory_settings_update(store=world.store_a, sales_write_back=False)
    sell(world, 4401)
    assert world.pim_available() == 300 and not StockMovement.objects.filter(kind="sale").exists()
    assert ShopifyOrderLine.objects.count() == 1
    # Turned back on, the next event of that order (or the unmatched-sales action) books it once.
    store_inventory_settings_update(store=world.store_a, sales_write_back=True)
    sell(world, 4401)
    assert world.pim_available() == 298


def test_a_store_that_does_not_write_merchant_edits_back_records_them_only(world):
    store_inventory_settings_update(store=world.store_a, merchant_edits_write_back=False)
    world.control.adjust_inventory("shop-a", sku=world.variant.sku, delta=-5)
    payload = {"inventory_item_id": world.items["shop-a"], "location_id": world.locations["shop-a"][MAIN],
               "available": 295, "updated_at": "2026-01-01T00:00:00Z"}
    world.post(Client(), "inventory_levels/update", payload)
    drain()
    assert not InventoryPush.objects.filter(kind="check").exists()
    assert world.pim_available() == 300


def test_unknown_settings_are_refused(world):
    import pytest

    with pytest.raises(ValueError, match="unknown inventory setting"):
        store_inventory_settings_update(store=world.store_a, write_everything=True)


def test_order_lines_as_reference_data_on_the_variant_page(world, admin_client):
    sell(world, 4501, quantity=3)
    page = admin_client.get(reverse("admin:pim_variant_change", args=[world.variant.pk]))
    assert page.status_code == 200 and b"units sold" in page.content.lower()
    assert b"<td>Shop A</td><td>3</td>" not in page.content  # the store does not keep order lines
    store_inventory_settings_update(store=world.store_a, keep_order_lines=True)
    page = admin_client.get(reverse("admin:pim_variant_change", args=[world.variant.pk]))
    assert b"<td>Shop A</td><td>3</td><td>1</td>" in page.content
