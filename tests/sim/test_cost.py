"""Calculated query cost, the leaky bucket, THROTTLED and MAX_COST_EXCEEDED."""

from __future__ import annotations

import time

from .conftest import product_input


def cost(out):
    return out["extensions"]["cost"]


def test_requested_and_actual_cost_follow_shopifys_rules(gql, sim_control):
    out = gql("{ products(first: 10) { edges { node { id title } } } }")
    assert cost(out)["requestedQueryCost"] == 12  # 2 + 10 x 1
    assert cost(out)["actualQueryCost"] == 2  # no products -> only the connection
    sim_control.seed("shop-a", generate=3, variants_per_product=2)
    out = gql("{ products(first: 10) { nodes { id variants(first: 5) { nodes { id inventoryItem { id } } } } } }")
    # 2 + 10 * (1 + (2 + 5 * (1 + 1))) = 132
    assert cost(out)["requestedQueryCost"] == 132
    # actual: 2 + 3 * (1 + 2 + 2 * 2) = 23
    assert cost(out)["actualQueryCost"] == 23
    out = gql("{ shop { name plan { shopifyPlus } } }")
    assert cost(out)["requestedQueryCost"] == 2
    throttle = cost(out)["throttleStatus"]
    assert throttle["maximumAvailable"] == 2000.0 and throttle["restoreRate"] == 100.0
    assert 0 < throttle["currentlyAvailable"] <= 2000


def test_mutation_costs_ten_and_product_set_is_dynamic(gql):
    out = gql("mutation { webhookSubscriptionDelete(id: \"gid://shopify/WebhookSubscription/1\") { userErrors { message } } }")
    assert cost(out)["requestedQueryCost"] == 10
    inp = product_input(sizes=("S", "M", "L", "XL", "XXL"))
    inp["files"] = [{"originalSource": f"https://example.com/{i}.jpg"} for i in range(2)]
    out = gql("mutation($i: ProductSetInput!) { productSet(input: $i) { product { id } } }", {"i": inp})
    # 10 + 5 x 0.2 + 2 x 1.9 = 14.8 -> 15
    assert cost(out)["requestedQueryCost"] == 15


METAFIELDS_SET = """mutation($m: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $m) {
  metafields { key } userErrors { code message } } }"""


def _mf(owner, key="k1"):
    return {"ownerId": owner, "namespace": "pim", "key": key, "type": "single_line_text_field", "value": "v"}


def test_metafields_set_costs_ten_plus_the_weight_of_each_distinct_owner(gql):
    """changelog dynamic-complexity-cost-for-metafieldsset-mutation (2026-09-15): 10 + distinct owners x weight
    (Order 10, Product 4, ProductVariant 2 [name unconfirmed], Collection/Customer/Shop 1, others 0), per
    invocation; requested = actual (the stricter reading)."""
    inp = product_input(sizes=("S", "M"))
    out = gql("mutation($i: ProductSetInput!) { productSet(input: $i) { product { id variants(first: 5) { nodes { id } } } } }",
              {"i": inp})
    product = out["data"]["productSet"]["product"]
    variants = [v["id"] for v in product["variants"]["nodes"]]

    def charged(metafields):
        c = cost(gql(METAFIELDS_SET, {"m": metafields}))
        assert c["requestedQueryCost"] == c["actualQueryCost"]
        return c["requestedQueryCost"]

    # one owner counts once however many of its metafields are set
    assert charged([_mf(product["id"], f"k{i}") for i in range(10)]) == 14
    # the product and its two variants: 10 + 4 + 2 x 2
    assert charged([_mf(product["id"]), _mf(variants[0]), _mf(variants[1])]) == 18
    # 25 distinct products: 10 + 25 x 4 (owners need not exist: counted from the input, the stricter reading)
    assert charged([_mf(f"gid://shopify/Product/{9_000_000 + i}") for i in range(25)]) == 110
    assert charged([_mf("gid://shopify/Order/9000001"), _mf("gid://shopify/Collection/9000001"),
                    _mf("gid://shopify/Customer/9000001"), _mf("gid://shopify/Shop/9000001"),
                    _mf("gid://shopify/Location/9000001")]) == 10 + 10 + 1 + 1 + 1 + 0
    # aliases: each invocation pays the base and its owners again (no deduplication across aliases)
    out = gql("""mutation($m: [MetafieldsSetInput!]!) { a: metafieldsSet(metafields: $m) { userErrors { code } }
                                                       b: metafieldsSet(metafields: $m) { userErrors { code } } }""",
              {"m": [_mf(product["id"]), _mf(variants[0])]})
    assert cost(out)["requestedQueryCost"] == cost(out)["actualQueryCost"] == 2 * (10 + 4 + 2)


def test_connection_without_first_or_last_is_an_error(gql):
    out = gql("{ products { nodes { id } } }")
    assert out["errors"][0]["message"] == "you must provide one of first or last"
    assert "data" not in out


def test_max_cost_exceeded_does_not_consume_budget(gql, shopify_sim):
    before = shopify_sim.state("shop-a").bucket.peek()
    out = gql("{ products(first: 250) { nodes { id variants(first: 250) { nodes { id } } } } }")
    err = out["errors"][0]
    assert err["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert err["extensions"]["cost"] == 2 + 250 * (1 + 2 + 250) and err["extensions"]["maxCost"] == 1000
    assert err["message"].startswith("Query cost is 63252, which exceeds the single query max cost limit (1000).")
    assert cost(out)["requestedQueryCost"] == 63252 and cost(out)["actualQueryCost"] is None
    assert shopify_sim.state("shop-a").bucket.peek() >= before
    assert shopify_sim.control.stats("shop-a")["max_cost_exceeded"] == 1


def test_throttled_when_bucket_is_low_and_nothing_is_consumed(gql, sim_control, shopify_sim):
    sim_control.set_bucket("shop-a", available=5, rate=1)
    q = "{ products(first: 10) { nodes { id } } }"  # costs 12
    out = gql(q)
    assert out["errors"] == [{"message": "Throttled", "extensions": {
        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]
    c = cost(out)
    assert c["requestedQueryCost"] == 12 and c["actualQueryCost"] is None
    assert c["throttleStatus"]["currentlyAvailable"] in (5, 6)
    assert "data" not in out
    out = gql("{ shop { name } }")  # cost 1 still fits
    assert out["data"]["shop"]["name"]
    stats = sim_control.stats("shop-a")
    assert stats["throttled"] == 1
    # restores at restoreRate per second
    sim_control.set_bucket("shop-a", available=0, rate=100)
    time.sleep(0.2)
    out = gql(q)
    assert "errors" not in out
    log = sim_control.requests("shop-a", status="throttled")
    assert len(log) == 1 and log[0]["requested_cost"] == 12


def test_plan_sets_bucket_numbers(gql, sim_control):
    sim_control.config("shop-b", plan="plus")
    out = gql("{ shop { plan { shopifyPlus } } }", shop="shop-b")
    assert out["data"]["shop"]["plan"]["shopifyPlus"] is True
    t = cost(out)["throttleStatus"]
    assert t["maximumAvailable"] == 20000.0 and t["restoreRate"] == 1000.0
    sim_control.config("shop-b", bucket_size=50, restore_rate=5)
    t = cost(gql("{ shop { name } }", shop="shop-b"))["throttleStatus"]
    assert t["maximumAvailable"] == 50.0 and t["restoreRate"] == 5.0


def test_sustained_load_gets_throttled_and_counted(gql, sim_control):
    sim_control.seed("shop-a", generate=30)  # the actual cost is charged, so the data must be there
    sim_control.config("shop-a", bucket_size=100, restore_rate=10)
    sim_control.set_bucket("shop-a", available=100)
    results = [gql("{ products(first: 30) { nodes { id } } }") for _ in range(6)]  # 32 each
    throttled = [r for r in results if r.get("errors", [{}])[0].get("extensions", {}).get("code") == "THROTTLED"]
    assert len(throttled) >= 2
    assert sim_control.stats("shop-a")["throttled"] == len(throttled)
