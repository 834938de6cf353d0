"""The admin index as a dashboard: counters of what needs attention, linked; catalog first; sync health and the RQ
dashboard linked from the top for those allowed; no "View site" leading to a 404. The product list's stock column."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from channels.models import Store, SyncJob
from conflicts.models import Conflict
from inventory.ledger import stock_receive
from inventory.models import Location, WebhookEvent
from pim import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    return client


def test_index_counts_what_needs_attention_with_links(superuser_client):
    store = Store.objects.create(name="North", shop_domain="north.myshopify.com", access_token="shpat_n")
    Conflict.objects.create(store=store, shopify_product_id="1", field="title", policy_applied="overwrite")
    SyncJob.objects.create(store=store, product_label="P", status=SyncJob.Status.DEAD)
    SyncJob.objects.create(store=store, product_label="Q", status=SyncJob.Status.DEAD)
    WebhookEvent.objects.create(shop_domain=store.shop_domain, topic="orders/create", webhook_id="w", raw_body=b"{",
                                status=WebhookEvent.Status.FAILED)
    html = superuser_client.get(reverse("admin:index")).content.decode()
    assert 'id="pim-dashboard"' in html
    assert "Open conflicts" in html and "Publish jobs dead-lettered" in html and "Webhook deliveries that failed" in html
    assert reverse("admin:channels_syncjob_changelist") + "?status__exact=dead" in html
    assert '>2</a>' in html  # two dead letters
    # Catalog first among the apps; the health page and the RQ dashboard are linked from the top.
    apps = [html.index(f'title="Models in the {name} application"') for name in
            ("Catalog", "Conflicts", "Inventory", "Stores and publishing")]
    assert apps == sorted(apps)
    assert reverse("admin:channels_sync_health") in html and "RQ dashboard" in html
    assert "View site" not in html


def test_staff_sees_only_the_counters_and_links_they_may_use(client, django_user_model):
    user = django_user_model.objects.create_user("cm", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_conflict"))
    client.force_login(user)
    html = client.get(reverse("admin:index")).content.decode()
    assert "Open conflicts" in html
    assert "Publish jobs dead-lettered" not in html and "Webhook deliveries that failed" not in html
    assert "RQ dashboard" not in html and reverse("admin:channels_sync_health") not in html


def test_product_list_shows_total_available_stock(superuser_client):
    product = services.product_create(title="Tee", option1_name="Size", variants=[
        {"sku": "T-S", "option1": "S", "price": Decimal("10")}, {"sku": "T-M", "option1": "M", "price": Decimal("12")}])
    small, medium = product.variants.order_by("sku")
    main = Location.objects.create(name="Main")
    shop = Location.objects.create(name="Shop")
    for variant, qty in ((small, 5), (medium, 7)):
        stock_receive(variant=variant, location=main, quantity=qty, source_ref=f"t:{variant.sku}:main")
        stock_receive(variant=variant, location=shop, quantity=1, source_ref=f"t:{variant.sku}:shop")
    html = superuser_client.get(reverse("admin:pim_product_changelist")).content.decode()
    assert "available" in html
    assert '<td class="field-available_column">14</td>' in html  # 5 + 1 + 7 + 1, joins not multiplied
    assert "10.00 – 12.00" in html


def test_names_read_well_in_the_index(superuser_client):
    html = superuser_client.get(reverse("admin:index")).content.decode()
    for name in ("Inventory pushes", "Store assignments"):
        assert name in html, name
    assert "pushs" not in html.lower()
    product = services.product_create(title="Tee", variants=[{"sku": "T-1", "price": Decimal("10")}])
    page = superuser_client.get(reverse("admin:pim_product_change", args=[product.pk])).content.decode()
    assert "Attributes (Shopify metafields)" in page and "Store assignments" in page
    assert "metafield)s" not in page


def test_sync_status_never_prints_none_ms():
    import io

    from django.core.management import call_command

    Store.objects.create(name="Quiet", shop_domain="quiet.myshopify.com", access_token="shpat_q")
    out = io.StringIO()
    call_command("sync_status", stdout=out)
    assert "None" not in out.getvalue()
    assert "no publish finished in this window" in out.getvalue()
