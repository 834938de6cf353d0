"""The client against the local Shopify simulator (shopify_sim) over real HTTP on loopback."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from channels.shopify import queries
from channels.shopify.client import ShopifyClient
from channels.shopify.exceptions import ShopifyNotFound, ShopifyServerError, ShopifyStaleQuantity
from shopify_sim.testing import SimulatorServer


@pytest.fixture(scope="module")
def sim():
    name = f"burst-{uuid.uuid4().hex[:8]}"  # unique: the shop domain keys the shared Redis budget
    server = SimulatorServer(shops=[name], config={"bulk_min_seconds": 0.2})
    server.start()
    server.shop_name = name
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def creds(sim, redis_conn):
    sim.reset()
    creds = sim.shops[sim.shop_name]
    yield creds
    keys = list(redis_conn.scan_iter(match=f"shopify:{creds.domain}:*"))
    if keys:
        redis_conn.delete(*keys)


def client_for(creds, redis_conn, **kwargs) -> ShopifyClient:
    kwargs.setdefault("access_token", creds.access_token)
    return ShopifyClient(
        shop_domain=creds.domain,
        base_url=creds.base_url,
        api_version=creds.api_version,
        redis=redis_conn,
        timeout=(2.0, 10.0),
        **kwargs,
    )


def test_burst_of_threads_through_shared_budget_is_never_throttled(sim, creds, redis_conn):
    sim.control.seed(sim.shop_name, generate=12)
    # Standard plan (2000 points, 100/s). Start the burst with only 300 points left in Shopify's bucket;
    # the clients don't know that: they learn it from the first answer.
    sim.control.set_bucket(sim.shop_name, available=300)
    before = sim.control.stats(sim.shop_name)
    threads, calls = 6, 6
    clients = [client_for(creds, redis_conn) for _ in range(threads)]
    errors: list[BaseException] = []

    def burst(client: ShopifyClient) -> None:
        try:
            for _ in range(calls):
                data = client.execute(queries.PRODUCTS_PAGE, {"first": 10, "after": None, "query": None})
                assert len(data["products"]["nodes"]) == 10
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    started = time.monotonic()
    pool = [threading.Thread(target=burst, args=(c,)) for c in clients]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    elapsed = time.monotonic() - started
    stats = sim.control.stats(sim.shop_name)
    for client in clients:
        client.close()
    assert errors == []
    assert stats["throttled"] - before["throttled"] == 0
    assert stats["ok"] - before["ok"] == threads * calls
    # 36 calls x 22 points = 792 points with 300 available: the budget had to wait ~(792 - 300) / 100 s.
    requested = clients[0].last_cost.requested_query_cost
    assert requested == 22
    assert elapsed >= (threads * calls * requested - 300) / 100 * 0.8


def test_expired_client_credentials_token_is_refreshed_once(sim, creds, redis_conn):
    client = client_for(
        creds, redis_conn, access_token=None, client_id=creds.client_id, client_secret=creds.client_secret
    )
    other = client_for(
        creds, redis_conn, access_token=None, client_id=creds.client_id, client_secret=creds.client_secret
    )
    assert client.test_connection().missing_scopes == []
    before = sim.control.stats(sim.shop_name)["token_requests"]
    sim.control.expire_tokens(sim.shop_name)
    assert client.locations()  # 401 -> one refresh -> retried transparently
    assert other.locations()  # picks the refreshed token up from Redis
    assert sim.control.stats(sim.shop_name)["token_requests"] - before == 1


def test_publish_and_inventory_round_trip(sim, creds, redis_conn):
    client = client_for(creds, redis_conn)
    product = client.product_set(
        input={
            "title": "Round Trip Tee",
            "handle": "round-trip-tee",
            "status": "DRAFT",
            "productOptions": [{"name": "Size", "values": [{"name": "S"}, {"name": "M"}]}],
            "variants": [
                {"sku": "RT-S", "price": "10.00", "optionValues": [{"optionName": "Size", "name": "S"}]},
                {"sku": "RT-M", "price": "12.00", "optionValues": [{"optionName": "Size", "name": "M"}]},
            ],
        },
        identifier={"handle": "round-trip-tee"},
    )
    assert [v["sku"] for v in product["variants"]] == ["RT-S", "RT-M"]
    fetched = client.product_get(product_id=product["id"])
    assert fetched["handle"] == "round-trip-tee" and len(fetched["variants"]) == 2
    assert client.product_get_by_handle(handle="round-trip-tee")["id"] == product["id"]

    location = client.locations()[0]["id"]
    item = product["variants"][0]["inventoryItem"]["id"]
    [row] = client.inventory_levels(inventory_item_ids=[item], location_ids=[location])
    current = row["quantities"]["available"]
    key = f"pim-test-{uuid.uuid4().hex}"
    quantities = [
        {
            "inventoryItemId": item,
            "locationId": location,
            "quantity": current + 5,
            "changeFromQuantity": current,
        }
    ]
    client.inventory_set_quantities(reason="correction", quantities=quantities, idempotency_key=key)
    # Retried with the same key: applied once.
    client.inventory_set_quantities(reason="correction", quantities=quantities, idempotency_key=key)
    [row] = client.inventory_levels(inventory_item_ids=[item], location_ids=[location])
    assert row["quantities"]["available"] == current + 5
    with pytest.raises(ShopifyStaleQuantity):
        client.inventory_set_quantities(
            reason="correction",
            quantities=[
                {
                    "inventoryItemId": item,
                    "locationId": location,
                    "quantity": 1,
                    "changeFromQuantity": current,
                }
            ],
            idempotency_key=f"pim-test-{uuid.uuid4().hex}",
        )

    exported = {p["handle"]: p for p in client.bulk_export_products(poll_interval=0.1, timeout=30)}
    assert [v["sku"] for v in exported["round-trip-tee"]["variants"]] == ["RT-S", "RT-M"]

    assert client.product_delete(product_id=product["id"]) == product["id"]
    with pytest.raises(ShopifyNotFound):
        client.product_delete(product_id=product["id"])
    assert client.product_get(product_id=product["id"]) is None


def test_a_create_whose_answer_is_lost_is_not_repeated_but_an_update_by_id_is(sim, creds, redis_conn):
    # The simulator's stricter 5xx: a 504 after productSet ran (error_applied_share). Repeating the create would
    # make a second product ("lost-tee-1"); the client leaves it to the job's next attempt (adoption by handle).
    client = client_for(creds, redis_conn)
    client.sleep = lambda seconds: None
    sim.control.error_rate(sim.shop_name, 1.0, statuses=[504], applied_share=1.0)
    with pytest.raises(ShopifyServerError):
        client.product_set(input={"title": "Lost Tee", "handle": "lost-tee", "status": "DRAFT"})
    assert sim.control.stats(sim.shop_name)["requests"] == 1
    sim.control.clear_faults(sim.shop_name)
    [product] = list(client.iter_products(query="title:'Lost Tee'"))
    assert product["handle"] == "lost-tee"

    # An update by id is safe to repeat: every try is applied, the answer to the last one arrives.
    sim.control.error_rate(sim.shop_name, 1.0, statuses=[502], applied_share=1.0)
    client.max_server_error_retries = 2
    with pytest.raises(ShopifyServerError):
        client.product_set(input={"title": "Lost Tee v2"}, identifier={"id": product["id"]})
    sim.control.clear_faults(sim.shop_name)
    assert client.product_get(product_id=product["id"])["title"] == "Lost Tee v2"
    assert len(list(client.iter_products(query="title:'Lost Tee v2'"))) == 1
