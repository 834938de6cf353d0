"""The done criterion: 200 concurrent order webhooks for one SKU, a third delivered twice, leave exactly the right
quantity in the PIM and in the other store.

Shop A (the simulator) takes 200 real orders and delivers their orders/create webhooks with real HMAC headers to
the Django live server from 16 threads, duplicating a third of the deliveries; the inbox is then processed from 8
threads against PostgreSQL and the pushes run concurrently against shop B.
"""

from __future__ import annotations

from inventory.models import InventoryPush, StockMovement, WebhookEvent
from inventory.subscriptions import webhook_subscriptions_register

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
