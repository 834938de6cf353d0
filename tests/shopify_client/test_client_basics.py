"""Construction, defaults and logging of ShopifyClient."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings

from channels.shopify.client import ShopifyClient
from channels.shopify.shop_api import missing_scopes

from .conftest import cost_extensions


def test_defaults_from_settings(redis_conn, shop):
    client = ShopifyClient(shop_domain=shop.upper(), access_token="shpat_x", redis=redis_conn)
    assert client.shop_domain == shop
    assert client.base_url == f"https://{shop}"
    assert client.api_version == settings.SHOPIFY_API_VERSION
    assert client.endpoint == f"https://{shop}/admin/api/{settings.SHOPIFY_API_VERSION}/graphql.json"
    assert client.timeout == (settings.SHOPIFY_CONNECT_TIMEOUT, settings.SHOPIFY_READ_TIMEOUT)
    client.close()


def test_simulator_style_base_url(redis_conn, shop):
    client = ShopifyClient(
        shop_domain=shop, access_token="shpat_x", base_url=f"http://127.0.0.1:8765/{shop}/", redis=redis_conn
    )
    assert client.endpoint == f"http://127.0.0.1:8765/{shop}/admin/api/2026-07/graphql.json"
    client.close()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"shop_domain": "a.myshopify.com"},
        {"shop_domain": "a.myshopify.com", "client_id": "only-id"},
        {"shop_domain": "", "access_token": "t"},
        {"shop_domain": "https://a.myshopify.com/", "access_token": "t"},
    ],
)
def test_invalid_construction(redis_conn, kwargs):
    with pytest.raises(ValueError):
        ShopifyClient(redis=redis_conn, **kwargs)


def test_document_with_two_operations_needs_a_name(fake, make_client):
    fake.on("B", {"data": {"shop": {"id": "1"}}, "extensions": cost_extensions()})
    client = make_client()
    doc = "query A { shop { id } } query B { shop { id } }"
    with pytest.raises(ValueError):
        client.execute(doc)
    assert client.execute(doc, operation_name="B") == {"shop": {"id": "1"}}
    assert fake.sent[0].operation_name == "B"


def test_logs_operation_cost_and_latency(fake, make_client, caplog):
    caplog.set_level(logging.DEBUG, logger="channels.shopify")
    fake.on("Ping", {"data": {"shop": {"id": "1"}}, "extensions": cost_extensions(requested=3, actual=2)})
    make_client().execute("query Ping { shop { id } }")
    record = next(r for r in caplog.records if "op=Ping" in r.getMessage())
    assert "requested=3" in record.getMessage() and "actual=2" in record.getMessage()
    assert "ms" in record.getMessage()
    assert "shpat_" not in caplog.text


def test_missing_scopes_write_covers_read():
    assert (
        missing_scopes(["write_products", "read_orders"], ["read_products", "write_products", "read_orders"])
        == []
    )
    assert missing_scopes([], ["read_products"]) == ["read_products"]
