"""Issue 15's order lane: a full sync's sets run as short batches that yield to the order lane, and one change's
pushes to several stores run side by side on one drain."""

from __future__ import annotations

import threading

import django_rq
import pytest
from django.test import Client

from channels.shopify import client as client_module
from inventory.full_sync import inventory_full_sync_start
from inventory.ledger import stock_receive
from inventory.models import InventoryPush, InventorySyncRun
from inventory.push_runs import INVENTORY_PUSH
from inventory.queueing import INVENTORY_QUEUE
from inventory.sync_sets import INVENTORY_SYNC_SET, SYNC_SET_LANE, inventory_sync_runs_finish
from inventory.tasks import inventory_full_sync_run
from outbox.services import outbox_claim_batch, outbox_drain, outbox_sweep_kind
from pim.clock import clock_advance

from .conftest import order_payload


@pytest.fixture(autouse=True)
def empty_default_queue():
    django_rq.get_queue(SYNC_SET_LANE).empty()
    yield
    django_rq.get_queue(SYNC_SET_LANE).empty()


@pytest.fixture
def one_level_batches(settings):
    settings.INVENTORY_SYNC_BATCH_SIZE = 1
    settings.OUTBOX_LANE_YIELD = True
    return settings


def _sets(run: InventorySyncRun):
    return InventoryPush.objects.filter(sync_run=run).order_by("pk")


def test_a_full_sync_queued_for_the_workers_runs_in_batches_that_yield_to_an_order(world, one_level_batches):
    world.control.adjust_inventory("shop-b", sku=world.variant.sku, set=50)  # a merchant moved Main in shop B
    result = inventory_full_sync_run(world.store_b.pk, "test")
    run = InventorySyncRun.objects.filter(store=world.store_b).latest("pk")
    assert result.startswith(f"run {run.pk}:") and run.sets_queued == run.levels_checked == 2  # Main and Retail
    assert run.finished_at is None  # no Shopify read in the start job: each batch's read is the compare
    assert _sets(run).filter(status="pending").count() == 2
    # The sets are the default lane's; a sale's push is the inventory lane's.
    assert outbox_claim_batch(kind=INVENTORY_PUSH, worker="test", limit=10) == []

    # An order arrives in shop A while the sync waits: its event sits on the order lane.
    world.post(Client(), "orders/create", order_payload(9101, [world.line(9102, quantity=2)]))
    assert django_rq.get_queue("webhooks").count >= 1
    # A worker in the sync runs one batch, then sees the order lane's job waiting and gives the worker back.
    assert outbox_drain(lane=SYNC_SET_LANE, budget_seconds=60) == 1
    assert sorted(_sets(run).values_list("status", flat=True)) == ["done", "pending"]
    run.refresh_from_db()
    assert run.finished_at is None
    # The order and its push to shop B go before the sync's second batch.
    assert outbox_drain(lane="webhooks", budget_seconds=60) == 1
    sale = InventoryPush.objects.get(store=world.store_b, kind="delta", sync_run__isnull=True)
    django_rq.get_queue("webhooks").empty()
    assert outbox_drain(lane=INVENTORY_QUEUE, budget_seconds=60) >= 1
    sale.refresh_from_db()
    assert sale.status == "done" and _sets(run).filter(status="pending").count() == 1
    # Nothing ahead now: the last batch runs and finishes the run.
    django_rq.get_queue(INVENTORY_QUEUE).empty()
    assert outbox_drain(lane=SYNC_SET_LANE, budget_seconds=60) == 1
    run.refresh_from_db()
    assert run.finished_at is not None and not run.error and run.levels_set == run.differences == 1
    [found] = run.report
    assert (found["location"], found["stocked"], found["differs"]) == ("Main Warehouse", True, True)
    assert world.shopify_available("shop-b") == world.pim_available() == 298


def test_a_full_sync_whose_worker_died_resumes_and_a_dead_set_is_named_on_the_run(world, one_level_batches):
    run = inventory_full_sync_start(store=world.store_b, actor_label="test")
    first, second = _sets(run)
    # A worker claims the first batch and dies: its set stays running until its lease runs out.
    [claimed] = outbox_claim_batch(kind=INVENTORY_SYNC_SET, worker="dead-worker", limit=1)
    assert claimed.pk == first.pk
    InventoryPush.objects.filter(pk=second.pk).update(max_attempts=1)
    world.control.outage("shop-b", 60)
    django_rq.get_queue("webhooks").empty()
    assert outbox_drain(lane=SYNC_SET_LANE, budget_seconds=60) == 1  # the second set fails for good
    second.refresh_from_db()
    assert second.status == "dead"
    assert inventory_sync_runs_finish() == 0  # the first set is still running on the dead worker
    world.control.clear_faults("shop-b")
    clock_advance(seconds=3600)
    assert outbox_sweep_kind(kind=INVENTORY_SYNC_SET).reclaimed == 1
    assert outbox_drain(lane=SYNC_SET_LANE, budget_seconds=60) == 1
    first.refresh_from_db()
    run.refresh_from_db()
    assert first.status == "done"
    assert run.finished_at is not None and "1 set(s) dead-lettered" in run.error
    assert inventory_sync_runs_finish() == 0  # finished once


def test_one_changes_pushes_to_several_stores_run_side_by_side_on_one_drain(world, settings, monkeypatch):
    settings.INVENTORY_PUSH_PARALLEL = 10
    both_in_shopify = threading.Barrier(2, timeout=30)  # passes only while both stores' calls are in flight
    original = client_module.ShopifyClient.inventory_adjust_quantities
    shops = []

    def adjust_together(self, **kwargs):
        shops.append(self.shop_domain)
        both_in_shopify.wait()
        return original(self, **kwargs)

    monkeypatch.setattr(client_module.ShopifyClient, "inventory_adjust_quantities", adjust_together)
    stock_receive(variant=world.variant, location=world.main, quantity=5, source_ref="test:parallel")
    pushes = InventoryPush.objects.filter(kind="delta", status="pending")
    assert pushes.count() == 2  # one per store
    assert outbox_drain(lane=INVENTORY_QUEUE, budget_seconds=60) == 2
    assert sorted(InventoryPush.objects.filter(kind="delta").values_list("status", flat=True)) == ["done", "done"]
    assert sorted(shops) == sorted([world.store_a.shop_domain, world.store_b.shop_domain])
    assert world.shopify_available("shop-a") == world.shopify_available("shop-b") == 305


def test_with_one_push_at_a_time_the_drain_runs_them_one_after_the_other(world, settings, monkeypatch):
    settings.INVENTORY_PUSH_PARALLEL = 1
    running, overlapped = [], []
    original = client_module.ShopifyClient.inventory_adjust_quantities

    def adjust_alone(self, **kwargs):
        running.append(self.shop_domain)
        overlapped.append(len(running) > 1)
        try:
            return original(self, **kwargs)
        finally:
            running.remove(self.shop_domain)

    monkeypatch.setattr(client_module.ShopifyClient, "inventory_adjust_quantities", adjust_alone)
    stock_receive(variant=world.variant, location=world.main, quantity=5, source_ref="test:serial")
    assert outbox_drain(lane=INVENTORY_QUEUE, budget_seconds=60) == 2
    assert overlapped == [False, False]


def test_the_sync_sets_scope_keeps_sale_pushes_on_the_inventory_lane(world):
    run = InventorySyncRun.objects.create(store=world.store_b, applied=True, sets_queued=0)
    stock_receive(variant=world.variant, location=world.main, quantity=1, source_ref="test:scope")
    sale_ids = set(InventoryPush.objects.filter(kind="delta").values_list("pk", flat=True))
    InventoryPush.objects.create(store=world.store_b, variant=world.variant, location=world.retail, kind="set",
                                 sync_run=run)
    assert set(INVENTORY_PUSH.rows().filter(status="pending").values_list("pk", flat=True)) == sale_ids
    assert INVENTORY_SYNC_SET.rows().filter(status="pending").count() == 1


def test_a_batch_sets_its_levels_with_one_read_and_one_set_call(world, settings):
    settings.INVENTORY_SYNC_BATCH_SIZE = 10
    world.control.adjust_inventory("shop-b", sku=world.variant.sku, set=50)
    world.control.clear_requests("shop-b")
    run = inventory_full_sync_start(store=world.store_b, actor_label="test")
    assert outbox_drain(lane=SYNC_SET_LANE, budget_seconds=60) == 2
    run.refresh_from_db()
    assert run.finished_at is not None and not run.error and run.levels_set == 1
    assert len(world.control.requests("shop-b", operation="InventorySetQuantities")) == 1
    assert world.shopify_available("shop-b") == 300


def test_a_store_disabled_during_its_sync_skips_the_remaining_sets(world, settings):
    from channels.models import Store

    settings.INVENTORY_SYNC_BATCH_SIZE = 10
    run = inventory_full_sync_start(store=world.store_b, actor_label="test")
    Store.objects.filter(pk=world.store_b.pk).update(is_active=False)  # app/uninstalled meanwhile
    assert outbox_drain(lane=SYNC_SET_LANE, budget_seconds=60) == 2
    run.refresh_from_db()
    assert list(_sets(run).values_list("status", flat=True)) == ["skipped", "skipped"]
    assert run.finished_at is not None and run.skipped == 2 and run.levels_set == 0
