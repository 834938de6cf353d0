"""A merchant-edit check racing a sale (issue #14's false InventoryDrift): Shopify lowers ``available`` when the order
is placed and delivers ``orders/create`` later, so a check that reads Shopify between the two sees a sale the PIM
has not booked. Each test places the sale exactly between the check's claim (when it was quiet) and its Shopify
read, by wrapping the client's read; the check must not record a drift or overwrite the sale."""

from __future__ import annotations

from django.test import Client

import inventory.drift as drift_module
from inventory.models import InventoryDrift, InventoryPush
from inventory.push_runs import inventory_push_execute

from .conftest import drain
from .interleavings import push_on_main, sale_before_the_read


def test_an_order_webhook_stored_between_the_claim_and_the_read_makes_the_check_wait(world, monkeypatch):
    placed = sale_before_the_read(monkeypatch, world, module=drift_module, deliver=True)
    check_id = push_on_main(world, InventoryPush.Kind.CHECK)

    inventory_push_execute(push_id=check_id)

    assert placed and world.shopify_available("shop-a") == 299 and world.pim_available() == 300
    assert not InventoryDrift.objects.exists()
    first = InventoryPush.objects.get(pk=check_id)
    assert "order webhook of the shop is not processed yet" in first.result
    assert not InventoryPush.objects.filter(kind=InventoryPush.Kind.SET, pk__gt=check_id).exists()  # no overwrite

    drain()  # the order is booked, then the check compares again

    assert world.pim_available() == 299 and world.shopify_available("shop-a") == 299
    assert not InventoryDrift.objects.exists()
    last = InventoryPush.objects.filter(kind=InventoryPush.Kind.CHECK).latest("pk")
    assert last.pk != check_id and last.result == "Shopify matches the PIM (299)"


def test_a_sale_whose_webhook_is_still_on_its_way_makes_the_check_wait(world, monkeypatch, settings):
    settings.INVENTORY_CHECK_DELAY_SECONDS = 30  # how long Shopify may take to deliver a change's order webhook
    placed = sale_before_the_read(monkeypatch, world, module=drift_module, deliver=False)
    check_id = push_on_main(world, InventoryPush.Kind.CHECK)

    inventory_push_execute(push_id=check_id)

    assert placed and world.shopify_available("shop-a") == 299 and world.pim_available() == 300
    assert not InventoryDrift.objects.exists()
    assert "changed in Shopify" in InventoryPush.objects.get(pk=check_id).result

    assert world.post(Client(), "orders/create", placed[0], store=world.store_a).status_code == 200  # arrives
    drain()  # books the sale, then moves the clock to the next check

    assert world.pim_available() == 299 and world.shopify_available("shop-a") == 299
    assert not InventoryDrift.objects.exists()
    last = InventoryPush.objects.filter(kind=InventoryPush.Kind.CHECK).latest("pk")
    assert last.result == "Shopify matches the PIM (299)"


def test_a_real_merchant_edit_is_still_caught_once_shopify_settles(world, settings):
    """A mismatch that no order explains is a drift once Shopify's level has been quiet for the settle time."""
    settings.INVENTORY_CHECK_DELAY_SECONDS = 30
    settings.INVENTORY_CHECK_MAX_WAIT_SECONDS = 120
    world.control.adjust_inventory("shop-a", sku=world.variant.sku, set=250)  # the merchant, just before the read
    check_id = push_on_main(world, InventoryPush.Kind.CHECK)

    inventory_push_execute(push_id=check_id)
    assert not InventoryDrift.objects.exists()  # too recent to tell from a sale in flight
    drain()  # the clock moves to the next check: Shopify has not changed since, nothing explains it

    drift = InventoryDrift.objects.get()
    assert (drift.shopify_available, drift.pim_available, drift.action) == (250, 300, "overwritten")
    assert world.shopify_available("shop-a") == 300


def test_a_check_that_stops_waiting_with_an_order_webhook_unprocessed_holds_instead_of_overwriting(world, monkeypatch,
                                                                                                   settings):
    """After INVENTORY_CHECK_MAX_WAIT_SECONDS the check concludes anyway; with a sale of the shop still unbooked, an
    overwrite would undo that sale in Shopify for good, so the drift is held for review."""
    settings.INVENTORY_CHECK_MAX_WAIT_SECONDS = 0
    sale_before_the_read(monkeypatch, world, module=drift_module, deliver=True)
    check_id = push_on_main(world, InventoryPush.Kind.CHECK)

    inventory_push_execute(push_id=check_id)

    drift = InventoryDrift.objects.get()
    assert (drift.shopify_available, drift.pim_available, drift.action, drift.resolved_at) == (299, 300, "held", None)
    assert "held for review (1 order webhook(s) of the shop not processed)" in InventoryPush.objects.get(
        pk=check_id).result
    assert not InventoryPush.objects.filter(kind=InventoryPush.Kind.SET, pk__gt=check_id).exists()
    drain()
    assert world.shopify_available("shop-a") == 299 == world.pim_available()  # the sale stands in both
