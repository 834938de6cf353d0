"""Connecting a store through the guided form, against the simulator: the steps and exact scopes shown, Save and
test reads the shop's name, plan and scopes, lists its locations and registers the webhooks; a wrong token or a
missing scope says what to do; only users who may add stores get the form."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from channels.models import PUBLISH_FIELDS, Store
from channels.shopify.shop_api import REQUIRED_SCOPES
from inventory.subscriptions import webhook_topics_needed

URL = "admin:channels_store_connect"
HOOKS = "http://127.0.0.1:9/shopify/webhooks/"


@pytest.fixture
def admin_client(client, django_user_model, settings, transactional_db):
    settings.SHOPIFY_WEBHOOK_URL = HOOKS
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    return client


def form_data(creds, **extra):
    return {"name": "Shop A", "shop_domain": creds.domain, "api_base_url": creds.base_url,
            "auth_mode": "static_token", "access_token": creds.access_token, "webhook_secret": creds.webhook_secret,
            "client_id": "", "client_secret": "", "plan": "standard", **extra}


def test_the_form_explains_the_app_and_lists_the_exact_scopes(admin_client):
    page = admin_client.get(reverse(URL)).content.decode()
    assert "Develop apps" in page and "Dev Dashboard" in page and "only once" in page
    for scope in REQUIRED_SCOPES:
        assert scope in page
    assert reverse(URL) in admin_client.get(reverse("admin:channels_store_changelist")).content.decode()


def test_save_and_test_connects_lists_locations_and_registers_webhooks(admin_client, shopify_sim, sim_control):
    creds = shopify_sim.shops["shop-a"]
    page = admin_client.post(reverse(URL), form_data(creds)).content.decode()
    assert "Connected to" in page, page[-3000:]
    store = Store.objects.get(name="Shop A")
    assert sorted(store.publish_fields) == sorted(key for key, _ in PUBLISH_FIELDS)  # every field on
    assert "Locations in Shopify" in page and "Map locations" in page
    topics = {s["topic"] for s in sim_control.webhook_subscriptions("shop-a") if s["uri"] == HOOKS}
    assert topics == set(webhook_topics_needed())
    assert store.webhook_health.callback_url == HOOKS  # the hourly check keeps them healthy from now on


def test_a_wrong_token_says_what_to_do_and_test_again_passes_once_fixed(admin_client, shopify_sim):
    creds = shopify_sim.shops["shop-a"]
    page = admin_client.post(reverse(URL), form_data(creds, access_token="shpat_wrong")).content.decode()
    assert "Not connected yet" in page and "(401)" in page and "only once" in page
    store = Store.objects.get(name="Shop A")
    store.access_token = creds.access_token
    store.save()
    again = admin_client.post(reverse("admin:channels_store_connect_test", args=[store.pk])).content.decode()
    assert "Connected to" in again


def test_a_missing_scope_is_named_with_where_to_grant_it(admin_client, shopify_sim, sim_control):
    sim_control.missing_scopes("shop-a", ["read_orders"])
    page = admin_client.post(reverse(URL), form_data(shopify_sim.shops["shop-a"])).content.decode()
    assert "read_orders" in page and "reinstall the app" in page
    assert not sim_control.webhook_subscriptions("shop-a")  # nothing registered before the scopes are right


def test_bad_input_is_refused_and_nothing_is_saved(admin_client, shopify_sim):
    creds = shopify_sim.shops["shop-a"]
    page = admin_client.post(reverse(URL), form_data(creds, shop_domain="shop-a.example.com")).content.decode()
    assert "errorlist" in page and not Store.objects.exists()


def test_only_users_who_may_add_stores_get_the_form(client, django_user_model, transactional_db):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_store"))
    client.force_login(user)
    assert client.get(reverse(URL)).status_code == 403
    assert client.post(reverse(URL), {"name": "x"}).status_code == 403


def test_the_plain_add_form_ticks_every_publish_field(admin_client):
    page = admin_client.get(reverse("admin:channels_store_add")).content.decode()
    for key, _ in PUBLISH_FIELDS:
        assert f'value="{key}"' in page
    import re

    boxes = re.findall(r'<input[^>]*name="publish_fields"[^>]*>', page)
    assert len(boxes) == len(PUBLISH_FIELDS) and all("checked" in box for box in boxes)
