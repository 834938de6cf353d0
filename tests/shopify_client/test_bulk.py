"""Bulk export: start, poll, stream the JSONL and group children under their parent in constant memory."""

from __future__ import annotations

import json

import pytest
import responses

from channels.shopify import queries
from channels.shopify.bulk_query_api import group_bulk_lines
from channels.shopify.exceptions import ShopifyBulkLimitReached, ShopifyBulkOperationError

OP = "gid://shopify/BulkOperation/77"
RESULT_URL = (
    "https://storage.googleapis.com/shopify-tiers-assets-prod-us-east1/bulk-77.jsonl?X-Goog-Signature=abc"
)

LINES = [
    {"id": "gid://shopify/Product/1", "title": "Shirt", "handle": "shirt"},
    {"id": "gid://shopify/ProductVariant/11", "sku": "S-1", "__parentId": "gid://shopify/Product/1"},
    {"id": "gid://shopify/ProductVariant/12", "sku": "S-2", "__parentId": "gid://shopify/Product/1"},
    {
        "id": "gid://shopify/Metafield/5",
        "namespace": "pim",
        "key": "k",
        "__parentId": "gid://shopify/Product/1",
    },
    {"id": "gid://shopify/MediaImage/7", "alt": "front", "__parentId": "gid://shopify/Product/1"},
    {"id": "gid://shopify/Product/2", "title": "Mug", "handle": "mug"},
    {"id": "gid://shopify/ProductVariant/21", "sku": "M-1", "__parentId": "gid://shopify/Product/2"},
    {"id": "gid://shopify/Product/3", "title": "Empty", "handle": "empty"},
]


def status_answer(fake, state, url=None, error_code=None):
    return fake.ok(
        {
            "bulkOperation": {
                "id": OP,
                "status": state,
                "type": "QUERY",
                "errorCode": error_code,
                "objectCount": "8",
                "rootObjectCount": "3",
                "fileSize": "1024",
                "url": url,
                "partialDataUrl": None,
                "createdAt": "2026-01-01T00:00:00Z",
                "completedAt": None,
            }
        }
    )


def start_answer(fake):
    return fake.ok(
        {
            "bulkOperationRunQuery": {
                "bulkOperation": {
                    "id": OP,
                    "status": "CREATED",
                    "type": "QUERY",
                    "createdAt": "2026-01-01T00:00:00Z",
                },
                "userErrors": [],
            }
        }
    )


def test_bulk_export_products_streams_grouped_products(fake, make_client, rsps):
    fake.on("BulkRunQuery", start_answer(fake))
    fake.on(
        "BulkOperationStatus",
        status_answer(fake, "CREATED"),
        status_answer(fake, "RUNNING"),
        status_answer(fake, "COMPLETED", url=RESULT_URL),
    )
    body = "\n".join(json.dumps(line) for line in LINES) + "\n"
    rsps.add(responses.GET, RESULT_URL, body=body, content_type="application/jsonl")
    client = make_client()
    products = list(client.bulk_export_products(poll_interval=0.5))
    assert [p["handle"] for p in products] == ["shirt", "mug", "empty"]
    shirt = products[0]
    assert [v["sku"] for v in shirt["variants"]] == ["S-1", "S-2"]
    assert shirt["metafields"][0]["key"] == "k"
    assert shirt["media"][0]["alt"] == "front"
    assert all("__parentId" not in v for v in shirt["variants"])
    assert products[2]["variants"] == [] and products[2]["media"] == []
    # The bulk query sent is the export document, with grouped output requested.
    start = fake.requests_for("BulkRunQuery")[0]
    assert start.variables == {"query": queries.BULK_PRODUCTS_QUERY, "groupObjects": True}
    assert client.slept == [0.5, 0.5]
    # The signed storage URL never receives the Shopify token.
    download = next(c for c in rsps.calls if c.request.url == RESULT_URL)
    assert "X-Shopify-Access-Token" not in download.request.headers
    assert download.request.req_kwargs["stream"] is True  # streamed, not loaded whole


def test_bulk_completed_without_results(fake, make_client):
    fake.on("BulkRunQuery", start_answer(fake))
    fake.on("BulkOperationStatus", status_answer(fake, "COMPLETED", url=None))
    assert list(make_client().bulk_run_query(query=queries.BULK_PRODUCTS_QUERY)) == []


@pytest.mark.parametrize(
    ("state", "code", "retryable"),
    [("FAILED", "TIMEOUT", True), ("FAILED", "ACCESS_DENIED", False), ("CANCELED", None, True)],
)
def test_bulk_failure_raises_with_error_code(fake, make_client, state, code, retryable):
    fake.on("BulkRunQuery", start_answer(fake))
    fake.on("BulkOperationStatus", status_answer(fake, state, error_code=code))
    with pytest.raises(ShopifyBulkOperationError) as info:
        list(make_client().bulk_run_query(query=queries.BULK_PRODUCTS_QUERY))
    assert info.value.error_code == code
    assert info.value.bulk_status == state
    assert info.value.operation_id == OP
    assert info.value.retryable is retryable


def test_bulk_wait_timeout(fake, make_client):
    fake.on("BulkOperationStatus", status_answer(fake, "RUNNING"))
    client = make_client()
    with pytest.raises(ShopifyBulkOperationError) as info:
        client.bulk_wait(operation_id=OP, poll_interval=1, timeout=0)
    assert info.value.retryable is True
    assert info.value.bulk_status == "RUNNING"


def test_bulk_limit_reached_is_retryable(fake, make_client):
    fake.on(
        "BulkRunQuery",
        fake.ok(
            {
                "bulkOperationRunQuery": {
                    "bulkOperation": None,
                    "userErrors": [
                        {
                            "field": None,
                            "message": "A bulk query operation for this app and shop is already in progress",
                            "code": "LIMIT_REACHED",
                        }
                    ],
                }
            }
        ),
    )
    with pytest.raises(ShopifyBulkLimitReached) as info:
        list(make_client().bulk_export_products())
    assert info.value.retryable is True


def test_grouping_holds_one_group_in_memory():
    consumed = []

    def lines():
        for line in LINES:
            consumed.append(line["id"])
            yield json.dumps(line).encode()

    groups = group_bulk_lines(lines())
    first = next(groups)
    # The first product is yielded as soon as the next root line appears, not after the whole file.
    assert first["id"] == "gid://shopify/Product/1"
    assert consumed[-1] == "gid://shopify/Product/2"
    assert len(consumed) == 6
    second = next(groups)
    assert second["variants"][0]["sku"] == "M-1"
    assert len(consumed) == 8


def test_grandchildren_are_grouped_under_their_child():
    lines = [
        {"id": "gid://shopify/Product/1"},
        {"id": "gid://shopify/ProductVariant/11", "__parentId": "gid://shopify/Product/1"},
        {"id": "gid://shopify/Metafield/3", "key": "x", "__parentId": "gid://shopify/ProductVariant/11"},
        "",
    ]
    [product] = list(group_bulk_lines(json.dumps(line) if line else "" for line in lines))
    assert product["variants"][0]["metafields"][0]["key"] == "x"


def test_ungrouped_output_is_detected():
    lines = [
        {"id": "gid://shopify/Product/1"},
        {"id": "gid://shopify/Product/2"},
        {"id": "gid://shopify/ProductVariant/11", "__parentId": "gid://shopify/Product/1"},
    ]
    with pytest.raises(ShopifyBulkOperationError):
        list(group_bulk_lines(json.dumps(line) for line in lines))


def test_download_failure(fake, make_client, rsps):
    rsps.add(responses.GET, RESULT_URL, status=403, body="expired")
    with pytest.raises(ShopifyBulkOperationError) as info:
        list(make_client().bulk_download(url=RESULT_URL))
    assert info.value.status == 403
