"""Order webhooks change PIM stock exactly once (duplicates, reordering, concurrency) and reach the other store."""

from __future__ import annotations

import django_rq
import pytest
from django.test import Client

from channels.models import Store, VariantBinding
from inventory.ledger import stock_receive
from inventory.models import InventoryPush, ShopifyOrderLine, StockLevel, StockMovement, WebhookEvent
from outbox.services import outbox_drain
from pim import services as pim_services
from webhooks import inbox

from .conftest import drain, order_payload, refund_payload, run_concurrently


def adjust_requests(world, shop: str) -> list[dict]:
    return world.control.requests(shop, operation="InventoryAdjustQuantities")


def test_an_order_decrements_the_pim_once_and_only_the_other_store(world):
    world.control.clear_requests("shop-a")
    world.control.clear_requests("shop-b")
    order = order_payload(5001, [world.line(9001, quantity=3)], location_id=world.locations["shop-a"]["Main Warehouse"])
    assert world.post(Client(), "orders/create", order).status_code == 200
    drain()
    assert world.pim_available() == 297
    sale = StockMovement.objects.get(kind=StockMovement.Kind.SALE)
    assert (sale.quantity, sale.on_hand_after, sale.shop_domain) == (-3, 297, world.store_a.shop_domain)
    assert sale.source_ref == f"shopify:{world.store_a.shop_domain}:order:5001:line:9001:sale"
    assert sale.webhook_event.topic == "orders/create" and "orders/create" in sale.actor_label
    # Shopify A moved its own stock when the order was placed: the PIM sends it nothing.
    assert adjust_requests(world, "shop-a") == []
    assert world.control.requests("shop-a", operation="InventorySetQuantities") == []
    # Shop B gets the sale as a delta, keyed by our push id.
    [sent] = adjust_requests(world, "shop-b")
    push = InventoryPush.objects.get(store=world.store_b, kind="delta")
    change = sent["variables"]["input"]["changes"][0]
    assert change["delta"] == -3 and change["changeFromQuantity"] is None
    assert change["inventoryItemId"] == f"gid://shopify/InventoryItem/{world.items['shop-b']}"
    assert sent["variables"]["idempotencyKey"] == f"pim-invpush-{push.pk}"
    assert world.shopify_available("shop-b") == 297
    event = WebhookEvent.objects.get()
    assert event.status == "processed" and "1 movement(s) recorded" in event.result


def test_a_redelivery_that_slips_past_the_inbox_is_applied_once(world):
    order = order_payload(5002, [world.line(9002, quantity=2)])
    client = Client()
    world.post(client, "orders/create", order)
    world.post(client, "orders/create", order)  # new webhook id and event id: not a duplicate to the inbox
    assert WebhookEvent.objects.count() == 2
    drain()
    assert world.pim_available() == 298
    assert StockMovement.objects.filter(kind="sale").count() == 1
    # The second delivery finds the line's ledger already at its target: nothing to record.
    assert "0 movement(s) recorded" in WebhookEvent.objects.order_by("pk").last().result
    assert world.shopify_available("shop-b") == 298


def test_a_cancel_processed_before_its_create_neither_double_restocks_nor_loses_the_sale(world):
    lines = [world.line(9003, quantity=4)]
    client = Client()
    world.post(client, "orders/cancelled", order_payload(5003, lines, cancelled=True))
    drain()
    assert world.pim_available() == 300  # sold and put back, never inflated
    world.post(client, "orders/create", order_payload(5003, lines))
    world.post(client, "orders/cancelled", order_payload(5003, lines, cancelled=True))
    drain()
    assert world.pim_available() == 300
    kinds = sorted(StockMovement.objects.exclude(source_ref="test:opening").values_list("kind", "quantity"))
    assert kinds == [("cancellation", 4), ("sale", -4)]
    assert world.shopify_available("shop-b") == 300


def test_create_then_cancel_restores_stock_and_the_other_store(world):
    lines = [world.line(9004, quantity=5)]
    client = Client()
    world.post(client, "orders/create", order_payload(5004, lines))
    drain()
    assert world.shopify_available("shop-b") == 295
    world.post(client, "orders/cancelled", order_payload(5004, lines, cancelled=True))
    drain()
    assert world.pim_available() == 300 and world.shopify_available("shop-b") == 300


def test_a_refund_with_restock_puts_stock_back_once_and_a_refund_without_does_not(world):
    client = Client()
    world.post(client, "orders/create", order_payload(5005, [world.line(9005, quantity=3)]))
    line = {"id": 7001, "line_item_id": 9005, "variant_id": world.variants["shop-a"], "sku": world.variant.sku,
            "quantity": 2, "line_quantity": 3}
    refund = refund_payload(6001, 5005, [line], restock_type="return")
    world.post(client, "refunds/create", refund)
    world.post(client, "refunds/create", refund)  # replayed with new ids
    world.post(client, "refunds/create", refund_payload(6002, 5005, [{**line, "id": 7002, "quantity": 1}],
                                                          restock_type="no_restock"))
    drain()
    assert world.pim_available() == 299
    restock = StockMovement.objects.get(kind=StockMovement.Kind.REFUND_RESTOCK)
    assert restock.quantity == 2 and "6001" in restock.source_ref
    assert world.shopify_available("shop-b") == 299


def test_a_refund_before_its_order_records_the_sale_first(world):
    client = Client()
    line = {"id": 7003, "line_item_id": 9006, "variant_id": world.variants["shop-a"], "sku": world.variant.sku,
            "quantity": 1, "line_quantity": 2}
    world.post(client, "refunds/create", refund_payload(6003, 5006, [line]))
    drain()
    assert world.pim_available() == 299  # sold 2, one came back
    world.post(client, "orders/create", order_payload(5006, [world.line(9006, quantity=2)]))
    drain()
    assert world.pim_available() == 299
    assert StockMovement.objects.filter(kind="sale").count() == 1


def test_a_cancellation_refund_and_its_refunds_webhook_restock_once(world):
    """Shopify's shape: cancelling creates a refund with restock_type "cancel", listed in orders/cancelled and
    also delivered as refunds/create."""
    client = Client()
    lines = [world.line(9007, quantity=2)]
    refund = refund_payload(6004, 5007, [{"id": 7004, "line_item_id": 9007, "variant_id": world.variants["shop-a"],
                                          "sku": world.variant.sku, "quantity": 2}], restock_type="cancel")
    world.post(client, "refunds/create", refund)
    world.post(client, "orders/create", order_payload(5007, lines))
    world.post(client, "orders/cancelled", order_payload(5007, lines, refunds=[refund], cancelled=True))
    drain()
    assert world.pim_available() == 300
    assert StockMovement.objects.filter(kind__in=["refund_restock", "cancellation"]).count() == 1


def test_a_cancellation_without_refund_lines_and_a_later_cancel_refund_restock_once(world):
    client = Client()
    lines = [world.line(9008, quantity=2)]
    world.post(client, "orders/create", order_payload(5008, lines))
    world.post(client, "orders/cancelled", order_payload(5008, lines, cancelled=True))
    drain()
    world.post(client, "refunds/create", refund_payload(
        6005, 5008, [{"id": 7005, "line_item_id": 9008, "sku": world.variant.sku, "quantity": 2,
                      "variant_id": world.variants["shop-a"]}], restock_type="cancel"))
    drain()
    assert world.pim_available() == 300
    # The refund's restock replaces the cancellation's restock of the same units: the ledger nets to zero.
    back = StockMovement.objects.filter(kind__in=["refund_restock", "cancellation"]).values_list("quantity", flat=True)
    assert sum(back) == 2
    assert world.shopify_available("shop-b") == 300


def test_lines_are_mapped_by_binding_then_sku_and_unmapped_lines_are_logged_not_guessed(world):
    other = pim_services.product_create(title="Mug", variants=[{"sku": "MUG-1", "price": "5"}]).variants.get()
    stock_receive(variant=other, location=world.main, quantity=10)
    lines = [
        # bound variant id wins over a misleading SKU
        {"id": 9101, "variant_id": world.variants["shop-a"], "sku": "MUG-1", "quantity": 1},
        # no binding: matched by SKU
        {"id": 9102, "variant_id": 123456789, "sku": "MUG-1", "quantity": 2},
        # neither: logged
        {"id": 9103, "variant_id": 987654321, "sku": "NOPE-404", "quantity": 5},
        {"id": 9104, "variant_id": None, "sku": None, "quantity": 1},
    ]
    world.post(Client(), "orders/create", order_payload(5009, lines))
    drain()
    assert world.pim_available() == 299
    assert StockLevel.objects.get(variant=other, location=world.main).available == 8
    event = WebhookEvent.objects.get()
    assert event.status == "processed"
    assert "unmatched line NOPE-404" in event.result and event.result.count("unmatched line") == 2
    assert ShopifyOrderLine.objects.filter(match="unmatched").count() == 2


def test_untracked_variants_and_shops_without_a_location_are_skipped(world):
    pim_services.variant_update(variant=world.variant, inventory_tracked=False)
    world.post(Client(), "orders/create", order_payload(5010, [world.line(9010)]))
    drain()
    assert StockMovement.objects.filter(kind="sale").count() == 0
    assert "does not track inventory" in WebhookEvent.objects.get().result


def test_concurrent_deliveries_of_an_order_and_its_cancel_apply_each_once(world):
    client = Client()
    lines = [world.line(9011, quantity=1), world.line(9012, quantity=2)]
    for _ in range(4):
        world.post(client, "orders/create", order_payload(5011, lines))
        world.post(client, "orders/cancelled", order_payload(5011, lines, cancelled=True))
    ids = list(WebhookEvent.objects.values_list("pk", flat=True))
    run_concurrently([lambda pk=pk: inbox.webhook_event_process(event_id=pk) for pk in ids], threads=8)
    drain(threads=4)
    assert world.pim_available() == 300
    assert StockMovement.objects.filter(kind="sale").count() == 2
    assert StockMovement.objects.filter(kind="cancellation").count() == 2
    assert world.shopify_available("shop-b") == 300


@pytest.mark.parametrize("lines", [[{"id": "x", "quantity": 1}], [{"id": 1, "quantity": -2}], ["not an object"]])
def test_malformed_order_lines_fail_the_event_for_review(world, lines):
    world.post(Client(), "orders/create", {"id": 5012, "line_items": lines})
    drain()
    event = WebhookEvent.objects.get()
    assert event.status == "failed" and event.last_error
    assert StockMovement.objects.filter(kind="sale").count() == 0


def test_a_binding_of_another_connection_of_the_same_shop_maps_the_line(world):
    """The order arrives through connection A, but only a second connection of the same shop has the binding."""
    second = Store.objects.create(name="Shop A (reports app)", shop_domain=world.store_a.shop_domain,
                                  access_token="shpat_other", webhook_secret="other-secret")
    VariantBinding.objects.filter(store=world.store_a).update(store=second)
    line = {"id": 9013, "variant_id": world.variants["shop-a"], "sku": "", "quantity": 1}
    world.post(Client(), "orders/create", order_payload(5013, [line]))
    drain()
    assert world.pim_available() == 299
    # Without any binding for the shop and without a SKU the line is not guessed.
    VariantBinding.objects.filter(store=second).delete()
    world.post(Client(), "orders/create", order_payload(5014, [{**line, "id": 9014}]))
    drain()
    assert world.pim_available() == 299
    assert "unmatched" in WebhookEvent.objects.order_by("pk").last().result


def test_one_drain_job_processes_a_burst_of_deliveries_and_their_pushes(world):
    client = Client()
    for n in range(6):
        world.post(client, "orders/create", order_payload(5100 + n, [world.line(9100 + n)]))
    assert django_rq.get_queue(inbox.WEBHOOKS_QUEUE).count == 1  # one drain job for the burst
    assert outbox_drain(lane="webhooks", budget_seconds=120) == 6  # a budget no load exhausts
    assert not WebhookEvent.objects.exclude(status="processed").exists()
    push = InventoryPush.objects.get(store=world.store_b, kind="delta", status="pending")
    assert push.delta == -6 and push.movements == 6  # folded while waiting
    assert outbox_drain(lane="inventory", budget_seconds=120) == 1  # the pushes are the outbox's
    assert world.shopify_available("shop-b") == 294
    # A job for work someone else finished changes nothing.
    assert outbox_drain(lane="webhooks") == 0
    assert outbox_drain(lane="inventory") == 0
