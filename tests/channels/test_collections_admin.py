"""The collections admin (issue 19): smart collections read-only and explained, mappings validated."""

import pytest
from django.urls import reverse
from django.utils import timezone

from channels.models import CollectionMapping, CollectionSyncJob, Store, StoreCollection
from pim import categories

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw-admin-123")
    client.force_login(user)
    return client


@pytest.fixture
def store():
    return Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="shpat_x")


def collection(store, title, smart=False):
    rules = [{"column": "TAG", "relation": "EQUALS", "condition": "sale"}] if smart else []
    return StoreCollection.objects.create(store=store, shopify_collection_id=str(abs(hash(title)) % 10**9),
                                          title=title, handle=title.lower(), is_smart=smart, rules=rules,
                                          fetched_at=timezone.now())


def test_smart_collection_is_read_only_and_explains_the_tag_rule(admin_client, store):
    smart = collection(store, "Sale", smart=True)
    page = admin_client.get(reverse("admin:channels_storecollection_change", args=[smart.pk])).content.decode()
    assert "tag equals “sale”" in page and "give them the tag the rule names" in page
    assert 'name="_save"' not in page


def test_mapping_refuses_a_smart_collection_and_records_a_job_for_a_custom_one(admin_client, store):
    cat = categories.category_create(name="Shirts")
    smart, custom = collection(store, "Sale", smart=True), collection(store, "Shirts")
    url = reverse("admin:channels_collectionmapping_add")
    form = {"store": store.pk, "category": cat.pk, "mode": "existing", "existing": smart.pk,
            "include_subcategories": "on", "title": "", "handle": "", "description_html": "", "image_url": "",
            "sort_order": "MANUAL"}
    page = admin_client.post(url, form)
    assert page.status_code == 200 and "Select a valid choice" in page.content.decode()
    assert admin_client.post(url, {**form, "existing": custom.pk}).status_code == 302
    mapping = CollectionMapping.objects.get()
    assert mapping.shopify_collection_id == custom.shopify_collection_id
    assert CollectionSyncJob.objects.filter(mapping=mapping, status="pending").count() == 1
    assert mapping.history.first().history_user.username == "admin"
    listing = admin_client.get(reverse("admin:channels_collectionmapping_changelist")).content.decode()
    assert "Pending:" in listing
