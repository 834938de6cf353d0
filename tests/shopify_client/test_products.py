"""Product reads and writes: variables sent, nested paging, streaming pagination."""

from __future__ import annotations

import pytest

from channels.shopify import queries
from channels.shopify.exceptions import ShopifyNotFound, ShopifyNotFoundUserError


def page(nodes, has_next=False, cursor=None):
    return {"nodes": nodes, "pageInfo": {"hasNextPage": has_next, "endCursor": cursor}}


def product_node(pid="gid://shopify/Product/1", variants=None, more_variants=False):
    return {
        "id": pid,
        "legacyResourceId": pid.rsplit("/", 1)[-1],
        "title": "Shirt",
        "handle": "shirt",
        "descriptionHtml": "<p>x</p>",
        "vendor": "ACME",
        "productType": "Tops",
        "tags": ["a"],
        "status": "ACTIVE",
        "templateSuffix": None,
        "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-02T00:00:00Z",
        "seo": {"title": None, "description": None},
        "options": [],
        "variants": page(
            variants or [{"id": "gid://shopify/ProductVariant/1", "sku": "A"}], more_variants, "v1"
        ),
        "metafields": page(
            [{"namespace": "pim", "key": "k", "type": "single_line_text_field", "value": "v"}]
        ),
        "media": page(
            [{"id": "gid://shopify/MediaImage/1", "alt": "front", "image": {"url": "https://cdn/x.jpg"}}]
        ),
    }


def test_product_set_sends_input_and_identifier_and_flattens_variants(fake, make_client):
    fake.on(
        "ProductSet",
        fake.ok(
            {
                "productSet": {
                    "product": {
                        "id": "gid://shopify/Product/9",
                        "legacyResourceId": "9",
                        "handle": "shirt",
                        "status": "DRAFT",
                        "updatedAt": "2026-01-01T00:00:00Z",
                        "variants": page(
                            [
                                {
                                    "id": "gid://shopify/ProductVariant/1",
                                    "sku": "S-1",
                                    "position": 1,
                                    "selectedOptions": [],
                                    "inventoryItem": {"id": "gid://shopify/InventoryItem/1"},
                                }
                            ],
                            True,
                            "c1",
                        ),
                    },
                    "userErrors": [],
                }
            }
        ),
    )
    fake.on(
        "ProductVariantIdsPage",
        fake.ok(
            {
                "product": {
                    "id": "gid://shopify/Product/9",
                    "variants": page([{"id": "gid://shopify/ProductVariant/2", "sku": "S-2"}]),
                }
            }
        ),
    )
    product_input = {
        "title": "Shirt",
        "handle": "shirt",
        "status": "DRAFT",
        "productOptions": [{"name": "Size", "values": [{"name": "S"}, {"name": "M"}]}],
        "variants": [
            {"sku": "S-1", "price": "10.00", "optionValues": [{"optionName": "Size", "name": "S"}]},
            {"sku": "S-2", "price": "10.00", "optionValues": [{"optionName": "Size", "name": "M"}]},
        ],
    }
    product = make_client().product_set(input=product_input, identifier={"handle": "shirt"})
    sent = fake.requests_for("ProductSet")[0]
    assert sent.query == queries.PRODUCT_SET
    # The returned connections are sized to the input (2 variants + 5, no files + 5).
    assert sent.variables == {"input": product_input, "identifier": {"handle": "shirt"}, "variants": 7, "media": 5}
    assert "synchronous: true" in sent.query
    assert [v["sku"] for v in product["variants"]] == ["S-1", "S-2"]
    # The rest of the ids come from the lean page (about 2 points per variant).
    assert fake.requests_for("ProductVariantIdsPage")[0].variables == {
        "id": "gid://shopify/Product/9",
        "first": 250,
        "after": "c1",
    }


def test_product_set_without_identifier_creates(fake, make_client):
    fake.on(
        "ProductSet",
        fake.ok(
            {
                "productSet": {
                    "product": {"id": "gid://shopify/Product/1", "variants": page([])},
                    "userErrors": [],
                }
            }
        ),
    )
    make_client().product_set(input={"title": "New"})
    assert fake.sent[0].variables == {"input": {"title": "New"}, "variants": 5, "media": 5}


def test_product_set_on_deleted_product_is_not_found(fake, make_client):
    fake.on(
        "ProductSet",
        fake.ok(
            {
                "productSet": {
                    "product": None,
                    "userErrors": [
                        {
                            "field": ["identifier", "id"],
                            "message": "Product does not exist",
                            "code": "PRODUCT_DOES_NOT_EXIST",
                        }
                    ],
                }
            }
        ),
    )
    with pytest.raises(ShopifyNotFoundUserError):
        make_client().product_set(input={"title": "X"}, identifier={"id": "gid://shopify/Product/404"})


def test_product_update_status(fake, make_client):
    fake.on(
        "ProductUpdateStatus",
        fake.ok(
            {
                "productUpdate": {
                    "product": {"id": "gid://shopify/Product/1", "status": "ARCHIVED", "updatedAt": "x"},
                    "userErrors": [],
                }
            }
        ),
    )
    client = make_client()
    assert (
        client.product_update_status(product_id="gid://shopify/Product/1", status="archived")["status"]
        == "ARCHIVED"
    )
    assert fake.sent[0].variables == {"id": "gid://shopify/Product/1", "status": "ARCHIVED"}
    with pytest.raises(ValueError):
        client.product_update_status(product_id="gid://shopify/Product/1", status="GONE")


def test_product_delete(fake, make_client):
    fake.on(
        "ProductDelete",
        fake.ok({"productDelete": {"deletedProductId": "gid://shopify/Product/1", "userErrors": []}}),
    )
    assert make_client().product_delete(product_id="gid://shopify/Product/1") == "gid://shopify/Product/1"


def test_product_get_pages_nested_connections(fake, make_client):
    fake.on("ProductById", fake.ok({"product": product_node(more_variants=True)}))
    fake.on(
        "ProductVariantsPage",
        fake.ok(
            {
                "product": {
                    "id": "gid://shopify/Product/1",
                    "variants": page([{"id": "gid://shopify/ProductVariant/2"}], True, "v2"),
                }
            }
        ),
        fake.ok(
            {
                "product": {
                    "id": "gid://shopify/Product/1",
                    "variants": page([{"id": "gid://shopify/ProductVariant/3"}]),
                }
            }
        ),
    )
    product = make_client().product_get(product_id="gid://shopify/Product/1")
    assert [v["id"][-1] for v in product["variants"]] == ["1", "2", "3"]
    assert product["metafields"][0]["key"] == "k"
    assert product["media"][0]["image"]["url"] == "https://cdn/x.jpg"
    assert [r.variables["after"] for r in fake.requests_for("ProductVariantsPage")] == ["v1", "v2"]


def test_product_get_missing_returns_none(fake, make_client):
    fake.on("ProductById", fake.ok({"product": None}))
    fake.on("ProductByHandle", fake.ok({"productByIdentifier": None}))
    client = make_client()
    assert client.product_get(product_id="gid://shopify/Product/404") is None
    assert client.product_get_by_handle(handle="nope") is None
    assert fake.requests_for("ProductByHandle")[0].variables == {"handle": "nope"}


def test_product_get_by_handle(fake, make_client):
    fake.on("ProductByHandle", fake.ok({"productByIdentifier": product_node()}))
    product = make_client().product_get_by_handle(handle="shirt")
    assert product["handle"] == "shirt"
    assert isinstance(product["variants"], list)


def test_iter_products_streams_pages(fake, make_client):
    pages = {
        None: (["gid://shopify/Product/1", "gid://shopify/Product/2"], True, "c1"),
        "c1": (["gid://shopify/Product/3"], True, "c2"),
        "c2": (["gid://shopify/Product/4"], False, None),
    }

    def handler(req):
        ids, has_next, cursor = pages[req.variables["after"]]
        return fake.ok({"products": page([{"id": i} for i in ids], has_next, cursor)})

    fake.on("ProductsPage", handler)
    client = make_client()
    iterator = client.iter_products(query="updated_at:>'2026-01-01T00:00:00Z'", page_size=2)
    assert fake.sent == []  # lazy: nothing requested before iteration
    assert next(iterator)["id"].endswith("/1")
    assert len(fake.sent) == 1  # only the first page fetched so far
    next(iterator)
    assert len(fake.sent) == 1
    assert next(iterator)["id"].endswith("/3")
    assert len(fake.sent) == 2
    assert [p["id"][-1] for p in iterator] == ["4"]
    assert [r.variables for r in fake.sent] == [
        {"first": 2, "after": None, "query": "updated_at:>'2026-01-01T00:00:00Z'"},
        {"first": 2, "after": "c1", "query": "updated_at:>'2026-01-01T00:00:00Z'"},
        {"first": 2, "after": "c2", "query": "updated_at:>'2026-01-01T00:00:00Z'"},
    ]


def test_not_found_hierarchy():
    err = ShopifyNotFoundUserError("x", user_errors=[{"field": ["id"], "message": "gone"}])
    assert isinstance(err, ShopifyNotFound)
    assert err.user_errors == [{"field": ["id"], "message": "gone", "code": None}]


def test_locations_and_webhooks(fake, make_client):
    fake.on(
        "Locations",
        fake.ok({"locations": page([{"id": "gid://shopify/Location/1", "name": "Main"}], True, "l1")}),
        fake.ok({"locations": page([{"id": "gid://shopify/Location/2", "name": "Second"}])}),
    )
    fake.on(
        "WebhookSubscriptions",
        fake.ok(
            {
                "webhookSubscriptions": page(
                    [{"id": "gid://shopify/WebhookSubscription/1", "topic": "PRODUCTS_UPDATE"}]
                )
            }
        ),
    )
    fake.on(
        "WebhookSubscriptionCreate",
        fake.ok(
            {
                "webhookSubscriptionCreate": {
                    "webhookSubscription": {"id": "gid://shopify/WebhookSubscription/2"},
                    "userErrors": [],
                }
            }
        ),
    )
    fake.on(
        "WebhookSubscriptionDelete",
        fake.ok(
            {
                "webhookSubscriptionDelete": {
                    "deletedWebhookSubscriptionId": "gid://shopify/WebhookSubscription/2",
                    "userErrors": [],
                }
            }
        ),
    )
    client = make_client()
    assert [loc["name"] for loc in client.locations()] == ["Main", "Second"]
    assert client.webhook_subscriptions()[0]["topic"] == "PRODUCTS_UPDATE"
    created = client.webhook_subscription_create(
        topic="INVENTORY_LEVELS_UPDATE", callback_url="https://pim.example/wh"
    )
    assert created["id"].endswith("/2")
    assert client.webhook_subscription_delete(subscription_id=created["id"]) == created["id"]
