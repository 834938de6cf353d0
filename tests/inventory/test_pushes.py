"""PIM movements reach Shopify without blocking: outbox, retries with the same idempotency key, absolute sets with
compare-and-set, refusals (no full sync, excluded, unmapped, not the pushing connection) and echo detection."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.db import IntegrityError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from channels.models import ConflictPolicy, Store, VariantBinding
from channels.shopify.ids import gid_to_id
from inventory.drift import inventory_drift_accept
from inventory.errors import StockError
from inventory.full_sync import inventory_full_sync
from inventory.ledger import stock_adjust, stock_count, stock_receive
from inventory.locations import location_create, store_locations_automap
from inventory.models import InventoryDrift, InventoryPush, ShopifyLevel, StockMovement, WebhookEvent
from inventory.push_runs import INVENTORY_PUSH, inventory_push_execute
from inventory.pushes import _push_record, inventory_set_request
from inventory.queueing import INVENTORY_QUEUE
from inventory.subscriptions import webhook_subscriptions_register
from inventory.sweep import inventory_missing_sets_request
from outbox.services import outbox_sweep_kind
from pim import services as pim_services
from pim.clock import clock_advance
from tests.e2e.conftest import wait_for

from .conftest import WEBHOOK_PATH, drain, make_store, order_payload


def mutations(world, shop: str, operation: str) -> list[dict]:
    return world.control.requests(shop, operation=operation)


def test_movements_commit_at_once_while_shopify_is_down_and_arrive_later(world):
    # Longer than the client's in-call retry waits (Retry-After > max_server_error_wait): the push must retry later.
    world.control.outage("shop-b", 30)
    sent_before = {shop: world.control.requests(shop) for shop in ("shop-a", "shop-b")}
    movement = stock_receive(variant=world.variant, location=world.main, quantity=5, reason="PO-1")
    assert {shop: world.control.requests(shop) for shop in ("shop-a", "shop-b")} == sent_before  # no Shopify call
    assert movement.on_hand_after == 305 and world.pim_available() == 305
    push_b = InventoryPush.objects.get(store=world.store_b, kind="delta")
    assert push_b.status == "pending" and push_b.dispatched_at is not None  # queued on "inventory" after commit
    assert django_rq.get_queue(INVENTORY_QUEUE).count == 1  # one drain job covers both pushes
    inventory_push_execute(push_id=push_b.pk)
    push_b.refresh_from_db()
    assert push_b.status == "retry" and "ShopifyServerError" in push_b.last_error
    world.control.clear_faults("shop-b")  # the outage is over
    clock_advance(seconds=1.6)  # and time has passed: the retry is due
    drain()
    push_b.refresh_from_db()
    assert push_b.status == "done" and push_b.attempts == 2 and push_b.latency_ms >= 1500
    assert world.shopify_available("shop-b") == 305 and world.shopify_available("shop-a") == 305


def test_a_retried_delta_reuses_its_idempotency_key_and_applies_once(world, settings):
    settings.SHOPIFY_READ_TIMEOUT = 0.3
    world.control.latency("shop-b", 800)  # the answer comes after our timeout, but Shopify applies it
    stock_receive(variant=world.variant, location=world.main, quantity=4)
    push = InventoryPush.objects.get(store=world.store_b, kind="delta")
    inventory_push_execute(push_id=push.pk)
    push.refresh_from_db()
    assert push.status == "retry" and "ShopifyNetworkError" in push.last_error
    world.control.clear_faults("shop-b")
    # The first request is still applied by Shopify after our timeout: wait until it is.
    wait_for(lambda: world.shopify_available("shop-b") == 304, what="the timed-out adjust applied")
    drain()
    sent = [r["variables"]["idempotencyKey"] for r in mutations(world, "shop-b", "InventoryAdjustQuantities")]
    assert sent[-2:] == [f"pim-invpush-{push.pk}"] * 2
    assert world.shopify_available("shop-b") == 304  # +4 once, not twice


def test_pending_deltas_coalesce_and_a_running_push_is_frozen(world):
    for _ in range(3):
        stock_receive(variant=world.variant, location=world.main, quantity=2)
    push = InventoryPush.objects.get(store=world.store_b, kind="delta")
    assert (push.delta, push.movements, push.reason) == (6, 3, "received")
    stock_adjust(variant=world.variant, location=world.main, quantity=-1, reason="damaged")
    push.refresh_from_db()
    assert (push.delta, push.reason) == (5, "correction")
    InventoryPush.objects.filter(pk=push.pk).update(status="running", idempotency_key=f"pim-invpush-{push.pk}")
    stock_adjust(variant=world.variant, location=world.main, quantity=-1, reason="damaged")
    assert InventoryPush.objects.filter(store=world.store_b, kind="delta").count() == 2
    push.refresh_from_db()
    assert push.delta == 5  # frozen: the new change went to a new pending push
    InventoryPush.objects.filter(pk=push.pk).update(status="retry")  # as if its attempt had failed
    drain()
    assert world.shopify_available("shop-b") == 304


def test_stock_services_validate_and_are_idempotent_by_source_ref(world):
    first = stock_receive(variant=world.variant, location=world.main, quantity=3, source_ref="PO-9:1")
    again = stock_receive(variant=world.variant, location=world.main, quantity=3, source_ref="PO-9:1")
    assert first.pk == again.pk and world.pim_available() == 303
    with pytest.raises(StockError):
        stock_receive(variant=world.variant, location=world.main, quantity=0)
    with pytest.raises(StockError):
        stock_adjust(variant=world.variant, location=world.main, quantity=-1000, reason="oops")
    with pytest.raises(StockError):
        stock_adjust(variant=world.variant, location=world.main, quantity=-1, reason="")
    counted = stock_count(variant=world.variant, location=world.main, counted=250)
    assert (counted.kind, counted.quantity, counted.on_hand_after) == ("stocktake", -53, 250)
    reserved = stock_adjust(variant=world.variant, location=world.main, reserved_change=10, reason="hold")
    assert (reserved.on_hand_after, reserved.reserved_after) == (250, 10) and world.pim_available() == 240
    drain()
    assert world.shopify_available("shop-b") == 240
    reasons = [r["variables"]["input"]["reason"] for r in mutations(world, "shop-b", "InventoryAdjustQuantities")]
    assert set(reasons) <= {"received", "cycle_count_available", "correction"}


def test_full_sync_dry_run_reports_and_apply_sets_with_compare_and_set(world):
    world.control.adjust_inventory("shop-b", sku=world.variant.sku, set=50)
    run = inventory_full_sync(store=world.store_b, apply=False)
    assert (run.levels_checked, run.differences) == (2, 1)
    assert run.report[0] | {} == {"sku": world.variant.sku, "location": "Main Warehouse", "shopify": 50, "pim": 300,
                                  "stocked": True, "differs": True}
    assert world.shopify_available("shop-b") == 50  # a dry run changes nothing
    world.control.clear_requests("shop-b")
    run = inventory_full_sync(store=world.store_b, apply=True)
    assert run.levels_set == 1 and not run.error
    assert world.shopify_available("shop-b") == 300
    [sent] = mutations(world, "shop-b", "InventorySetQuantities")
    [quantity] = sent["variables"]["input"]["quantities"]
    assert (quantity["quantity"], quantity["changeFromQuantity"]) == (300, 50)
    assert sent["variables"]["idempotencyKey"].startswith("pim-invset-")


def test_a_stale_compare_re_reads_and_sets_again(world, monkeypatch):
    """The merchant sells in Shopify between our read and our set: Shopify answers CHANGE_FROM_QUANTITY_STALE."""
    from channels.shopify import client as client_module

    world.control.adjust_inventory("shop-b", sku=world.variant.sku, set=40)
    original = client_module.ShopifyClient.inventory_levels
    calls = []

    def levels_then_merchant_edit(self, **kwargs):
        rows = original(self, **kwargs)
        calls.append(rows)
        if len(calls) == 1:  # the merchant edits right after our first read
            world.control.adjust_inventory("shop-b", sku=world.variant.sku, set=39)
        return rows

    monkeypatch.setattr(client_module.ShopifyClient, "inventory_levels", levels_then_merchant_edit)
    push_id = inventory_set_request(store=world.store_b, variant=world.variant, location=world.main)
    outcome = inventory_push_execute(push_id=push_id)
    assert outcome.status == "done"
    sets = mutations(world, "shop-b", "InventorySetQuantities")[-2:]
    froms = [s["variables"]["input"]["quantities"][0]["changeFromQuantity"] for s in sets]
    keys = [s["variables"]["idempotencyKey"] for s in sets]
    assert froms == [40, 39] and keys[0] != keys[1]
    assert world.shopify_available("shop-b") == 300


def test_deltas_are_refused_until_the_store_had_its_initial_full_sync(world, shopify_sim):
    creds = shopify_sim.shops["shop-b"]
    Store.objects.filter(pk=world.store_b.pk).update(inventory_push_enabled=False)
    fresh = make_store("Shop B (new connection)", creds)
    VariantBinding.objects.create(store=fresh, variant=world.variant,
                                  shopify_variant_id=str(world.variants["shop-b"]),
                                  shopify_inventory_item_id=str(world.items["shop-b"]))
    store_locations_automap(store=fresh)
    stock_receive(variant=world.variant, location=world.main, quantity=1)
    assert not InventoryPush.objects.filter(store=fresh).exists()
    forced = _push_record(kind="delta", store_id=fresh.pk, variant_id=world.variant.pk,
                                   location_id=world.main.pk, delta=1, version=99)
    inventory_push_execute(push_id=forced)
    forced = InventoryPush.objects.get(pk=forced)
    assert forced.status == "skipped" and "initial full sync" in forced.result


def test_only_one_connection_per_shop_pushes(world, shopify_sim):
    with pytest.raises(IntegrityError):
        make_store("Shop B twin", shopify_sim.shops["shop-b"])


def test_excluded_and_untracked_levels_are_not_pushed(world):
    pim_services.variant_update(variant=world.variant, inventory_sync_excluded=True)
    stock_receive(variant=world.variant, location=world.main, quantity=1)
    assert not InventoryPush.objects.exclude(kind="set").exists()
    pim_services.variant_update(variant=world.variant, inventory_tracked=False)
    with pytest.raises(StockError):
        stock_receive(variant=world.variant, location=world.main, quantity=1)


def test_a_variant_bound_after_the_full_sync_gets_an_absolute_first_push(world):
    mug = pim_services.product_create(title="Mug", variants=[{"sku": "MUG-1", "price": "5"}]).variants.get()
    seeded = world.control.seed("shop-b", products=[{"title": "Mug", "variants": [{"sku": "MUG-1", "price": "5.00",
                                                                                    "inventory": 3}]}])
    node = seeded[0]["variants"][0]
    VariantBinding.objects.create(store=world.store_b, variant=mug, shopify_variant_id=str(gid_to_id(node["id"])),
                                  shopify_inventory_item_id=str(gid_to_id(node["inventoryItemId"])))
    stock_receive(variant=mug, location=world.main, quantity=12)
    push = InventoryPush.objects.get(store=world.store_b, variant=mug)
    assert push.kind == "set"  # Shopify has 3 from before: a delta of +12 would leave 15
    drain()
    assert world.control.inventory("shop-b", sku="MUG-1")["levels"][0]["available"] == 12
    assert ShopifyLevel.objects.get(store=world.store_b, variant=mug, location=world.main).baseline_version == 1
    stock_receive(variant=mug, location=world.main, quantity=1)
    assert InventoryPush.objects.filter(store=world.store_b, variant=mug, kind="delta").count() == 1
    # The sweeper also sets levels nobody moved yet (the retail store level of the mug).
    assert inventory_missing_sets_request() == 1


def test_sweeper_resends_what_redis_lost_and_reclaims_dead_workers(world):
    stock_receive(variant=world.variant, location=world.main, quantity=1)
    django_rq.get_connection("default").flushdb()  # Redis lost everything
    report = outbox_sweep_kind(kind=INVENTORY_PUSH)  # the outbox sweep of pushes (outbox_sweeper)
    assert report.dispatched == 2
    push = InventoryPush.objects.get(store=world.store_b, kind="delta")
    InventoryPush.objects.filter(pk=push.pk).update(status="running", lease_until=timezone.now() - timedelta(seconds=1))
    report = outbox_sweep_kind(kind=INVENTORY_PUSH)
    assert report.reclaimed == 1
    drain()
    assert world.shopify_available("shop-b") == 301


def test_our_push_echoes_are_recognised_and_a_merchant_edit_is_overwritten(world, live_server):
    webhook_subscriptions_register(store=world.store_b, callback_url=live_server.url + WEBHOOK_PATH,
                                            topics=["INVENTORY_LEVELS_UPDATE"])
    stock_receive(variant=world.variant, location=world.main, quantity=5)
    drain()
    assert world.sim.wait_webhooks(10)
    drain()
    echo = WebhookEvent.objects.get(topic="inventory_levels/update")
    assert echo.result.startswith("echo of our own push") and not InventoryDrift.objects.exists()
    assert not InventoryPush.objects.filter(kind="check").exists()

    world.control.adjust_inventory("shop-b", sku=world.variant.sku, set=250)  # the merchant, in Shopify
    assert world.sim.wait_webhooks(10)
    drain()
    assert world.sim.wait_webhooks(10)  # the overwrite echoes back too
    drain()
    drift = InventoryDrift.objects.get()
    assert (drift.shopify_available, drift.pim_available, drift.action) == (250, 305, "overwritten")
    assert world.shopify_available("shop-b") == 305
    results = list(WebhookEvent.objects.filter(topic="inventory_levels/update").order_by("pk")
                   .values_list("result", flat=True))
    assert results[1].startswith("not our push") and results[2].startswith("echo of our own push")
    assert InventoryDrift.objects.count() == 1


def test_a_sale_in_the_pushing_store_is_not_mistaken_for_a_merchant_edit(world, live_server):
    webhook_subscriptions_register(store=world.store_b, callback_url=live_server.url + WEBHOOK_PATH,
                                            topics=["ORDERS_CREATE", "INVENTORY_LEVELS_UPDATE"])
    world.control.place_order("shop-b", [{"sku": world.variant.sku, "quantity": 2}])
    assert world.sim.wait_webhooks(10)
    drain()
    assert world.pim_available() == 298 and world.shopify_available("shop-b") == 298
    assert not InventoryDrift.objects.exists()
    check = InventoryPush.objects.get(kind="check")
    assert check.result.startswith("Shopify matches the PIM")
    assert world.shopify_available("shop-a") == 298


def test_the_hold_policy_records_the_drift_without_overwriting(world, live_server):
    Store.objects.filter(pk=world.store_b.pk).update(default_conflict_policy=ConflictPolicy.HOLD)
    webhook_subscriptions_register(store=world.store_b, callback_url=live_server.url + WEBHOOK_PATH,
                                            topics=["INVENTORY_LEVELS_UPDATE"])
    world.control.adjust_inventory("shop-b", sku=world.variant.sku, set=42)
    assert world.sim.wait_webhooks(10)
    drain()
    drift = InventoryDrift.objects.get()
    assert (drift.action, drift.resolved_at) == ("held", None)
    assert world.shopify_available("shop-b") == 42
    movement = inventory_drift_accept(drift=drift)
    assert movement.kind == StockMovement.Kind.SYNC_CORRECTION and world.pim_available() == 42
    drain()
    assert world.shopify_available("shop-a") == 42  # the other store follows the accepted quantity


def test_app_uninstalled_disables_the_store_and_products_update_asks_for_a_drift_check(world, monkeypatch):
    calls = []
    monkeypatch.setattr("conflicts.services.drift_live_read", lambda **kw: calls.append(kw))
    world.post(Client(), "products/update", {"id": 123456, "title": "Tee", "updated_at": "2026-11-23T10:00:00-05:00"})
    world.post(Client(), "app/uninstalled", {"id": 1, "myshopify_domain": world.store_a.shop_domain})
    drain()
    assert calls == [{"store_id": world.store_a.pk, "shopify_product_id": "123456",
                      "updated_at": "2026-11-23T10:00:00-05:00"}]
    world.store_a.refresh_from_db()
    assert world.store_a.is_active is False
    # A disabled store's deliveries are refused from now on.
    assert world.post(Client(), "orders/create", order_payload(1, [])).status_code == 401


def test_a_movement_during_the_first_full_sync_still_reaches_the_store(world, shopify_sim, monkeypatch):
    from channels.shopify import client as client_module

    Store.objects.filter(pk=world.store_b.pk).update(inventory_push_enabled=False)
    fresh = make_store("Shop B (new connection)", shopify_sim.shops["shop-b"])
    VariantBinding.objects.create(store=fresh, variant=world.variant, shopify_variant_id=str(world.variants["shop-b"]),
                                  shopify_inventory_item_id=str(world.items["shop-b"]))
    store_locations_automap(store=fresh)
    world.control.adjust_inventory("shop-b", sku=world.variant.sku, set=0)
    original = client_module.ShopifyClient.inventory_set_quantities

    def receipt_while_setting(self, **kwargs):
        if not StockMovement.objects.filter(source_ref="during-sync").exists():
            # The PIM quantity for this set was read already: a warehouse receipt lands right now.
            stock_receive(variant=world.variant, location=world.main, quantity=7, source_ref="during-sync")
        return original(self, **kwargs)

    monkeypatch.setattr(client_module.ShopifyClient, "inventory_set_quantities", receipt_while_setting)
    run = inventory_full_sync(store=fresh, apply=True)
    assert not run.error
    assert world.shopify_available("shop-b") == 300  # what the sync read
    drain()
    assert world.shopify_available("shop-b") == 307


def test_an_unmapped_location_falls_back_to_each_stores_default_location(world):
    """Starshipit's rule: stock of a PIM location a store does not map shows at the store's default location."""
    location_create(name="Back Room")
    back_room = location_create(name="back room")
    assert back_room.name == "Back Room"
    stock_receive(variant=world.variant, location=back_room, quantity=4)  # not mapped in any store
    pushes = InventoryPush.objects.filter(kind="set", status="pending")
    assert sorted(pushes.values_list("store__name", "location__name")) == [
        ("Shop A", "Main Warehouse"), ("Shop B", "Main Warehouse")]
    drain()
    assert world.shopify_available("shop-a") == 304 and world.shopify_available("shop-b") == 304
    assert world.shopify_available("shop-b", "Retail Store") == 0
    done = InventoryPush.objects.filter(store=world.store_b, kind="set", status="done").latest("pk")
    assert (done.mapping_used, done.shopify_location_id) == (
        "default+unmapped", str(world.locations["shop-b"]["Main Warehouse"]))
    # A sale at Main Warehouse in shop A: shop B's Main shows Main + Back Room, still consistent.
    world.post(Client(), "orders/create", order_payload(7301, [world.line(7302, quantity=2)],
                                                        location_id=world.locations["shop-a"]["Main Warehouse"]))
    drain()
    assert world.shopify_available("shop-b") == 302
    # Nothing drifts: a comparison of shop B with the PIM sees the same figure.
    report = inventory_full_sync(store=world.store_b, apply=False, actor_label="test")
    assert report.differences == 0, report.report


def test_a_retry_waits_for_its_backoff_on_the_services_clock(world, settings):
    settings.SYNC_RETRY_SCHEDULE = [600.0]
    settings.SYNC_RETRY_MAX_SECONDS = 600
    world.control.outage("shop-b", 60)
    stock_receive(variant=world.variant, location=world.main, quantity=3)
    push = InventoryPush.objects.get(store=world.store_b, kind="delta")
    assert inventory_push_execute(push_id=push.pk).status == "retry"
    world.control.clear_faults("shop-b")
    assert inventory_push_execute(push_id=push.pk).status == "not-claimed"  # ten minutes of backoff to go
    clock_advance(seconds=700)
    assert inventory_push_execute(push_id=push.pk).status == "done"
    assert world.shopify_available("shop-b") == 303


def test_a_dead_delta_is_replayed_from_the_admin_as_an_absolute_set(world, admin_client):
    """Admin replay goes through ``outbox_replay``; the kind's replay hook redoes a dead delta as an absolute set
    (the delta may or may not have reached Shopify, a compare-and-set is right either way)."""
    world.control.outage("shop-b", 60)
    stock_receive(variant=world.variant, location=world.main, quantity=2)
    push = InventoryPush.objects.get(store=world.store_b, kind="delta")
    InventoryPush.objects.filter(pk=push.pk).update(max_attempts=1)
    assert inventory_push_execute(push_id=push.pk).status == "dead"
    world.control.clear_faults("shop-b")
    url = reverse("admin:inventory_inventorypush_changelist")
    data = {"action": "replay", "_selected_action": [push.pk]}
    page = admin_client.post(url, data)
    assert page.status_code == 200 and b"Replay these inventory pushes?" in page.content
    assert InventoryPush.objects.get(pk=push.pk).status == "dead"  # nothing before the confirmation
    assert admin_client.post(url, {**data, "confirmed": "yes"}).status_code == 302
    push.refresh_from_db()
    replacement = InventoryPush.objects.get(store=world.store_b, kind="set", status="pending")
    assert push.status == "superseded" and push.result == f"replayed as absolute set #{replacement.pk}"
    drain()
    replacement.refresh_from_db()
    assert replacement.status == "done" and world.shopify_available("shop-b") == 302


def test_a_sale_push_is_claimed_ahead_of_older_full_sync_sets(world):
    """Issue 15's order lane: thousands of sets queued by a full sync must not hold a sale's push behind them."""
    from inventory.models import InventorySyncRun
    from outbox.services import outbox_claim

    run = InventorySyncRun.objects.create(store=world.store_b, applied=True)
    earlier = timezone.now() - timedelta(minutes=5)
    sync_set = _push_record(kind=InventoryPush.Kind.SET, store_id=world.store_b.pk, variant_id=world.variant.pk,
                            location_id=world.main.pk, sync_run_id=run.pk, at=earlier)
    sale = _push_record(kind=InventoryPush.Kind.DELTA, store_id=world.store_b.pk, variant_id=world.variant.pk,
                        location_id=world.main.pk, delta=-1, version=1, at=timezone.now())
    claimed = outbox_claim(kind=INVENTORY_PUSH, worker="test")
    assert claimed.pk == sale != sync_set
