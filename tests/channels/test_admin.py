import pytest
from django.urls import reverse

from channels import services
from channels.models import Store, SyncAttempt, SyncJob
from tests.e2e.conftest import make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    return client


def sim_store(sim, shop="shop-a", **extra):
    creds = sim.shops[shop]
    return Store.objects.create(name=shop, shop_domain=creds.domain, api_base_url=creds.base_url,
                                access_token=creds.access_token, **extra)


def test_test_connection_shows_shop_and_missing_scopes(admin_client, shopify_sim):
    store = sim_store(shopify_sim)
    url = reverse("admin:channels_store_changelist")
    confirm = admin_client.post(url, {"action": "test_connection", "_selected_action": [store.pk]})
    assert "Test the connection" in confirm.content.decode()
    shopify_sim.control.missing_scopes("shop-a", ["read_orders"])
    response = admin_client.post(url, {"action": "test_connection", "_selected_action": [store.pk],
                                       "confirmed": "yes"}, follow=True)
    text = response.content.decode()
    assert "connected to" in text and "read_orders" in text
    shopify_sim.control.clear_faults("shop-a")
    shopify_sim.control.invalid_token("shop-a")
    response = admin_client.post(url, {"action": "test_connection", "_selected_action": [store.pk],
                                       "confirmed": "yes"}, follow=True)
    assert "refused the credentials (401)" in response.content.decode()


def test_health_page_and_replay_action(admin_client, shopify_sim, monkeypatch):
    store = sim_store(shopify_sim)
    product = make_product()
    monkeypatch.setattr(services, "sync_jobs_dispatch", lambda *, job_ids, delay=None: 0)
    services.assignment_set(product=product, store=store)
    job = SyncJob.objects.get()
    SyncJob.objects.filter(pk=job.pk).update(status="dead", last_error="boom", attempts=8)
    SyncAttempt.objects.create(job=job, number=1, started_at=job.created_at, outcome="error", error="boom")
    health = admin_client.get(reverse("admin:channels_store_health", args=[store.pk]))
    assert health.status_code == 200 and "Dead letters" in health.content.decode()
    assert admin_client.get(reverse("admin:channels_sync_health")).status_code == 200
    page = admin_client.get(reverse("admin:channels_syncjob_change", args=[job.pk]))
    assert page.status_code == 200 and "boom" in page.content.decode()
    url = reverse("admin:channels_syncjob_changelist")
    confirm = admin_client.post(url, {"action": "replay", "_selected_action": [job.pk]})
    assert "Replay these sync jobs" in confirm.content.decode()
    admin_client.post(url, {"action": "replay", "_selected_action": [job.pk], "confirmed": "yes"})
    job.refresh_from_db()
    assert job.status == "pending" and job.attempts == 0


def test_store_sales_channels_are_chosen_in_the_admin(admin_client, shopify_sim):
    store = sim_store(shopify_sim)
    assert store.publications == ["Online Store"]  # the default
    url = reverse("admin:channels_store_change", args=[store.pk])
    page = admin_client.get(url).content.decode()
    assert 'value="Online Store"' in page
    form = {
        "name": store.name, "shop_domain": store.shop_domain, "api_base_url": store.api_base_url,
        "api_version": store.api_version, "auth_mode": store.auth_mode, "plan": store.plan, "is_active": "on",
        "default_conflict_policy": store.default_conflict_policy, "unpublish_action": store.unpublish_action,
        "publish_fields": store.publish_fields, "publications": " Online Store ,Point of Sale,, ",
        "metafield_mappings-TOTAL_FORMS": "0", "metafield_mappings-INITIAL_FORMS": "0",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    store.refresh_from_db()
    assert store.publications == ["Online Store", "Point of Sale"]
    assert store.access_token  # the write-only token was kept
    # Changing the channels queues a publish of every product already published there.
    from channels.models import ChannelAssignment

    product = make_product(title="Chan", sku_prefix="CH")
    ChannelAssignment.objects.create(product=product, store=store, shopify_product_id="123")
    SyncJob.objects.all().delete()
    form["publications"] = "Online Store"
    assert admin_client.post(url, form).status_code == 302
    assert list(SyncJob.objects.filter(store=store, status="pending").values_list("product_id", flat=True)) == [
        product.pk]
