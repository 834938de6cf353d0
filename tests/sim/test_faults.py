"""Fault injection through the control API."""

from __future__ import annotations

import time

Q = "{ shop { name } }"


def test_outage_returns_503_then_recovers(gql, sim_control):
    sim_control.outage("shop-a", 0.5)
    r = gql(Q, raw=True)
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert gql(Q, shop="shop-b", raw=True).status_code == 200  # per shop
    time.sleep(0.6)
    assert gql(Q, raw=True).status_code == 200
    assert sim_control.stats("shop-a")["outage_503"] == 1


def test_random_errors(gql, sim_control):
    sim_control.error_rate("shop-a", 1.0, statuses=[502])
    assert gql(Q, raw=True).status_code == 502
    sim_control.error_rate("shop-a", 0.5)
    statuses = {gql(Q, raw=True).status_code for _ in range(60)}
    assert 200 in statuses and statuses - {200} <= {500, 502, 503, 504}
    sim_control.clear_faults("shop-a")
    assert all(gql(Q, raw=True).status_code == 200 for _ in range(10))


def test_latency(gql, sim_control):
    sim_control.latency("shop-a", 200)
    t0 = time.monotonic()
    gql(Q)
    assert time.monotonic() - t0 >= 0.2


def test_invalid_token_fault(gql, sim_control):
    sim_control.invalid_token("shop-a")
    r = gql(Q, raw=True)
    assert r.status_code == 401 and "Invalid API key or access token" in r.json()["errors"]
    sim_control.invalid_token("shop-a", False)
    assert gql(Q, raw=True).status_code == 200


def test_missing_scope_gives_access_denied(gql, sim_control, locations):
    sim_control.missing_scopes("shop-a", ["write_inventory"])
    scopes = gql("{ currentAppInstallation { accessScopes { handle } } }")
    handles = {s["handle"] for s in scopes["data"]["currentAppInstallation"]["accessScopes"]}
    assert "write_inventory" not in handles and "read_inventory" in handles
    out = gql("""mutation($input: InventoryAdjustQuantitiesInput!) { inventoryAdjustQuantities(input: $input)
                 @idempotent(key: "k1") { userErrors { code } } }""",
              {"input": {"name": "available", "reason": "correction", "changes": [
                  {"inventoryItemId": "gid://shopify/InventoryItem/1", "locationId": locations[0], "delta": 1,
                   "changeFromQuantity": None}]}})
    err = out["errors"][0]
    assert err["extensions"]["code"] == "ACCESS_DENIED"
    assert err["message"] == ("Access denied for inventoryAdjustQuantities field. Required access: "
                              "`write_inventory` access scope.")
    assert err["path"] == ["inventoryAdjustQuantities"]
    assert out["data"] == {"inventoryAdjustQuantities": None}
    # reading products still works
    assert "errors" not in gql("{ products(first: 1) { nodes { id } } }")
    # removing read_products also removes write_products
    sim_control.missing_scopes("shop-a", ["read_products"])
    out = gql("{ products(first: 1) { nodes { id } } shop { name } }")
    assert out["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    assert out["data"] is None  # products is non-null
    out = gql("{ productByIdentifier(identifier: {handle: \"x\"}) { id } shop { name } }")
    assert out["data"] == {"productByIdentifier": None, "shop": {"name": "Sim Shop shop-a"}}
    assert sim_control.stats("shop-a")["access_denied"] == 3


def test_uninstall_fires_app_uninstalled_then_401(gql, sim_control, webhook_receiver, shopify_sim):
    gql("""mutation($uri: String!) { webhookSubscriptionCreate(topic: APP_UNINSTALLED,
           webhookSubscription: {uri: $uri}) { userErrors { message } } }""", {"uri": webhook_receiver.url})
    sim_control.uninstall("shop-a")
    hook = webhook_receiver.wait_for(1)[0]
    assert hook.topic == "app/uninstalled"
    body = hook.json()
    assert body["myshopify_domain"] == "shop-a.myshopify.com" and body["domain"] == "shop-a.myshopify.com"
    assert hook.hmac_valid(shopify_sim.shops["shop-a"].client_secret)
    assert gql(Q, raw=True).status_code == 401
    creds = shopify_sim.shops["shop-a"]
    import requests

    r = requests.post(creds.token_url, data={"grant_type": "client_credentials", "client_id": creds.client_id,
                                             "client_secret": creds.client_secret}, timeout=10)
    assert r.status_code == 400
    sim_control.install("shop-a")
    assert gql(Q, raw=True).status_code == 200


def test_faults_are_listed_and_reset(sim_control):
    sim_control.faults("shop-a", latency_ms=5, webhook_drop_rate=0.5)
    assert sim_control.faults("shop-a")["latency_ms"] == 5
    sim_control.reset()
    assert sim_control.faults("shop-a") == {"outage_remaining_seconds": 0}


def test_webhook_topics_need_the_resource_scope(gql, sim_control, webhook_receiver):
    sim_control.missing_scopes("shop-a", ["read_orders"])
    out = gql("""mutation($uri: String!) { webhookSubscriptionCreate(topic: ORDERS_CREATE,
                 webhookSubscription: {uri: $uri}) { webhookSubscription { id } userErrors { field message } } }""",
              {"uri": webhook_receiver.url})
    res = out["data"]["webhookSubscriptionCreate"]
    assert res["webhookSubscription"] is None and "orders/create" in res["userErrors"][0]["message"]


def test_uninstall_removes_subscriptions(gql, sim_control, webhook_receiver):
    gql("""mutation($uri: String!) { webhookSubscriptionCreate(topic: PRODUCTS_UPDATE,
           webhookSubscription: {uri: $uri}) { userErrors { message } } }""", {"uri": webhook_receiver.url})
    sim_control.uninstall("shop-a")
    sim_control.install("shop-a")
    assert gql("{ webhookSubscriptions(first: 5) { nodes { id } } }")["data"]["webhookSubscriptions"]["nodes"] == []


def test_an_error_after_apply_runs_the_mutation_and_loses_the_answer(gql, sim_control):
    # error_applied_share: the stricter reading of a 5xx (unconfirmed): a gateway error after Shopify applied it.
    sim_control.error_rate("shop-a", 1.0, statuses=[504], applied_share=1.0)
    create = ('mutation { productSet(synchronous: true, input: {title: "Lost answer", handle: "lost-answer"}) '
              '{ product { id } userErrors { message } } }')
    r = gql(create, raw=True)
    assert r.status_code == 504
    sim_control.clear_faults("shop-a")
    found = gql('{ products(first: 5, query: "handle:lost-answer") { nodes { handle } } }')
    assert [n["handle"] for n in found["data"]["products"]["nodes"]] == ["lost-answer"]
    stats = sim_control.stats("shop-a")
    assert stats["injected_errors_after_apply"] == 1 and stats["requests"] >= 2
