"""Every GraphQL document the PIM sends to Shopify's Admin API (version 2026-07).

Rules: each public UPPER_CASE string constant is one complete document with exactly one *named* operation
(except the inner bulk queries listed in ``BULK_INNER_QUERIES``, which are sent as a string argument of
``bulkOperationRunQuery`` and stay anonymous like Shopify's examples). Values travel only in variables;
documents are built by concatenating private fragment constants, never by formatting values in.
``tests/shopify_client/test_queries.py`` validates every public constant against Shopify's 2026-07 schema.

The documents live in one module per area (``shop``, ``products``, ``bulk``, ``inventory``, ``webhooks``,
``orders``; shared fragments in ``fragments``) and are re-exported here, so callers use ``queries.NAME``.
A new document must be imported below, or ``all_documents()`` (and so its validation) misses it.
"""

from __future__ import annotations

from .bulk import (
    BULK_INNER_QUERIES,
    BULK_OPERATION_CANCEL,
    BULK_OPERATION_STATUS,
    BULK_PRODUCTS_QUERY,
    BULK_RUN_QUERY,
)
from .inventory import (
    INVENTORY_ACTIVATE,
    INVENTORY_ADJUST_QUANTITIES,
    INVENTORY_LEVELS,
    INVENTORY_SET_QUANTITIES,
    LOCATIONS,
)
from .orders import (
    FULFILLMENT_ORDER_FOR_STOCK,
    ORDER_FOR_STOCK,
    ORDER_LOCATIONS,
    ORDER_REPLAY_LINES,
    ORDER_REPLAY_STOCK,
    ORDERS_REPLAY_BULK,
    ORDERS_UPDATED_SINCE,
)
from .products import (
    MEDIA_STATUS,
    METAFIELDS_SET,
    PRODUCT_BY_HANDLE,
    PRODUCT_BY_ID,
    PRODUCT_DELETE,
    PRODUCT_DRIFT,
    PRODUCT_IDS_BY_HANDLE,
    PRODUCT_MEDIA_PAGE,
    PRODUCT_METAFIELDS_PAGE,
    PRODUCT_SET,
    PRODUCT_UPDATE_STATUS,
    PRODUCT_VARIANT_IDS_PAGE,
    PRODUCT_VARIANTS_PAGE,
    PRODUCTS_PAGE,
)
from .shop import (
    PUBLICATIONS,
    PUBLISHABLE_PUBLISH,
    PUBLISHABLE_UNPUBLISH,
    SHOP_INFO,
)
from .webhooks import (
    WEBHOOK_SUBSCRIPTION_CREATE,
    WEBHOOK_SUBSCRIPTION_DELETE,
    WEBHOOK_SUBSCRIPTIONS,
)

__all__ = [
    "BULK_INNER_QUERIES",
    "BULK_OPERATION_CANCEL",
    "BULK_OPERATION_STATUS",
    "BULK_PRODUCTS_QUERY",
    "BULK_RUN_QUERY",
    "FULFILLMENT_ORDER_FOR_STOCK",
    "INVENTORY_ACTIVATE",
    "INVENTORY_ADJUST_QUANTITIES",
    "INVENTORY_LEVELS",
    "INVENTORY_SET_QUANTITIES",
    "LOCATIONS",
    "MEDIA_STATUS",
    "METAFIELDS_SET",
    "ORDERS_REPLAY_BULK",
    "ORDERS_UPDATED_SINCE",
    "ORDER_FOR_STOCK",
    "ORDER_LOCATIONS",
    "ORDER_REPLAY_LINES",
    "ORDER_REPLAY_STOCK",
    "PRODUCTS_PAGE",
    "PRODUCT_BY_HANDLE",
    "PRODUCT_BY_ID",
    "PRODUCT_DELETE",
    "PRODUCT_DRIFT",
    "PRODUCT_IDS_BY_HANDLE",
    "PRODUCT_MEDIA_PAGE",
    "PRODUCT_METAFIELDS_PAGE",
    "PRODUCT_SET",
    "PRODUCT_UPDATE_STATUS",
    "PRODUCT_VARIANTS_PAGE",
    "PRODUCT_VARIANT_IDS_PAGE",
    "PUBLICATIONS",
    "PUBLISHABLE_PUBLISH",
    "PUBLISHABLE_UNPUBLISH",
    "SHOP_INFO",
    "WEBHOOK_SUBSCRIPTIONS",
    "WEBHOOK_SUBSCRIPTION_CREATE",
    "WEBHOOK_SUBSCRIPTION_DELETE",
    "all_documents",
]


def all_documents() -> dict[str, str]:
    """Return every public document constant of this module by name (used by tests and tooling)."""
    return {
        name: value
        for name, value in globals().items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    }
