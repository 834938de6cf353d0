"""A catalog manager reviews a conflict in the admin and accepts the Shopify value (real browser)."""

from django.contrib.auth.models import Group

from channels.models import ChannelAssignment, Store
from conflicts.models import Conflict
from tests.e2e.conftest import make_product

from .conftest import login, screenshot


def catalog_manager_group() -> Group:
    """The group the data migration creates (transactional tests flush it, so make it again if needed)."""
    from importlib import import_module

    from django.contrib.auth.models import Permission

    migration = import_module("conflicts.migrations.0002_catalog_manager_group")
    group, _ = Group.objects.get_or_create(name=migration.GROUP)
    for app_label, codename in migration.PERMISSIONS:
        group.permissions.add(*Permission.objects.filter(content_type__app_label=app_label, codename=codename))
    return group


def test_manager_reviews_and_accepts_a_conflict(page, live_server, django_user_model, transactional_db, monkeypatch):
    from channels import services

    monkeypatch.setattr(services, "sync_jobs_dispatch", lambda *, job_ids, delay=None: 0)  # no workers here
    manager = django_user_model.objects.create_user("manager", password="pw-manager-1", is_staff=True)
    manager.groups.add(catalog_manager_group())
    store = Store.objects.create(name="north", shop_domain="north.myshopify.com", access_token="x")
    product = make_product(title="Trail Tee")
    ChannelAssignment.objects.create(product=product, store=store, shopify_product_id="101")
    conflict = Conflict.objects.create(
        store=store, product=product, shopify_product_id="101", field="title", policy_applied="overwrite",
        pim_value="Trail Tee", last_written_value="Trail Tee", shopify_before="Trail Tee – Summer Edition",
        shopify_after="Trail Tee",
    )

    login(page, live_server, "manager", "pw-manager-1")
    page.goto(f"{live_server.url}/admin/conflicts/conflict/")
    page.wait_for_selector("#result_list")
    screenshot(page, "conflicts-list")
    page.click(f"#result_list a[href$='/{conflict.pk}/change/']")
    page.wait_for_selector("text=Shopify before the sync")
    screenshot(page, "conflict-side-by-side")
    page.click("#btn-accept")
    page.wait_for_selector("text=Accept the Shopify values into the PIM?")
    page.click("input[type=submit][value=\"Yes, I'm sure\"]")
    page.wait_for_selector(".messagelist .success")
    assert "accepted" in page.inner_text(".messagelist")

    product.refresh_from_db()
    assert product.title == "Trail Tee – Summer Edition"
    conflict.refresh_from_db()
    assert conflict.status == "accepted" and conflict.resolved_by == manager
    assert product.history.first().history_user == manager
