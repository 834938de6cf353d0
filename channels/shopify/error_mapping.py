"""How the transport turns Shopify's failed answers into typed ``ShopifyError``s.

``ErrorMappingMixin`` holds the HTTP-status, top-level GraphQL error and ``userErrors`` mapping of
``ShopifyTransport`` (and the redaction of secrets from every message); the constants here are the codes
and statuses it recognises.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import requests

from .auth import redact
from .exceptions import (
    ACCESS_DENIED,
    STALE_QUANTITY_CODES,
    ShopifyBadRequest,
    ShopifyBulkLimitReached,
    ShopifyGraphQLError,
    ShopifyIdempotencyInFlight,
    ShopifyNetworkError,
    ShopifyNotFound,
    ShopifyNotFoundUserError,
    ShopifyQueryTooCostly,
    ShopifyScopeError,
    ShopifyServerError,
    ShopifyShopUnavailable,
    ShopifyStaleQuantity,
    ShopifyUserError,
)
from .throttle import CostInfo, Reservation

logger = logging.getLogger("channels.shopify")

MAX_COST_EXCEEDED = "MAX_COST_EXCEEDED"
# Shopify's single-query limit; every read is paged so that one page stays well below it.
MAX_QUERY_COST = 1000
# HTTP statuses that mean the shop (not the request) is unavailable: frozen (unpaid) and locked.
SHOP_UNAVAILABLE = {
    402: "the shop is frozen (HTTP 402 Payment Required: the merchant's bill is unpaid)",
    423: "the shop is locked (HTTP 423 Locked: Shopify locked the shop)",
}

_SCOPE_RE = re.compile(r"\b((?:unauthenticated_)?(?:read|write)_[a-z_]+)\b")
_NOT_FOUND_CODES = frozenset(
    {"NOT_FOUND", "PRODUCT_DOES_NOT_EXIST", "PRODUCT_NOT_FOUND", "RESOURCE_NOT_FOUND", "RECORD_NOT_FOUND"}
)
_NOT_FOUND_MESSAGE_RE = re.compile(r"(does not exist|doesn't exist|not found|could not be found)", re.I)
_BULK_LIMIT_CODES = frozenset({"LIMIT_REACHED", "OPERATION_IN_PROGRESS"})


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


class ErrorMappingMixin:
    """Error mapping of ``ShopifyTransport``: needs its ``auth``, ``budget``, ``shop_domain`` and
    ``default_retry_after``."""

    def _secrets(self) -> list[str | None]:
        return list(self.auth.secrets())

    def _clean(self, text: str) -> str:
        return redact(str(text), self._secrets())

    def _error_text(self, response: requests.Response, limit: int = 300) -> str:
        try:
            body = response.json()
        except ValueError:
            text = (response.text or "").strip()
            return self._clean(text[:limit]) if text else f"HTTP {response.status_code}"
        if isinstance(body, dict):
            errors = body.get("errors", body.get("error", body))
            if isinstance(errors, list):
                errors = "; ".join(
                    str(err.get("message", err)) if isinstance(err, dict) else str(err) for err in errors
                )
            return self._clean(str(errors)[:limit])
        return self._clean(str(body)[:limit])

    def _network_failure(
        self, exc: requests.RequestException, reservation: Reservation, label: str
    ) -> ShopifyNetworkError:
        connect_failed = isinstance(exc, requests.ConnectTimeout)
        self.budget.reconcile(reservation, None, charged=not connect_failed)
        kind = "timeout" if isinstance(exc, requests.Timeout) else "connection error"
        logger.warning("shopify %s shop=%s op=%s: %s", kind, self.shop_domain, label, type(exc).__name__)
        return ShopifyNetworkError(
            f"Shopify {kind}: {type(exc).__name__}: {self._clean(str(exc))[:300]}",
            maybe_applied=not connect_failed,
            shop_domain=self.shop_domain,
            operation_name=label,
        )

    def _raise_for_http_status(self, response: requests.Response, ctx: dict):
        status = response.status_code
        text = self._error_text(response)
        if status == 403:
            match = _SCOPE_RE.search(text)
            raise ShopifyScopeError(
                f"Shopify denied access (missing scope?): {text}",
                missing_scope=match.group(1) if match else None,
                **ctx,
            )
        if status == 404:
            raise ShopifyNotFound(f"Shopify answered 404 (unknown shop or API version?): {text}", **ctx)
        if status in SHOP_UNAVAILABLE:
            reason = SHOP_UNAVAILABLE[status]
            raise ShopifyShopUnavailable(
                f"Shopify store unavailable: {reason}. Publishing to this store waits until it answers again.",
                reason=reason, retry_after=_retry_after(response), **ctx,
            )
        if status >= 500:
            raise ShopifyServerError(
                f"Shopify server error {status}: {text}", retry_after=_retry_after(response), **ctx
            )
        if 300 <= status < 400:
            raise ShopifyBadRequest(
                f"unexpected redirect from Shopify to {response.headers.get('Location')!r}; check the shop domain",
                **ctx,
            )
        raise ShopifyBadRequest(f"Shopify refused the request ({status}): {text}", **ctx)

    @staticmethod
    def _normalise_errors(errors: Any) -> list[dict]:
        if not errors:
            return []
        if isinstance(errors, str):
            return [{"message": errors}]
        if isinstance(errors, dict):
            return [errors]
        return [err if isinstance(err, dict) else {"message": str(err)} for err in errors]

    def _throttle_wait(self, cost: CostInfo | None, estimate: float) -> float:
        if cost and cost.has_status:
            requested = cost.requested_query_cost or estimate
            return max(0.0, (requested - cost.currently_available) / cost.restore_rate)
        return max(self.default_retry_after, estimate / max(self.budget.restore_rate(), 1.0))

    def _raise_graphql_errors(self, errors: list[dict], ctx: dict):
        message = self._clean("; ".join(str(err.get("message", "")) for err in errors)[:500])
        denied = [err for err in errors if _code(err) == ACCESS_DENIED]
        if denied:
            ext = denied[0].get("extensions") or {}
            hint = f"{ext.get('requiredAccess') or ''} {denied[0].get('message') or ''}"
            match = _SCOPE_RE.search(hint)
            raise ShopifyScopeError(
                f"Shopify denied access: {message}", missing_scope=match.group(1) if match else None, **ctx
            )
        too_costly = [err for err in errors if _code(err) == MAX_COST_EXCEEDED]
        if too_costly:
            ext = too_costly[0].get("extensions") or {}
            cost, max_cost = ext.get("cost"), ext.get("maxCost") or MAX_QUERY_COST
            raise ShopifyQueryTooCostly(
                f"Shopify refused the query: it would cost {cost} points, more than Shopify's single-query limit "
                f"of {max_cost}. Retrying cannot help; the query must be paged (a bug in the PIM's client).",
                cost=cost, max_cost=max_cost, errors=errors, **ctx,
            )
        raise ShopifyGraphQLError(f"Shopify GraphQL error: {message}", errors=errors, **ctx)

    def _raise_user_errors(self, data: dict, ctx: dict):
        found: list[dict] = []
        for value in data.values():
            if isinstance(value, dict) and isinstance(value.get("userErrors"), list):
                found.extend(err for err in value["userErrors"] if isinstance(err, dict))
        if not found:
            return
        codes = {err.get("code") for err in found}
        if codes & STALE_QUANTITY_CODES:
            cls = ShopifyStaleQuantity
        elif "IDEMPOTENCY_CONCURRENT_REQUEST" in codes:
            cls = ShopifyIdempotencyInFlight
        elif codes & _BULK_LIMIT_CODES:
            cls = ShopifyBulkLimitReached
        elif all(_is_not_found(err) for err in found):
            cls = ShopifyNotFoundUserError
        else:
            cls = ShopifyUserError
        summary = "; ".join(
            f"{'.'.join(map(str, err.get('field') or [])) or '-'}: {err.get('message')}"
            + (f" [{err['code']}]" if err.get("code") else "")
            for err in found
        )
        raise cls(
            f"Shopify rejected the mutation: {self._clean(summary)[:1000]}",
            user_errors=found,
            data=data,
            **ctx,
        )


def _code(error: dict) -> str | None:
    ext = error.get("extensions")
    return ext.get("code") if isinstance(ext, dict) else None


def _is_not_found(error: dict) -> bool:
    code = error.get("code")
    if code:
        return code in _NOT_FOUND_CODES
    field_path = error.get("field") or []
    return bool(_NOT_FOUND_MESSAGE_RE.search(str(error.get("message") or ""))) and (
        not field_path or str(field_path[-1]) in ("id", "productId")
    )
