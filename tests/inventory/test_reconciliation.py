"""Scheduled inventory reconciliation against the simulator: switching on needs a confirmed full sync; a run
corrects a drifted level with compare-and-set, skips levels with a pending push or an unprocessed order webhook,
holds a large difference; a level Shopify changed meanwhile is not overwritten; two sweepers make one run per slot;
the schedule's slots are decided with an injectable ``now``; the admin (confirming a full sync, the schedule form,
the run's report, *Reconcile now*) and the command."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from channels.models import VariantBinding
from channels.shopify.ids import gid_to_id
from inventory import full_sync, ledger
from inventory import reconciliation as recon
from inventory.models import (
    FullSyncConfirmation,
    InventoryDrift,
    InventorySyncRun,
    ReconciliationRun,
    ReconciliationSchedule,
)
from pim import services as pim_services
from pim.clock import clock_advance, clock_now

from .conftest import drain, order_payload, run_concurrently

SKUS = ("S-1", "S-2", "S-3", "S-4")


@dataclass
class Recon:
    world: object
    variants: dict  # sku -> PIM variant
    shopify_variants: dict  # sku -> numeric Shopify variant id in shop-b

    def shopify(self, sku: str) -> int:
        info = self.world.control.inventory("shop-b", sku=sku)
        wanted = f"gid://shopify/Location/{self.world.locations['shop-b']['Main Warehouse']}"
        return next(lv["available"] for lv in info["levels"] if lv["location_id"] == wanted)

    def reconcile(self, **kwargs) -> ReconciliationRun:
        run = recon.reconciliation_run_request(store=self.world.store_b, dispatch=False)
        return recon.reconciliation_run_execute(run_id=run.pk, **kwargs)


@pytest.fixture
def rworld(world, settings) -> Recon:
    """Shop B sells four more SKUs (50 each at Main Warehouse), its latest full sync applied and confirmed."""
    settings.RECONCILIATION_SETTLE_SECONDS = 0
    settings.RECONCILIATION_HOLD_UNITS = 10
    settings.RECONCILIATION_HOLD_PERCENT = 0
    seeded = world.control.seed("shop-b", products=[
        {"title": sku, "variants": [{"sku": sku, "price": "5.00", "inventory": 50}]} for sku in SKUS])
    variants, shopify_variants = {}, {}
    for sku, product in zip(SKUS, seeded, strict=True):
        variant = pim_services.product_create(title=sku, variants=[{"sku": sku, "price": "5"}]).variants.get()
        node = product["variants"][0]
        VariantBinding.objects.create(store=world.store_b, variant=variant,
                                      shopify_variant_id=str(gid_to_id(node["id"])),
                                      shopify_inventory_item_id=str(gid_to_id(node["inventoryItemId"])))
        ledger.stock_receive(variant=variant, location=world.main, quantity=50, source_ref=f"test:{sku}")
        variants[sku], shopify_variants[sku] = variant, gid_to_id(node["id"])
    drain()
    run = full_sync.inventory_full_sync(store=world.store_b, apply=True, actor_label="test")
    assert not run.error
    recon.inventory_sync_run_confirm(run=run, note="checked")
    world.control.clear_requests("shop-b")
    return Recon(world, variants, shopify_variants)


def test_switching_on_is_refused_without_a_confirmed_full_sync(world):
    store = world.store_b
    with pytest.raises(recon.ReconciliationRefused, match="no confirmed full inventory sync"):
        recon.reconciliation_schedule_set(store=store, frequency="daily", hour=4)
    assert not ReconciliationSchedule.objects.filter(store=store).exclude(frequency="off").exists()
    dry = full_sync.inventory_full_sync(store=store, apply=False)
    with pytest.raises(recon.ReconciliationError, match="dry run"):
        recon.inventory_sync_run_confirm(run=dry)
    with pytest.raises(recon.ReconciliationRefused):
        recon.reconciliation_schedule_set(store=store, frequency="weekly", weekday=2, hour=4)
    applied = InventorySyncRun.objects.filter(store=store, applied=True).latest("started_at")
    confirmation = recon.inventory_sync_run_confirm(run=applied, note="available checked")
    assert recon.inventory_sync_run_confirm(run=applied) == confirmation  # confirming twice changes nothing
    schedule = recon.reconciliation_schedule_set(store=store, frequency="weekly", weekday=2, hour=4,
                                                 timezone_name="Europe/Berlin")
    assert (schedule.frequency, schedule.confirmation) == ("weekly", confirmation)
    with pytest.raises(recon.ReconciliationError, match="timezone"):
        recon.reconciliation_schedule_set(store=store, frequency="daily", timezone_name="Mars/Olympus")
    # A store that stopped pushing inventory may not be switched on (nor run).
    store.inventory_push_enabled = False
    store.save()
    with pytest.raises(recon.ReconciliationRefused, match="does not push inventory"):
        recon.reconciliation_schedule_set(store=store, frequency="daily")


def test_a_run_corrects_a_level_skips_pending_work_and_holds_a_large_difference(rworld, client: Client):
    world, ctl = rworld.world, rworld.world.control
    ctl.adjust_inventory("shop-b", sku="S-1", set=47)  # drift whose webhook never came: corrected
    ctl.adjust_inventory("shop-b", sku="S-2", set=45)
    ledger.stock_receive(variant=rworld.variants["S-2"], location=world.main, quantity=1)  # its push waits
    ctl.adjust_inventory("shop-b", sku="S-3", set=48)  # a sale of 2 whose webhook is stored, not processed yet
    line = {"id": 9001, "variant_id": rworld.shopify_variants["S-3"], "sku": "S-3", "quantity": 2}
    assert world.post(client, "orders/create", order_payload(7001, [line]), store=world.store_b).status_code == 200
    ctl.adjust_inventory("shop-b", sku="S-4", set=5)  # a large difference: held for review
    ctl.clear_requests("shop-b")

    run = rworld.reconcile()

    assert run.status == "done", run.last_error
    assert (run.corrected, run.skipped, run.held, run.stale) == (1, 2, 1, 0)
    assert run.levels_checked == 10 and run.matched == 6
    assert [rworld.shopify(s) for s in SKUS] == [50, 45, 48, 5]
    [sent] = ctl.requests("shop-b", operation="InventorySetQuantities")
    [quantity] = sent["variables"]["input"]["quantities"]
    assert (quantity["quantity"], quantity["changeFromQuantity"]) == (50, 47)
    assert sent["variables"]["idempotencyKey"].startswith(f"pim-recon-{run.pk}-")
    report = {e["sku"]: e for e in run.report}
    assert report["S-1"]["outcome"] == "corrected"
    assert report["S-2"]["outcome"] == "skipped" and "push" in report["S-2"]["detail"]
    assert report["S-3"]["outcome"] == "skipped" and "orders/create" in report["S-3"]["detail"]
    assert report["S-4"]["outcome"] == "held"
    drift = InventoryDrift.objects.get(variant=rworld.variants["S-4"])
    assert (drift.action, drift.resolved_at, drift.shopify_available, drift.pim_available) == ("held", None, 5, 50)
    # The next run leaves the held level to its review instead of holding it twice.
    again = rworld.reconcile()
    assert {e["sku"]: e["outcome"] for e in again.report}["S-4"] == "skipped"
    assert InventoryDrift.objects.filter(variant=rworld.variants["S-4"]).count() == 1


def test_a_level_shopify_changed_after_the_read_is_not_overwritten_and_the_next_run_corrects_it(rworld,
                                                                                                   monkeypatch):
    from channels.shopify import client as client_module

    ctl = rworld.world.control
    ctl.adjust_inventory("shop-b", sku="S-1", set=47)
    original = client_module.ShopifyClient.inventory_levels
    calls = []

    def read_then_sale(self, **kwargs):
        rows = original(self, **kwargs)
        calls.append(1)
        if len(calls) == 1:  # after our read, Shopify sells one before our set arrives
            ctl.adjust_inventory("shop-b", sku="S-1", set=46)
        return rows

    monkeypatch.setattr(client_module.ShopifyClient, "inventory_levels", read_then_sale)
    run = rworld.reconcile()
    assert (run.status, run.corrected, run.stale) == ("done", 0, 1)
    [entry] = run.report
    assert entry["sku"] == "S-1" and "47 → 46" in entry["detail"] and "not overwritten" in entry["detail"]
    assert rworld.shopify("S-1") == 46
    monkeypatch.setattr(client_module.ShopifyClient, "inventory_levels", original)
    assert rworld.shopify("S-1") == 46
    nxt = rworld.reconcile()
    assert (nxt.corrected, nxt.stale) == (1, 0) and rworld.shopify("S-1") == 50


def test_a_level_changed_in_shopify_moments_ago_waits_for_its_webhook(rworld, settings):
    settings.RECONCILIATION_SETTLE_SECONDS = 600
    rworld.world.control.adjust_inventory("shop-b", sku="S-1", set=47)
    run = rworld.reconcile()
    [entry] = run.report
    assert entry["outcome"] == "skipped" and "webhook may still be on its way" in entry["detail"]
    assert rworld.shopify("S-1") == 47


def test_two_sweepers_make_one_run_per_slot_and_a_run_executes_once(rworld):
    store = rworld.world.store_b
    recon.reconciliation_schedule_set(store=store, frequency="daily", hour=3,
                                      now=datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    at = datetime(2026, 12, 2, 3, 5, tzinfo=UTC)
    created = run_concurrently([lambda: recon.reconciliation_sweep(now=at)] * 2, threads=2)
    assert sorted(created) == [0, 1]
    [run] = ReconciliationRun.objects.filter(store=store)
    assert run.slot == datetime(2026, 12, 2, 3, 0, tzinfo=UTC) and run.trigger == "schedule"
    assert recon.reconciliation_sweep(now=datetime(2026, 12, 2, 23, 0, tzinfo=UTC)) == 0  # same slot
    rworld.world.control.clear_requests("shop-b")
    results = run_concurrently([lambda: recon.reconciliation_run_execute(run_id=run.pk)] * 2, threads=2)
    run.refresh_from_db()
    assert run.status == "done" and run.attempts == 1 and run.levels_checked == 10
    assert len(results) == 2  # the second sweeper's worker found the run taken and left it alone
    # One run read Shopify: one levels query per mapped location.
    assert len(rworld.world.control.requests("shop-b", operation="InventoryLevels")) == 2
    assert recon.reconciliation_sweep(now=datetime(2026, 12, 3, 3, 0, tzinfo=UTC)) == 1  # the next day's slot


def test_a_run_of_a_switched_off_schedule_does_nothing(rworld):
    store = rworld.world.store_b
    recon.reconciliation_schedule_set(store=store, frequency="daily", hour=3,
                                      now=datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    recon.reconciliation_sweep(now=datetime(2026, 12, 2, 3, 5, tzinfo=UTC))
    recon.reconciliation_schedule_set(store=store, frequency="off")
    run = recon.reconciliation_run_execute(run_id=ReconciliationRun.objects.get().pk)
    assert run.status == "skipped" and "switched off" in run.last_error
    assert not rworld.world.control.requests("shop-b", operation="InventoryLevels")


def _schedule(frequency: str, hour: int, *, weekday: int = 0, tz: str = "UTC", effective=None):
    return ReconciliationSchedule(frequency=frequency, hour=hour, weekday=weekday, timezone=tz,
                                  effective_from=effective)


@pytest.mark.parametrize(("schedule", "now", "slot"), [
    (_schedule("daily", 3), datetime(2026, 12, 2, 2, 59, tzinfo=UTC), datetime(2026, 12, 1, 3, tzinfo=UTC)),
    (_schedule("daily", 3), datetime(2026, 12, 2, 3, 0, tzinfo=UTC), datetime(2026, 12, 2, 3, tzinfo=UTC)),
    # 03:00 in Berlin is 02:00 UTC in winter and 01:00 UTC in summer.
    (_schedule("daily", 3, tz="Europe/Berlin"), datetime(2026, 12, 2, 2, 30, tzinfo=UTC),
     datetime(2026, 12, 2, 2, tzinfo=UTC)),
    (_schedule("daily", 3, tz="Europe/Berlin"), datetime(2026, 7, 1, 1, 30, tzinfo=UTC),
     datetime(2026, 7, 1, 1, tzinfo=UTC)),
    # Weekly on Wednesdays (2) at 22:00: 2026-12-02 is a Wednesday.
    (_schedule("weekly", 22, weekday=2), datetime(2026, 12, 3, 10, tzinfo=UTC), datetime(2026, 12, 2, 22, tzinfo=UTC)),
    (_schedule("weekly", 22, weekday=2), datetime(2026, 12, 2, 21, 59, tzinfo=UTC),
     datetime(2026, 11, 25, 22, tzinfo=UTC)),
    (_schedule("off", 3), datetime(2026, 12, 2, 12, tzinfo=UTC), None),
])
def test_the_slot_is_the_latest_scheduled_moment(schedule, now, slot):
    assert recon.reconciliation_slot(schedule=schedule, now=now) == slot


def test_a_slot_before_the_schedule_changed_is_not_run_and_the_next_one_is_shown():
    changed = datetime(2026, 12, 2, 10, tzinfo=UTC)
    schedule = _schedule("daily", 3, effective=changed)
    assert recon.reconciliation_due_slot(schedule=schedule, now=datetime(2026, 12, 2, 11, tzinfo=UTC)) is None
    assert recon.reconciliation_due_slot(schedule=schedule, now=datetime(2026, 12, 3, 3, 1, tzinfo=UTC)) == \
        datetime(2026, 12, 3, 3, tzinfo=UTC)
    assert recon.reconciliation_next_slot(schedule=schedule, now=datetime(2026, 12, 2, 11, tzinfo=UTC)) == \
        datetime(2026, 12, 3, 3, tzinfo=UTC)
    weekly = _schedule("weekly", 22, weekday=2, effective=changed)
    assert recon.reconciliation_next_slot(schedule=weekly, now=datetime(2026, 12, 2, 11, tzinfo=UTC)) == \
        datetime(2026, 12, 2, 22, tzinfo=UTC)


def test_confirmations_are_kept_per_run(world):
    run = InventorySyncRun.objects.filter(store=world.store_a, applied=True).latest("started_at")
    recon.inventory_sync_run_confirm(run=run)
    assert FullSyncConfirmation.objects.get().store == world.store_a
    assert recon.confirmed_full_sync(store=world.store_b) is None


# --- admin and command -----------------------------------------------------------------------------------------


def _applied_run(store) -> InventorySyncRun:
    return InventorySyncRun.objects.filter(store=store, applied=True).latest("started_at")


def test_confirming_a_full_sync_needs_the_permission_and_the_check_box(world, admin_client):
    run = _applied_run(world.store_b)
    url = reverse("admin:inventory_inventorysyncrun_changelist")
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_inventorysyncrun"))
    other = Client()
    other.force_login(viewer)
    other.post(url, {"action": "confirm_result", "_selected_action": [run.pk], "confirmed": "yes",
                     "available_checked": "on"})
    assert not FullSyncConfirmation.objects.exists()

    page = admin_client.post(url, {"action": "confirm_result", "_selected_action": [run.pk]})
    assert page.status_code == 200 and b"available_checked" in page.content
    again = admin_client.post(url, {"action": "confirm_result", "_selected_action": [run.pk], "confirmed": "yes"})
    assert again.status_code == 200 and not FullSyncConfirmation.objects.exists()  # the box was not ticked
    done = admin_client.post(url, {"action": "confirm_result", "_selected_action": [run.pk], "confirmed": "yes",
                                   "available_checked": "on", "note": "spot-checked 20 SKUs"})
    assert done.status_code == 302
    confirmation = FullSyncConfirmation.objects.get()
    assert (confirmation.run, confirmation.confirmed_by_label, confirmation.note) == (
        run, "user admin", "spot-checked 20 SKUs")
    assert b"user admin" in admin_client.get(url).content


def test_the_schedule_form_refuses_to_switch_on_without_a_confirmed_sync(world, admin_client):
    url = reverse("admin:inventory_reconciliationschedule_add")
    data = {"store": world.store_b.pk, "frequency": "weekly", "weekday": 4, "hour": 5, "timezone": "Europe/Berlin"}
    refused = admin_client.post(url, data)
    assert refused.status_code == 200 and b"no confirmed full inventory sync" in refused.content
    assert not ReconciliationSchedule.objects.exists()
    recon.inventory_sync_run_confirm(run=_applied_run(world.store_b))
    assert admin_client.post(url, {**data, "timezone": "Nowhere/Else"}).status_code == 200
    assert admin_client.post(url, data).status_code == 302
    schedule = ReconciliationSchedule.objects.get()
    assert (schedule.frequency, schedule.weekday, schedule.hour, schedule.updated_by) == ("weekly", 4, 5, "user admin")
    assert schedule.effective_from is not None
    listing = admin_client.get(reverse("admin:inventory_reconciliationschedule_changelist"))
    assert b"Fridays at 05:00 Europe/Berlin" in listing.content


def test_the_runs_report_is_visible_with_a_link_to_review_a_held_difference(rworld, admin_client):
    rworld.world.control.adjust_inventory("shop-b", sku="S-4", set=5)
    rworld.world.control.adjust_inventory("shop-b", sku="S-1", set=49)
    run = rworld.reconcile()
    page = admin_client.get(reverse("admin:inventory_reconciliationrun_change", args=[run.pk]))
    assert page.status_code == 200
    assert b"S-4" in page.content and b"held for review" in page.content and b">review</a>" in page.content
    assert b"S-1" in page.content and b"corrected" in page.content
    listing = admin_client.get(reverse("admin:inventory_reconciliationrun_changelist"))
    assert listing.status_code == 200 and b"Shop B" in listing.content
    recon.reconciliation_schedule_set(store=rworld.world.store_b, frequency="daily", hour=2)
    health = admin_client.get(reverse("admin:channels_store_health", args=[rworld.world.store_b.pk]))
    assert b"daily at 02:00 UTC; last run" in health.content and b"1 corrected, 0 skipped, 1 held" in health.content


def test_reconcile_now_from_the_admin_queues_a_run(rworld, admin_client):
    schedule = recon.reconciliation_schedule_set(store=rworld.world.store_b, frequency="daily")
    url = reverse("admin:inventory_reconciliationschedule_changelist")
    page = admin_client.post(url, {"action": "reconcile_now", "_selected_action": [schedule.pk]})
    assert page.status_code == 200 and b"Reconcile these stores now?" in page.content
    admin_client.post(url, {"action": "reconcile_now", "_selected_action": [schedule.pk], "confirmed": "yes"})
    run = ReconciliationRun.objects.get()
    assert (run.trigger, run.status, run.actor_label) == ("manual", "queued", "user admin")
    assert run.dispatched_at is not None


def test_the_command_sets_the_schedule_and_reconciles_now(rworld, capsys):
    rworld.world.control.adjust_inventory("shop-b", sku="S-2", set=44)
    call_command("inventory_reconcile", "--store", "Shop B")
    out = capsys.readouterr().out
    assert "corrected  S-2 @ Main Warehouse: PIM 50, Shopify 44" in out and "1 corrected" in out
    call_command("inventory_reconcile", "--store", "Shop B", "--schedule", "daily", "--hour", "4")
    assert ReconciliationSchedule.objects.get().hour == 4
    with pytest.raises(CommandError, match="no confirmed full inventory sync"):
        call_command("inventory_reconcile", "--store", "Shop A", "--schedule", "daily")


def test_a_run_that_meets_a_shopify_outage_is_retried_later_and_the_sweeper_is_registered(rworld):
    from outbox.periodic import periodic_tasks

    assert recon.reconciliation_sweep_task in [task for _, task in periodic_tasks()]  # outbox_sweeper --loop runs it
    ctl = rworld.world.control
    ctl.adjust_inventory("shop-b", sku="S-1", set=47)
    ctl.outage("shop-b", 60)
    run = rworld.reconcile()
    assert run.status == "retry" and "ShopifyServerError" in run.last_error and run.attempts == 1
    assert rworld.shopify("S-1") == 47
    ctl.clear_faults("shop-b")
    assert recon.reconciliation_run_execute(run_id=run.pk).status == "retry"  # not due yet: left alone
    clock_advance(seconds=(run.next_attempt_at - clock_now()).total_seconds() + 1)  # the backoff has passed
    run = recon.reconciliation_run_execute(run_id=run.pk)
    assert (run.status, run.attempts, run.corrected, run.last_error) == ("done", 2, 1, "")
    assert rworld.shopify("S-1") == 50


def test_which_variants_waiting_order_webhooks_may_change(rworld, client: Client):
    from inventory.models import WebhookEvent
    from inventory.reconciliation_events import order_event_blocks

    world = rworld.world
    store = world.store_b
    refund = {"id": 1, "order_id": 7002, "refund_line_items": [
        {"id": 2, "line_item_id": 3, "quantity": 1, "line_item": {"id": 3, "variant_id": None, "sku": "S-2"}}]}
    assert world.post(client, "refunds/create", refund, store=store).status_code == 200
    blocked, block_all = order_event_blocks(store=store)
    assert block_all == "" and set(blocked) == {rworld.variants["S-2"].pk}  # matched by SKU
    WebhookEvent.objects.update(status=WebhookEvent.Status.PROCESSED)
    assert order_event_blocks(store=store) == ({}, "")
    WebhookEvent.objects.update(status=WebhookEvent.Status.FAILED)  # a failed one still hides a sale
    assert "failed processing" in order_event_blocks(store=store)[0][rworld.variants["S-2"].pk]
    moved = {"original_fulfillment_order": {"id": 11}, "moved_fulfillment_order": {"id": 12}}
    assert world.post(client, "fulfillment_orders/moved", moved, store=store).status_code == 200
    blocked, block_all = order_event_blocks(store=store)
    assert "known only once it is processed" in block_all
    rworld.world.control.adjust_inventory("shop-b", sku="S-4", set=49)
    run = rworld.reconcile()
    assert run.corrected == 0 and {e["sku"]: e["outcome"] for e in run.report}["S-4"] == "skipped"
    assert rworld.shopify("S-4") == 49
