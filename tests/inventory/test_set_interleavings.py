"""An absolute set racing a sale: Shopify lowers ``available`` when the order is placed and delivers ``orders/create``
later, so a set that reads Shopify between the two sees a sale the PIM has not booked, and compare-and-set to the
PIM's quantity would put the sold units back in Shopify for good (the order's own store is never pushed when the
PIM books the sale). Each test places the sale exactly before the set's Shopify read, by wrapping the client's read;
the set must leave that level for later (no attempt used, not dead-lettered) and the shop must keep the sale."""

from __future__ import annotations

from django.test import Client

import inventory.push_runs as push_runs_module
from inventory.models import InventoryPush
from inventory.push_runs import inventory_push_execute

from .conftest import drain
from .interleavings import push_on_main, sale_before_the_read


def test_a_set_does_not_undo_a_sale_whose_order_webhook_is_not_processed(world, monkeypatch):
    placed = sale_before_the_read(monkeypatch, world, module=push_runs_module, deliver=True)
    set_id = push_on_main(world, InventoryPush.Kind.SET)

    inventory_push_execute(push_id=set_id)

    assert placed and world.shopify_available("shop-a") == 299 and world.pim_available() == 300  # the sale stands
    push = InventoryPush.objects.get(pk=set_id)
    assert push.status == InventoryPush.Status.RETRY and push.attempts == 0  # left for later, no attempt used

    drain()  # the order is booked, then the set runs again

    assert world.pim_available() == 299 and world.shopify_available("shop-a") == 299
    push.refresh_from_db()
    assert push.status == InventoryPush.Status.DONE and push.result == "already 299"


def test_a_set_does_not_undo_a_sale_whose_order_webhook_is_still_on_its_way(world, monkeypatch, settings):
    settings.INVENTORY_CHECK_DELAY_SECONDS = 30  # how long Shopify may take to deliver a change's order webhook
    placed = sale_before_the_read(monkeypatch, world, module=push_runs_module, deliver=False)
    set_id = push_on_main(world, InventoryPush.Kind.SET)

    inventory_push_execute(push_id=set_id)

    assert placed and world.shopify_available("shop-a") == 299 and world.pim_available() == 300
    push = InventoryPush.objects.get(pk=set_id)
    assert push.status == InventoryPush.Status.RETRY and push.attempts == 0

    assert world.post(Client(), "orders/create", placed[0], store=world.store_a).status_code == 200  # arrives
    drain()

    assert world.pim_available() == 299 and world.shopify_available("shop-a") == 299
    assert InventoryPush.objects.get(pk=set_id).status == InventoryPush.Status.DONE


def test_a_set_that_lowers_shopify_is_not_held_back(world, monkeypatch, settings):
    """A sale in flight lowers Shopify: a set that lowers it further cannot undo one, so it runs at once."""
    settings.INVENTORY_CHECK_DELAY_SECONDS = 30
    world.control.adjust_inventory("shop-a", sku=world.variant.sku, set=350)  # just now, by the merchant
    sale_before_the_read(monkeypatch, world, module=push_runs_module, deliver=True)
    set_id = push_on_main(world, InventoryPush.Kind.SET)

    inventory_push_execute(push_id=set_id)

    push = InventoryPush.objects.get(pk=set_id)
    assert push.status == InventoryPush.Status.DONE and push.result == "set to 300 (was 349)"
    assert world.shopify_available("shop-a") == 300


def test_a_set_stops_waiting_after_the_max_wait(world, monkeypatch, settings):
    """After INVENTORY_CHECK_MAX_WAIT_SECONDS since the set was queued it runs as before (and says so in the log)."""
    settings.INVENTORY_CHECK_MAX_WAIT_SECONDS = 0
    sale_before_the_read(monkeypatch, world, module=push_runs_module, deliver=True)
    set_id = push_on_main(world, InventoryPush.Kind.SET)

    inventory_push_execute(push_id=set_id)

    push = InventoryPush.objects.get(pk=set_id)
    assert push.status == InventoryPush.Status.DONE and push.result == "set to 300 (was 299)"


def test_a_full_sync_batch_sets_the_levels_not_in_doubt_and_leaves_the_sold_one_for_later(world, monkeypatch,
                                                                                           settings):
    """One batch, one read: the level the set would raise over a sale in flight waits; a level it lowers (which
    cannot undo a sale) is set at once."""
    from inventory.full_sync import inventory_full_sync_start
    from inventory.sync_sets import SYNC_SET_LANE
    from outbox.services import outbox_drain

    settings.INVENTORY_SYNC_BATCH_SIZE = 10
    world.control.adjust_inventory("shop-a", sku=world.variant.sku, set=50)  # merchant edits before the sync
    world.control.adjust_inventory("shop-a", sku=world.variant.sku, set=5,
                                   location_id=world.locations["shop-a"]["Retail Store"])
    placed = sale_before_the_read(monkeypatch, world, module=push_runs_module, deliver=True)  # the sale takes Main's 50 to 49
    run = inventory_full_sync_start(store=world.store_a, actor_label="test")

    outbox_drain(lane=SYNC_SET_LANE, budget_seconds=60)

    sets = {p.location_id: p for p in InventoryPush.objects.filter(sync_run=run)}
    assert placed and world.shopify_available("shop-a") == 49  # the sale stands
    assert sets[world.main.pk].status == InventoryPush.Status.RETRY and sets[world.main.pk].attempts == 0
    assert sets[world.retail.pk].status == InventoryPush.Status.DONE
    assert world.shopify_available("shop-a", "Retail Store") == 0 == world.pim_available(world.retail)
    run.refresh_from_db()
    assert run.finished_at is None  # its Main set is still to come

    drain()  # the order is booked, then the Main set runs again

    assert world.pim_available() == 299 and world.shopify_available("shop-a") == 299
    run.refresh_from_db()
    assert run.finished_at is not None and not run.error and run.levels_set == 2


def test_a_direct_full_sync_waits_for_a_level_just_changed_and_then_sets_it(world, settings):
    """The command's full sync runs in the caller: a set it must leave for later (the level changed a moment ago, so
    a sale's webhook may be on its way) is given back and taken again when due, not left claimed until the lease
    runs out (the sync then reported "still busy" and left the set to the workers)."""
    from inventory.full_sync import inventory_full_sync

    settings.INVENTORY_CHECK_DELAY_SECONDS = 0.2
    world.control.adjust_inventory("shop-b", sku=world.variant.sku, set=50)  # just now: within the delay

    run = inventory_full_sync(store=world.store_b, apply=True, wait_seconds=30)

    assert not run.error and run.levels_set == 1
    assert world.shopify_available("shop-b") == 300
    assert InventoryPush.objects.get(sync_run=run, location=world.main).status == InventoryPush.Status.DONE
