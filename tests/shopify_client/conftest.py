"""Fixtures for the Shopify client tests: real Redis (per-test shop domains), a fake Shopify via `responses`.

Every GraphQL request the client sends to the fake is validated (document and variables) against
Shopify's real 2026-07 Admin schema, so each test also checks the GraphQL we send.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import redis as redis_lib
import responses
from graphql import GraphQLSchema, build_client_schema, parse, validate
from graphql.execution.values import get_variable_values
from graphql.language import OperationDefinitionNode


def _schema_path() -> Path:
    from django.conf import settings

    if settings.configured:
        return Path(settings.SHOPIFY_SCHEMA_DIR) / f"admin_{settings.SHOPIFY_API_VERSION}.json.gz"
    default = Path(__file__).resolve().parents[3] / "shared" / "shopify" / "admin-graphql"
    return Path(os.environ.get("SHOPIFY_SCHEMA_DIR", default)) / "admin_2026-07.json.gz"


_schema: GraphQLSchema | None = None


def admin_schema() -> GraphQLSchema:
    global _schema
    if _schema is None:
        with gzip.open(_schema_path()) as fh:
            _schema = build_client_schema(json.load(fh)["data"])
    return _schema


def schema_errors(document: str, variables: dict | None = None) -> list[str]:
    """Validate a document (and, if given, its variables) against the 2026-07 schema."""
    schema = admin_schema()
    ast = parse(document)
    messages = [err.message for err in validate(schema, ast)]
    if messages or variables is None:
        return messages
    op = next(d for d in ast.definitions if isinstance(d, OperationDefinitionNode))
    coerced = get_variable_values(schema, op.variable_definitions or [], variables)
    if isinstance(coerced, list):
        messages.extend(err.message for err in coerced)
    return messages


@pytest.fixture(scope="session")
def schema() -> GraphQLSchema:
    return admin_schema()


@pytest.fixture(scope="session")
def redis_conn():
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    conn = redis_lib.Redis.from_url(url)
    conn.ping()
    return conn


@pytest.fixture
def shop(redis_conn):
    """A unique shop domain; every Redis key the client creates for it is deleted afterwards."""
    domain = f"t{uuid.uuid4().hex[:12]}.myshopify.com"
    yield domain
    keys = list(redis_conn.scan_iter(match=f"shopify:{domain}:*"))
    if keys:
        redis_conn.delete(*keys)


def cost_extensions(requested=10, actual=None, available=1990.0, maximum=2000.0, rate=100.0) -> dict:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": requested if actual is None else actual,
            "throttleStatus": {
                "maximumAvailable": maximum,
                "currentlyAvailable": available,
                "restoreRate": rate,
            },
        }
    }


def throttled_body(requested=50, available=5.0, maximum=2000.0, rate=100.0) -> dict:
    return {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {
                    "code": "THROTTLED",
                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                },
            }
        ],
        "extensions": {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": None,
                "throttleStatus": {
                    "maximumAvailable": maximum,
                    "currentlyAvailable": available,
                    "restoreRate": rate,
                },
            }
        },
    }


@dataclass
class SentRequest:
    operation_name: str | None
    query: str
    variables: dict
    headers: dict


@dataclass
class FakeShopify:
    """A scripted GraphQL endpoint. Handlers per operation name return a full answer:
    ``(status, headers, body)`` or a body dict (status 200); plain ``data`` dicts can be wrapped by ``ok``."""

    shop: str
    rsps: responses.RequestsMock
    api_version: str = "2026-07"
    handlers: dict[str, list | Callable] = field(default_factory=dict)
    sent: list[SentRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    validate_requests: bool = True

    @property
    def base_url(self) -> str:
        return f"https://{self.shop}"

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/admin/api/{self.api_version}/graphql.json"

    def install(self) -> None:
        self.rsps.add_callback(responses.POST, self.endpoint, callback=self._callback)

    def on(self, operation_name: str, *answers) -> None:
        """Queue answers for an operation (the last one repeats), or register one callable."""
        if len(answers) == 1 and callable(answers[0]):
            self.handlers[operation_name] = answers[0]
        else:
            self.handlers[operation_name] = list(answers)

    @staticmethod
    def ok(data: dict, **cost) -> dict:
        return {"data": data, "extensions": cost_extensions(**cost)}

    def requests_for(self, operation_name: str) -> list[SentRequest]:
        return [r for r in self.sent if r.operation_name == operation_name]

    def _callback(self, request):
        body = json.loads(request.body)
        sent = SentRequest(
            body.get("operationName"), body["query"], body.get("variables") or {}, dict(request.headers)
        )
        with self.lock:
            self.sent.append(sent)
        if self.validate_requests:
            problems = schema_errors(sent.query, sent.variables)
            assert not problems, f"invalid GraphQL sent for {sent.operation_name}: {problems}"
        handler = self.handlers.get(sent.operation_name or "anonymous")
        if handler is None:
            raise AssertionError(f"unexpected operation {sent.operation_name}")
        if callable(handler):
            answer = handler(sent)
        else:
            with self.lock:
                answer = handler.pop(0) if len(handler) > 1 else handler[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, tuple):
            status, headers, payload = answer
        else:
            status, headers, payload = 200, {}, answer
        text = payload if isinstance(payload, str) else json.dumps(payload)
        return status, {"Content-Type": "application/json", **headers}, text


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def fake(shop, rsps) -> FakeShopify:
    fake = FakeShopify(shop=shop, rsps=rsps)
    fake.install()
    return fake


@pytest.fixture
def make_client(redis_conn, fake):
    """Build a ShopifyClient for the fake shop; sleeps are recorded, not slept (unless real_sleep=True)."""
    from channels.shopify.client import ShopifyClient

    created = []

    def factory(*, real_sleep: bool = False, **kwargs):
        kwargs.setdefault("shop_domain", fake.shop)
        if "client_id" not in kwargs:
            kwargs.setdefault("access_token", "shpat_static_token_value_123")
        kwargs.setdefault("base_url", fake.base_url)
        kwargs.setdefault("redis", redis_conn)
        client = ShopifyClient(**kwargs)
        client.slept = []
        if not real_sleep:
            client.budget._sleep = client.slept.append
            client.sleep = client.slept.append
        created.append(client)
        return client

    yield factory
    for client in created:
        client.close()


def token_request_fields(request) -> dict:
    return {
        k: v[0]
        for k, v in parse_qs(request.body if isinstance(request.body, str) else request.body.decode()).items()
    }
