"""Inventory writes carry an idempotency key and explicit changeFromQuantity; reads come back as rows."""

from __future__ import annotations

import pytest

from channels.shopify.exceptions import ShopifyIdempotencyInFlight, ShopifyStaleQuantity, ShopifyUserError

ITEM = "gid://shopify/InventoryItem/11"
ITEM2 = "gid://shopify/InventoryItem/12"
LOC = "gid://shopify/Location/1"
GROUP = {
    "id": "gid://shopify/InventoryAdjustmentGroup/1",
    "createdAt": "2026-01-01T00:00:00Z",
    "reason": "correction",
    "referenceDocumentUri": "gid://pim/StockMovement/42",
    "changes": [
        {
            "name": "available",
            "delta": 3,
            "quantityAfterChange": 8,
            "item": {"id": ITEM},
            "location": {"id": LOC},
        }
    ],
}


def ok_set(fake):
    return fake.ok({"inventorySetQuantities": {"inventoryAdjustmentGroup": GROUP, "userErrors": []}})


def test_set_quantities_sends_idempotency_key_and_change_from(fake, make_client):
    fake.on("InventorySetQuantities", ok_set(fake))
    group = make_client().inventory_set_quantities(
        reason="correction",
        quantities=[
            {"inventoryItemId": ITEM, "locationId": LOC, "quantity": 8, "changeFromQuantity": 5},
            {"inventoryItemId": ITEM2, "locationId": LOC, "quantity": 2, "changeFromQuantity": None},
        ],
        idempotency_key="pim-movement-42",
        reference_document_uri="gid://pim/StockMovement/42",
    )
    assert group == GROUP
    sent = fake.sent[0]
    assert "@idempotent(key: $idempotencyKey)" in sent.query
    assert sent.variables["idempotencyKey"] == "pim-movement-42"
    quantities = sent.variables["input"]["quantities"]
    assert quantities[0]["changeFromQuantity"] == 5
    # Explicit null (not absent): 2026-04+ requires the key to be present.
    assert "changeFromQuantity" in quantities[1] and quantities[1]["changeFromQuantity"] is None
    assert sent.variables["input"]["name"] == "available"
    assert sent.variables["input"]["referenceDocumentUri"] == "gid://pim/StockMovement/42"


def test_set_quantities_requires_explicit_change_from_and_a_key(make_client):
    client = make_client()
    with pytest.raises(ValueError, match="changeFromQuantity"):
        client.inventory_set_quantities(
            reason="correction",
            quantities=[{"inventoryItemId": ITEM, "locationId": LOC, "quantity": 8}],
            idempotency_key="k",
        )
    with pytest.raises(ValueError, match="idempotency_key"):
        client.inventory_set_quantities(
            reason="correction",
            quantities=[
                {"inventoryItemId": ITEM, "locationId": LOC, "quantity": 8, "changeFromQuantity": None}
            ],
            idempotency_key="",
        )


def test_retry_with_same_key_sends_identical_request(fake, make_client):
    fake.on("InventorySetQuantities", ok_set(fake))
    client = make_client()
    args = {
        "reason": "correction",
        "quantities": [{"inventoryItemId": ITEM, "locationId": LOC, "quantity": 8, "changeFromQuantity": 5}],
        "idempotency_key": "pim-movement-42",
    }
    client.inventory_set_quantities(**args)
    client.inventory_set_quantities(**args)
    assert fake.sent[0].variables == fake.sent[1].variables


def test_stale_compare_and_set_raises_distinct_error(fake, make_client):
    fake.on(
        "InventorySetQuantities",
        fake.ok(
            {
                "inventorySetQuantities": {
                    "inventoryAdjustmentGroup": None,
                    "userErrors": [
                        {
                            "field": ["input", "quantities", "0", "changeFromQuantity"],
                            "message": "The specified compare quantity does not match the current quantity",
                            "code": "CHANGE_FROM_QUANTITY_STALE",
                        }
                    ],
                }
            }
        ),
    )
    with pytest.raises(ShopifyStaleQuantity) as info:
        make_client().inventory_set_quantities(
            reason="correction",
            quantities=[{"inventoryItemId": ITEM, "locationId": LOC, "quantity": 8, "changeFromQuantity": 5}],
            idempotency_key="k1",
        )
    assert isinstance(info.value, ShopifyUserError)
    assert info.value.user_errors[0]["field"] == ["input", "quantities", "0", "changeFromQuantity"]


def test_concurrent_idempotent_request_is_retryable(fake, make_client):
    fake.on(
        "InventoryAdjustQuantities",
        fake.ok(
            {
                "inventoryAdjustQuantities": {
                    "inventoryAdjustmentGroup": None,
                    "userErrors": [
                        {"field": None, "message": "in progress", "code": "IDEMPOTENCY_CONCURRENT_REQUEST"}
                    ],
                }
            }
        ),
    )
    with pytest.raises(ShopifyIdempotencyInFlight) as info:
        make_client().inventory_adjust_quantities(
            reason="correction",
            changes=[{"inventoryItemId": ITEM, "locationId": LOC, "delta": -1}],
            idempotency_key="k",
        )
    assert info.value.retryable is True


def test_adjust_quantities_sends_null_change_from_by_default(fake, make_client):
    fake.on(
        "InventoryAdjustQuantities",
        fake.ok({"inventoryAdjustQuantities": {"inventoryAdjustmentGroup": GROUP, "userErrors": []}}),
    )
    make_client().inventory_adjust_quantities(
        reason="received",
        changes=[
            {"inventoryItemId": ITEM, "locationId": LOC, "delta": 3},
            {"inventoryItemId": ITEM2, "locationId": LOC, "delta": -2, "changeFromQuantity": 7},
        ],
        idempotency_key="pim-job-7",
    )
    sent = fake.sent[0]
    assert "@idempotent(key: $idempotencyKey)" in sent.query
    assert sent.variables["idempotencyKey"] == "pim-job-7"
    changes = sent.variables["input"]["changes"]
    assert changes[0] == {"inventoryItemId": ITEM, "locationId": LOC, "delta": 3, "changeFromQuantity": None}
    assert changes[1]["changeFromQuantity"] == 7


def test_inventory_levels_rows(fake, make_client):
    def handler(req):
        assert req.variables["locationId"] == LOC
        assert req.variables["names"] == ["available", "on_hand", "committed"]
        nodes = []
        for item in req.variables["inventoryItemIds"]:
            if item == ITEM:
                nodes.append(
                    {
                        "id": ITEM,
                        "tracked": True,
                        "inventoryLevel": {
                            "id": "gid://shopify/InventoryLevel/1?inventory_item_id=11",
                            "updatedAt": "2026-01-01T00:00:00Z",
                            "location": {"id": LOC},
                            "quantities": [
                                {"name": "available", "quantity": 5, "updatedAt": None},
                                {"name": "on_hand", "quantity": 7, "updatedAt": None},
                                {"name": "committed", "quantity": 2, "updatedAt": None},
                            ],
                        },
                    }
                )
            elif item == ITEM2:
                nodes.append({"id": ITEM2, "tracked": False, "inventoryLevel": None})
            else:
                nodes.append(None)
        return fake.ok({"nodes": nodes})

    fake.on("InventoryLevels", handler)
    rows = make_client().inventory_levels(
        inventory_item_ids=[ITEM, ITEM2, "gid://shopify/InventoryItem/999"], location_ids=[LOC]
    )
    assert rows[0]["quantities"] == {"available": 5, "on_hand": 7, "committed": 2}
    assert rows[0]["stocked"] and rows[0]["tracked"] and rows[0]["exists"]
    assert rows[1] == {
        "inventoryItemId": ITEM2,
        "locationId": LOC,
        "exists": True,
        "tracked": False,
        "stocked": False,
        "quantities": {},
        "updatedAt": None,
    }
    assert rows[2]["exists"] is False


def test_inventory_levels_chunks_items(fake, make_client):
    fake.on(
        "InventoryLevels", lambda req: fake.ok({"nodes": [None] * len(req.variables["inventoryItemIds"])})
    )
    items = [f"gid://shopify/InventoryItem/{i}" for i in range(120)]
    rows = make_client().inventory_levels(
        inventory_item_ids=items, location_ids=[LOC, "gid://shopify/Location/2"]
    )
    assert len(rows) == 240
    assert [len(r.variables["inventoryItemIds"]) for r in fake.sent] == [50, 50, 20, 50, 50, 20]
