"""Each failure Shopify can produce maps to one typed, correctly flagged exception."""

from __future__ import annotations

import logging

import pytest
import requests

from channels.shopify import exceptions as exc
from channels.shopify import queries

from .conftest import cost_extensions, throttled_body

TOKEN = "shpat_static_token_value_123"
SHOP_OK = {"data": {"shop": {"id": "gid://shopify/Shop/1"}}, "extensions": cost_extensions(requested=2)}
PING = "query Ping { shop { id } }"


def test_retryable_flags():
    assert exc.ShopifyError.retryable is False
    assert exc.ShopifyAuthError.retryable is False
    assert exc.ShopifyScopeError.retryable is False
    assert exc.ShopifyNotFound.retryable is False
    assert exc.ShopifyThrottled.retryable is True
    assert exc.ShopifyServerError.retryable is True
    assert exc.ShopifyNetworkError.retryable is True
    assert exc.ShopifyGraphQLError.retryable is False
    assert exc.ShopifyUserError.retryable is False
    assert exc.ShopifyStaleQuantity.retryable is False
    assert exc.ShopifyIdempotencyInFlight.retryable is True
    assert exc.ShopifyBadRequest.retryable is False
    assert issubclass(exc.ShopifyStaleQuantity, exc.ShopifyUserError)
    assert issubclass(exc.ShopifyNotFoundUserError, exc.ShopifyNotFound)
    assert issubclass(exc.ShopifyNotFoundUserError, exc.ShopifyUserError)


def test_success_returns_data_and_cost(fake, make_client):
    fake.on("Ping", SHOP_OK)
    client = make_client()
    assert client.execute(PING) == {"shop": {"id": "gid://shopify/Shop/1"}}
    assert client.last_cost.requested_query_cost == 2
    assert client.last_cost.maximum_available == 2000
    sent = fake.sent[0]
    assert sent.headers["X-Shopify-Access-Token"] == TOKEN
    assert sent.operation_name == "Ping"
    assert fake.endpoint.endswith("/admin/api/2026-07/graphql.json")


def test_401_static_token_is_terminal_and_redacted(fake, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    fake.on("Ping", (401, {}, {"errors": f"[API] Invalid API key or access token {TOKEN}"}))
    client = make_client()
    with pytest.raises(exc.ShopifyAuthError) as info:
        client.execute(PING)
    assert info.value.retryable is False
    assert info.value.status == 401
    assert len(fake.sent) == 1  # a static token is not retried
    assert TOKEN not in str(info.value)
    assert "[REDACTED]" in str(info.value)
    assert TOKEN not in caplog.text


def test_403_names_the_missing_scope(fake, make_client):
    fake.on(
        "Ping",
        (403, {}, {"errors": "[API] This action requires merchant approval for read_locations scope."}),
    )
    with pytest.raises(exc.ShopifyScopeError) as info:
        make_client().execute(PING)
    assert info.value.missing_scope == "read_locations"
    assert info.value.retryable is False


def test_access_denied_graphql_error_is_a_scope_error(fake, make_client):
    fake.on(
        "Ping",
        {
            "data": {"shop": None},
            "errors": [
                {
                    "message": "Access denied for locations field. Required access: `read_locations` access scope.",
                    "path": ["locations"],
                    "extensions": {
                        "code": "ACCESS_DENIED",
                        "documentation": "https://shopify.dev/api/usage/access-scopes",
                        "requiredAccess": "`read_locations` access scope.",
                    },
                }
            ],
            "extensions": cost_extensions(),
        },
    )
    with pytest.raises(exc.ShopifyScopeError) as info:
        make_client().execute(PING)
    assert info.value.missing_scope == "read_locations"


def test_404_is_not_found(fake, make_client):
    fake.on("Ping", (404, {}, {"errors": "Not Found"}))
    with pytest.raises(exc.ShopifyNotFound) as info:
        make_client().execute(PING)
    assert info.value.retryable is False
    assert info.value.status == 404


def test_429_waits_retry_after_then_succeeds(fake, make_client):
    fake.on("Ping", (429, {"Retry-After": "2.0"}, {"errors": "Exceeded 2 calls per second"}), SHOP_OK)
    client = make_client()
    assert client.execute(PING)["shop"]["id"]
    assert len(fake.sent) == 2
    # The shared budget was blocked for Retry-After seconds: the retry slept about that long.
    assert 1.8 <= sum(client.slept) <= 2.1


def test_429_forever_raises_throttled_with_retry_after(fake, make_client):
    fake.on("Ping", (429, {"Retry-After": "0.5"}, {"errors": "Exceeded"}))
    client = make_client()
    with pytest.raises(exc.ShopifyThrottled) as info:
        client.execute(PING)
    assert info.value.retry_after == 0.5
    assert info.value.retryable is True
    assert len(fake.sent) == client.max_throttle_retries + 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_a_retryable_server_error_without_client_retry(fake, make_client, status):
    fake.on("Ping", (status, {"Retry-After": "3"}, "<html>oops</html>"))
    with pytest.raises(exc.ShopifyServerError) as info:
        make_client().execute(PING)
    assert info.value.retryable is True
    assert info.value.status == status
    assert info.value.retry_after == 3.0
    assert len(fake.sent) == 1


@pytest.mark.parametrize(
    ("error", "maybe_applied"),
    [
        (requests.ReadTimeout("read timed out"), True),
        (requests.ConnectTimeout("connect timed out"), False),
        (requests.ConnectionError("connection reset"), True),
    ],
)
def test_network_errors(fake, make_client, error, maybe_applied):
    fake.on("Ping", error)
    with pytest.raises(exc.ShopifyNetworkError) as info:
        make_client().execute(PING)
    assert info.value.retryable is True
    assert info.value.maybe_applied is maybe_applied


def test_timeouts_are_passed_on_every_call(fake, make_client, monkeypatch):
    fake.on("Ping", SHOP_OK)
    client = make_client(timeout=(1.5, 7.0))
    seen = []
    original = client.session.post

    def spy(*args, **kwargs):
        seen.append(kwargs.get("timeout"))
        return original(*args, **kwargs)

    monkeypatch.setattr(client.session, "post", spy)
    client.execute(PING)
    assert seen == [(1.5, 7.0)]


def test_graphql_errors_keep_the_list_and_are_terminal(fake, make_client):
    errors = [
        {"message": "Field 'nope' doesn't exist on type 'Shop'", "extensions": {"code": "undefinedField"}},
        {"message": "second problem"},
    ]
    fake.validate_requests = False
    fake.on("Ping", {"errors": errors})
    with pytest.raises(exc.ShopifyGraphQLError) as info:
        make_client().execute(PING)
    assert info.value.errors == errors
    assert info.value.retryable is False
    assert "second problem" in str(info.value)


def test_internal_server_error_code_is_retryable(fake, make_client):
    fake.on(
        "Ping", {"errors": [{"message": "Internal error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
    )
    with pytest.raises(exc.ShopifyGraphQLError) as info:
        make_client().execute(PING)
    assert info.value.retryable is True


def test_max_cost_exceeded_is_terminal(fake, make_client):
    fake.on(
        "Ping",
        {
            "errors": [
                {
                    "message": "Query cost is 1066, which exceeds the single query max cost limit (1000).",
                    "extensions": {"code": "MAX_COST_EXCEEDED", "cost": 1066, "maxCost": 1000},
                }
            ]
        },
    )
    with pytest.raises(exc.ShopifyQueryTooCostly) as info:
        make_client().execute(PING)
    assert isinstance(info.value, exc.ShopifyGraphQLError)
    assert info.value.retryable is False
    assert info.value.codes == ["MAX_COST_EXCEEDED"]
    assert info.value.cost == 1066 and "single-query limit of 1000" in str(info.value)
    assert len(fake.sent) == 1  # never retried


def test_user_errors_with_field_paths_and_codes(fake, make_client):
    fake.on(
        "ProductSet",
        fake.ok(
            {
                "productSet": {
                    "product": None,
                    "userErrors": [
                        {
                            "field": ["input", "handle"],
                            "message": "Handle already in use",
                            "code": "HANDLE_NOT_UNIQUE",
                        },
                        {
                            "field": ["input", "variants", "0", "price"],
                            "message": "Price is invalid",
                            "code": "INVALID_VARIANT",
                        },
                    ],
                }
            }
        ),
    )
    with pytest.raises(exc.ShopifyUserError) as info:
        make_client().product_set(input={"title": "Shirt", "handle": "shirt"})
    err = info.value
    assert type(err) is exc.ShopifyUserError
    assert err.retryable is False
    assert err.codes == ["HANDLE_NOT_UNIQUE", "INVALID_VARIANT"]
    assert err.user_errors[0] == {
        "field": ["input", "handle"],
        "message": "Handle already in use",
        "code": "HANDLE_NOT_UNIQUE",
    }
    assert "input.handle: Handle already in use [HANDLE_NOT_UNIQUE]" in str(err)


def test_user_errors_without_code_field(fake, make_client):
    fake.on(
        "WebhookSubscriptionCreate",
        fake.ok(
            {
                "webhookSubscriptionCreate": {
                    "webhookSubscription": None,
                    "userErrors": [
                        {
                            "field": ["webhookSubscription", "callbackUrl"],
                            "message": "Address for this topic has already been taken",
                        }
                    ],
                }
            }
        ),
    )
    with pytest.raises(exc.ShopifyUserError) as info:
        make_client().webhook_subscription_create(
            topic="products_update", callback_url="https://pim.example/hooks"
        )
    assert info.value.codes == [None]
    assert fake.sent[0].variables == {
        "topic": "PRODUCTS_UPDATE",
        "subscription": {"uri": "https://pim.example/hooks", "format": "JSON"},
    }


def test_missing_product_on_delete_is_not_found(fake, make_client):
    fake.on(
        "ProductDelete",
        fake.ok(
            {
                "productDelete": {
                    "deletedProductId": None,
                    "userErrors": [{"field": ["id"], "message": "Product does not exist"}],
                }
            }
        ),
    )
    with pytest.raises(exc.ShopifyNotFound) as info:
        make_client().product_delete(product_id="gid://shopify/Product/404")
    assert isinstance(info.value, exc.ShopifyUserError)


def test_throttled_then_success(fake, make_client):
    fake.on("Ping", throttled_body(requested=50, available=10.0, rate=100.0), SHOP_OK)
    client = make_client()
    assert client.execute(PING)["shop"]
    assert len(fake.sent) == 2
    # Waited for the deficit: (50 - 10) / 100 = 0.4 s (first learned about the bucket from the answer).
    assert sum(client.slept) == pytest.approx(0.4, abs=0.05)


def test_throttled_forever_raises(fake, make_client):
    fake.on("Ping", throttled_body(requested=50, available=10.0, rate=100.0))
    client = make_client()
    client.max_throttle_retries = 2
    with pytest.raises(exc.ShopifyThrottled) as info:
        client.execute(PING)
    assert info.value.retry_after == pytest.approx(0.4)
    assert len(fake.sent) == 3


def test_non_json_answer_is_a_server_error(fake, make_client):
    fake.on("Ping", (200, {"Content-Type": "text/html"}, "<html>maintenance</html>"))
    with pytest.raises(exc.ShopifyServerError):
        make_client().execute(PING)


def test_redirect_is_not_followed(fake, make_client):
    fake.on("Ping", (301, {"Location": "https://elsewhere.example/admin"}, ""))
    with pytest.raises(exc.ShopifyBadRequest):
        make_client().execute(PING)
    assert len(fake.sent) == 1


@pytest.mark.parametrize("status", [400, 422])
def test_other_4xx_is_bad_request(fake, make_client, status):
    fake.on("Ping", (status, {}, {"errors": "nope"}))
    with pytest.raises(exc.ShopifyBadRequest) as info:
        make_client().execute(PING)
    assert info.value.retryable is False


@pytest.mark.parametrize(("status", "word"), [(402, "frozen"), (423, "locked")])
def test_frozen_or_locked_shop_is_unavailable_like_an_outage(fake, make_client, status, word):
    fake.on("Ping", (status, {}, {"errors": "Unavailable Shop"}))
    with pytest.raises(exc.ShopifyShopUnavailable) as info:
        make_client().execute(PING)
    assert isinstance(info.value, exc.ShopifyServerError) and info.value.retryable is True
    assert word in info.value.reason and info.value.status == status


def test_documents_from_queries_module_are_used(fake, make_client):
    fake.on(
        "ShopInfo",
        fake.ok(
            {
                "shop": {
                    "id": "gid://shopify/Shop/1",
                    "name": "Demo",
                    "email": "a@b.c",
                    "myshopifyDomain": fake.shop,
                    "currencyCode": "EUR",
                    "ianaTimezone": "Europe/Berlin",
                    "plan": {"publicDisplayName": "Basic", "partnerDevelopment": False, "shopifyPlus": False},
                },
                "currentAppInstallation": {
                    "id": "gid://shopify/AppInstallation/1",
                    "accessScopes": [
                        {"handle": "write_products"},
                        {"handle": "write_inventory"},
                        {"handle": "read_inventory"},
                    ],
                },
            }
        ),
    )
    report = make_client().test_connection()
    assert fake.sent[0].query == queries.SHOP_INFO
    assert report.shop_name == "Demo"
    assert report.plan == "Basic"
    assert report.myshopify_domain == fake.shop
    assert report.granted_scopes == ["read_inventory", "write_inventory", "write_products"]
    # write_products covers read_products; read_locations, read_orders, the publication scopes and the fulfillment
    # orders are missing.
    assert report.missing_scopes == ["read_locations", "read_orders", "read_publications", "write_publications",
                                     "read_merchant_managed_fulfillment_orders"]
    assert report.publications == []  # not asked for without read_publications
    assert not report.ok
