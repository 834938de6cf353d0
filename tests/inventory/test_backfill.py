"""Order movements recorded before order lines existed are linked to lines by the 0003 migration, so a later
webhook of such an order does not book its sale again."""

from __future__ import annotations

import importlib

from django.apps import apps
from django.test import Client

from inventory.ledger import _Change, _Origin, _record
from inventory.models import ShopifyOrder, StockMovement

from .conftest import drain, order_payload

backfill = importlib.import_module("inventory.migrations.0006_inv_backfill_order_lines").backfill


def test_legacy_order_movements_are_linked_and_not_booked_again(world):
    shop = world.store_a.shop_domain
    ShopifyOrder.objects.create(shop_domain=shop, order_id="6601", store=world.store_a)
    origin = _Origin(actor_label="legacy", store=world.store_a, shop_domain=shop)
    _record([_Change(variant=world.variant, location_id=world.main.pk, kind=StockMovement.Kind.SALE, quantity=-3,
                     source_ref=f"shopify:{shop}:order:6601:line:6602:sale")], origin, allow_negative=True)
    _record([_Change(variant=world.variant, location_id=world.main.pk, kind=StockMovement.Kind.REFUND_RESTOCK,
                     quantity=1, source_ref=f"shopify:{shop}:order:6601:line:6602:restock-return:77:78")],
            origin, allow_negative=True)
    assert world.pim_available() == 298
    backfill(apps, None)
    line = StockMovement.objects.get(kind="sale").order_line
    assert line.quantity == 3 and line.refund_lines["78"]["quantity"] == 1
    world.post(Client(), "orders/create", order_payload(6601, [world.line(6602, quantity=3)],
                                                        location_id=world.locations["shop-a"]["Main Warehouse"]))
    drain()
    assert world.pim_available() == 298
    assert StockMovement.objects.filter(order_line=line).count() == 2
