"""Webhook deliveries: freshness window, no stored signature, app/uninstalled names its shop, no cross-shop
replay, headers checked before the body is read, and Dev Dashboard apps verified with their client secret."""

import io
import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone

from channels.models import Store
from inventory.inbox import webhook_event_process
from inventory.models import WebhookEvent
from inventory.views import shopify_webhook
from tests.inventory.conftest import sign

pytestmark = pytest.mark.django_db

PATH = "/shopify/webhooks/"
SECRET = "shpss_shared_app_secret"  # one app installed on two shops: the same secret signs both


@pytest.fixture
def stores():
    a = Store.objects.create(name="A", shop_domain="shop-a.myshopify.com", access_token="t", webhook_secret=SECRET)
    b = Store.objects.create(name="B", shop_domain="shop-b.myshopify.com", access_token="t", webhook_secret=SECRET)
    return a, b


def headers_for(body: bytes, *, shop: str, topic: str = "orders/create", secret: str = SECRET, triggered=None):
    return {
        "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": sign(body, secret), "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": "2026-07", "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": (triggered or timezone.now()).isoformat(),
    }


def post(body: bytes, **kwargs):
    return Client().post(PATH, data=body, content_type="application/json", headers=headers_for(body, **kwargs))


ORDER = json.dumps({"id": 450789469, "name": "#1001", "line_items": []}).encode()


def test_a_delivery_older_than_the_window_is_refused(stores, settings):
    settings.WEBHOOK_MAX_AGE_SECONDS = 6 * 3600
    old = timezone.now() - timedelta(hours=7)
    response = post(ORDER, shop="shop-a.myshopify.com", triggered=old)
    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0
    # Inside the (configurable) window it is accepted.
    settings.WEBHOOK_MAX_AGE_SECONDS = 8 * 3600
    assert post(ORDER, shop="shop-a.myshopify.com", triggered=old).status_code == 200
    assert WebhookEvent.objects.count() == 1


def test_a_delivery_without_triggered_at_is_refused(stores):
    headers = headers_for(ORDER, shop="shop-a.myshopify.com")
    del headers["X-Shopify-Triggered-At"]
    response = Client().post(PATH, data=ORDER, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0


def test_the_signature_header_is_not_stored(stores):
    assert post(ORDER, shop="shop-a.myshopify.com").status_code == 200
    event = WebhookEvent.objects.get()
    assert not any(k.lower() == "x-shopify-hmac-sha256" for k in event.headers)
    assert event.headers["X-Shopify-Topic"] == "orders/create"


def _uninstalled(domain: str) -> bytes:
    return json.dumps({"id": 1, "name": "Shop", "domain": domain, "myshopify_domain": domain}).encode()


def test_app_uninstalled_only_disables_the_shop_its_payload_names(stores):
    a, b = stores
    # shop-b's uninstall body, delivered under shop-a's name (same app secret, so the signature verifies)
    assert post(_uninstalled("shop-b.myshopify.com"), shop="shop-a.myshopify.com",
                topic="app/uninstalled").status_code == 200
    event = WebhookEvent.objects.get()
    webhook_event_process(event_id=event.pk)
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.is_active and b.is_active
    event.refresh_from_db()
    assert "ignored" in event.result
    # Its own uninstall disables it (and only it).
    assert post(_uninstalled("shop-a.myshopify.com"), shop="shop-a.myshopify.com",
                topic="app/uninstalled").status_code == 200
    webhook_event_process(event_id=WebhookEvent.objects.latest("pk").pk)
    a.refresh_from_db()
    b.refresh_from_db()
    assert not a.is_active and b.is_active


def test_the_same_body_resent_under_another_shop_is_not_applied(stores):
    assert post(ORDER, shop="shop-a.myshopify.com").status_code == 200
    response = post(ORDER, shop="shop-b.myshopify.com")
    assert response.status_code == 409
    assert list(WebhookEvent.objects.values_list("shop_domain", flat=True)) == ["shop-a.myshopify.com"]
    # The shop it belongs to may deliver it again (the inbox's own deduplication handles that).
    assert post(ORDER, shop="shop-a.myshopify.com").status_code == 200
    assert not WebhookEvent.objects.filter(shop_domain="shop-b.myshopify.com").exists()


class ExplodingStream(io.BytesIO):
    """A request body that must not be read."""

    def read(self, *args, **kwargs):
        raise AssertionError("the body was read")

    readline = read


def _raw_request(headers: dict, length: int):
    request = RequestFactory().post(PATH, data=b"", content_type="application/json",
                                    headers=headers)
    request.META["CONTENT_LENGTH"] = str(length)
    request._stream = ExplodingStream()
    request.META["wsgi.input"] = ExplodingStream()
    return request


@pytest.mark.parametrize("case", ["unknown shop", "no signature", "stale", "too large"])
def test_shop_signature_and_size_are_checked_before_the_body_is_read(stores, settings, case):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    headers = headers_for(ORDER, shop="unknown-shop.myshopify.com" if case == "unknown shop" else
                          "shop-a.myshopify.com")
    length = 100
    if case == "no signature":
        del headers["X-Shopify-Hmac-Sha256"]
    if case == "stale":
        headers["X-Shopify-Triggered-At"] = (timezone.now() - timedelta(days=3)).isoformat()
    if case == "too large":
        length = 50 * 1024 * 1024
    response = shopify_webhook(_raw_request(headers, length))
    assert response.status_code == {"unknown shop": 401, "no signature": 401, "stale": 400, "too large": 413}[case]
    assert WebhookEvent.objects.count() == 0


def test_a_body_larger_than_the_limit_is_refused_even_without_a_length(stores, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 64
    big = json.dumps({"id": 1, "note": "x" * 200}).encode()
    assert post(big, shop="shop-a.myshopify.com").status_code == 413
    assert WebhookEvent.objects.count() == 0


def test_dev_dashboard_app_webhooks_verify_with_the_client_secret():
    store = Store.objects.create(name="DD", shop_domain="dd-shop.myshopify.com",
                                 auth_mode=Store.AuthMode.CLIENT_CREDENTIALS, client_id="cid",
                                 client_secret="shpss_dev_dashboard")
    response = post(ORDER, shop="dd-shop.myshopify.com", secret="shpss_dev_dashboard")
    assert response.status_code == 200
    assert WebhookEvent.objects.get().store == store
    # A custom app made in the shop's admin signs with its API secret key (the webhook secret field).
    Store.objects.create(name="CA", shop_domain="ca-shop.myshopify.com", access_token="shpat_x",
                         webhook_secret="api_secret_key")
    assert post(ORDER.replace(b"450789469", b"450789470"), shop="ca-shop.myshopify.com",
                secret="api_secret_key").status_code == 200
    assert post(ORDER.replace(b"450789469", b"450789471"), shop="dd-shop.myshopify.com",
                secret="api_secret_key").status_code == 401
