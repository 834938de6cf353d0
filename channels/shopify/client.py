"""Shopify GraphQL Admin API client used by the PIM's workers.

One ``ShopifyClient`` talks to one shop: ``POST {base_url}/admin/api/{version}/graphql.json`` with the
``X-Shopify-Access-Token`` header. All instances for a shop, in every process, share a cost budget in Redis
(``throttle.CostBudget``) so that together they stay inside the shop's rate-limit bucket. The client retries by
itself (bounded) a THROTTLED answer or HTTP 429, one token refresh after a 401 when using the client-credentials
grant, and a 5xx or network error on a request that is safe to repeat (``transport.REPEATABLE_MUTATIONS``; every
query). Everything else surfaces as a typed ``ShopifyError`` whose ``retryable`` flag tells the caller (an RQ job)
whether to retry later.

The class is composed of one mixin per area: ``transport`` (the request loop, budget and retries) with
``error_mapping``, ``shop_api``, ``products_api``, ``bulk_query_api``, ``inventory_api`` and
``webhook_subscriptions_api``. Import helpers (cost estimates, scopes, bulk line grouping) from their own module.
"""

from __future__ import annotations

from .bulk_query_api import BulkQueryApiMixin
from .inventory_api import InventoryApiMixin
from .products_api import ProductsApiMixin
from .shop_api import ShopApiMixin
from .webhook_subscriptions_api import WebhookSubscriptionsApiMixin

__all__ = ["ShopifyClient"]


class ShopifyClient(
    ShopApiMixin, ProductsApiMixin, BulkQueryApiMixin, InventoryApiMixin, WebhookSubscriptionsApiMixin
):
    """Client for one shop's GraphQL Admin API (see the module docstring)."""
