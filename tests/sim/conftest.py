"""Helpers for the simulator tests. The fixtures ``shopify_sim``, ``sim_control`` and ``webhook_receiver`` come
from ``shopify_sim.pytest_plugin`` (enabled in the root conftest)."""

from __future__ import annotations

import pytest
import requests

SHOP = "shop-a"
OTHER = "shop-b"

PRODUCT_SET = """
mutation ProductSet($input: ProductSetInput!, $identifier: ProductSetIdentifiers) {
  productSet(input: $input, identifier: $identifier) {
    product {
      id handle title status vendor productType tags descriptionHtml updatedAt
      seo { title description }
      options { id name values }
      variants(first: 50) {
        nodes { id title sku price compareAtPrice barcode position
          selectedOptions { name value }
          inventoryItem { id tracked sku }
          metafields(first: 10) { nodes { namespace key value } } }
      }
      metafields(first: 20) { nodes { id namespace key type value } }
      media(first: 20) { nodes { id alt status mediaContentType ... on MediaImage { image { url altText } } } }
    }
    userErrors { field message code }
  }
}
"""


@pytest.fixture
def http():
    with requests.Session() as s:
        yield s


@pytest.fixture
def gql(shopify_sim, http):
    """Call the Admin GraphQL API of a simulated shop over HTTP. Returns the JSON body (asserting HTTP 200)
    unless ``raw=True`` (then the ``requests.Response``)."""

    def call(query, variables=None, shop=SHOP, version="2026-07", token=None, raw=False, operation_name=None):
        creds = shopify_sim.shops[shop]
        body = {"query": query, "variables": variables or {}}
        if operation_name:
            body["operationName"] = operation_name
        r = http.post(creds.graphql_url(version), json=body,
                      headers={"X-Shopify-Access-Token": token if token is not None else creds.access_token},
                      timeout=30)
        if raw:
            return r
        assert r.status_code == 200, r.text
        return r.json()

    return call


@pytest.fixture
def locations(gql):
    data = gql("{ locations(first: 10) { nodes { id name } } }")
    return [n["id"] for n in data["data"]["locations"]["nodes"]]


def product_input(title="Blue Shirt", sizes=("S", "M"), prefix="BS", location=None, qty=5, **extra):
    variants = []
    for s in sizes:
        v = {"optionValues": [{"optionName": "Size", "name": s}], "sku": f"{prefix}-{s}", "price": "10.00",
             "inventoryItem": {"tracked": True}}
        if location:
            v["inventoryQuantities"] = [{"locationId": location, "name": "available", "quantity": qty}]
        variants.append(v)
    inp = {"title": title, "status": "ACTIVE", "vendor": "Acme",
           "productOptions": [{"name": "Size", "values": [{"name": s} for s in sizes]}], "variants": variants}
    inp.update(extra)
    return inp
