"""Shopify collections through the GraphQL Admin API (2026-07): read, create, and change manual membership.

Functions take a ``ShopifyClient`` so every call goes through its transport, shared cost budget, retries and
typed errors. Documents follow the rules of ``queries`` (one named operation each, values only in variables)
and are validated against the 2026-07 schema by ``tests/shopify_client/test_collections_api.py``.

Membership uses ``collectionAddProductsV2`` and ``collectionRemoveProducts``: both are present in 2026-07 and
2026-10 but marked deprecated in favour of ``collectionUpdate`` with a source's ``inclusion.selectionsToAdd``
(the new collection *sources* model, which needs the collection's source id). Kept here, in one module, so the
switch is local once that model is confirmed on a dev store. Each call takes at most 250 product ids
(``collectionRemoveProducts``: "up to 250 products"; assumed for adds too) and returns a ``Job`` to poll.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from .exceptions import ShopifyError, ShopifyNotFound, ShopifyNotFoundUserError, ShopifyUserError

MAX_IDS_PER_CALL = 250

_COLLECTION_FIELDS = """
fragment CollectionFields on Collection {
  id
  title
  handle
  descriptionHtml
  sortOrder
  updatedAt
  image { url altText }
  ruleSet { appliedDisjunctively rules { column relation condition } }
  productsCount { count precision }
  pimCategory: metafield(namespace: "pim", key: "category_id") { value }
}
"""

COLLECTIONS_LIST = """
query CollectionsList($first: Int!, $after: String, $query: String) {
  collections(first: $first, after: $after, query: $query, sortKey: TITLE) {
    nodes { ...CollectionFields }
    pageInfo { hasNextPage endCursor }
  }
}
""" + _COLLECTION_FIELDS

COLLECTION_BY_ID = """
query CollectionById($id: ID!) {
  collection(id: $id) { ...CollectionFields }
}
""" + _COLLECTION_FIELDS

COLLECTION_BY_HANDLE = """
query CollectionByHandle($handle: String!) {
  collectionByIdentifier(identifier: {handle: $handle}) { ...CollectionFields }
}
""" + _COLLECTION_FIELDS

COLLECTION_PRODUCTS = """
query CollectionProducts($id: ID!, $first: Int!, $after: String) {
  collection(id: $id) {
    id
    products(first: $first, after: $after) {
      nodes { id }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

COLLECTION_CREATE = """
mutation CollectionCreate($collection: CollectionCreateInput!) {
  collectionCreate(collection: $collection) {
    collection { ...CollectionFields }
    userErrors { field message }
  }
}
""" + _COLLECTION_FIELDS

COLLECTION_ADD_PRODUCTS = """
mutation CollectionAddProducts($id: ID!, $productIds: [ID!]!) {
  collectionAddProductsV2(id: $id, productIds: $productIds) {
    job { id done }
    userErrors { field message code }
  }
}
"""

COLLECTION_REMOVE_PRODUCTS = """
mutation CollectionRemoveProducts($id: ID!, $productIds: [ID!]!) {
  collectionRemoveProducts(id: $id, productIds: $productIds) {
    job { id done }
    userErrors { field message }
  }
}
"""

JOB_STATUS = """
query JobStatus($id: ID!) {
  job(id: $id) { id done }
}
"""

# Deprecated fields these documents use on purpose (see the module docstring); the schema test allows only these.
# ``Collection.ruleSet`` is deprecated for ``sources`` too, but it is still how a smart collection is told apart.
DEPRECATED_ALLOWED = {"Mutation.collectionAddProductsV2", "Mutation.collectionRemoveProducts", "Collection.ruleSet"}


class ShopifyJobTimeout(ShopifyError):
    """A Shopify background job did not finish in time (retryable: the next attempt re-reads the state)."""

    retryable = True


def collections_iter(client: Any, *, query: str | None = None, page_size: int = 100) -> Iterator[dict]:
    """Yield every collection of the shop (custom and smart), optionally filtered by a search ``query``.

    A smart collection has a ``ruleSet``; a custom one has ``ruleSet: null``. Raises the errors of ``execute``.
    """
    after = None
    while True:
        data = client.execute(COLLECTIONS_LIST, {"first": page_size, "after": after, "query": query})
        conn = data["collections"]
        yield from conn["nodes"]
        if not conn["pageInfo"]["hasNextPage"]:
            return
        after = conn["pageInfo"]["endCursor"]


def collection_get(client: Any, *, collection_id: str) -> dict | None:
    """Return the collection with this gid, or None if it doesn't exist. Raises the errors of ``execute``."""
    return client.execute(COLLECTION_BY_ID, {"id": collection_id}).get("collection")


def collection_get_by_handle(client: Any, *, handle: str) -> dict | None:
    """Return the collection with this handle, or None. Raises the errors of ``execute``."""
    return client.execute(COLLECTION_BY_HANDLE, {"handle": handle}).get("collectionByIdentifier")


def collection_product_ids(client: Any, *, collection_id: str, page_size: int = 250) -> list[str] | None:
    """Return the gids of every product in the collection (all pages), or None if the collection is gone."""
    ids: list[str] = []
    after = None
    while True:
        data = client.execute(COLLECTION_PRODUCTS, {"id": collection_id, "first": page_size, "after": after})
        coll = data.get("collection")
        if coll is None:
            return None
        ids.extend(node["id"] for node in coll["products"]["nodes"])
        if not coll["products"]["pageInfo"]["hasNextPage"]:
            return ids
        after = coll["products"]["pageInfo"]["endCursor"]


def collection_create(client: Any, *, input: dict) -> dict:  # noqa: A002 (Shopify's name)
    """Create a custom collection (unpublished, as Shopify creates them) and return it.

    ``input`` is a ``CollectionCreateInput`` (title, handle, descriptionHtml, image, sortOrder, metafields).
    Raises ShopifyUserError (e.g. a taken handle) and the errors of ``execute``.
    """
    data = client.execute(COLLECTION_CREATE, {"collection": input})
    collection = (data.get("collectionCreate") or {}).get("collection")
    if not collection:
        raise ShopifyError("collectionCreate returned no collection", shop_domain=client.shop_domain,
                           operation_name="CollectionCreate")
    return collection


def _batches(ids: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), MAX_IDS_PER_CALL):
        yield ids[i:i + MAX_IDS_PER_CALL]


def job_wait(client: Any, *, job_id: str, timeout: float = 60.0, poll_interval: float = 0.5) -> None:
    """Poll ``job(id:)`` until Shopify reports it done. Raises ShopifyJobTimeout after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.execute(JOB_STATUS, {"id": job_id}).get("job")
        if job is None or job.get("done"):
            return
        if time.monotonic() >= deadline:
            raise ShopifyJobTimeout(f"job {job_id} not done after {timeout:.0f}s", shop_domain=client.shop_domain,
                                    operation_name="JobStatus")
        time.sleep(poll_interval)


def _membership_call(client: Any, document: str, *, collection_id: str, product_ids: list[str], root: str) -> dict:
    try:
        data = client.execute(document, {"id": collection_id, "productIds": product_ids})
    except ShopifyUserError as exc:
        gone = any(e.get("code") == "COLLECTION_DOES_NOT_EXIST" for e in exc.user_errors)
        if gone and not isinstance(exc, ShopifyNotFound):
            raise ShopifyNotFoundUserError(exc.message, user_errors=exc.user_errors, shop_domain=exc.shop_domain,
                                           operation_name=exc.operation_name) from exc
        raise
    job = (data.get(root) or {}).get("job")
    if job and not job.get("done"):
        job_wait(client, job_id=job["id"])
    return data


def collection_products_add(client: Any, *, collection_id: str, product_ids: list[str]) -> int:
    """Add products to a custom collection in batches of 250, waiting for each job; return the calls made.

    Raises ShopifyNotFoundUserError (COLLECTION_DOES_NOT_EXIST), ShopifyUserError
    (CANT_ADD_TO_SMART_COLLECTION), ShopifyJobTimeout and the errors of ``execute``.
    """
    calls = 0
    for batch in _batches(product_ids):
        _membership_call(client, COLLECTION_ADD_PRODUCTS, collection_id=collection_id, product_ids=batch,
                         root="collectionAddProductsV2")
        calls += 1
    return calls


def collection_products_remove(client: Any, *, collection_id: str, product_ids: list[str]) -> int:
    """Remove products from a custom collection in batches of 250, waiting for each job; return the calls made.

    Shopify doesn't check that the products are in the collection. Raises ShopifyNotFoundUserError (no such
    collection), ShopifyUserError, ShopifyJobTimeout and the errors of ``execute``.
    """
    calls = 0
    for batch in _batches(product_ids):
        _membership_call(client, COLLECTION_REMOVE_PRODUCTS, collection_id=collection_id, product_ids=batch,
                         root="collectionRemoveProducts")
        calls += 1
    return calls
