"""Control API: seeding, state, request log, stats, reset, merchant edits."""

from __future__ import annotations

import time

from .conftest import PRODUCT_SET, product_input


def test_seed_many_products_quickly(sim_control, gql):
    t0 = time.monotonic()
    created = sim_control.seed("shop-a", generate=2000, variants_per_product=2, inventory=5)
    assert len(created) == 2000 and time.monotonic() - t0 < 10
    assert gql("{ productsCount { count } }")["data"]["productsCount"]["count"] == 2000
    # no throttling / request log entries for seeding
    assert sim_control.stats("shop-a")["requests"] == 1


def test_state_export(sim_control, gql, locations):
    gql(PRODUCT_SET, {"input": product_input(location=locations[0], qty=3)})
    state = sim_control.state("shop-a")
    assert [loc["id"] for loc in state["locations"]] == locations
    p = state["products"][0]
    assert p["title"] == "Blue Shirt" and p["handle"] == "blue-shirt"
    v = p["variants"][0]
    assert v["sku"] == "BS-S" and v["inventoryItem"]["tracked"] is True
    assert v["inventoryLevels"][0]["quantities"]["available"] == 3
    one = sim_control.product("shop-a", p["id"])
    assert one["id"] == p["id"]
    assert sim_control.product("shop-a", "blue-shirt")["id"] == p["id"]


def test_request_log_records_graphql(sim_control, gql):
    gql(PRODUCT_SET, {"input": {"title": "Logged"}}, operation_name="ProductSet")
    gql("{ shop { name } }")
    log = sim_control.requests("shop-a")
    assert len(log) == 2
    entry = log[0]
    assert entry["operation_name"] == "ProductSet" and entry["operation_type"] == "mutation"
    assert entry["root_fields"] == ["productSet"]
    assert entry["variables"]["input"]["title"] == "Logged"
    assert "productSet(" in entry["query"]
    assert entry["requested_cost"] == 10 and entry["actual_cost"] == 10
    assert entry["status"] == "ok" and entry["http_status"] == 200 and entry["version"] == "2026-07"
    assert sim_control.requests("shop-a", operation="productSet")[0]["id"] == entry["id"]
    stats = sim_control.stats("shop-a")
    assert stats["requests"] == 2 and stats["ok"] == 2 and stats["operations"] == {"productSet": 1, "shop": 1}
    assert stats["cost_requested"] == 11
    sim_control.clear_requests("shop-a")
    assert sim_control.requests("shop-a") == []


def test_user_errors_are_logged(sim_control, gql):
    gql(PRODUCT_SET, {"input": {"title": "A", "handle": "dup"}})
    gql(PRODUCT_SET, {"input": {"title": "B", "handle": "dup"}})
    entry = sim_control.requests("shop-a")[-1]
    assert entry["user_errors"][0]["errors"][0]["code"] == "HANDLE_NOT_UNIQUE"


def test_merchant_edit_changes_what_the_api_returns(sim_control, gql):
    p = sim_control.seed("shop-a", products=[{
        "title": "Orig", "variants": [{"sku": "M-1", "price": "1.00"}],
        "metafields": [{"namespace": "pim", "key": "x", "type": "single_line_text_field", "value": "1"}]}])[0]
    sim_control.edit_product("shop-a", p["id"], title="Edited", descriptionHtml="<b>x</b>", vendor="V",
                             productType="T", tags=["t1"], status="DRAFT", seo={"title": "S"},
                             variants=[{"id": p["variants"][0]["id"], "price": "2", "compareAtPrice": "3",
                                        "sku": "M-2", "barcode": "123"}],
                             metafields=[{"namespace": "pim", "key": "x", "value": "2"}])
    out = gql("""query($id: ID!) { product(id: $id) { title descriptionHtml vendor productType tags status seo { title }
                 metafield(namespace: "pim", key: "x") { value }
                 variants(first: 1) { nodes { sku price compareAtPrice barcode } } } }""", {"id": p["id"]})
    assert out["data"]["product"] == {
        "title": "Edited", "descriptionHtml": "<b>x</b>", "vendor": "V", "productType": "T", "tags": ["t1"],
        "status": "DRAFT", "seo": {"title": "S"}, "metafield": {"value": "2"},
        "variants": {"nodes": [{"sku": "M-2", "price": "2.00", "compareAtPrice": "3.00", "barcode": "123"}]}}


def test_reset_clears_everything(sim_control, gql, shopify_sim):
    sim_control.seed("shop-a", generate=3)
    sim_control.config("shop-a", plan="plus")
    gql("{ shop { name } }")
    locations_before = [loc["id"] for loc in sim_control.state("shop-a")["locations"]]
    sim_control.reset()
    assert sim_control.state("shop-a")["products"] == []
    assert sim_control.stats("shop-a")["requests"] == 0
    assert sim_control.shop("shop-a")["plan"] == "standard"
    assert [loc["id"] for loc in sim_control.state("shop-a")["locations"]] == locations_before


def test_shops_listing_has_credentials(sim_control, shopify_sim):
    shops = {s["name"]: s for s in sim_control.shops()}
    a = shops["shop-a"]
    assert a["base_url"] == shopify_sim.base_url("shop-a")
    assert a["access_token"] == "shpat_sim_shop-a" and a["webhook_secret"] == a["client_secret"]
    assert a["bucket_size"] == 2000.0 and a["restore_rate"] == 100.0
    assert len(a["locations"]) == 2


def test_ids_are_unique_across_shops(sim_control):
    a = sim_control.seed("shop-a", generate=1)[0]["id"]
    b = sim_control.seed("shop-b", generate=1)[0]["id"]
    assert a != b
