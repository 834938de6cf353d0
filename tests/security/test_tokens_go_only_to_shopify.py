"""Tokens go only to Shopify: a store's domain and base URL are validated in full, workers refuse anything
else before sending, and the token request follows no redirect."""

import uuid

import pytest
import responses
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from channels import services
from channels.clients import client_for_store
from channels.endpoints import StoreEndpointRefused
from channels.models import Store
from channels.shopify.exceptions import ShopifyAuthError

pytestmark = pytest.mark.django_db

BAD_DOMAINS = [
    "evil.example.com",
    "evil.example.com?.myshopify.com",
    "evil.example.com#.myshopify.com",
    "evil.example.com/.myshopify.com",
    "a.myshopify.com.evil.example.com",
    "user@evil.example.com/x.myshopify.com",
    "a.myshopify.com:8443",
    "-a.myshopify.com",
    "a..myshopify.com",
    "127.0.0.1",
]


@pytest.mark.parametrize("domain", BAD_DOMAINS)
def test_model_refuses_anything_but_a_full_myshopify_domain(domain):
    store = Store(name="x", shop_domain=domain, access_token="shpat_x")
    with pytest.raises(ValidationError) as err:
        store.full_clean()
    assert "shop_domain" in err.value.message_dict


def test_model_accepts_a_myshopify_domain():
    Store(name="x", shop_domain="my-shop-2.myshopify.com", access_token="shpat_x").full_clean()


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "https://evil.example.com", "http://127.0.0.1:1"])
def test_base_url_override_is_refused_unless_the_setting_allows_it(settings, url):
    settings.SHOPIFY_ALLOW_BASE_URL_OVERRIDE = False
    store = Store(name="x", shop_domain="a.myshopify.com", api_base_url=url, access_token="shpat_x")
    with pytest.raises(ValidationError) as err:
        store.full_clean()
    assert "api_base_url" in err.value.message_dict


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://user:pw@127.0.0.1:8765/a.myshopify.com",
                                 "http://127.0.0.1:8765/a.myshopify.com?x=1"])
def test_base_url_override_must_be_plain_http_even_when_allowed(settings, url):
    settings.SHOPIFY_ALLOW_BASE_URL_OVERRIDE = True
    store = Store(name="x", shop_domain="a.myshopify.com", api_base_url=url, access_token="shpat_x")
    with pytest.raises(ValidationError) as err:
        store.full_clean()
    assert "api_base_url" in err.value.message_dict


def test_admin_form_refuses_a_lookalike_domain(django_user_model):
    admin = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    client = Client()
    client.force_login(admin)
    response = client.post(reverse("admin:channels_store_add"), {
        "name": "Evil", "shop_domain": "evil.example.com?.myshopify.com", "api_version": "2026-07",
        "auth_mode": "static_token", "access_token": "shpat_secret", "plan": "standard", "is_active": "on",
        "default_conflict_policy": "overwrite", "unpublish_action": "DRAFT", "publish_fields": ["title"],
        "metafield_mappings-TOTAL_FORMS": "0", "metafield_mappings-INITIAL_FORMS": "0",
    })
    assert response.status_code == 200  # the form again, with the error
    assert "myshopify domain" in response.content.decode()
    assert not Store.objects.exists()


@responses.activate
@pytest.mark.parametrize("domain,base_url", [
    ("evil.example.com?.myshopify.com", ""),           # stored before validation existed
    ("a.myshopify.com", "http://169.254.169.254/x"),   # override with the setting off
])
def test_worker_refuses_to_send_the_token_to_another_host(settings, domain, base_url):
    settings.SHOPIFY_ALLOW_BASE_URL_OVERRIDE = False
    responses.add_passthru("http://127.0.0.1")  # nothing else may be called
    store = Store.objects.create(name="x", shop_domain=domain, api_base_url=base_url, access_token="shpat_secret")
    with pytest.raises(StoreEndpointRefused):
        services.store_test_connection(store=store)
    assert len(responses.calls) == 0


def test_the_override_is_used_when_allowed(settings):
    settings.SHOPIFY_ALLOW_BASE_URL_OVERRIDE = True
    store = Store(name="x", shop_domain="a.myshopify.com", api_base_url="http://127.0.0.1:8765/a.myshopify.com")
    assert store.base_url == "http://127.0.0.1:8765/a.myshopify.com"
    settings.SHOPIFY_ALLOW_BASE_URL_OVERRIDE = False
    store.api_base_url = ""
    assert store.base_url == "https://a.myshopify.com"


@responses.activate
def test_token_request_follows_no_redirect(settings):
    settings.SHOPIFY_ALLOW_BASE_URL_OVERRIDE = False
    domain = f"t{uuid.uuid4().hex[:10]}.myshopify.com"
    responses.add(responses.POST, f"https://{domain}/admin/oauth/access_token", status=307,
                  headers={"Location": "https://collector.example.net/steal"})
    responses.add(responses.POST, "https://collector.example.net/steal",
                  json={"access_token": "shpat_evil", "scope": "read_products", "expires_in": 86399})
    responses.add(responses.GET, "https://collector.example.net/steal",
                  json={"access_token": "shpat_evil", "scope": "read_products", "expires_in": 86399})
    store = Store.objects.create(name="cc", shop_domain=domain, auth_mode=Store.AuthMode.CLIENT_CREDENTIALS,
                                 client_id="cid", client_secret="shpss_topsecret")
    client = client_for_store(store)
    with pytest.raises(ShopifyAuthError):
        client.auth.get_token()
    assert [c.request.url for c in responses.calls] == [f"https://{domain}/admin/oauth/access_token"]
