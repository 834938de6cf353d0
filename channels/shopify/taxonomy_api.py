"""Shopify's standard product taxonomy through the GraphQL Admin API (2026-07) (issue 19).

https://shopify.dev/docs/api/admin-graphql/2026-07/objects/Taxonomy: ``taxonomy { categories(...) }`` with
``search``, ``childrenOf``, ``descendantsOf``; without a filter it lists the top-level categories. Documents are
validated against the 2026-07 schema by ``tests/shopify_client/test_taxonomy_api.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

TAXONOMY_CATEGORIES = """
query TaxonomyCategories($first: Int!, $after: String, $search: String, $descendantsOf: ID) {
  taxonomy {
    categories(first: $first, after: $after, search: $search, descendantsOf: $descendantsOf) {
      nodes { id name fullName level isLeaf isArchived parentId }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


def taxonomy_categories_iter(client: Any, *, search: str | None = None, descendants_of: str | None = None,
                             page_size: int = 250) -> Iterator[dict]:
    """Yield taxonomy categories: the top level (no filter), those matching ``search``, or all below one.

    Raises the errors of ``execute``.
    """
    after = None
    while True:
        data = client.execute(TAXONOMY_CATEGORIES, {"first": page_size, "after": after, "search": search,
                                                    "descendantsOf": descendants_of})
        conn = data["taxonomy"]["categories"]
        yield from conn["nodes"]
        if not conn["pageInfo"]["hasNextPage"]:
            return
        after = conn["pageInfo"]["endCursor"]


def taxonomy_categories_all(client: Any) -> Iterator[dict]:
    """Yield every category of the taxonomy: each top-level one, then everything below it (paged)."""
    for root in list(taxonomy_categories_iter(client)):
        yield root
        yield from taxonomy_categories_iter(client, descendants_of=root["id"])


PRODUCT_CATEGORIES = """
query ProductCategories($ids: [ID!]!) {
  nodes(ids: $ids) { ... on Product { id category { id name fullName level isLeaf } } }
}
"""


def product_categories(client: Any, *, product_ids: list[str]) -> dict[str, dict | None]:
    """Return ``{product gid: category or None}`` for up to 250 products (missing products are left out)."""
    data = client.execute(PRODUCT_CATEGORIES, {"ids": product_ids})
    return {node["id"]: node.get("category") for node in data["nodes"] if node and node.get("id")}
