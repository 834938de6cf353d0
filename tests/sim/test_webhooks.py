"""Webhook subscriptions and delivery: headers, HMAC, retries, faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

CREATE = """mutation($topic: WebhookSubscriptionTopic!, $uri: String!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: {uri: $uri, format: JSON}) {
    webhookSubscription { id topic uri format endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } } }
    userErrors { field message }
  }
}"""


def subscribe(gql, receiver, *topics, shop="shop-a"):
    ids = []
    for t in topics:
        out = gql(CREATE, {"topic": t, "uri": receiver.url}, shop=shop)["data"]["webhookSubscriptionCreate"]
        assert out["userErrors"] == [], out
        ids.append(out["webhookSubscription"]["id"])
    return ids


def test_subscription_crud(gql, webhook_receiver):
    out = gql(CREATE, {"topic": "PRODUCTS_UPDATE", "uri": webhook_receiver.url})["data"]["webhookSubscriptionCreate"]
    sub = out["webhookSubscription"]
    assert sub["topic"] == "PRODUCTS_UPDATE" and sub["uri"] == webhook_receiver.url and sub["format"] == "JSON"
    assert sub["endpoint"] == {"__typename": "WebhookHttpEndpoint", "callbackUrl": webhook_receiver.url}
    dup = gql(CREATE, {"topic": "PRODUCTS_UPDATE", "uri": webhook_receiver.url})["data"]["webhookSubscriptionCreate"]
    assert dup["webhookSubscription"] is None and dup["userErrors"][0]["message"] == \
        "Address for this topic has already been taken"
    subscribe(gql, webhook_receiver, "ORDERS_CREATE")
    listed = gql("{ webhookSubscriptions(first: 10) { nodes { id topic } } }")["data"]["webhookSubscriptions"]["nodes"]
    assert [s["topic"] for s in listed] == ["PRODUCTS_UPDATE", "ORDERS_CREATE"]
    filtered = gql("{ webhookSubscriptions(first: 10, topics: [ORDERS_CREATE]) { nodes { topic } } }")
    assert filtered["data"]["webhookSubscriptions"]["nodes"] == [{"topic": "ORDERS_CREATE"}]
    out = gql("mutation($id: ID!) { webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId } }",
              {"id": sub["id"]})
    assert out["data"]["webhookSubscriptionDelete"]["deletedWebhookSubscriptionId"] == sub["id"]
    listed = gql("{ webhookSubscriptions(first: 10) { nodes { topic } } }")["data"]["webhookSubscriptions"]["nodes"]
    assert listed == [{"topic": "ORDERS_CREATE"}]


def test_delivery_headers_and_verifiable_hmac(gql, sim_control, webhook_receiver, shopify_sim):
    subscribe(gql, webhook_receiver, "PRODUCTS_UPDATE")
    p = sim_control.seed("shop-a", products=[{"title": "Hooked", "variants": [{"sku": "H-1", "price": "5"}]}])[0]
    sim_control.edit_product("shop-a", p["id"], title="Hooked (edited)", variants=[{"sku": "H-1", "price": "6.5"}])
    hook = webhook_receiver.wait_for(1)[0]
    secret = shopify_sim.shops["shop-a"].client_secret
    expected = base64.b64encode(hmac.new(secret.encode(), hook.body, hashlib.sha256).digest()).decode()
    assert hook.header("X-Shopify-Hmac-Sha256") == expected
    assert hook.hmac_valid(secret) and not hook.hmac_valid("wrong")
    assert hook.header("X-Shopify-Topic") == "products/update"
    assert hook.header("X-Shopify-Shop-Domain") == "shop-a.myshopify.com"
    assert hook.header("X-Shopify-API-Version") == "2026-07"
    assert hook.header("X-Shopify-Webhook-Id") and hook.header("X-Shopify-Event-Id")
    assert hook.header("X-Shopify-Triggered-At").endswith("Z")
    assert hook.header("Content-Type") == "application/json"
    body = hook.json()
    assert body["admin_graphql_api_id"] == p["id"] and body["id"] == int(p["id"].rsplit("/", 1)[1])
    assert body["title"] == "Hooked (edited)" and body["status"] == "active"
    assert body["variants"][0]["sku"] == "H-1" and body["variants"][0]["price"] == "6.50"
    assert body["variants"][0]["admin_graphql_api_id"] == p["variants"][0]["id"]
    assert body["variants"][0]["inventory_item_id"] == int(p["variants"][0]["inventoryItemId"].rsplit("/", 1)[1])
    assert body["variant_gids"][0]["admin_graphql_api_id"] == p["variants"][0]["id"]


def test_retries_keep_webhook_id_then_subscription_is_deleted(gql, sim_control, webhook_receiver, shopify_sim):
    shopify_sim.sim.config.webhook_retry_delays = [0.05, 0.05, 0.05]
    shopify_sim.sim.config.webhook_time_scale = 1.0
    subscribe(gql, webhook_receiver, "PRODUCTS_DELETE")
    p = sim_control.seed("shop-a", products=[{"title": "Doomed"}])[0]
    webhook_receiver.statuses = [500, 503]  # two failures, then 200
    sim_control.delete_product("shop-a", p["id"])
    hooks = webhook_receiver.wait_for(3)
    assert len({h.header("X-Shopify-Webhook-Id") for h in hooks}) == 1
    assert len({h.header("X-Shopify-Event-Id") for h in hooks}) == 1
    assert hooks[0].body == hooks[2].body
    assert hooks[0].json() == {"id": int(p["id"].rsplit("/", 1)[1])}
    assert sim_control.wait_webhooks(5)
    d = sim_control.deliveries("shop-a", topic="products/delete")[-1]
    assert d["status"] == "delivered" and d["attempts"] == 3
    # now fail everything: 1 + 3 retries, then the API-created subscription is removed
    webhook_receiver.clear()
    webhook_receiver.status = 500
    p2 = sim_control.seed("shop-a", products=[{"title": "Doomed 2"}])[0]
    sim_control.delete_product("shop-a", p2["id"])
    webhook_receiver.wait_for(4)
    assert sim_control.wait_webhooks(5)
    d = sim_control.deliveries("shop-a", topic="products/delete")[-1]
    assert d["status"] == "failed" and d["attempts"] == 4 and d["subscription_deleted"] is True
    subs = gql("{ webhookSubscriptions(first: 5) { nodes { id } } }")["data"]["webhookSubscriptions"]["nodes"]
    assert subs == []


def test_unreachable_endpoint_is_retried(gql, sim_control, shopify_sim):
    shopify_sim.sim.config.webhook_retry_delays = [0.02, 0.02]
    shopify_sim.sim.config.webhook_time_scale = 1.0
    gql(CREATE, {"topic": "PRODUCTS_DELETE", "uri": "http://127.0.0.1:9/hook"})
    p = sim_control.seed("shop-a", products=[{"title": "Nowhere"}])[0]
    sim_control.delete_product("shop-a", p["id"])
    assert sim_control.wait_webhooks(10)
    d = sim_control.deliveries("shop-a")[-1]
    assert d["status"] == "failed" and d["attempts"] == 3 and d["error"]


def test_default_retry_schedule_is_compressed_by_time_scale(shopify_sim):
    cfg = shopify_sim.sim.config
    assert len(cfg.webhook_retry_delays) == 8
    assert 3.5 * 3600 <= sum(cfg.webhook_retry_delays) <= 4.5 * 3600  # "8 times over 4 hours"
    assert cfg.webhook_time_scale == 0.001


def test_dropped_and_duplicated_webhooks(gql, sim_control, webhook_receiver):
    subscribe(gql, webhook_receiver, "PRODUCTS_UPDATE")
    p = sim_control.seed("shop-a", products=[{"title": "Flaky"}])[0]
    sim_control.drop_webhooks("shop-a", 1.0)
    sim_control.edit_product("shop-a", p["id"], title="Dropped")
    assert sim_control.wait_webhooks(5)
    time.sleep(0.1)
    assert webhook_receiver.received == []
    assert sim_control.deliveries("shop-a")[-1]["status"] == "dropped"
    sim_control.faults("shop-a", webhook_drop_rate=0, webhook_duplicate_rate=1.0)
    sim_control.edit_product("shop-a", p["id"], title="Twice")
    hooks = webhook_receiver.wait_for(2)
    assert len(hooks) == 2 and hooks[0].body == hooks[1].body
    assert hooks[0].header("X-Shopify-Webhook-Id") == hooks[1].header("X-Shopify-Webhook-Id")
    assert hooks[0].header("X-Shopify-Event-Id") == hooks[1].header("X-Shopify-Event-Id")


def test_api_writes_fire_webhooks_too(gql, webhook_receiver):
    subscribe(gql, webhook_receiver, "PRODUCTS_CREATE", "PRODUCTS_UPDATE")
    out = gql("mutation { productSet(input: {title: \"Via API\"}) { product { id } } }")
    pid = out["data"]["productSet"]["product"]["id"]
    gql("mutation($id: ID!) { productUpdate(product: {id: $id, status: DRAFT}) { userErrors { message } } }", {"id": pid})
    created = webhook_receiver.wait_for(1, topic="products/create")[0].json()
    updated = webhook_receiver.wait_for(1, topic="products/update")[0].json()
    assert created["title"] == "Via API" and updated["status"] == "draft"


def test_merchant_inventory_adjust_fires_inventory_levels_update(gql, sim_control, webhook_receiver, locations):
    subscribe(gql, webhook_receiver, "INVENTORY_LEVELS_UPDATE")
    p = sim_control.seed("shop-a", products=[{"title": "Stock", "variants": [{"sku": "ST-1", "inventory": 4}]}])[0]
    state = sim_control.adjust_inventory("shop-a", sku="ST-1", delta=-1, location_id=locations[1])
    assert state["available"] == -1 and state["location_id"] == locations[1]
    body = webhook_receiver.wait_for(1)[0].json()
    item_num = int(p["variants"][0]["inventoryItemId"].rsplit("/", 1)[1])
    loc_num = int(locations[1].rsplit("/", 1)[1])
    assert body["inventory_item_id"] == item_num and body["location_id"] == loc_num and body["available"] == -1
    assert body["admin_graphql_api_id"] == f"gid://shopify/InventoryLevel/{loc_num}?inventory_item_id={item_num}"


def test_trigger_burst_throughput(gql, sim_control, webhook_receiver):
    subscribe(gql, webhook_receiver, "PRODUCTS_UPDATE")
    sim_control.seed("shop-a", generate=1)
    t0 = time.monotonic()
    assert sim_control.trigger_webhooks("shop-a", "products/update", count=500) == 500
    webhook_receiver.wait_for(500, timeout=30)
    assert time.monotonic() - t0 < 15
    assert len({h.header("X-Shopify-Event-Id") for h in webhook_receiver.received}) == 500
