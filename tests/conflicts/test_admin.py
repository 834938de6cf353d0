import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse

from channels.models import Store
from conflicts.models import Conflict

pytestmark = pytest.mark.django_db


@pytest.fixture
def conflict():
    store = Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="shpat_secret_value")
    return Conflict.objects.create(
        store=store, shopify_product_id="1", field="description", policy_applied="overwrite",
        pim_value="<p>PIM copy</p>", last_written_value="<p>PIM copy</p>",
        shopify_before="<p>Merchant <b>copy</b></p><p>second paragraph</p>",
    )


def staff(django_user_model, name, group=None):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    else:
        from django.contrib.auth.models import Permission

        user.user_permissions.add(Permission.objects.get(codename="view_conflict"))
    return user


def test_catalog_manager_sees_side_by_side_and_confirmation(client, django_user_model, conflict):
    client.force_login(staff(django_user_model, "cm", "Catalog manager"))
    page = client.get(reverse("admin:conflicts_conflict_change", args=[conflict.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Shopify before the sync" in html and "Changes made in Shopify" in html and 'class="diff"' in html
    assert 'value="accept"' in html
    changelist = reverse("admin:conflicts_conflict_changelist")
    confirm = client.post(changelist, {"action": "hold", "_selected_action": [conflict.pk]})
    assert confirm.status_code == 200 and "Hold these products" in confirm.content.decode()
    conflict.refresh_from_db()
    assert conflict.status == "open"  # nothing happens before confirmation
    done = client.post(changelist, {"action": "hold", "_selected_action": [conflict.pk], "confirmed": "yes"})
    assert done.status_code == 302
    conflict.refresh_from_db()
    assert conflict.status == "held"


def test_staff_without_resolve_permission_can_read_but_not_resolve(client, django_user_model, conflict):
    client.force_login(staff(django_user_model, "reader"))
    page = client.get(reverse("admin:conflicts_conflict_change", args=[conflict.pk]))
    assert page.status_code == 200 and 'value="accept"' not in page.content.decode()
    changelist = reverse("admin:conflicts_conflict_changelist")
    response = client.post(changelist, {"action": "overwrite", "_selected_action": [conflict.pk],
                                        "confirmed": "yes"})
    conflict.refresh_from_db()
    assert conflict.status == "open"
    assert response.status_code in (200, 302)


def test_changelist_filters_and_search(client, django_user_model, conflict):
    client.force_login(staff(django_user_model, "cm", "Catalog manager"))
    url = reverse("admin:conflicts_conflict_changelist")
    for params in ({"status__exact": "open"}, {"age": "1d"}, {"field": "description"}, {"q": "nothing"}):
        assert client.get(url, params).status_code == 200


def test_store_token_is_never_shown(client, django_user_model, conflict):
    admin = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(admin)
    page = client.get(reverse("admin:channels_store_change", args=[conflict.store.pk]))
    assert page.status_code == 200 and "shpat_secret_value" not in page.content.decode()
    # Saving without re-entering the token keeps it.
    store = conflict.store
    data = {"name": "A", "shop_domain": "a.myshopify.com", "api_base_url": "", "api_version": "2026-07",
            "auth_mode": "static_token", "access_token": "", "client_id": "", "client_secret": "",
            "webhook_secret": "", "plan": "standard", "is_active": "on", "default_conflict_policy": "hold",
            "unpublish_action": "DRAFT", "publish_fields": ["title"],
            "metafield_mappings-TOTAL_FORMS": "0", "metafield_mappings-INITIAL_FORMS": "0"}
    response = client.post(reverse("admin:channels_store_change", args=[store.pk]), data)
    assert response.status_code == 302
    store.refresh_from_db()
    assert store.access_token == "shpat_secret_value" and store.default_conflict_policy == "hold"
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM channels_store WHERE id = %s", [store.pk])
        assert "shpat_secret_value" not in cursor.fetchone()[0]  # encrypted at rest
