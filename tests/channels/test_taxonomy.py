"""The Shopify product category (issue 19): read into the PIM, chosen on the product page, sent with the product."""

import pytest
from django.urls import reverse
from django.utils import timezone

from channels.models import ChannelAssignment, Store
from channels.payloads import publish_plan_build
from pim.models import Product, ProductTaxonomy, TaxonomyCategory

pytestmark = pytest.mark.django_db
TEES = "gid://shopify/TaxonomyCategory/aa-1-13-8"


@pytest.fixture
def product():
    from pim import services

    return services.product_create(title="Tee", workflow_state=Product.Workflow.READY,
                                   variants=[{"sku": "TEE", "price": "5.00"}])


def test_the_category_is_sent_with_the_core_fields_only_when_set(product):
    store = Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="shpat_x")
    assignment = ChannelAssignment.objects.create(product=product, store=store)
    before = publish_plan_build(assignment=assignment, bindings={})
    assert "category" not in before.product_input
    TaxonomyCategory.objects.create(id=TEES, name="T-Shirts", full_name="Apparel & Accessories > Clothing > "
                                    "Clothing Tops > T-Shirts", fetched_at=timezone.now())
    ProductTaxonomy.objects.create(product=product, category_id=TEES)
    product = Product.objects.get(pk=product.pk)
    assignment.product = product
    after = publish_plan_build(assignment=assignment, bindings={})
    assert after.product_input["category"] == TEES and after.hash != before.hash
    store.publish_fields = [f for f in store.publish_fields if f != "product_type"]
    assert "category" not in publish_plan_build(assignment=assignment, bindings={}).product_input


def test_product_page_searches_the_taxonomy(client, django_user_model, product):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw-admin-123")
    client.force_login(user)
    TaxonomyCategory.objects.create(id=TEES, name="T-Shirts", full_name="Apparel & Accessories > Clothing > "
                                    "Clothing Tops > T-Shirts", fetched_at=timezone.now())
    page = client.get(reverse("admin:pim_product_change", args=[product.pk])).content.decode()
    assert "Shopify product category" in page and 'name="taxonomy-0-category"' not in page  # extra=0
    found = client.get(reverse("admin:autocomplete"), {"term": "t-shirt", "app_label": "pim",
                                                       "model_name": "producttaxonomy", "field_name": "category"})
    assert found.json()["results"][0]["id"] == TEES
