"""Collections (issue 19): documents valid against 2026-07, and behaviour against the simulator over HTTP."""

from __future__ import annotations

import uuid

import pytest
from graphql import parse, validate
from graphql.validation import NoDeprecatedCustomRule

from channels.shopify import collections_api as api
from channels.shopify.client import ShopifyClient
from channels.shopify.exceptions import ShopifyNotFound, ShopifyUserError
from shopify_sim.testing import SimulatorServer

from .conftest import admin_schema, schema_errors

DOCUMENTS = {name: value for name, value in vars(api).items() if name.isupper() and isinstance(value, str)
             and value.lstrip().startswith(("query", "mutation"))}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_is_valid_and_uses_only_the_deprecations_we_chose(name):
    document = DOCUMENTS[name]
    assert schema_errors(document) == [], name
    deprecated = [e.message for e in validate(admin_schema(), parse(document), [NoDeprecatedCustomRule])]
    assert all(any(f"field {f} " in m for f in api.DEPRECATED_ALLOWED) for m in deprecated), deprecated


@pytest.fixture(scope="module")
def sim():
    name = f"coll-{uuid.uuid4().hex[:8]}"
    server = SimulatorServer(shops=[name])
    server.start()
    server.shop_name = name
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(sim, redis_conn):
    sim.reset()
    creds = sim.shops[sim.shop_name]
    yield ShopifyClient(shop_domain=creds.domain, base_url=creds.base_url, api_version=creds.api_version,
                        redis=redis_conn, timeout=(2.0, 10.0), access_token=creds.access_token)
    keys = list(redis_conn.scan_iter(match=f"shopify:{creds.domain}:*"))
    if keys:
        redis_conn.delete(*keys)


def seed(sim, n, **kw):
    return [p["id"] for p in sim.control.seed(sim.shop_name, generate=n, variants_per_product=1, **kw)]


def test_create_add_remove_in_batches_of_250_and_read_back(sim, client):
    coll = api.collection_create(client, input={
        "title": "Summer", "descriptionHtml": "<p>Sun</p>", "sortOrder": "MANUAL",
        "image": {"src": "https://cdn.example.com/summer.jpg", "altText": "Sun"},
        "metafields": [{"namespace": "pim", "key": "category_id", "type": "single_line_text_field", "value": "7"}],
    })
    assert coll["handle"] == "summer" and coll["ruleSet"] is None and coll["sortOrder"] == "MANUAL"
    assert coll["pimCategory"] == {"value": "7"} and coll["image"]["url"].endswith("summer.jpg")
    ids = seed(sim, 260)
    assert api.collection_products_add(client, collection_id=coll["id"], product_ids=ids) == 2
    assert api.collection_product_ids(client, collection_id=coll["id"]) == ids
    assert api.collection_products_remove(client, collection_id=coll["id"], product_ids=ids[:5]) == 1
    assert api.collection_product_ids(client, collection_id=coll["id"]) == ids[5:]
    assert api.collection_get_by_handle(client, handle="summer")["productsCount"]["count"] == 255
    # A taken handle is refused (the stricter reading; unconfirmed on a real shop).
    with pytest.raises(ShopifyUserError, match="Handle has already been taken"):
        api.collection_create(client, input={"title": "Other", "handle": "summer"})
    with pytest.raises(ShopifyUserError, match="Title can't be blank"):
        api.collection_create(client, input={"title": " "})


def test_smart_collections_are_filled_by_rules_and_refuse_manual_adds(sim, client):
    ids = seed(sim, 2)
    sim.control.edit_product(sim.shop_name, ids[0], tags=["sale"])
    smart = sim.control.create_collection(sim.shop_name, title="Sale", ruleSet={
        "appliedDisjunctively": False, "rules": [{"column": "TAG", "relation": "EQUALS", "condition": "sale"}]})
    listed = {c["title"]: c for c in api.collections_iter(client)}
    assert listed["Sale"]["ruleSet"]["rules"][0]["column"] == "TAG"
    assert api.collection_product_ids(client, collection_id=smart["id"]) == [ids[0]]
    with pytest.raises(ShopifyUserError) as err:
        api.collection_products_add(client, collection_id=smart["id"], product_ids=[ids[1]])
    assert err.value.user_errors[0]["code"] == "CANT_ADD_TO_SMART_COLLECTION"
    with pytest.raises(ShopifyNotFound):
        api.collection_products_add(client, collection_id="gid://shopify/Collection/1", product_ids=[ids[1]])
    assert api.collection_get(client, collection_id="gid://shopify/Collection/1") is None


def test_membership_jobs_must_be_polled_until_done(sim, client):
    sim.control.sim_config(async_operation_seconds=0.3)
    try:
        coll = api.collection_create(client, input={"title": "Later"})
        ids = seed(sim, 3)
        api.collection_products_add(client, collection_id=coll["id"], product_ids=ids)
        # collection_products_add returned only after job(id:) said done, so the products are there now.
        assert api.collection_product_ids(client, collection_id=coll["id"]) == ids
        polls = [r for r in sim.control.requests(sim.shop_name) if r["operation_name"] == "JobStatus"]
        assert polls
    finally:
        sim.control.sim_config(async_operation_seconds=0.0)
