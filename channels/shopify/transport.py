"""The transport of the Shopify client: one GraphQL POST with budget, retries and typed errors.

``ShopifyTransport`` holds the connection settings of one shop (endpoint, timeouts, session, token
provider, the shared Redis cost budget) and ``execute``, the one place a request is sent. The per-area
API methods are mixins (``shop_api``, ``products_api``, ``bulk_query_api``, ``inventory_api``,
``webhook_subscriptions_api``) that subclass it; ``client.ShopifyClient`` composes them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Self

import requests
from graphql import OperationDefinitionNode, OperationType, parse

from .auth import ClientCredentialsTokenProvider, StaticTokenProvider
from .error_mapping import ErrorMappingMixin, _code, _retry_after
from .exceptions import THROTTLED, ShopifyAuthError, ShopifyServerError, ShopifyThrottled
from .netguard import network_call_check
from .throttle import CostBudget, CostInfo

logger = logging.getLogger("channels.shopify")

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
    "MetafieldsSetBatch": "MetafieldsSet for several owners: absolute values by owner, namespace and key",
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


class ShopifyTransport(ErrorMappingMixin):
    """Transport of one shop's GraphQL Admin API client (see the module docstring)."""

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
    #: No new try once this long has passed since the call's first send: a hanging Shopify (30 s read timeouts)
    #: must not hold a row past its lease (120 s) through retries; the job's own retry schedule takes over.
    max_server_error_window: float = 30.0

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

    @contextmanager
    def budget_wait_limit(self, seconds: float) -> Iterator[None]:
        """Within the block, a call waits at most ``seconds`` for the shop's cost budget; a longer wait raises
        ShopifyBudgetWait (nothing sent) instead of sleeping (a batch gives its work back, issue 15). Nested blocks
        set their own limit (``max_budget_wait`` again for work that must finish once a write was sent)."""
        previous = self.budget.max_wait
        self.budget.max_wait = max(0.0, float(seconds))
        try:
            yield
        finally:
            self.budget.max_wait = previous

    def __repr__(self) -> str:
        return f"ShopifyClient(shop_domain={self.shop_domain!r}, api_version={self.api_version!r})"

    def close(self) -> None:
        """Close the HTTP session if the client created it."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> Self:
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
        when given and short) if the request is safe to repeat (``_repeatable``); afterwards ``last_cost`` holds
        the answer's cost info. Raises ShopifyAuthError (401),
        ShopifyScopeError (403 / ACCESS_DENIED), ShopifyNotFound (404), ShopifyThrottled (still throttled),
        ShopifyServerError (5xx, unreadable answer), ShopifyNetworkError (connection/timeout),
        ShopifyBadRequest (other 4xx), ShopifyGraphQLError (other top-level errors) and ShopifyUserError or
        a subclass (non-empty ``userErrors`` in a mutation payload).
        """
        return self._execute(query, variables, operation_name=operation_name)

    def _within_retry_window(self, call_started: float, wait: float) -> bool:
        return time.monotonic() - call_started + wait <= self.max_server_error_window

    def _server_error_wait(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        step = self.server_error_backoff[min(retry, len(self.server_error_backoff)) - 1]
        return step * (0.5 + random.random() / 2)

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
        call_started = time.monotonic()
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
                wait = self._server_error_wait(server_retries + 1, None)
                if ((repeatable or not failure.maybe_applied) and server_retries < self.max_server_error_retries
                        and self._within_retry_window(call_started, wait)):
                    server_retries += 1
                    self.sleep(wait)
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
                    wait = self._server_error_wait(server_retries + 1, retry_after)
                    if ((retry_after is None or retry_after <= self.max_server_error_wait)
                            and self._within_retry_window(call_started, wait)):
                        server_retries += 1
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
