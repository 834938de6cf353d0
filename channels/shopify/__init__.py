"""Shopify GraphQL Admin API client for the PIM (see client.py for the entry point)."""

from .client import ShopifyClient
from .exceptions import (
    ShopifyAuthError,
    ShopifyBadRequest,
    ShopifyBudgetWait,
    ShopifyBulkLimitReached,
    ShopifyBulkOperationError,
    ShopifyError,
    ShopifyGraphQLError,
    ShopifyIdempotencyInFlight,
    ShopifyNetworkError,
    ShopifyNotFound,
    ShopifyNotFoundUserError,
    ShopifyScopeError,
    ShopifyServerError,
    ShopifyStaleQuantity,
    ShopifyThrottled,
    ShopifyUserError,
)
from .shop_api import REQUIRED_SCOPES, ConnectionReport
from .webhooks import verify_webhook_hmac

__all__ = [
    "REQUIRED_SCOPES",
    "ConnectionReport",
    "ShopifyAuthError",
    "ShopifyBadRequest",
    "ShopifyBulkLimitReached",
    "ShopifyBulkOperationError",
    "ShopifyClient",
    "ShopifyError",
    "ShopifyGraphQLError",
    "ShopifyIdempotencyInFlight",
    "ShopifyNetworkError",
    "ShopifyNotFound",
    "ShopifyNotFoundUserError",
    "ShopifyScopeError",
    "ShopifyServerError",
    "ShopifyStaleQuantity",
    "ShopifyBudgetWait",
    "ShopifyThrottled",
    "ShopifyUserError",
    "verify_webhook_hmac",
]
