"""Security review checks: CSRF on admin actions, permissions, tokens never shown or logged."""

import logging

import pytest
from django.test import Client
from django.urls import reverse

from channels import services
from channels.models import Store, SyncJob
from conflicts.models import Conflict
from tests.e2e.conftest import make_product

pytestmark = pytest.mark.django_db


def test_admin_actions_require_csrf_token(django_user_model):
    store = Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="x")
    conflict = Conflict.objects.create(store=store, shopify_product_id="1", field="title", policy_applied="overwrite")
    user = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(reverse("admin:conflicts_conflict_changelist"),
                           {"action": "hold", "_selected_action": [conflict.pk], "confirmed": "yes"})
    assert response.status_code == 403
    conflict.refresh_from_db()
    assert conflict.status == "open"


def test_staff_without_permissions_cannot_reach_stores_or_resolve(django_user_model):
    store = Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="shpat_visible?")
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(reverse("admin:channels_store_change", args=[store.pk])).status_code == 403
    assert client.get(reverse("admin:conflicts_conflict_changelist")).status_code == 403


def test_publishing_never_logs_the_token(shopify_sim, caplog, monkeypatch):
    creds = shopify_sim.shops["shop-a"]
    store = Store.objects.create(name="shop-a", shop_domain=creds.domain, api_base_url=creds.base_url,
                                 access_token=creds.access_token)
    monkeypatch.setattr(services, "sync_jobs_dispatch", lambda *, job_ids, delay=None: 0)
    product = make_product(title="Secret Tee", sku_prefix="SEC")
    services.assignment_set(product=product, store=store)
    shopify_sim.control.invalid_token("shop-a")  # errors are logged too: they must not carry the token
    with caplog.at_level(logging.DEBUG):
        result = services.sync_job_execute(job_id=SyncJob.objects.get().pk)
    assert result.status == "dead"
    assert creds.access_token not in caplog.text
    assert creds.access_token not in SyncJob.objects.get().last_error
    assert "ShopifyAuthError" in SyncJob.objects.get().last_error
