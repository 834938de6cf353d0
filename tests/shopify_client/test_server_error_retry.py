"""Issue 18, "retry only what can heal": a 5xx or a network error on a request that is safe to repeat is retried
inside the call (bounded, with backoff, honouring Retry-After); a request that could duplicate something if it ran
twice (a productSet that creates, a subscription create, a bulk start) is not: its job's next attempt adopts."""

from __future__ import annotations

import pytest
import requests

from channels.shopify import exceptions as exc
from channels.shopify import queries

from .conftest import cost_extensions

SHOP_OK = {"data": {"shop": {"id": "gid://shopify/Shop/1"}}, "extensions": cost_extensions(requested=2)}
PING = "query Ping { shop { id } }"
PRODUCT = {
    "id": "gid://shopify/Product/9", "legacyResourceId": "9", "handle": "shirt", "status": "DRAFT",
    "updatedAt": "2026-01-01T00:00:00Z",
    "variants": {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}},
    "media": {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}},
}
PRODUCT_SET_OK = {"data": {"productSet": {"product": PRODUCT, "userErrors": []}}, "extensions": cost_extensions()}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_query_is_retried_after_a_5xx_and_succeeds(fake, make_client, status):
    fake.on("Ping", (status, {}, "<html>oops</html>"), SHOP_OK)
    client = make_client()
    assert client.execute(PING) == {"shop": {"id": "gid://shopify/Shop/1"}}
    assert len(fake.sent) == 2
    assert client.slept and 0 < client.slept[0] <= client.server_error_backoff[0]


def test_a_5xx_that_persists_raises_after_the_bounded_retries(fake, make_client):
    fake.on("Ping", (500, {}, "<html>oops</html>"))
    client = make_client()
    with pytest.raises(exc.ShopifyServerError) as info:
        client.execute(PING)
    assert info.value.retryable is True and info.value.status == 500
    assert len(fake.sent) == client.max_server_error_retries + 1
    # Backoff grows between tries (jitter keeps each within its step).
    assert len(client.slept) == client.max_server_error_retries
    assert all(0 < s <= step for s, step in zip(client.slept, client.server_error_backoff, strict=False))


def test_retry_after_is_honoured_and_a_long_one_is_left_to_the_job_schedule(fake, make_client):
    fake.on("Ping", (503, {"Retry-After": "2"}, "Service Unavailable"), SHOP_OK)
    client = make_client()
    client.execute(PING)
    assert client.slept == [2.0]

    fake.sent.clear()
    fake.on("Ping", (503, {"Retry-After": "3"}, "Service Unavailable"), SHOP_OK)
    client = make_client()
    with pytest.raises(exc.ShopifyServerError) as info:
        client.execute(PING)  # an outage: the circuit breaker and the job's retry schedule wait, not this call
    assert info.value.retry_after == 3.0
    assert len(fake.sent) == 1 and client.slept == []


def test_a_read_timeout_on_a_query_is_retried(fake, make_client):
    fake.on("Ping", requests.ReadTimeout("read timed out"), SHOP_OK)
    client = make_client()
    assert client.execute(PING)["shop"]["id"] == "gid://shopify/Shop/1"
    assert len(fake.sent) == 2


def test_a_product_set_by_id_is_retried(fake, make_client):
    fake.on("ProductSet", (502, {}, "Bad Gateway"), PRODUCT_SET_OK)
    client = make_client()
    product = client.product_set(input={"title": "Shirt"}, identifier={"id": "gid://shopify/Product/9"})
    assert product["id"] == "gid://shopify/Product/9"
    assert len(fake.requests_for("ProductSet")) == 2


@pytest.mark.parametrize("error", [(504, {}, "Gateway Timeout"), requests.ReadTimeout("read timed out")])
def test_a_product_set_that_creates_is_not_repeated(fake, make_client, error):
    # A 504 or a read timeout may come after Shopify created the product; a second create would make a
    # duplicate (a new handle "shirt-1"). The job's next attempt looks the handle up and adopts instead.
    fake.on("ProductSet", error, PRODUCT_SET_OK)
    client = make_client()
    with pytest.raises((exc.ShopifyServerError, exc.ShopifyNetworkError)):
        client.product_set(input={"title": "Shirt", "handle": "shirt"})
    assert len(fake.requests_for("ProductSet")) == 1


def test_a_connect_timeout_is_retried_even_for_a_create(fake, make_client):
    # The request never reached Shopify: repeating it cannot duplicate anything.
    fake.on("ProductSet", requests.ConnectTimeout("connect timed out"), PRODUCT_SET_OK)
    client = make_client()
    assert client.product_set(input={"title": "Shirt", "handle": "shirt"})["id"] == "gid://shopify/Product/9"
    assert len(fake.requests_for("ProductSet")) == 2


def test_an_idempotent_inventory_write_is_retried_with_the_same_key(fake, make_client):
    ok = {"data": {"inventorySetQuantities": {"inventoryAdjustmentGroup": None, "userErrors": []}},
          "extensions": cost_extensions()}
    fake.on("InventorySetQuantities", (500, {}, "oops"), ok)
    client = make_client()
    client.inventory_set_quantities(
        reason="correction", idempotency_key="move-1",
        quantities=[{"inventoryItemId": "gid://shopify/InventoryItem/1", "locationId": "gid://shopify/Location/1",
                     "quantity": 3, "changeFromQuantity": 2}])
    sent = fake.requests_for("InventorySetQuantities")
    assert len(sent) == 2 and sent[0].variables == sent[1].variables


def test_a_webhook_subscription_create_is_not_repeated(fake, make_client):
    fake.on("WebhookSubscriptionCreate", (500, {}, "oops"))
    client = make_client()
    with pytest.raises(exc.ShopifyServerError):
        client.webhook_subscription_create(topic="ORDERS_CREATE", callback_url="https://pim.example/webhooks")
    assert len(fake.sent) == 1


def test_the_repeatable_mutations_are_mutations_of_our_documents():
    from channels.shopify import metafields_api
    from channels.shopify.transport import REPEATABLE_MUTATIONS, _operation_info

    documents = {_operation_info(doc, None) for module in (queries, metafields_api) for doc in vars(module).values()
                 if isinstance(doc, str) and doc.lstrip().startswith("mutation")}
    mutations = {name for name, is_mutation in documents if is_mutation}
    assert set(REPEATABLE_MUTATIONS) <= mutations
    assert "WebhookSubscriptionCreate" not in REPEATABLE_MUTATIONS and "BulkRunQuery" not in REPEATABLE_MUTATIONS
