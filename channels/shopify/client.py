"""Shopify GraphQL Admin API client used by the PIM's workers.

One ``ShopifyClient`` talks to one shop: ``POST {base_url}/admin/api/{version}/graphql.json`` with the
``X-Shopify-Access-Token`` header. All instances for a shop, in every process, share a cost budget in Redis
(``throttle.CostBudget``) so that together they stay inside the shop's rate-limit bucket. The client retries by
itself (bounded) a THROTTLED answer or HTTP 429, one token refresh after a 401 when using the client-credentials
grant, and a 5xx or network error on a request that is safe to repeat (``REPEATABLE_MUTATIONS``; every query).
Everything else surfaces as a typed ``ShopifyError`` whose ``retryable`` flag tells the caller (an RQ job)
whether to retry later.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import requests
from graphql import OperationDefinitionNode, OperationType, parse

from . import queries
from .auth import ClientCredentialsTokenProvider, StaticTokenProvider, redact
from .exceptions import (
    ACCESS_DENIED,
    STALE_QUANTITY_CODES,
    THROTTLED,
    ShopifyAuthError,
    ShopifyBadRequest,
    ShopifyBulkLimitReached,
    ShopifyBulkOperationError,
    ShopifyError,
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
    ShopifyThrottled,
    ShopifyUserError,
)
from .ids import gid_resource
from .netguard import network_call_check
from .throttle import CostBudget, CostInfo, Reservation

logger = logging.getLogger("channels.shopify")

REQUIRED_SCOPES: tuple[str, ...] = (
    "read_products",
    "write_products",
    "read_inventory",
    "write_inventory",
    "read_locations",
    "read_orders",
    "read_publications",
    "write_publications",
    "read_merchant_managed_fulfillment_orders",  # where online orders' stock was committed (inventory writeback)
)

MAX_COST_EXCEEDED = "MAX_COST_EXCEEDED"
# Shopify's single-query limit; every read is paged so that one page stays well below it.
MAX_QUERY_COST = 1000
# Page sizes of the drift read (about 5 points per variant, 2 per media, 1 per metafield: ~800 points).
DRIFT_VARIANTS_PAGE = 100
DRIFT_MEDIA_PAGE = 100
DRIFT_METAFIELDS_PAGE = 100
# HTTP statuses that mean the shop (not the request) is unavailable: frozen (unpaid) and locked.
SHOP_UNAVAILABLE = {
    402: "the shop is frozen (HTTP 402 Payment Required: the merchant's bill is unpaid)",
    423: "the shop is locked (HTTP 423 Locked: Shopify locked the shop)",
}

PRODUCT_STATUSES = frozenset({"ACTIVE", "DRAFT", "ARCHIVED", "UNLISTED"})
DEFAULT_INVENTORY_NAMES: tuple[str, ...] = ("available", "on_hand", "committed")

_SCOPE_RE = re.compile(r"\b((?:unauthenticated_)?(?:read|write)_[a-z_]+)\b")
_NOT_FOUND_CODES = frozenset(
    {"NOT_FOUND", "PRODUCT_DOES_NOT_EXIST", "PRODUCT_NOT_FOUND", "RESOURCE_NOT_FOUND", "RECORD_NOT_FOUND"}
)
_NOT_FOUND_MESSAGE_RE = re.compile(r"(does not exist|doesn't exist|not found|could not be found)", re.I)
_BULK_LIMIT_CODES = frozenset({"LIMIT_REACHED", "OPERATION_IN_PROGRESS"})

# Mutations the client may send again after a 5xx or a network error inside one call ("retry only what can heal").
# A 502/504 or a read timeout can come after Shopify applied the mutation, so only mutations whose second run
# leaves the shop as one run would are listed; queries are always safe. Not listed, so left to the job's next
# attempt: productSet without an identifier (a create: a second one makes a duplicate product with the handle
# "x-1"; the next attempt looks the handle up and adopts), webhookSubscriptionCreate (a second is refused as
# taken), productDelete (a second answers "not found"), bulkOperationRunQuery and bulk mutations (a second starts
# a second operation or is refused as in progress), collection and staged-upload mutations.
REPEATABLE_MUTATIONS: dict[str, str] = {
    "ProductSet": "only with an identifier (id or handle): an upsert of the whole given state, list fields "
                  "replace Shopify's, so a second run writes the same product",
    "MetafieldsSet": "sets absolute values by owner, namespace and key",
    "ProductUpdateStatus": "sets an absolute status by id",
    "PublishablePublish": "publishing where the product already is changes nothing",
    "PublishableUnpublish": "unpublishing where it is not changes nothing",
    "InventorySetQuantities": "@idempotent key: Shopify applies a key once and answers a replay with the first "
                              "result (IDEMPOTENCY_CONCURRENT_REQUEST while the first is still running)",
    "InventoryAdjustQuantities": "@idempotent key, as InventorySetQuantities",
    "InventoryActivate": "@idempotent key, as InventorySetQuantities",
}


def _repeatable(op_name: str | None, is_mutation: bool, variables: dict | None) -> bool:
    """Whether the request may be sent again after an answer that does not say whether it was applied."""
    if not is_mutation:
        return True
    if op_name == "ProductSet":
        return bool((variables or {}).get("identifier"))
    return op_name in REPEATABLE_MUTATIONS


# Requested costs of our heavier documents (Shopify's formula: connection = 2 + first x node cost) used as
# the first estimate before Shopify has told us the real requestedQueryCost of an operation.
INITIAL_COST_ESTIMATES: dict[str, float] = {
    "ProductById": 660,
    "ProductByHandle": 660,
    "ProductVariantsPage": 753,
    "ProductVariantIdsPage": 753,
    "ProductMetafieldsPage": 203,
    "ProductMediaPage": 203,
    "ProductsPage": 102,
    "InventoryLevels": 200,
    "Locations": 102,
    "WebhookSubscriptions": 202,
}

# Where children of a bulk-export parent are grouped, by the GID resource type of the child line.
BULK_CHILD_KEYS: dict[str, str] = {
    "ProductVariant": "variants",
    "Metafield": "metafields",
    "MediaImage": "media",
    "Video": "media",
    "ExternalVideo": "media",
    "Model3d": "media",
    "Collection": "collections",
    "InventoryLevel": "inventoryLevels",
    "Product": "products",
    "Location": "locations",
}


def _setting(name: str, default: Any) -> Any:
    try:
        from django.conf import settings

        if settings.configured:
            return getattr(settings, name, default)
    except Exception:  # Django absent or misconfigured: fall back to defaults
        pass
    return default


_redis_clients: dict[str, Any] = {}
_redis_lock = threading.Lock()


def _default_redis():
    url = _setting("REDIS_URL", "redis://127.0.0.1:6379/0")
    with _redis_lock:
        client = _redis_clients.get(url)
        if client is None:
            import redis as redis_lib

            client = _redis_clients[url] = redis_lib.Redis.from_url(url)
        return client


@lru_cache(maxsize=512)
def _operation_info(query: str, operation_name: str | None) -> tuple[str | None, bool]:
    """Return (operation name, is_mutation) of the operation a request will run."""
    document = parse(query, no_location=True)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        operations = [op for op in operations if op.name and op.name.value == operation_name]
    if len(operations) != 1:
        raise ValueError("the document must contain exactly one operation (or name one with operation_name)")
    op = operations[0]
    return (op.name.value if op.name else None), op.operation == OperationType.MUTATION


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def estimate_product_set_cost(product_input: dict) -> float:
    """Return productSet's input-dependent cost (Shopify's 2025-10+ formula, API-NOTES §2, minus the base).

    0.2 per variant, 0.6 per variant file, 0.4 per variant metafield, 0.4 per product metafield and 1.9 per
    product file; the fixed part and the selection's cost are learned from Shopify's answers.
    """
    variants = product_input.get("variants") or []
    cost = 0.2 * len(variants)
    for variant in variants:
        if isinstance(variant, dict):
            cost += 0.6 * (1 if variant.get("file") else 0)
            cost += 0.4 * len(variant.get("metafields") or [])
    cost += 0.4 * len(product_input.get("metafields") or [])
    cost += 1.9 * len(product_input.get("files") or [])
    return cost


@dataclass(frozen=True)
class ConnectionReport:
    """What ``test_connection`` learned about the shop and the app's access."""

    shop_name: str
    myshopify_domain: str
    plan: str
    granted_scopes: list[str]
    missing_scopes: list[str]
    shopify_plus: bool = False
    partner_development: bool = False
    currency_code: str | None = None
    api_version: str = ""
    cost: CostInfo | None = field(default=None, compare=False)
    #: The shop's sales channels (publication catalog titles); empty if read_publications is missing.
    publications: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing_scopes


def missing_scopes(granted: Iterable[str], required: Iterable[str] = REQUIRED_SCOPES) -> list[str]:
    """Return the required scopes not covered by ``granted`` (a ``write_x`` scope covers ``read_x``)."""
    granted_set = set(granted)
    result = []
    for scope in required:
        if scope in granted_set:
            continue
        if scope.startswith("read_") and "write_" + scope[len("read_") :] in granted_set:
            continue
        result.append(scope)
    return result


def default_child_key(child: dict) -> str:
    """Return the key under which a bulk-result child line is grouped in its parent."""
    gid = child.get("id")
    if isinstance(gid, str):
        try:
            resource = gid_resource(gid)
        except ValueError:
            return "children"
        if resource in BULK_CHILD_KEYS:
            return BULK_CHILD_KEYS[resource]
        return resource[:1].lower() + resource[1:] + "s"
    return "children"


def group_bulk_lines(
    lines: Iterable[bytes | str], *, child_key: Callable[[dict], str] = default_child_key
) -> Iterator[dict]:
    """Yield each root object of a bulk-operation JSONL stream with its children grouped under it.

    Lines carrying ``__parentId`` are appended (without that key) to a list in their parent, keyed by
    ``child_key(child)``; grandchildren go into their child's dict. Relies on grouped output
    (``groupObjects: true``): a child arrives after its parent and before the next root object, so only
    one root group is ever held in memory. Raises ShopifyBulkOperationError if a child's parent isn't in
    the current group.
    """
    root: dict | None = None
    index: dict[str, dict] = {}
    for raw in lines:
        if not raw:
            continue
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        raw = raw.strip()
        if not raw:
            continue
        obj = json.loads(raw)
        parent_id = obj.pop("__parentId", None)
        if parent_id is None:
            if root is not None:
                yield root
            root = obj
            index = {obj["id"]: obj} if isinstance(obj.get("id"), str) else {}
            continue
        parent = index.get(parent_id)
        if parent is None:
            raise ShopifyBulkOperationError(
                f"bulk result is not grouped: parent {parent_id} of a child line is not the current object",
                retryable=False,
            )
        parent.setdefault(child_key(obj), []).append(obj)
        if isinstance(obj.get("id"), str):
            index[obj["id"]] = obj
    if root is not None:
        yield root


class ShopifyClient:
    """Client for one shop's GraphQL Admin API (see the module docstring)."""

    #: THROTTLED / HTTP 429 answers retried per call before ShopifyThrottled is raised.
    max_throttle_retries: int = 5
    #: Longest the shared budget may make one call wait before raising ShopifyThrottled.
    max_budget_wait: float = 60.0
    #: Wait after an HTTP 429 without Retry-After.
    default_retry_after: float = 2.0
    #: 5xx / network errors retried inside one call on a request safe to repeat, and the backoff before each try
    #: (seconds, 50-100 % jitter). With 10 % random 5xx a request then fails 1 time in 10,000 instead of 1 in 10.
    max_server_error_retries: int = 3
    server_error_backoff: tuple[float, ...] = (0.5, 1.0, 2.0)
    #: A Retry-After longer than this is an outage: the call raises at once and the circuit breaker and the job's
    #: retry schedule wait, not a worker (other stores' jobs would queue behind it).
    max_server_error_wait: float = 2.0

    def __init__(
        self,
        *,
        shop_domain: str,
        access_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        base_url: str | None = None,
        api_version: str | None = None,
        redis=None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> None:
        shop_domain = (shop_domain or "").strip().lower()
        if not shop_domain or "/" in shop_domain:
            raise ValueError("shop_domain must be a bare domain such as example.myshopify.com")
        self.shop_domain = shop_domain
        template = _setting("SHOPIFY_URL_TEMPLATE", "https://{shop}")
        self.base_url = (base_url or template.format(shop=shop_domain)).rstrip("/")
        self.api_version = api_version or _setting("SHOPIFY_API_VERSION", "2026-07")
        self.endpoint = f"{self.base_url}/admin/api/{self.api_version}/graphql.json"
        self.timeout = timeout or (
            float(_setting("SHOPIFY_CONNECT_TIMEOUT", 5.0)),
            float(_setting("SHOPIFY_READ_TIMEOUT", 30.0)),
        )
        self.session = session or requests.Session()
        self._owns_session = session is None
        self.redis = redis if redis is not None else _default_redis()
        if access_token:
            self.auth = StaticTokenProvider(access_token)
        elif client_id and client_secret:
            self.auth = ClientCredentialsTokenProvider(
                shop_domain=shop_domain,
                base_url=self.base_url,
                client_id=client_id,
                client_secret=client_secret,
                redis=self.redis,
                session=self.session,
                timeout=self.timeout,
            )
        else:
            raise ValueError("give either access_token, or client_id and client_secret")
        # A reservation stops counting once its request can no longer be in flight.
        self.budget = CostBudget(
            self.redis,
            shop_domain,
            max_wait=self.max_budget_wait,
            inflight_ttl=sum(self.timeout) + 10,
            initial_estimates=INITIAL_COST_ESTIMATES,
        )
        self.sleep: Callable[[float], None] = time.sleep
        self.last_cost: CostInfo | None = None
        self.last_request_id: str | None = None

    def __repr__(self) -> str:
        return f"ShopifyClient(shop_domain={self.shop_domain!r}, api_version={self.api_version!r})"

    def close(self) -> None:
        """Close the HTTP session if the client created it."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> ShopifyClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- core ---------------------------------------------------------------------------------------------
    def execute(
        self, query: str, variables: dict | None = None, *, operation_name: str | None = None
    ) -> dict:
        """Run one GraphQL document and return its ``data``.

        Reserve the estimated cost in the shop's shared budget first (sleeping if needed), retry THROTTLED
        answers and HTTP 429 a bounded number of times, refresh a client-credentials token once after a
        401, retry a 5xx or network error up to ``max_server_error_retries`` times with backoff (Retry-After
        when given and short) if the request is safe to repeat (``_repeatable``); afterwards ``last_cost`` holds the answer's cost info. Raises ShopifyAuthError (401),
        ShopifyScopeError (403 / ACCESS_DENIED), ShopifyNotFound (404), ShopifyThrottled (still throttled),
        ShopifyServerError (5xx, unreadable answer), ShopifyNetworkError (connection/timeout),
        ShopifyBadRequest (other 4xx), ShopifyGraphQLError (other top-level errors) and ShopifyUserError or
        a subclass (non-empty ``userErrors`` in a mutation payload).
        """
        return self._execute(query, variables, operation_name=operation_name)

    def _execute(
        self,
        query: str,
        variables: dict | None,
        *,
        operation_name: str | None = None,
        cost_base: float = 0.0,
    ) -> dict:
        op_name, is_mutation = _operation_info(query, operation_name)
        label = op_name or "anonymous"
        body = {"query": query, "variables": variables or {}, "operationName": op_name}
        throttle_attempts = 0
        server_retries = 0
        auth_retried = False
        repeatable = _repeatable(op_name, is_mutation, variables)
        while True:
            network_call_check(what=f"Shopify call {label} to {self.shop_domain}")  # before reserving budget
            token = self.auth.get_token()  # before reserving, so a token failure leaks no reservation
            reservation = self.budget.acquire(
                lambda: self.budget.estimate(op_name, is_mutation=is_mutation, base=cost_base)
            )
            estimate = reservation.cost
            started = time.monotonic()
            try:
                response = self.session.post(
                    self.endpoint,
                    json=body,
                    headers={
                        "X-Shopify-Access-Token": token,
                        "Content-Type": "application/json",
                        "Accept": "application/json",
                    },
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                failure = self._network_failure(exc, reservation, label)
                # A connect timeout never reached Shopify: repeating it is safe for any request.
                if (repeatable or not failure.maybe_applied) and server_retries < self.max_server_error_retries:
                    server_retries += 1
                    self.sleep(self._server_error_wait(server_retries, None))
                    continue
                raise failure from None
            elapsed_ms = (time.monotonic() - started) * 1000
            status = response.status_code
            self.last_request_id = response.headers.get("X-Request-Id")
            ctx = {
                "shop_domain": self.shop_domain,
                "operation_name": label,
                "status": status,
                "request_id": self.last_request_id,
            }

            if status == 401:
                self.budget.reconcile(reservation, None, charged=False)
                if self.auth.refreshable and not auth_retried:
                    auth_retried = True
                    logger.info(
                        "shopify 401 shop=%s op=%s: refreshing the token once", self.shop_domain, label
                    )
                    self.auth.invalidate(token)
                    continue
                raise ShopifyAuthError(
                    "Shopify rejected the access token (wrong token, expired, or app uninstalled): "
                    + self._error_text(response),
                    **ctx,
                )
            if status == 429:
                self.budget.reconcile(reservation, None, charged=False)
                wait = _retry_after(response)
                wait = self.default_retry_after if wait is None else wait
                throttle_attempts += 1
                logger.info(
                    "shopify 429 shop=%s op=%s retry_after=%.2fs attempt=%d",
                    self.shop_domain,
                    label,
                    wait,
                    throttle_attempts,
                )
                if throttle_attempts > self.max_throttle_retries:
                    raise ShopifyThrottled(
                        "Shopify answered HTTP 429 Too Many Requests", retry_after=wait, **ctx
                    )
                self.budget.block_for(wait)
                continue
            if status != 200:
                self.budget.reconcile(reservation, None, charged=status >= 500)
                if status >= 500 and repeatable and server_retries < self.max_server_error_retries:
                    retry_after = _retry_after(response)
                    if retry_after is None or retry_after <= self.max_server_error_wait:
                        server_retries += 1
                        wait = self._server_error_wait(server_retries, retry_after)
                        logger.info("shopify %s shop=%s op=%s: retrying in %.2fs (try %d of %d)", status,
                                    self.shop_domain, label, wait, server_retries, self.max_server_error_retries)
                        self.sleep(wait)
                        continue
                self._raise_for_http_status(response, ctx)

            try:
                payload = response.json()
                if not isinstance(payload, dict):
                    raise ValueError("not an object")
            except ValueError:
                self.budget.reconcile(reservation, None, charged=True)
                raise ShopifyServerError("Shopify returned an unreadable (non-JSON) answer", **ctx) from None

            if response.headers.get("X-Shopify-API-Deprecated-Reason"):
                # Shopify's signal that this document uses something deprecated: fix before it is removed.
                logger.warning(
                    "shopify op=%s shop=%s uses deprecated API fields (%s) request_id=%s",
                    label, self.shop_domain, response.headers["X-Shopify-API-Deprecated-Reason"],
                    self.last_request_id,
                )
            cost = CostInfo.from_extensions(payload.get("extensions"))
            self.last_cost = cost
            if cost is not None:
                self.budget.remember_cost(op_name, cost.requested_query_cost, base=cost_base)
            self.budget.reconcile(reservation, cost, charged=True)
            errors = self._normalise_errors(payload.get("errors"))
            if errors and any(_code(err) == THROTTLED for err in errors):
                throttle_attempts += 1
                wait = self._throttle_wait(cost, estimate)
                logger.info(
                    "shopify THROTTLED shop=%s op=%s requested=%s available=%s wait~%.2fs attempt=%d",
                    self.shop_domain,
                    label,
                    cost.requested_query_cost if cost else None,
                    cost.currently_available if cost else None,
                    wait,
                    throttle_attempts,
                )
                if throttle_attempts > self.max_throttle_retries:
                    raise ShopifyThrottled(
                        "Shopify throttled the request (THROTTLED)", retry_after=wait, **ctx
                    )
                if cost is None or not cost.has_status:
                    self.budget.block_for(wait)
                continue

            log = logger.info if is_mutation else logger.debug
            log(
                "shopify op=%s shop=%s status=%s %.0fms cost requested=%s actual=%s available=%s/%s",
                label,
                self.shop_domain,
                status,
                elapsed_ms,
                cost.requested_query_cost if cost else None,
                cost.actual_query_cost if cost else None,
                cost.currently_available if cost else None,
                cost.maximum_available if cost else None,
            )
            if errors:
                self._raise_graphql_errors(errors, ctx)
            data = payload.get("data")
            if not isinstance(data, dict):
                raise ShopifyServerError("Shopify answered without data", **ctx)
            if is_mutation:
                self._raise_user_errors(data, ctx)
            return data

    # --- error mapping -----------------------------------------------------------------------------------
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

    def _server_error_wait(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        step = self.server_error_backoff[min(retry, len(self.server_error_backoff)) - 1]
        return step * (0.5 + random.random() / 2)

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

    # --- shop ---------------------------------------------------------------------------------------------
    def test_connection(self) -> ConnectionReport:
        """Fetch the shop's name, domain, plan and granted scopes and compare them with REQUIRED_SCOPES.

        Raises ShopifyAuthError for a bad token, ShopifyNotFound for an unknown shop, and the other errors
        of ``execute``.
        """
        data = self.execute(queries.SHOP_INFO)
        shop = data.get("shop") or {}
        plan = shop.get("plan") or {}
        installation = data.get("currentAppInstallation") or {}
        granted = sorted(
            {scope.get("handle") for scope in installation.get("accessScopes") or [] if scope.get("handle")}
        )
        cost = self.last_cost
        channels: list[str] = []
        if not missing_scopes(granted, ("read_publications",)):
            channels = [p["title"] for p in self.publications()]
        return ConnectionReport(
            shop_name=shop.get("name") or "",
            myshopify_domain=shop.get("myshopifyDomain") or "",
            plan=plan.get("publicDisplayName") or "",
            granted_scopes=granted,
            missing_scopes=missing_scopes(granted),
            shopify_plus=bool(plan.get("shopifyPlus")),
            partner_development=bool(plan.get("partnerDevelopment")),
            currency_code=shop.get("currencyCode"),
            api_version=self.api_version,
            cost=cost,
            publications=channels,
        )

    # --- sales channels ---------------------------------------------------------------------------------------
    def publications(self) -> list[dict]:
        """Return the shop's publications (sales channels) as ``{id, title, autoPublish}``; ``title`` is the
        catalog title Shopify shows (e.g. "Online Store"). Raises ShopifyScopeError without
        read_publications, and the errors of ``execute``."""
        result: list[dict] = []
        after = None
        while True:
            data = self.execute(queries.PUBLICATIONS, {"first": 50, "after": after})
            connection = data.get("publications") or {}
            for node in connection.get("nodes") or []:
                title = ((node.get("catalog") or {}).get("title")) or ""
                result.append({"id": node["id"], "title": title, "autoPublish": node.get("autoPublish")})
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return result
            after = page.get("endCursor")

    def publishable_publish(self, *, resource_id: str, publication_ids: Iterable[str]) -> None:
        """Put a product (or collection) on the given publications. Publishing where it already is changes
        nothing. Raises ShopifyUserError (e.g. an unknown publication), ShopifyScopeError without
        write_publications, and the errors of ``execute``."""
        ids = list(publication_ids)
        if ids:
            self.execute(queries.PUBLISHABLE_PUBLISH,
                         {"id": resource_id, "input": [{"publicationId": pid} for pid in ids]})

    def publishable_unpublish(self, *, resource_id: str, publication_ids: Iterable[str]) -> None:
        """Take a product off the given publications. Raises the errors of ``publishable_publish``."""
        ids = list(publication_ids)
        if ids:
            self.execute(queries.PUBLISHABLE_UNPUBLISH,
                         {"id": resource_id, "input": [{"publicationId": pid} for pid in ids]})

    # --- products -----------------------------------------------------------------------------------------
    def product_set(self, *, input: dict, identifier: dict | None = None) -> dict:  # noqa: A002 (Shopify's name)
        """Create or update a whole product with ``productSet`` (synchronous) and return it.

        ``input`` is a ``ProductSetInput`` and ``identifier`` a ``ProductSetIdentifiers`` (exactly one of
        ``id``, ``handle``, ``customId``; omit it to create). List fields given in ``input`` replace
        Shopify's (variants, metafields, files). The returned product has ``variants`` as a plain list of
        ``{id, sku, position, selectedOptions, inventoryItem{id}}`` (all pages). Raises ShopifyUserError
        (``user_errors`` with codes such as HANDLE_NOT_UNIQUE), ShopifyNotFoundUserError if the identified
        product doesn't exist, and the errors of ``execute``.
        """
        variables: dict[str, Any] = {
            "input": input,
            "variants": max(1, min(100, len(input.get("variants") or []) + 5)),
            "media": max(1, min(50, len(input.get("files") or []) + 5)),
        }
        if identifier is not None:
            variables["identifier"] = identifier
        selection = 3 * variables["variants"] + variables["media"]
        data = self._execute(queries.PRODUCT_SET, variables,
                             cost_base=estimate_product_set_cost(input) + selection)
        product = (data.get("productSet") or {}).get("product")
        if not product:
            raise ShopifyError(
                "productSet returned no product", shop_domain=self.shop_domain, operation_name="ProductSet"
            )
        connection = product.get("variants") or {}
        variants = list(connection.get("nodes") or [])
        page = connection.get("pageInfo") or {}
        if page.get("hasNextPage"):
            variants.extend(self._page_nested(product["id"], "variant_ids", page.get("endCursor")))
        product["variants"] = variants
        media = product.get("media") or {}
        items = list(media.get("nodes") or [])
        page = media.get("pageInfo") or {}
        if page.get("hasNextPage"):
            items.extend(self._page_nested(product["id"], "media", page.get("endCursor")))
        product["media"] = items
        return product

    def media_status(self, *, media_ids: Iterable[str]) -> dict[str, dict]:
        """Return ``{media id: {status, errors: [message]}}`` for the given media (unknown ids are absent).

        ``status`` is Shopify's MediaStatus: UPLOADED, PROCESSING, READY or FAILED. Raises the errors of
        ``execute``.
        """
        ids = list(dict.fromkeys(media_ids))
        result: dict[str, dict] = {}
        for start in range(0, len(ids), 100):
            data = self.execute(queries.MEDIA_STATUS, {"ids": ids[start : start + 100]})
            for node in data.get("nodes") or []:
                if node and node.get("id"):
                    result[node["id"]] = {
                        "status": node.get("status"),
                        "errors": [
                            f"{e.get('code')}: {e.get('message') or e.get('details') or ''}".strip()
                            for e in node.get("mediaErrors") or []
                        ],
                    }
        return result

    def product_update_status(self, *, product_id: str, status: str) -> dict:
        """Set a product's status (ACTIVE, DRAFT, ARCHIVED or UNLISTED) and return ``{id, status, updatedAt}``.

        Raises ValueError for an unknown status, ShopifyNotFoundUserError if the product doesn't exist, and
        the errors of ``execute``.
        """
        status = status.upper()
        if status not in PRODUCT_STATUSES:
            raise ValueError(f"unknown product status {status!r}")
        data = self.execute(queries.PRODUCT_UPDATE_STATUS, {"id": product_id, "status": status})
        return (data.get("productUpdate") or {}).get("product") or {}

    def product_delete(self, *, product_id: str) -> str | None:
        """Delete a product and return its deleted id.

        Raises ShopifyNotFoundUserError (a ShopifyNotFound) if it doesn't exist — callers that want
        idempotent deletes catch ShopifyNotFound — and the errors of ``execute``.
        """
        data = self.execute(queries.PRODUCT_DELETE, {"id": product_id})
        return (data.get("productDelete") or {}).get("deletedProductId")

    def product_get(self, *, product_id: str) -> dict | None:
        """Return the product with every field drift detection compares, or None if it doesn't exist.

        ``variants``, ``metafields`` and ``media`` are plain lists holding all pages. Raises the errors of
        ``execute``.
        """
        data = self.execute(queries.PRODUCT_BY_ID, {"id": product_id})
        product = data.get("product")
        return self._complete_product(product) if product else None

    def product_get_by_handle(self, *, handle: str) -> dict | None:
        """Return the product with this handle (same shape as ``product_get``), or None if there is none.

        Raises the errors of ``execute``.
        """
        data = self.execute(queries.PRODUCT_BY_HANDLE, {"handle": handle})
        product = data.get("productByIdentifier")
        return self._complete_product(product) if product else None

    def product_get_for_drift(
        self, *, product_id: str, variant_count: int, media_count: int, metafield_keys: list[str]
    ) -> dict | None:
        """Return the product's drift-relevant fields with connections sized to what the PIM wrote, or None.

        ``variants`` (all pages, with inventory item weight), ``metafields`` (only ``metafield_keys``, as
        "namespace.key") and ``media`` come back as plain lists. Raises the errors of ``execute``.
        """
        variables = {
            "id": product_id,
            "variants": max(1, min(DRIFT_VARIANTS_PAGE, variant_count + 5)),
            "media": max(1, min(DRIFT_MEDIA_PAGE, media_count + 5)),
            "metafields": max(1, min(DRIFT_METAFIELDS_PAGE, len(metafield_keys) or 1)),
            "keys": list(metafield_keys) or None,
        }
        # The connection sizes vary per product: pass them as the input-dependent part of the estimate so the
        # learned fixed part stays stable and a big product never reserves less than it will be charged.
        base = 5 * variables["variants"] + variables["metafields"] + 3 * variables["media"]
        data = self._execute(queries.PRODUCT_DRIFT, variables, cost_base=base)
        product = data.get("product")
        if not product:
            return None
        variants = product.get("variants") or {}
        items = list(variants.get("nodes") or [])
        page = variants.get("pageInfo") or {}
        if page.get("hasNextPage"):
            items.extend(self._page_nested(product["id"], "variants", page.get("endCursor")))
        product["variants"] = items
        product["metafields"] = list((product.get("metafields") or {}).get("nodes") or [])
        media = product.get("media") or {}
        items = list(media.get("nodes") or [])
        page = media.get("pageInfo") or {}
        if page.get("hasNextPage"):
            items.extend(self._page_nested(product["id"], "media", page.get("endCursor")))
        product["media"] = items
        return product

    def product_ids_by_handle(self, *, handle: str, variant_count: int) -> dict | None:
        """Return ``{id, handle, variants: [{id, sku, inventoryItem{id}}]}`` for the product with this handle.

        A cheap query (about two points per variant) for binding checks; None when no product has the
        handle. Raises the errors of ``execute``.
        """
        first = max(1, min(250, variant_count + 5))
        data = self._execute(queries.PRODUCT_IDS_BY_HANDLE, {"handle": handle, "variants": first}, cost_base=3 * first)
        product = data.get("productByIdentifier")
        if not product:
            return None
        connection = product.get("variants") or {}
        items = list(connection.get("nodes") or [])
        page = connection.get("pageInfo") or {}
        if page.get("hasNextPage"):
            items.extend(self._page_nested(product["id"], "variant_ids", page.get("endCursor")))
        product["variants"] = items
        return product

    def metafields_set(self, *, owner_id: str, metafields: list[dict]) -> list[dict]:
        """Set the given metafields (namespace, key, type, value) on ``owner_id``, 25 per atomic call.

        Only the keys given are touched; other apps' metafields stay. Returns the metafields Shopify
        stored. Raises ShopifyUserError (with the failing element's index) and the errors of ``execute``.
        """
        stored: list[dict] = []
        for start in range(0, len(metafields), 25):
            chunk = [{**m, "ownerId": owner_id} for m in metafields[start : start + 25]]
            data = self.execute(queries.METAFIELDS_SET, {"metafields": chunk})
            stored.extend((data.get("metafieldsSet") or {}).get("metafields") or [])
        return stored

    _NESTED_PAGES = {
        "variants": (queries.PRODUCT_VARIANTS_PAGE, 150),
        "variant_ids": (queries.PRODUCT_VARIANT_IDS_PAGE, 250),
        "metafields": (queries.PRODUCT_METAFIELDS_PAGE, 200),
        "media": (queries.PRODUCT_MEDIA_PAGE, 100),
    }

    def _complete_product(self, product: dict) -> dict:
        for key in self._NESTED_PAGES:
            connection = product.get(key)
            if not isinstance(connection, dict):
                continue
            items = list(connection.get("nodes") or [])
            page = connection.get("pageInfo") or {}
            if page.get("hasNextPage"):
                items.extend(self._page_nested(product["id"], key, page.get("endCursor")))
            product[key] = items
        return product

    def _page_nested(self, product_id: str, key: str, after: str | None) -> Iterator[dict]:
        document, first = self._NESTED_PAGES[key]
        field_name = "variants" if key == "variant_ids" else key
        while True:
            data = self.execute(document, {"id": product_id, "first": first, "after": after})
            connection = ((data.get("product") or {}).get(field_name)) or {}
            yield from connection.get("nodes") or []
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return
            after = page.get("endCursor")

    def iter_products(self, *, query: str | None = None, page_size: int = 50) -> Iterator[dict]:
        """Yield product summaries page by page (cursor pagination), without accumulating them.

        ``query`` is Shopify's search syntax (e.g. ``updated_at:>'2026-01-01T00:00:00Z'``). Each item has id,
        legacyResourceId, title, handle, status, vendor, productType, tags, createdAt, updatedAt and
        variantsCount; use ``product_get`` or ``bulk_export_products`` for full products. Raises the
        errors of ``execute``.
        """
        first = max(1, min(250, int(page_size)))
        after = None
        while True:
            data = self.execute(queries.PRODUCTS_PAGE, {"first": first, "after": after, "query": query})
            connection = data.get("products") or {}
            yield from connection.get("nodes") or []
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage") or not page.get("endCursor"):
                return
            after = page["endCursor"]

    # --- bulk operations --------------------------------------------------------------------------------------
    def bulk_start(self, *, query: str) -> dict:
        """Start ``bulkOperationRunQuery`` (grouped output) and return ``{id, status, type, createdAt}``.

        Raises ShopifyBulkLimitReached (retryable) when the shop already runs its maximum of bulk
        operations, ShopifyUserError for an invalid bulk query, and the errors of ``execute``.
        """
        data = self.execute(queries.BULK_RUN_QUERY, {"query": query, "groupObjects": True})
        operation = (data.get("bulkOperationRunQuery") or {}).get("bulkOperation")
        if not operation:
            raise ShopifyError("bulkOperationRunQuery returned no operation", shop_domain=self.shop_domain)
        return operation

    def bulk_status(self, *, operation_id: str) -> dict | None:
        """Return the bulk operation's current state (status, errorCode, url, counts), or None if unknown.

        Raises the errors of ``execute``.
        """
        return self.execute(queries.BULK_OPERATION_STATUS, {"id": operation_id}).get("bulkOperation")

    def bulk_wait(self, *, operation_id: str, poll_interval: float = 2.0, timeout: float = 3600.0) -> dict:
        """Poll a bulk operation until it is COMPLETED and return its final state.

        Raises ShopifyBulkOperationError when it ends FAILED, CANCELED or EXPIRED (with its ``error_code``;
        retryable unless ACCESS_DENIED), or is still running after ``timeout`` seconds (retryable), and the
        errors of ``execute``.
        """
        deadline = time.monotonic() + timeout
        while True:
            operation = self.bulk_status(operation_id=operation_id)
            if operation is None:
                raise ShopifyBulkOperationError(
                    f"bulk operation {operation_id} not found",
                    operation_id=operation_id,
                    retryable=False,
                    shop_domain=self.shop_domain,
                )
            state = operation.get("status")
            if state == "COMPLETED":
                logger.info(
                    "shopify bulk operation %s completed shop=%s objects=%s bytes=%s",
                    operation_id,
                    self.shop_domain,
                    operation.get("objectCount"),
                    operation.get("fileSize"),
                )
                return operation
            if state in ("FAILED", "CANCELED", "CANCELING", "EXPIRED"):
                code = operation.get("errorCode")
                raise ShopifyBulkOperationError(
                    f"bulk operation {operation_id} ended {state} (errorCode={code})",
                    operation_id=operation_id,
                    bulk_status=state,
                    error_code=code,
                    retryable=code != ACCESS_DENIED,
                    shop_domain=self.shop_domain,
                )
            if time.monotonic() >= deadline:
                raise ShopifyBulkOperationError(
                    f"bulk operation {operation_id} still {state} after {timeout:.0f}s",
                    operation_id=operation_id,
                    bulk_status=state,
                    retryable=True,
                    shop_domain=self.shop_domain,
                )
            self.sleep(poll_interval)

    def bulk_download(
        self, *, url: str, child_key: Callable[[dict], str] = default_child_key
    ) -> Iterator[dict]:
        """Stream a bulk result file and yield its root objects with their children grouped.

        The URL is a signed storage URL: no Shopify token is sent to it. Raises ShopifyBulkOperationError
        if the file can't be fetched (e.g. expired after seven days) or isn't grouped, ShopifyNetworkError
        on connection problems.
        """
        network_call_check(what=f"bulk result download for {self.shop_domain}")
        try:
            response = self.session.get(url, stream=True, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ShopifyNetworkError(
                f"cannot download the bulk result: {type(exc).__name__}",
                maybe_applied=False,
                shop_domain=self.shop_domain,
            ) from None
        with response:
            if response.status_code != 200:
                raise ShopifyBulkOperationError(
                    f"bulk result download failed with HTTP {response.status_code}",
                    retryable=True,
                    shop_domain=self.shop_domain,
                    status=response.status_code,
                )
            try:
                yield from group_bulk_lines(response.iter_lines(chunk_size=65536), child_key=child_key)
            except requests.RequestException as exc:
                raise ShopifyNetworkError(
                    f"bulk result download interrupted: {type(exc).__name__}",
                    shop_domain=self.shop_domain,
                ) from None

    def bulk_run_query(
        self,
        *,
        query: str,
        poll_interval: float = 2.0,
        timeout: float = 3600.0,
        child_key: Callable[[dict], str] = default_child_key,
    ) -> Iterator[dict]:
        """Run a bulk query and yield each root object with its children grouped, in constant memory.

        A generator: the operation starts at the first ``next()``. Children (lines with ``__parentId``) are
        grouped into lists keyed by ``child_key`` (``variants``, ``metafields``, ``media``, ... by GID type).
        Raises the errors of ``bulk_start``, ``bulk_wait`` and ``bulk_download``.
        """
        operation = self.bulk_start(query=query)
        logger.info("shopify bulk operation %s started shop=%s", operation["id"], self.shop_domain)
        final = self.bulk_wait(operation_id=operation["id"], poll_interval=poll_interval, timeout=timeout)
        if not final.get("url"):
            return  # no objects matched
        yield from self.bulk_download(url=final["url"], child_key=child_key)

    def bulk_export_products(self, *, poll_interval: float = 2.0, timeout: float = 3600.0) -> Iterator[dict]:
        """Yield every product of the shop (BULK_PRODUCTS_QUERY fields) with ``variants``, ``metafields``
        and ``media`` lists, streaming. Raises the errors of ``bulk_run_query``."""
        for product in self.bulk_run_query(
            query=queries.BULK_PRODUCTS_QUERY, poll_interval=poll_interval, timeout=timeout
        ):
            for key in ("variants", "metafields", "media"):
                product.setdefault(key, [])
            yield product

    # --- locations and inventory -----------------------------------------------------------------------------
    def locations(self) -> list[dict]:
        """Return the shop's active locations (id, legacyResourceId, name, isActive, fulfillsOnlineOrders,
        shipsInventory, hasActiveInventory). Raises the errors of ``execute``."""
        result: list[dict] = []
        after = None
        while True:
            data = self.execute(queries.LOCATIONS, {"first": 100, "after": after})
            connection = data.get("locations") or {}
            result.extend(connection.get("nodes") or [])
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return result
            after = page.get("endCursor")

    def inventory_levels(
        self,
        *,
        inventory_item_ids: Iterable[str],
        location_ids: Iterable[str],
        names: Iterable[str] = DEFAULT_INVENTORY_NAMES,
        chunk_size: int = 50,
    ) -> list[dict]:
        """Return the quantities of each inventory item at each location, one row per (item, location).

        A row is ``{inventoryItemId, locationId, exists, tracked, stocked, quantities: {name: int},
        updatedAt}``; ``exists`` is False for an unknown item, ``stocked`` False when the item has no level
        at that location. Raises the errors of ``execute``.
        """
        items = list(dict.fromkeys(inventory_item_ids))
        names = list(names)
        rows: list[dict] = []
        for location_id in dict.fromkeys(location_ids):
            for start in range(0, len(items), chunk_size):
                chunk = items[start : start + chunk_size]
                data = self.execute(
                    queries.INVENTORY_LEVELS,
                    {"inventoryItemIds": chunk, "locationId": location_id, "names": names},
                )
                nodes = data.get("nodes") or []
                for item_id, node in zip(
                    chunk, list(nodes) + [None] * (len(chunk) - len(nodes)), strict=False
                ):
                    level = (node or {}).get("inventoryLevel")
                    rows.append(
                        {
                            "inventoryItemId": item_id,
                            "locationId": location_id,
                            "exists": node is not None,
                            "tracked": (node or {}).get("tracked"),
                            "stocked": level is not None,
                            "quantities": {
                                q["name"]: q["quantity"] for q in ((level or {}).get("quantities") or [])
                            },
                            "updatedAt": (level or {}).get("updatedAt"),
                        }
                    )
        return rows

    def inventory_set_quantities(
        self,
        *,
        name: str = "available",
        reason: str,
        quantities: list[dict],
        idempotency_key: str,
        reference_document_uri: str | None = None,
    ) -> dict | None:
        """Set absolute inventory quantities with compare-and-set, applied once per idempotency key.

        Each quantity is ``{inventoryItemId, locationId, quantity, changeFromQuantity}``;
        ``changeFromQuantity`` must be present (the quantity you last read, or None to skip the check).
        ``idempotency_key`` must be derived from the caller's own movement/job id so that a retried call is
        applied once. Returns the ``inventoryAdjustmentGroup`` (None if nothing changed). Raises ValueError
        for malformed input, ShopifyStaleQuantity when a ``changeFromQuantity`` no longer matches (re-read
        and retry with a new key), ShopifyIdempotencyInFlight (retryable), ShopifyUserError for other
        rejections, and the errors of ``execute``.
        """
        _require_key(idempotency_key)
        prepared = []
        for entry in quantities:
            missing = {"inventoryItemId", "locationId", "quantity", "changeFromQuantity"} - set(entry)
            if missing:
                raise ValueError(
                    f"inventory quantity lacks {sorted(missing)}: changeFromQuantity must be explicit"
                )
            prepared.append(
                {
                    "inventoryItemId": entry["inventoryItemId"],
                    "locationId": entry["locationId"],
                    "quantity": int(entry["quantity"]),
                    "changeFromQuantity": (
                        None if entry["changeFromQuantity"] is None else int(entry["changeFromQuantity"])
                    ),
                }
            )
        if not prepared:
            raise ValueError("no quantities given")
        payload: dict[str, Any] = {"name": name, "reason": reason, "quantities": prepared}
        if reference_document_uri:
            payload["referenceDocumentUri"] = reference_document_uri
        data = self.execute(
            queries.INVENTORY_SET_QUANTITIES, {"input": payload, "idempotencyKey": idempotency_key}
        )
        return (data.get("inventorySetQuantities") or {}).get("inventoryAdjustmentGroup")

    def inventory_adjust_quantities(
        self,
        *,
        name: str = "available",
        reason: str,
        changes: list[dict],
        idempotency_key: str,
        reference_document_uri: str | None = None,
    ) -> dict | None:
        """Apply inventory deltas, applied once per idempotency key.

        Each change is ``{inventoryItemId, locationId, delta}`` plus optional ``changeFromQuantity`` (sent
        as null when absent, i.e. no compare-and-set) and ``ledgerDocumentUri`` (required by Shopify for
        names other than ``available``). Returns the ``inventoryAdjustmentGroup``. Raises ValueError for
        malformed input, ShopifyStaleQuantity, ShopifyIdempotencyInFlight, ShopifyUserError and the errors
        of ``execute``.
        """
        _require_key(idempotency_key)
        prepared = []
        for entry in changes:
            missing = {"inventoryItemId", "locationId", "delta"} - set(entry)
            if missing:
                raise ValueError(f"inventory change lacks {sorted(missing)}")
            change: dict[str, Any] = {
                "inventoryItemId": entry["inventoryItemId"],
                "locationId": entry["locationId"],
                "delta": int(entry["delta"]),
                "changeFromQuantity": (
                    None if entry.get("changeFromQuantity") is None else int(entry["changeFromQuantity"])
                ),
            }
            if entry.get("ledgerDocumentUri"):
                change["ledgerDocumentUri"] = entry["ledgerDocumentUri"]
            prepared.append(change)
        if not prepared:
            raise ValueError("no changes given")
        payload: dict[str, Any] = {"name": name, "reason": reason, "changes": prepared}
        if reference_document_uri:
            payload["referenceDocumentUri"] = reference_document_uri
        data = self.execute(
            queries.INVENTORY_ADJUST_QUANTITIES, {"input": payload, "idempotencyKey": idempotency_key}
        )
        return (data.get("inventoryAdjustQuantities") or {}).get("inventoryAdjustmentGroup")

    # --- webhooks ----------------------------------------------------------------------------------------------
    def webhook_subscriptions(self) -> list[dict]:
        """Return all of the app's webhook subscriptions on this shop (id, topic, uri, format, filter,
        includeFields, createdAt, updatedAt). Raises the errors of ``execute``."""
        result: list[dict] = []
        after = None
        while True:
            data = self.execute(queries.WEBHOOK_SUBSCRIPTIONS, {"first": 100, "after": after})
            connection = data.get("webhookSubscriptions") or {}
            result.extend(connection.get("nodes") or [])
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return result
            after = page.get("endCursor")

    def webhook_subscription_create(
        self,
        *,
        topic: str,
        callback_url: str,
        include_fields: list[str] | None = None,
        filter: str | None = None,  # noqa: A002 (Shopify's name)
    ) -> dict:
        """Subscribe ``callback_url`` (HTTPS) to a topic such as ``PRODUCTS_UPDATE`` and return the
        subscription. Raises ShopifyUserError (e.g. address already taken for the topic) and the errors
        of ``execute``."""
        subscription: dict[str, Any] = {"uri": callback_url, "format": "JSON"}
        if include_fields:
            subscription["includeFields"] = include_fields
        if filter:
            subscription["filter"] = filter
        data = self.execute(
            queries.WEBHOOK_SUBSCRIPTION_CREATE, {"topic": topic.upper(), "subscription": subscription}
        )
        return (data.get("webhookSubscriptionCreate") or {}).get("webhookSubscription") or {}

    def webhook_subscription_delete(self, *, subscription_id: str) -> str | None:
        """Delete a webhook subscription and return its id. Raises ShopifyNotFoundUserError if it doesn't
        exist and the errors of ``execute``."""
        data = self.execute(queries.WEBHOOK_SUBSCRIPTION_DELETE, {"id": subscription_id})
        return (data.get("webhookSubscriptionDelete") or {}).get("deletedWebhookSubscriptionId")


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


def _require_key(idempotency_key: str) -> None:
    if not isinstance(idempotency_key, str) or not idempotency_key.strip():
        raise ValueError("idempotency_key is required (derive it from your movement/job id)")
    if len(idempotency_key) > 255:
        raise ValueError("idempotency_key is too long (max 255 characters)")
