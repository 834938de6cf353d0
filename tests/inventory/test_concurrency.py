"""The done criterion: 200 concurrent order webhooks for one SKU, a third delivered twice, leave exactly the right
quantity in the PIM and in the other store.

Shop A (the simulator) takes 200 real orders and delivers their orders/create webhooks with real HMAC headers to
the Django live server from 16 threads, duplicating a third of the deliveries; the inbox is then processed from 8
threads against PostgreSQL and the pushes run concurrently against shop B.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from inventory.ledger import stock_receive
from inventory.models import InventoryPush, ShopifyLevel, StockMovement, WebhookEvent
from inventory.push_runs import INVENTORY_PUSH, inventory_push_claim
from inventory.pushes import _push_finish
from inventory.subscriptions import webhook_subscriptions_register
from outbox.services import outbox_sweep_kind

from .conftest import SKU, WEBHOOK_PATH, drain


def test_two_hundred_concurrent_order_webhooks_a_third_duplicated(world, live_server):
    control = world.control
    webhook_subscriptions_register(store=world.store_a, callback_url=live_server.url + WEBHOOK_PATH,
                                            topics=["ORDERS_CREATE"])
    control.duplicate_webhooks("shop-a", rate=1 / 3)
    orders = control.place_orders("shop-a", [{"line_items": [{"sku": SKU, "quantity": 1}]} for _ in range(200)])
    assert len(orders) == 200
    assert world.sim.wait_webhooks(60)
    deliveries = control.deliveries("shop-a", topic="orders/create", payload=False)
    duplicates = sum(1 for d in deliveries if d["duplicate"])
    assert duplicates > 30 and all(d["status"] == "delivered" and d["response_status"] == 200 for d in deliveries)
    assert WebhookEvent.objects.count() == 200
    assert sum(WebhookEvent.objects.values_list("duplicates", flat=True)) == duplicates

    drain(threads=8)

    assert WebhookEvent.objects.filter(status="processed").count() == 200
    assert StockMovement.objects.filter(kind="sale").count() == 200
    assert world.pim_available() == 100
    assert world.shopify_available("shop-a") == 100  # Shopify moved its own stock; the PIM never touched it
    assert world.shopify_available("shop-b") == 100
    assert not InventoryPush.objects.filter(store=world.store_a, kind="delta").exists()
    assert InventoryPush.objects.filter(store=world.store_b, kind="delta", status="dead").count() == 0


def test_a_push_worker_that_lost_its_lease_does_not_finish_the_push_claimed_again(world, monkeypatch):
    """The inventory kind's own finishing write (``_push_finish``) is guarded by the claim like the outbox's."""
    monkeypatch.setattr("outbox.services.outbox_dispatch", lambda **kw: 0)
    stock_receive(variant=world.variant, location=world.main, quantity=1)
    push_id = InventoryPush.objects.filter(status="pending", store=world.store_b).values_list("pk", flat=True).get()
    slow, _ = inventory_push_claim(push_id=push_id, worker="slow:1")
    expired = timezone.now() - timedelta(seconds=1)
    InventoryPush.objects.filter(pk=push_id).update(lease_until=expired)
    ShopifyLevel.objects.filter(lease_until__isnull=False).update(lease_until=expired)
    assert outbox_sweep_kind(kind=INVENTORY_PUSH).reclaimed == 1
    assert inventory_push_claim(push_id=push_id, worker="fresh:2") is not None

    _push_finish(slow, InventoryPush.Status.DONE, "adjusted by +1 (late)")

    push = InventoryPush.objects.get(pk=push_id)
    assert (push.status, push.worker, push.attempts, push.result) == ("running", "fresh:2", 2, "")
