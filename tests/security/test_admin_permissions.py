"""View is not change: every admin view checks the matching permission server-side, the RQ dashboard needs its
own permission, audit rows can't be deleted, and a history revert is an ordinary edit through the services."""

from decimal import Decimal

import django_rq
import django_rq.settings
import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from channels.models import ChannelAssignment, Store, SyncJob, VariantOverride
from inventory.models import StockMovement, WebhookEvent
from pim import services as pim_services
from pim.models import Product

pytestmark = pytest.mark.django_db


def staff(django_user_model, name, *perms):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    client = Client()
    client.force_login(user)
    return user, client


@pytest.fixture
def product():
    product = pim_services.product_create(title="Original", variants=[{"sku": "REV-1", "price": Decimal("10")}])
    product.title = "Edited"
    pim_services.product_save(product=product, reason="edit")
    return product


def _revert_post(client, product, version_id, **overrides):
    url = reverse("admin:pim_product_simple_history", args=[product.pk, version_id])
    data = {"title": "Original", "handle": product.handle, "status": product.status,
            "workflow_state": product.workflow_state, "description_html": "", "vendor": "", "product_type": "",
            "tags": "", "option1_name": "", "option2_name": "", "option3_name": "", "seo_title": "",
            "seo_description": "", **overrides}
    return client.post(url, data)


def test_view_only_staff_cannot_revert_a_product_from_its_history(django_user_model, product):
    _, client = staff(django_user_model, "viewer", "pim.view_product")
    first = product.history.order_by("history_id").first()
    assert client.get(reverse("admin:pim_product_simple_history", args=[product.pk, first.history_id])) \
        .status_code == 200  # viewing is allowed
    response = _revert_post(client, product, first.history_id)
    assert response.status_code == 403
    product.refresh_from_db()
    assert product.title == "Edited"


def test_a_revert_goes_through_the_catalog_services(django_user_model, product):
    store = Store.objects.create(name="S", shop_domain="s.myshopify.com", access_token="t")
    ChannelAssignment.objects.create(product=product, store=store)
    SyncJob.objects.all().delete()
    user, client = staff(django_user_model, "editor", "pim.view_product", "pim.change_product")
    first = product.history.order_by("history_id").first()
    response = _revert_post(client, product, first.history_id)
    assert response.status_code == 302
    product.refresh_from_db()
    assert product.title == "Original"
    latest = product.history.latest("history_id")
    assert latest.history_user == user and latest.history_change_reason == f"Reverted to version {first.history_id}"
    # published like any edit
    assert SyncJob.objects.filter(product=product, store=store, status="pending").exists()


def test_a_revert_that_breaks_a_rule_is_refused_and_changes_nothing(django_user_model, product):
    user, client = staff(django_user_model, "editor", "pim.view_product", "pim.change_product")
    first = product.history.order_by("history_id").first()
    Product.objects.filter(pk=product.pk).update(first_published_at="2026-01-01T00:00:00Z", handle="edited")
    # the old version had another handle: published products keep theirs
    response = _revert_post(client, product, first.history_id, handle="original")
    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.title, product.handle) == ("Edited", "edited")


def test_the_rq_dashboard_needs_its_own_permission(django_user_model):
    queue = django_rq.get_queue("default")
    queue.enqueue("builtins.print", "x")
    before = queue.count
    index = [q["name"] for q in django_rq.settings.get_queues_list()].index("default")
    _, client = staff(django_user_model, "plain")
    assert client.get("/admin/rq/").status_code == 403
    assert client.post(f"/admin/rq/queues/{index}/empty/", {"post": "yes"}).status_code == 403
    # django-rq's own copy of the dashboard inside the admin (guarded only by "is staff") is not mounted.
    assert client.get("/admin/django_rq/dashboard/").status_code == 404
    assert client.post(f"/admin/django_rq/dashboard/queues/{index}/empty/", {"post": "yes"}).status_code == 404
    assert queue.count == before >= 1
    _, ops = staff(django_user_model, "ops", "channels.use_rq_dashboard")
    assert ops.get("/admin/rq/").status_code == 200
    django_rq.get_queue("default").empty()


def test_the_health_page_needs_store_view_permission(django_user_model):
    store = Store.objects.create(name="Secret store", shop_domain="secret.myshopify.com", access_token="t")
    _, client = staff(django_user_model, "plain", "pim.view_product")
    assert client.get(reverse("admin:channels_sync_health")).status_code == 403
    assert client.get(reverse("admin:channels_store_health", args=[store.pk])).status_code == 403
    _, viewer = staff(django_user_model, "viewer", "channels.view_store")
    response = viewer.get(reverse("admin:channels_sync_health"))
    assert response.status_code == 200 and "Secret store" in response.content.decode()


@pytest.mark.parametrize("model", [SyncJob, StockMovement, WebhookEvent])
def test_audit_trail_rows_have_no_delete_in_the_admin(django_user_model, model):
    root = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    client = Client()
    client.force_login(root)
    opts = model._meta
    response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert response.status_code == 200
    assert "delete_selected" not in response.content.decode()
    assert client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[1])).status_code in (
        403, 404)  # never a confirmation page
    if model is SyncJob:
        store = Store.objects.create(name="S", shop_domain="s.myshopify.com", access_token="t")
        job = SyncJob.objects.create(store=store, product_label="x")
        url = reverse("admin:channels_syncjob_delete", args=[job.pk])
        assert client.post(url, {"post": "yes"}).status_code == 403
        assert SyncJob.objects.filter(pk=job.pk).exists()


def test_store_assignment_and_override_changes_keep_history(django_user_model, product):
    root = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    client = Client()
    client.force_login(root)
    response = client.post(reverse("admin:channels_store_add"), {
        "name": "Audited", "shop_domain": "audited.myshopify.com", "api_version": "2026-07",
        "auth_mode": "static_token", "access_token": "shpat_secret_token", "plan": "standard", "is_active": "on",
        "default_conflict_policy": "overwrite", "unpublish_action": "DRAFT", "publish_fields": ["title"],
        "metafield_mappings-TOTAL_FORMS": "0", "metafield_mappings-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    store = Store.objects.get(name="Audited")
    record = store.history.get()
    assert record.history_user == root and record.history_type == "+"
    assert not hasattr(record, "access_token")  # credentials are never copied into history
    assignment = ChannelAssignment.objects.create(product=product, store=store, title_override="Promo")
    override = VariantOverride.objects.create(assignment=assignment, variant=product.variants.get(),
                                              price=Decimal("9"))
    override.price = Decimal("8")
    override.save()
    assert assignment.history.count() == 1
    assert [h.price for h in override.history.order_by("history_id")] == [Decimal("9"), Decimal("8")]
    assert client.get(reverse("admin:channels_store_history", args=[store.pk])).status_code == 200
