"""Management commands: register_webhooks, inventory_sync (dry run / --apply / refusal), map_locations, sweeper."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from inventory.models import InventorySyncRun, StoreLocation
from inventory.subscriptions import WEBHOOK_TOPICS

from .conftest import order_payload

URL = "https://pim.example.com/shopify/webhooks/"


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_register_webhooks_subscribes_every_topic_once(world):
    out = run("register_webhooks", "--store", "Shop A", "--url", URL)
    assert out.count("created") == len(WEBHOOK_TOPICS) + 1  # one row per topic and the summary line
    subscriptions = world.control.webhook_subscriptions("shop-a")
    assert sorted(s["topic"] for s in subscriptions) == sorted(WEBHOOK_TOPICS)
    assert {s["uri"] for s in subscriptions} == {URL}
    again = run("register_webhooks", "--store", "shop-a.myshopify.com", "--url", URL)
    assert again.count("exists") == len(WEBHOOK_TOPICS)
    assert len(world.control.webhook_subscriptions("shop-a")) == len(WEBHOOK_TOPICS)
    moved = run("register_webhooks", "--store", "Shop A", "--url", URL.replace("pim.", "pim2."), "--replace",
                "--topic", "ORDERS_CREATE")
    assert "deleted" in moved and "created" in moved


def test_register_webhooks_refuses_plain_http_and_unknown_stores(world):
    with pytest.raises(CommandError, match="HTTPS"):
        run("register_webhooks", "--store", "Shop A", "--url", "http://pim.example.com/shopify/webhooks/")
    with pytest.raises(CommandError, match="No store"):
        run("register_webhooks", "--store", "Nope", "--url", URL)


def test_inventory_sync_shows_differences_and_needs_apply_to_overwrite(world):
    world.control.adjust_inventory("shop-b", sku=world.variant.sku, set=120)
    out = run("inventory_sync", "--store", "Shop B", "--full")
    assert "TEE-1" in out and "120" in out and "+180" in out and "Dry run" in out
    assert world.shopify_available("shop-b") == 120
    # The store went live with the fixture's full sync: overwriting it again needs an explicit confirmation.
    with pytest.raises(CommandError, match="--confirm-overwrite"):
        run("inventory_sync", "--store", "Shop B", "--full", "--apply")
    assert world.shopify_available("shop-b") == 120
    out = run("inventory_sync", "--store", "Shop B", "--full", "--apply", "--confirm-overwrite")
    assert "1 set in Shopify" in out
    assert world.shopify_available("shop-b") == 300
    assert InventorySyncRun.objects.filter(store=world.store_b, applied=True).count() == 2
    with pytest.raises(CommandError, match="--full"):
        run("inventory_sync", "--store", "Shop B")


def test_inventory_sync_refuses_while_order_webhooks_are_unprocessed(world):
    world.control.adjust_inventory("shop-a", sku=world.variant.sku, set=1)
    world.post(Client(), "orders/create", order_payload(8001, [world.line(8101)]))
    with pytest.raises(CommandError, match="not processed yet"):
        run("inventory_sync", "--store", "Shop A", "--full", "--apply", "--confirm-overwrite")
    assert world.shopify_available("shop-a") == 1


def test_map_locations_maps_by_name(world):
    StoreLocation.objects.filter(store=world.store_b).delete()
    out = run("map_locations", "--store", "Shop B")
    assert "2 location(s) mapped" in out
    assert StoreLocation.objects.filter(store=world.store_b, is_default=True).count() == 1


def test_inventory_sweeper_runs_once(world):
    assert "sync_job: reclaimed 0, dispatched 0" in run("inventory_sweeper")  # the outbox sweeper, old name
