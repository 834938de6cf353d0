"""Client-credentials tokens: shared Redis cache, refresh before expiry, one refresh on 401, no leaks."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import responses

from channels.shopify.exceptions import ShopifyAuthError, ShopifyServerError

from .conftest import cost_extensions, token_request_fields

CLIENT_ID = "pim-client-id-0001"
CLIENT_SECRET = "shpss_super_secret_value_42"
PING = "query Ping { shop { id } }"
OK = {"data": {"shop": {"id": "gid://shopify/Shop/1"}}, "extensions": cost_extensions(requested=2)}


class TokenEndpoint:
    """Issues shpat_token_1, shpat_token_2, ... and records the form fields of each request."""

    def __init__(self, expires_in: int = 86399, delay: float = 0.0) -> None:
        self.expires_in = expires_in
        self.delay = delay
        self.issued: list[str] = []
        self.fields: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, request):
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.fields.append(token_request_fields(request))
            token = f"shpat_token_{len(self.issued) + 1}_abcdef"
            self.issued.append(token)
        body = {"access_token": token, "scope": "read_products,write_products", "expires_in": self.expires_in}
        import json

        return 200, {"Content-Type": "application/json"}, json.dumps(body)


@pytest.fixture
def tokens(fake, rsps):
    endpoint = TokenEndpoint()
    rsps.add_callback(responses.POST, f"{fake.base_url}/admin/oauth/access_token", callback=endpoint)
    return endpoint


def cc_client(make_client):
    return make_client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


def test_grant_is_form_encoded_and_token_is_used(fake, make_client, tokens, rsps):
    fake.on("Ping", OK)
    client = cc_client(make_client)
    client.execute(PING)
    assert tokens.fields == [
        {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    ]
    token_call = next(c for c in rsps.calls if c.request.url.endswith("/admin/oauth/access_token"))
    assert token_call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert fake.sent[0].headers["X-Shopify-Access-Token"] == tokens.issued[0]


def test_token_is_shared_between_clients_through_redis(fake, make_client, tokens, redis_conn):
    fake.on("Ping", OK)
    first, second = cc_client(make_client), cc_client(make_client)
    first.execute(PING)
    second.execute(PING)
    assert len(tokens.issued) == 1
    assert {r.headers["X-Shopify-Access-Token"] for r in fake.sent} == {tokens.issued[0]}
    # Stored encrypted: the token itself is not readable in Redis.
    raw = redis_conn.get(first.auth.cache_key)
    assert raw and tokens.issued[0].encode() not in raw
    assert 0 < redis_conn.ttl(first.auth.cache_key) <= 86399


def test_concurrent_refresh_happens_once(fake, make_client, tokens):
    tokens.delay = 0.3
    fake.on("Ping", OK)
    clients = [
        make_client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, real_sleep=True) for _ in range(4)
    ]
    errors: list[BaseException] = []

    def run(client):
        try:
            client.execute(PING)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=20)
    assert errors == []
    assert len(tokens.issued) == 1
    assert len(fake.sent) == 4


def test_refresh_before_expiry(fake, make_client, tokens):
    tokens.expires_in = 1000
    fake.on("Ping", OK)
    a, b = cc_client(make_client), cc_client(make_client)
    now = [time.time()]
    a.auth._clock = b.auth._clock = lambda: now[0]
    a.execute(PING)
    now[0] += 850  # 85 % of the life: still the same token
    b.execute(PING)
    assert len(tokens.issued) == 1
    now[0] += 60  # 91 %: refreshed before it expires, once, and shared
    b.execute(PING)
    a.execute(PING)
    assert len(tokens.issued) == 2
    assert [r.headers["X-Shopify-Access-Token"] for r in fake.sent] == [
        tokens.issued[0],
        tokens.issued[0],
        tokens.issued[1],
        tokens.issued[1],
    ]


def test_401_refreshes_once_and_retries_once(fake, make_client, tokens):
    fake.on("Ping", (401, {}, {"errors": "[API] Invalid API key or access token"}), OK)
    a = cc_client(make_client)
    assert a.execute(PING)["shop"]
    assert len(tokens.issued) == 2
    assert [r.headers["X-Shopify-Access-Token"] for r in fake.sent] == tokens.issued
    # Another worker picks up the refreshed token from Redis without asking Shopify again.
    b = cc_client(make_client)
    b.execute(PING)
    assert len(tokens.issued) == 2
    assert fake.sent[-1].headers["X-Shopify-Access-Token"] == tokens.issued[1]


def test_401_after_refresh_is_terminal(fake, make_client, tokens):
    fake.on("Ping", (401, {}, {"errors": "[API] Invalid API key or access token"}))
    client = cc_client(make_client)
    with pytest.raises(ShopifyAuthError):
        client.execute(PING)
    assert len(tokens.issued) == 2  # one refresh only
    assert len(fake.sent) == 2  # one retry only


def test_refused_credentials(fake, make_client, rsps):
    rsps.add(
        responses.POST,
        f"{fake.base_url}/admin/oauth/access_token",
        json={
            "error": "invalid_client",
            "error_description": f"Client authentication failed for {CLIENT_SECRET}",
        },
        status=401,
    )
    with pytest.raises(ShopifyAuthError) as info:
        cc_client(make_client).execute(PING)
    assert CLIENT_SECRET not in str(info.value)
    assert "invalid_client" in str(info.value) or "Client authentication failed" in str(info.value)


def test_secrets_never_logged_nor_in_exceptions(fake, make_client, tokens, caplog):
    caplog.set_level(logging.DEBUG)
    fake.on(
        "Ping",
        (401, {}, {"errors": "bad token"}),
        {"errors": [{"message": f"echo {CLIENT_SECRET}", "extensions": {"code": "BAD"}}]},
    )
    client = cc_client(make_client)
    with pytest.raises(Exception) as info:
        client.execute(PING)
    text = caplog.text + str(info.value) + repr(client) + repr(client.auth._local)
    for secret in [CLIENT_SECRET, *tokens.issued]:
        assert secret not in text
    assert "fingerprint=" in caplog.text  # tokens are identified by fingerprint only


def test_failed_early_refresh_keeps_the_valid_token(fake, make_client, rsps):
    endpoint = TokenEndpoint(expires_in=1000)
    url = f"{fake.base_url}/admin/oauth/access_token"
    rsps.add_callback(responses.POST, url, callback=endpoint)
    fake.on("Ping", OK)
    client = cc_client(make_client)
    now = [time.time()]
    client.auth._clock = lambda: now[0]
    client.execute(PING)
    # At 95 % of its life the refresh fails with a 503: the current token is still used.
    rsps.replace(responses.POST, url, status=503, body="unavailable")
    now[0] += 950
    client.execute(PING)
    assert fake.sent[-1].headers["X-Shopify-Access-Token"] == endpoint.issued[0]
    # Once it has expired, the failure surfaces as a retryable server error.
    now[0] += 60
    with pytest.raises(ShopifyServerError) as info:
        client.execute(PING)
    assert info.value.retryable is True
