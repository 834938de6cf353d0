"""Shopify's product taxonomy (issue 19): the document is valid for 2026-07; the simulator answers like Shopify."""

from __future__ import annotations

import uuid

import pytest

from channels.shopify import taxonomy_api as api
from channels.shopify.client import ShopifyClient
from shopify_sim.testing import SimulatorServer

from .conftest import schema_errors


def test_document_is_valid_against_2026_07_schema():
    assert schema_errors(api.TAXONOMY_CATEGORIES) == []
    assert schema_errors(api.PRODUCT_CATEGORIES) == []


@pytest.fixture(scope="module")
def client(redis_conn):
    name = f"tax-{uuid.uuid4().hex[:8]}"
    with SimulatorServer(shops=[name]) as sim:
        creds = sim.shops[name]
        yield ShopifyClient(shop_domain=creds.domain, base_url=creds.base_url, api_version=creds.api_version,
                            redis=redis_conn, timeout=(2.0, 10.0), access_token=creds.access_token)
    keys = list(redis_conn.scan_iter(match=f"shopify:{creds.domain}:*"))
    if keys:
        redis_conn.delete(*keys)


def test_top_level_search_and_descendants(client):
    roots = {c["fullName"] for c in api.taxonomy_categories_iter(client)}
    assert {"Apparel & Accessories", "Animals & Pet Supplies"} <= roots
    tees = list(api.taxonomy_categories_iter(client, search="t-shirts"))
    assert [(c["id"], c["fullName"], c["isLeaf"]) for c in tees] == [
        ("gid://shopify/TaxonomyCategory/aa-1-13-8", "Apparel & Accessories > Clothing > Clothing Tops > T-Shirts",
         True)]
    below = {c["id"] for c in api.taxonomy_categories_iter(client, descendants_of="gid://shopify/TaxonomyCategory/aa-1")}
    assert "gid://shopify/TaxonomyCategory/aa-1-13-8" in below and "gid://shopify/TaxonomyCategory/aa" not in below
    everything = list(api.taxonomy_categories_all(client))
    assert len(everything) == len({c["id"] for c in everything}) >= 20
