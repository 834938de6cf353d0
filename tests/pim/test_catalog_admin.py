from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pim import services
from pim.catalog_seed import catalog_seed
from pim.models import Product, ProductAttribute, ProductImage, Variant

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw-admin-123")
    client.force_login(user)
    client.user = user
    return client


def inline(prefix, rows, initial=0):
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"{prefix}-{i}-{key}"] = value
    return data


def product_post(variants=None, images=None, attributes=None, **fields):
    data = {
        "title": "Admin Hoodie",
        "handle": "",
        "status": "draft",
        "workflow_state": "draft",
        "description_html": "<p>Warm</p>",
        "vendor": "Northwind",
        "product_type": "Hoodies",
        "tags": "winter, new",
        "option1_name": "Size",
        "option2_name": "",
        "option3_name": "",
        "seo_title": "",
        "seo_description": "",
    }
    data.update(fields)
    if variants is None:
        variants = [
            {"sku": "HOOD-S", "option1": "S", "price": "59.00", "weight_unit": "KILOGRAMS", "position": "1",
             "inventory_tracked": "on"},
            {"sku": "HOOD-M", "option1": "M", "price": "59.00", "weight_unit": "KILOGRAMS", "position": "2",
             "inventory_tracked": "on"},
        ]
    data.update(inline("variants", variants))
    data.update(inline("images", images or [{"src": "https://cdn.example.com/h.jpg", "alt": "Front", "position": "1"}]))
    data.update(inline("assignments", []))
    data.update(inline("category_links", []))  # categories inline (issue 19)
    data.update(inline("taxonomy", []))  # Shopify product category inline (issue 19)
    data.update(inline("translations", []))  # translations inline (issue 19)
    data.update(
        inline("attributes", attributes or [{"namespace": "pim", "key": "material", "type": "number_integer",
                                              "value": "7"}])
    )
    return data


def test_admin_creates_product_with_variants_images_attributes_and_history(admin_client):
    response = admin_client.post(reverse("admin:pim_product_add"), product_post())
    assert response.status_code == 302, response.context["errors"] if response.context else response
    product = Product.objects.get()
    assert product.handle == "admin-hoodie"
    assert product.variants.count() == 2 and product.images.count() == 1
    assert product.attributes.get().value == "7"
    record = product.history.first()
    assert record.history_user == admin_client.user

    # Edit it and read the history page.
    variants = [
        {"id": str(v.pk), "product": str(product.pk), "sku": v.sku, "option1": v.option1, "price": "64.00",
         "weight_unit": "KILOGRAMS", "position": str(v.position), "inventory_tracked": "on"}
        for v in product.variants.all()
    ]
    data = product_post(variants=variants, title="Admin Hoodie Pro", handle="admin-hoodie")
    data.update(inline("variants", variants, initial=2))
    image = product.images.get()
    data.update(inline("images", [{"id": str(image.pk), "product": str(product.pk), "src": image.src,
                                   "alt": "Front", "position": "1"}], initial=1))
    attribute = product.attributes.get()
    data.update(inline("attributes", [{"id": str(attribute.pk), "product": str(product.pk), "namespace": "pim",
                                       "key": "material", "type": "number_integer", "value": "8"}], initial=1))
    response = admin_client.post(reverse("admin:pim_product_change", args=[product.pk]), data)
    assert response.status_code == 302
    assert set(Variant.objects.values_list("price", flat=True)) == {Decimal("64.00")}
    assert product.history.count() == 2
    history = admin_client.get(reverse("admin:pim_product_history", args=[product.pk]))
    assert history.status_code == 200
    assert b"Admin Hoodie Pro" in history.content or b"admin" in history.content


def _assert_refused(response, text):
    assert response.status_code == 200
    assert text in response.content.decode()
    assert Product.objects.count() == 0 or Product.objects.filter(title="Admin Hoodie").count() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"handle": "Bad Handle"}, "may only contain lowercase letters"),
        (
            {"variants": [{"sku": "Z", "option1": "S", "price": "0", "weight_unit": "KILOGRAMS", "position": "1"}]},
            "price of 0 is refused",
        ),
        (
            {"attributes": [{"namespace": "pim", "key": "size", "type": "number_integer", "value": "big"}]},
            "is not a whole number",
        ),
        (
            {"images": [{"src": f"https://cdn.example.com/{i}.jpg", "position": str(i)} for i in range(251)]},
            "at most 250 images",
        ),
        (
            {"option1_name": "", "variants": [
                {"sku": "A", "price": "3", "weight_unit": "KILOGRAMS", "position": "1"},
                {"sku": "B", "price": "3", "weight_unit": "KILOGRAMS", "position": "2"}]},
            "simple product",
        ),
    ],
)
def test_admin_refuses_bad_input_and_saves_nothing(admin_client, kwargs, message):
    response = admin_client.post(reverse("admin:pim_product_add"), product_post(**kwargs))
    _assert_refused(response, message)
    assert Variant.objects.count() == 0 and ProductImage.objects.count() == 0
    assert ProductAttribute.objects.count() == 0


def test_admin_refuses_duplicate_sku(admin_client):
    services.product_create(title="Existing", variants=[{"sku": "HOOD-S", "price": Decimal("5")}])
    response = admin_client.post(reverse("admin:pim_product_add"), product_post())
    assert response.status_code == 200
    assert "Variant with this SKU already exists" in response.content.decode()
    assert Product.objects.count() == 1


def test_admin_handle_is_read_only_once_published(admin_client):
    product = services.product_create(title="Mug", variants=[{"sku": "MUG", "price": Decimal("9")}])
    page = admin_client.get(reverse("admin:pim_product_change", args=[product.pk]))
    assert 'name="handle"' in page.content.decode()
    Product.objects.filter(pk=product.pk).update(first_published_at="2026-01-01T00:00:00Z")
    page = admin_client.get(reverse("admin:pim_product_change", args=[product.pk]))
    assert 'name="handle"' not in page.content.decode()
    # A simple product shows its single variant without option columns.
    assert 'name="variants-0-option1"' not in page.content.decode()
    assert "simple product" in page.content.decode()


def _changelist_queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("admin:pim_product_changelist"), params)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_changelist_query_count_does_not_grow_with_catalog(admin_client):
    catalog_seed(products=10, seed=3)
    small = _changelist_queries(admin_client)
    catalog_seed(products=90, seed=4)
    assert Product.objects.count() == 100
    large = _changelist_queries(admin_client)
    assert small == large, (small, large)
    # Search by SKU and filters stay bounded too.
    sku = Variant.objects.first().sku
    assert _changelist_queries(admin_client, q=sku) <= large + 1


def test_change_page_query_count_does_not_grow_with_variants(admin_client):
    def page_queries(n_variants: int) -> int:
        product = services.product_create(
            title=f"Tee {n_variants}",
            option1_name="Size",
            variants=[{"sku": f"T{n_variants}-{i}", "option1": f"S{i}", "price": Decimal("10")}
                      for i in range(n_variants)],
            images=[{"src": f"https://cdn.example.com/{n_variants}-{i}.jpg"} for i in range(n_variants)],
            attributes=[{"namespace": "pim", "key": f"k{i}", "value": "v"} for i in range(n_variants)],
        )
        with CaptureQueriesContext(connection) as ctx:
            response = admin_client.get(reverse("admin:pim_product_change", args=[product.pk]))
        assert response.status_code == 200
        return len(ctx.captured_queries)

    assert page_queries(2) == page_queries(20)


def test_deleting_a_product_in_the_admin_unpublishes_it(admin_client, monkeypatch):
    from channels import services as channel_services
    from channels.models import ChannelAssignment, Store, SyncJob

    monkeypatch.setattr(channel_services, "sync_jobs_dispatch", lambda *, job_ids, delay=None: 0)
    product = services.product_create(title="Gone", variants=[{"sku": "GONE", "price": Decimal("5")}])
    store = Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="x")
    ChannelAssignment.objects.create(product=product, store=store, shopify_product_id="77")
    response = admin_client.post(reverse("admin:pim_product_delete", args=[product.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Product.objects.exists()
    job = SyncJob.objects.get()
    assert job.product_id is None and job.shopify_product_id == "77" and job.status == "pending"
