"""Typed errors raised by the Shopify client.

Every class carries a ``retryable`` flag: ``True`` means the same call may succeed later unchanged (the
caller should re-enqueue with backoff), ``False`` means retrying the same call is pointless (fix
credentials, scopes or input first). Messages never contain the access token or client secret: the client
redacts them before building an exception.
"""

from __future__ import annotations

from typing import Any

THROTTLED = "THROTTLED"
ACCESS_DENIED = "ACCESS_DENIED"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
RETRYABLE_GRAPHQL_CODES = frozenset({THROTTLED, INTERNAL_SERVER_ERROR})
STALE_QUANTITY_CODES = frozenset({"CHANGE_FROM_QUANTITY_STALE", "COMPARE_QUANTITY_STALE"})


class ShopifyError(Exception):
    """Base class of every error the Shopify client raises."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        shop_domain: str | None = None,
        operation_name: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.shop_domain = shop_domain
        self.operation_name = operation_name
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        context = []
        if self.shop_domain:
            context.append(f"shop={self.shop_domain}")
        if self.operation_name:
            context.append(f"operation={self.operation_name}")
        if self.status is not None:
            context.append(f"status={self.status}")
        if self.request_id:
            context.append(f"request_id={self.request_id}")
        if context:
            parts.append(f"({', '.join(context)})")
        return " ".join(parts)


class ShopifyAuthError(ShopifyError):
    """HTTP 401 or a refused token grant: the token is wrong/expired or the app was uninstalled."""

    retryable = False


class ShopifyScopeError(ShopifyError):
    """HTTP 403 or GraphQL ``ACCESS_DENIED``: the app lacks an access scope (``missing_scope`` if known)."""

    retryable = False

    def __init__(self, message: str, *, missing_scope: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.missing_scope = missing_scope


class ShopifyNotFound(ShopifyError):
    """HTTP 404 (unknown shop or API path), or a mutation that names an object which doesn't exist."""

    retryable = False


class ShopifyThrottled(ShopifyError):
    """The store's cost bucket stayed empty after the client's bounded waits; retry after ``retry_after`` s."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ShopifyBudgetWait(ShopifyThrottled):
    """The shop's shared cost budget would make this call wait longer than its caller allows; nothing was sent.

    ``retry_after`` is the wait the budget implied (when the points should be there again).
    """


class ShopifyServerError(ShopifyError):
    """HTTP 5xx (or an unreadable answer) from Shopify; ``retry_after`` is set if Shopify sent one."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ShopifyNetworkError(ShopifyError):
    """Connection failure or timeout before a complete answer arrived.

    ``maybe_applied`` is True for read timeouts: the request reached Shopify and may have been executed, so
    mutations must be retried idempotently (inventory calls carry an idempotency key for this reason).
    """

    retryable = True

    def __init__(self, message: str, *, maybe_applied: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.maybe_applied = maybe_applied


class ShopifyBadRequest(ShopifyError):
    """Any other HTTP 4xx (400, 413, 422, ...)."""

    retryable = False


class ShopifyShopUnavailable(ShopifyServerError):
    """HTTP 402 (the shop is frozen: unpaid bill) or 423 (the shop is locked) — the shop, not the request.

    Retryable like an outage (a :class:`ShopifyServerError`, so the store's circuit opens and its jobs
    wait); ``reason`` is a sentence for the store's status.
    """

    retryable = True

    def __init__(self, message: str, *, reason: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason


class ShopifyGraphQLError(ShopifyError):
    """Top-level GraphQL ``errors`` (invalid document, max cost exceeded, internal error, ...).

    ``errors`` keeps Shopify's list; ``codes`` the ``extensions.code`` values. Retryable only if a code is
    ``THROTTLED`` or ``INTERNAL_SERVER_ERROR``.
    """

    retryable = False

    def __init__(self, message: str, *, errors: list[dict] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.errors = list(errors or [])
        self.codes = [
            (err.get("extensions") or {}).get("code") for err in self.errors if isinstance(err, dict)
        ]
        self.retryable = any(code in RETRYABLE_GRAPHQL_CODES for code in self.codes)


class ShopifyQueryTooCostly(ShopifyGraphQLError):
    """``MAX_COST_EXCEEDED``: one query asked for more than Shopify's single-query limit (1,000 points).

    Terminal: the same query will never pass; it must be split (paged) or the product made smaller.
    """

    def __init__(self, message: str, *, cost: float | None = None, max_cost: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retryable = False
        self.cost = cost
        self.max_cost = max_cost


class ShopifyUserError(ShopifyError):
    """A mutation answered with non-empty ``userErrors``.

    ``user_errors`` is a list of ``{"field": [path...] | None, "message": str, "code": str | None}``;
    ``data`` is the full ``data`` of the answer (e.g. to see a partially returned object).
    """

    retryable = False

    def __init__(
        self, message: str, *, user_errors: list[dict] | None = None, data: dict | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.user_errors = [
            {"field": err.get("field"), "message": err.get("message"), "code": err.get("code")}
            for err in (user_errors or [])
        ]
        self.data = data

    @property
    def codes(self) -> list[str | None]:
        return [err["code"] for err in self.user_errors]


class ShopifyStaleQuantity(ShopifyUserError):
    """Inventory compare-and-set failed (``CHANGE_FROM_QUANTITY_STALE``): re-read the level and retry."""

    retryable = False


class ShopifyIdempotencyInFlight(ShopifyUserError):
    """``IDEMPOTENCY_CONCURRENT_REQUEST``: the same idempotency key is still being processed; retry later."""

    retryable = True


class ShopifyNotFoundUserError(ShopifyUserError, ShopifyNotFound):
    """A mutation's ``userErrors`` say the target object doesn't exist (also a :class:`ShopifyNotFound`)."""

    retryable = False


class ShopifyBulkLimitReached(ShopifyUserError):
    """``bulkOperationRunQuery`` refused because the shop's bulk-operation concurrency limit is reached."""

    retryable = True


class ShopifyBulkOperationError(ShopifyError):
    """A bulk operation ended FAILED/CANCELED/EXPIRED, or didn't finish within the wait time.

    ``bulk_status``, ``error_code`` (ACCESS_DENIED | INTERNAL_SERVER_ERROR | TIMEOUT | None) and
    ``operation_id`` describe it; retryable unless the error code is ACCESS_DENIED.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        operation_id: str | None = None,
        bulk_status: str | None = None,
        error_code: str | None = None,
        retryable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.operation_id = operation_id
        self.bulk_status = bulk_status
        self.error_code = error_code
        self.retryable = retryable


__all__ = [
    "ShopifyAuthError",
    "ShopifyBadRequest",
    "ShopifyBulkLimitReached",
    "ShopifyBulkOperationError",
    "ShopifyError",
    "ShopifyGraphQLError",
    "ShopifyIdempotencyInFlight",
    "ShopifyNetworkError",
    "ShopifyNotFound",
    "ShopifyNotFoundUserError",
    "ShopifyScopeError",
    "ShopifyQueryTooCostly",
    "ShopifyServerError",
    "ShopifyShopUnavailable",
    "ShopifyStaleQuantity",
    "ShopifyThrottled",
    "ShopifyUserError",
]
