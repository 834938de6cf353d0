"""The catalog manager's product list and page: per-store sync state, filters, search, bulk store actions,
Publish now, and a save message saying what was queued; query counts bounded."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from channels import services as channel_services
from channels.models import ChannelAssignment, Store, SyncJob
from pim import services
from pim.models import Product

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:pim_product_changelist"


@pytest.fixture(autouse=True)
def no_dispatch(monkeypatch):
    sent = []
    monkeypatch.setattr(channel_services, "sync_jobs_dispatch",
                        lambda *, job_ids, delay=None: sent.append(list(job_ids)) or len(job_ids))
    return sent


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


@pytest.fixture
def stores():
    return (Store.objects.create(name="North", shop_domain="north.myshopify.com", access_token="shpat_n"),
            Store.objects.create(name="South", shop_domain="south.myshopify.com", access_token="shpat_s"))


def make(n: int, *, ready=True, barcode="") -> Product:
    return services.product_create(
        title=f"Tee {n}", workflow_state=Product.Workflow.READY if ready else Product.Workflow.DRAFT,
        variants=[{"sku": f"TEE-{n}-RED", "price": Decimal("10"), "barcode": barcode}],
    )


def test_list_shows_each_store_state_and_stays_bounded(admin_client, stores):
    north, south = stores

    def queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as ctx:
            page = admin_client.get(reverse(CHANGELIST))
        assert page.status_code == 200
        return len(ctx.captured_queries), page.content.decode()

    products = [make(n) for n in range(3)]
    ChannelAssignment.objects.create(product=products[0], store=north, shopify_product_id="101")
    ChannelAssignment.objects.create(product=products[1], store=north, held=True, shopify_product_id="102")
    ChannelAssignment.objects.create(product=products[2], store=south)
    SyncJob.objects.create(store=south, product=products[2], status=SyncJob.Status.DEAD,
                           last_error="ShopifyUserError: Handle has already been taken")
    small, html = queries()
    assert "North: published" in html and "North: held by a conflict" in html and "South: failed" in html
    assert "Handle has already been taken" in html  # the error, in words, as the state's tooltip
    assert "TEE-0-RED" in html and "10.00" in html
    for n in range(3, 40):
        p = make(n)
        ChannelAssignment.objects.create(product=p, store=north if n % 2 else south, shopify_product_id=str(n))
        SyncJob.objects.create(store=north, product=p, status=SyncJob.Status.PENDING)
    large, _ = queries()
    assert small == large, (small, large)


def test_search_finds_partial_sku_and_barcode_in_any_case(admin_client):
    make(1, barcode="4006381333931")
    make(2)
    found = admin_client.get(reverse(CHANGELIST), {"q": "tee-1-r"}).content.decode()
    assert "Tee 1" in found and "Tee 2" not in found
    found = admin_client.get(reverse(CHANGELIST), {"q": "63813339"}).content.decode()
    assert "Tee 1" in found and "Tee 2" not in found


def test_filters_by_store_and_sync_state(admin_client, stores):
    north, south = stores
    a, b, c = make(1), make(2), make(3)
    ChannelAssignment.objects.create(product=a, store=north, shopify_product_id="1")
    ChannelAssignment.objects.create(product=b, store=south)
    SyncJob.objects.create(store=south, product=b, status=SyncJob.Status.DEAD, last_error="x")
    ChannelAssignment.objects.create(product=c, store=south)
    page = admin_client.get(reverse(CHANGELIST), {"store": north.pk}).content.decode()
    assert "Tee 1" in page and "Tee 2" not in page
    page = admin_client.get(reverse(CHANGELIST), {"sync": "failed"}).content.decode()
    assert "Tee 2" in page and "Tee 1" not in page and "Tee 3" not in page
    page = admin_client.get(reverse(CHANGELIST), {"sync": "never"}).content.decode()
    assert "Tee 2" in page and "Tee 3" in page and "Tee 1" not in page


def test_product_page_panel_and_publish_now(admin_client, stores, no_dispatch):
    north, _ = stores
    product = make(1)
    ChannelAssignment.objects.create(product=product, store=north, shopify_product_id="555")
    page = admin_client.get(reverse("admin:pim_product_change", args=[product.pk])).content.decode()
    assert 'id="store-panel"' in page and 'data-state="published"' in page
    assert "https://north.myshopify.com/products/tee-1" in page
    assert "https://admin.shopify.com/store/north/products/555" in page
    url = reverse("admin:channels_channelassignment_publish_now", args=[product.pk])
    assert url in page
    confirm = admin_client.get(url)
    assert confirm.status_code == 200 and "North" in confirm.content.decode()
    assert not SyncJob.objects.exists()  # nothing before confirmation
    done = admin_client.post(url)
    assert done.status_code == 302
    assert SyncJob.objects.filter(store=north, product=product, status="pending").count() == 1


def test_view_only_staff_sees_the_panel_but_cannot_publish(client, django_user_model, stores):
    product = make(1)
    ChannelAssignment.objects.create(product=product, store=stores[0])
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_product"))
    client.force_login(user)
    page = client.get(reverse("admin:pim_product_change", args=[product.pk])).content.decode()
    assert 'id="store-panel"' in page and 'id="publish-now"' not in page
    url = reverse("admin:channels_channelassignment_publish_now", args=[product.pk])
    assert client.post(url).status_code == 403
    response = client.post(reverse(CHANGELIST), {"action": "publish_now", "_selected_action": [product.pk],
                                                 "confirmed": "yes"})
    assert response.status_code in (200, 302)
    assert not SyncJob.objects.exists()


def test_bulk_assign_and_remove_with_a_store_choice(admin_client, stores, no_dispatch):
    north, _ = stores
    products = [make(n) for n in range(5)]
    ids = [p.pk for p in products]
    confirm = admin_client.post(reverse(CHANGELIST), {"action": "assign_to_store", "_selected_action": ids})
    html = confirm.content.decode()
    assert confirm.status_code == 200 and 'name="store"' in html and "5 selected" in html
    assert not ChannelAssignment.objects.exists()
    admin_client.post(reverse(CHANGELIST), {"action": "assign_to_store", "_selected_action": ids,
                                            "confirmed": "yes", "store": north.pk})
    assert ChannelAssignment.objects.filter(store=north, publish=True).count() == 5
    assert SyncJob.objects.filter(store=north, status="pending").count() == 5
    admin_client.post(reverse(CHANGELIST), {"action": "remove_from_store", "_selected_action": ids[:2],
                                            "confirmed": "yes", "store": north.pk})
    assert ChannelAssignment.objects.filter(store=north, publish=False).count() == 2
    # Bulk changes keep the assignments' history like single edits (who, when, what).
    history = ChannelAssignment.history.filter(store_id=north.pk)
    assert history.count() == 7 and all(h.history_user and h.history_user.username == "admin" for h in history)


def test_save_message_says_what_was_queued(admin_client, stores):
    north, south = stores
    product = make(1, ready=False)
    ChannelAssignment.objects.create(product=product, store=north)
    ChannelAssignment.objects.create(product=product, store=south)
    from django.test import RequestFactory

    from channels.product_admin import product_saved

    request = RequestFactory().get("/")
    assert "Saved in the PIM only" in product_saved(request, product)
    product.workflow_state = Product.Workflow.READY
    assert product_saved(request, product) == "Queued to publish to North, South."
    ChannelAssignment.objects.all().delete()
    assert product_saved(request, product) == "Not assigned to any store: nothing was queued."
