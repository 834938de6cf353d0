"""inventorySetQuantities / inventoryAdjustQuantities: compare-and-set, idempotency, quantities."""

from __future__ import annotations

import uuid

SET = """mutation Set($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id reason referenceDocumentUri changes { name delta quantityAfterChange item { id } location { id } } }
    userErrors { field message code }
  }
}"""

ADJUST = """mutation Adjust($input: InventoryAdjustQuantitiesInput!, $key: String!) {
  inventoryAdjustQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id changes { name delta quantityAfterChange } }
    userErrors { field message code }
  }
}"""

LEVEL = """query($item: ID!, $loc: ID!) { inventoryItem(id: $item) { inventoryLevel(locationId: $loc) {
  quantities(names: ["available", "on_hand", "committed", "damaged"]) { name quantity } } } }"""


def seeded(sim_control, qty=10):
    p = sim_control.seed("shop-a", products=[{"title": "Stocked", "variants": [{"sku": "STK-1", "inventory": qty}]}])[0]
    return p["variants"][0]["inventoryItemId"]


def quantities(gql, item, loc):
    out = gql(LEVEL, {"item": item, "loc": loc})
    return {q["name"]: q["quantity"] for q in out["data"]["inventoryItem"]["inventoryLevel"]["quantities"]}


def set_input(item, loc, qty, change_from, name="available"):
    return {"name": name, "reason": "correction", "referenceDocumentUri": "gid://pim/Sync/1",
            "quantities": [{"inventoryItemId": item, "locationId": loc, "quantity": qty, "changeFromQuantity": change_from}]}


def test_set_quantities_compare_and_set(gql, sim_control, locations):
    item = seeded(sim_control, 10)
    loc = locations[0]
    out = gql(SET, {"input": set_input(item, loc, 15, 10), "key": str(uuid.uuid4())})
    res = out["data"]["inventorySetQuantities"]
    assert res["userErrors"] == []
    change = res["inventoryAdjustmentGroup"]["changes"][0]
    assert change == {"name": "available", "delta": 5, "quantityAfterChange": 15, "item": {"id": item},
                      "location": {"id": loc}}
    assert res["inventoryAdjustmentGroup"]["reason"] == "correction"
    # stale compare value -> error, nothing changes
    out = gql(SET, {"input": set_input(item, loc, 3, 10), "key": str(uuid.uuid4())})
    res = out["data"]["inventorySetQuantities"]
    assert res["inventoryAdjustmentGroup"] is None
    assert res["userErrors"][0]["code"] == "CHANGE_FROM_QUANTITY_STALE"
    assert res["userErrors"][0]["field"] == ["input", "quantities", "0", "changeFromQuantity"]
    assert quantities(gql, item, loc)["available"] == 15
    # null skips the check
    out = gql(SET, {"input": set_input(item, loc, 4, None), "key": str(uuid.uuid4())})
    assert out["data"]["inventorySetQuantities"]["userErrors"] == []
    assert quantities(gql, item, loc) == {"available": 4, "on_hand": 4, "committed": 0, "damaged": 0}


def test_change_from_quantity_must_be_sent_explicitly(gql, sim_control, locations):
    item = seeded(sim_control)
    inp = set_input(item, locations[0], 1, None)
    del inp["quantities"][0]["changeFromQuantity"]
    out = gql(SET, {"input": inp, "key": "k-missing"})
    assert out["data"]["inventorySetQuantities"]["userErrors"][0]["field"][-1] == "changeFromQuantity"


def test_idempotent_replay_returns_first_result_and_applies_once(gql, sim_control, locations):
    item = seeded(sim_control, 10)
    loc = locations[0]
    adj = {"name": "available", "reason": "received",
           "changes": [{"inventoryItemId": item, "locationId": loc, "delta": 3, "changeFromQuantity": None}]}
    first = gql(ADJUST, {"input": adj, "key": "adjust-1"})["data"]["inventoryAdjustQuantities"]
    second = gql(ADJUST, {"input": adj, "key": "adjust-1"})["data"]["inventoryAdjustQuantities"]
    assert first == second
    assert first["inventoryAdjustmentGroup"]["changes"] == [{"name": "available", "delta": 3, "quantityAfterChange": 13}]
    assert quantities(gql, item, loc)["available"] == 13
    # same key, different parameters
    adj2 = {**adj, "changes": [{**adj["changes"][0], "delta": 4}]}
    out = gql(ADJUST, {"input": adj2, "key": "adjust-1"})["data"]["inventoryAdjustQuantities"]
    assert out["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"
    assert quantities(gql, item, loc)["available"] == 13
    # set: replay too
    s1 = gql(SET, {"input": set_input(item, loc, 20, 13), "key": "set-1"})["data"]["inventorySetQuantities"]
    s2 = gql(SET, {"input": set_input(item, loc, 20, 13), "key": "set-1"})["data"]["inventorySetQuantities"]
    assert s1 == s2 and s1["userErrors"] == []
    assert quantities(gql, item, loc)["available"] == 20
    assert sim_control.stats("shop-a")["idempotent_replays"] == 2


def test_idempotent_directive_required_from_2026_04(gql, sim_control, locations):
    item = seeded(sim_control)
    doc = """mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) {
               userErrors { code } } }"""
    out = gql(doc, {"input": set_input(item, locations[0], 1, None)})
    assert out["data"]["inventorySetQuantities"] is None
    assert "@idempotent" in out["errors"][0]["message"]
    out = gql(doc, {"input": set_input(item, locations[0], 1, None)}, version="2026-01")
    assert out["data"]["inventorySetQuantities"]["userErrors"] == []


def test_adjust_quantities_and_errors(gql, sim_control, locations):
    item = seeded(sim_control, 10)
    loc, loc2 = locations
    adj = {"name": "available", "reason": "correction",
           "changes": [{"inventoryItemId": item, "locationId": loc, "delta": -4, "changeFromQuantity": 10}]}
    res = gql(ADJUST, {"input": adj, "key": str(uuid.uuid4())})["data"]["inventoryAdjustQuantities"]
    assert res["userErrors"] == [] and quantities(gql, item, loc)["available"] == 6
    res = gql(ADJUST, {"input": adj, "key": str(uuid.uuid4())})["data"]["inventoryAdjustQuantities"]
    assert res["userErrors"][0]["code"] == "CHANGE_FROM_QUANTITY_STALE"
    bad_reason = {**adj, "reason": "because"}
    res = gql(ADJUST, {"input": bad_reason, "key": str(uuid.uuid4())})["data"]["inventoryAdjustQuantities"]
    assert res["userErrors"][0]["code"] == "INVALID_REASON"
    # damaged needs a ledger document; on_hand grows with it
    dmg = {"name": "damaged", "reason": "damaged", "changes": [{"inventoryItemId": item, "locationId": loc, "delta": 2,
                                                                 "changeFromQuantity": None,
                                                                 "ledgerDocumentUri": "gid://pim/Damage/1"}]}
    res = gql(ADJUST, {"input": dmg, "key": str(uuid.uuid4())})["data"]["inventoryAdjustQuantities"]
    assert res["userErrors"] == []
    assert quantities(gql, item, loc) == {"available": 6, "on_hand": 8, "committed": 0, "damaged": 2}
    del dmg["changes"][0]["ledgerDocumentUri"]
    res = gql(ADJUST, {"input": dmg, "key": str(uuid.uuid4())})["data"]["inventoryAdjustQuantities"]
    assert res["userErrors"][0]["code"] == "INVALID_QUANTITY_DOCUMENT"


def test_item_not_stocked_at_location_and_activate(gql, sim_control, locations, shopify_sim):
    p = sim_control.seed("shop-a", products=[{"title": "One loc", "variants": [
        {"sku": "ONE", "inventory": {"0": 5}}]}])[0]
    item = p["variants"][0]["inventoryItemId"]
    out = gql(SET, {"input": set_input(item, locations[1], 3, None), "key": str(uuid.uuid4())})
    assert out["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "ITEM_NOT_STOCKED_AT_LOCATION"
    out = gql("""mutation($i: ID!, $l: ID!) { inventoryActivate(inventoryItemId: $i, locationId: $l, available: 2) {
                 inventoryLevel { id quantities(names: ["available"]) { quantity } } userErrors { message } } }""",
              {"i": item, "l": locations[1]})
    lvl = out["data"]["inventoryActivate"]["inventoryLevel"]
    assert lvl["quantities"] == [{"quantity": 2}]
    assert lvl["id"].startswith("gid://shopify/InventoryLevel/")
    out = gql(SET, {"input": set_input(item, locations[1], 3, 2), "key": str(uuid.uuid4())})
    assert out["data"]["inventorySetQuantities"]["userErrors"] == []


def test_compare_quantity_on_2026_01(gql, sim_control, locations):
    item = seeded(sim_control, 10)
    doc = """mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) {
               userErrors { code } } }"""
    q = {"inventoryItemId": item, "locationId": locations[0], "quantity": 5}
    base = {"name": "available", "reason": "correction"}
    out = gql(doc, {"input": {**base, "quantities": [q]}}, version="2026-01")
    assert out["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "COMPARE_QUANTITY_REQUIRED"
    out = gql(doc, {"input": {**base, "quantities": [{**q, "compareQuantity": 9}]}}, version="2026-01")
    assert out["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "COMPARE_QUANTITY_STALE"
    out = gql(doc, {"input": {**base, "ignoreCompareQuantity": True, "quantities": [q]}}, version="2026-01")
    assert out["data"]["inventorySetQuantities"]["userErrors"] == []


def test_variant_inventory_fields(gql, sim_control):
    sim_control.seed("shop-a", products=[{"title": "Inv", "variants": [{"sku": "I-1", "inventory": 7}]}])
    out = gql('{ productVariants(first: 1, query: "sku:I-1") { nodes { inventoryQuantity '
              'product { totalInventory tracksInventory } } } }')
    v = out["data"]["productVariants"]["nodes"][0]
    assert v == {"inventoryQuantity": 7, "product": {"totalInventory": 7, "tracksInventory": True}}
