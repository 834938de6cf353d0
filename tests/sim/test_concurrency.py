"""The server handles concurrent requests consistently."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

ADJUST = """mutation($input: InventoryAdjustQuantitiesInput!, $key: String!) {
  inventoryAdjustQuantities(input: $input) @idempotent(key: $key) { userErrors { code } } }"""


def test_concurrent_adjustments_and_creates(shopify_sim, sim_control, locations):
    sim_control.config("shop-a", plan="plus")
    p = sim_control.seed("shop-a", products=[{"title": "Hot", "variants": [{"sku": "HOT", "inventory": 0}]}])[0]
    item = p["variants"][0]["inventoryItemId"]
    creds = shopify_sim.shops["shop-a"]
    headers = {"X-Shopify-Access-Token": creds.access_token}

    def adjust(i):
        with requests.Session() as s:
            for _ in range(25):
                inp = {"name": "available", "reason": "correction", "changes": [
                    {"inventoryItemId": item, "locationId": locations[0], "delta": 1, "changeFromQuantity": None}]}
                r = s.post(creds.graphql_url(), json={"query": ADJUST, "variables": {"input": inp, "key": str(uuid.uuid4())}},
                           headers=headers, timeout=30)
                assert r.json()["data"]["inventoryAdjustQuantities"]["userErrors"] == []

    def create(i):
        r = requests.post(creds.graphql_url(), json={"query": 'mutation { productSet(input: {title: "Same Title"}) '
                                                              "{ product { handle } userErrors { code } } }"},
                          headers=headers, timeout=30)
        return r.json()["data"]["productSet"]["product"]["handle"]

    with ThreadPoolExecutor(8) as ex:
        list(ex.map(adjust, range(8)))
        handles = list(ex.map(create, range(40)))
    assert sim_control.inventory("shop-a", sku="HOT")["levels"][0]["available"] == 200
    assert len(set(handles)) == 40
    assert "same-title" in handles and "same-title-39" in handles
