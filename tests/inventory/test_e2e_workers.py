"""End to end with real RQ worker processes: the simulator delivers signed webhooks to the live server, workers
process the inbox and push to the other shop; our own pushes echo back and are recognised."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from inventory.ledger import stock_receive
from inventory.models import InventoryDrift, InventoryPush, StockMovement, WebhookEvent
from tests.e2e.conftest import e2e_harness, wait_for

from .conftest import SKU, WEBHOOK_PATH

pytestmark = pytest.mark.e2e


@pytest.fixture
def inventory_workers(world, redis_clean, e2e_settings, monkeypatch):
    # A merchant-edit check waits this long for the sale's own orders/create, which Shopify may deliver after the
    # inventory_levels/update it caused (no ordering guarantee); production waits 10 s. 0.5 s made a loaded run
    # mistake a sale still in flight for a merchant edit (a false InventoryDrift, ~2 in 9 runs with 3 copies).
    monkeypatch.setenv("INVENTORY_CHECK_DELAY_SECONDS", "3")
    monkeypatch.setenv("INVENTORY_CHECK_MAX_WAIT_SECONDS", "20")
    pool = e2e_harness()
    pool.start_workers(2, queues="webhooks inventory default")
    pool.start_sweeper()
    yield pool
    pool.close()


def settled() -> bool:
    waiting_events = WebhookEvent.objects.filter(status__in=["received", "processing", "retry"]).exists()
    waiting_pushes = InventoryPush.objects.filter(status__in=["pending", "running", "retry"]).exists()
    return not waiting_events and not waiting_pushes


def test_orders_in_one_shop_reach_the_other_through_workers(world, live_server, inventory_workers):
    url = live_server.url + WEBHOOK_PATH
    for store in ("Shop A", "Shop B"):
        call_command("register_webhooks", "--store", store, "--url", url, stdout=StringIO())
    control = world.control
    orders = [control.place_order("shop-a", [{"sku": SKU, "quantity": 1}]) for _ in range(12)]
    wait_for(lambda: world.shopify_available("shop-b") == 288, timeout=30, what="shop B to follow 12 sales")
    assert world.pim_available() == 288
    control.cancel_order("shop-a", orders[0]["id"], restock=True)
    control.refund("shop-a", orders[1]["id"], restock=True)
    wait_for(lambda: world.shopify_available("shop-b") == 290, timeout=30, what="shop B to follow the restocks")
    stock_receive(variant=world.variant, location=world.main, quantity=10, reason="PO-77")
    wait_for(lambda: world.shopify_available("shop-a") == 300 and world.shopify_available("shop-b") == 300,
             timeout=30, what="both shops to get the receipt")
    wait_for(lambda: world.sim.wait_webhooks(1) and settled(), timeout=30, what="workers to settle")
    assert world.pim_available() == 300
    assert StockMovement.objects.filter(kind="sale").count() == 12
    assert not InventoryDrift.objects.exists()  # sales and our own echoes are not merchant edits
    assert WebhookEvent.objects.filter(status="failed").count() == 0
    echoes = WebhookEvent.objects.filter(topic="inventory_levels/update", result__startswith="echo")
    assert echoes.filter(shop_domain=world.store_b.shop_domain).exists()

    control.uninstall("shop-a")
    wait_for(lambda: not type(world.store_a).objects.get(pk=world.store_a.pk).is_active, timeout=20,
             what="app/uninstalled to disable the store")
