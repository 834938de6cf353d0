"""A catalog manager's daily flows in a real browser, with real workers and the simulator: find a product by a
partial SKU, read its per-store state and publish it now; assign 50 products to a store in bulk and see them
published; acknowledge onboarding differences in bulk."""

import pytest
from django.utils import timezone

from conflicts.models import Conflict
from pim.models import Product
from tests.e2e.conftest import jobs_settled, make_product, wait_for

from .conftest import login, screenshot
from .test_conflict_review import catalog_manager_group


def manager(django_user_model):
    user = django_user_model.objects.create_user("cm", password="pw-cm-12345", is_staff=True)
    user.groups.add(catalog_manager_group())
    return user


def live(sim, shop="shop-a") -> dict:
    return {p["handle"]: p for p in sim.control.products(shop)}


def test_find_by_partial_sku_see_store_state_and_publish_now(page, live_server, django_user_model, shopify_sim,
                                                             sim_stores, workers):
    from channels.models import ChannelAssignment

    store_a, _ = sim_stores
    manager(django_user_model)
    product = make_product(title="Panel Tee", sku_prefix="PNL-XQ")
    ChannelAssignment.objects.create(product=product, store=store_a)  # assigned, nothing queued yet
    login(page, live_server, "cm", "pw-cm-12345")
    page.goto(f"{live_server.url}/admin/pim/product/")
    page.fill("#searchbar", "pnl-x")  # part of a SKU, in lower case
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    assert "shop-a: not published yet" in page.inner_text("#result_list")
    screenshot(page, "product-list")
    page.click("text=Panel Tee")
    page.wait_for_selector("#store-panel")
    assert page.get_attribute("#store-panel .sync-state", "data-state") == "never"
    page.click("#publish-now")
    page.wait_for_selector("#confirm-publish-now")
    page.click("#confirm-publish-now")
    page.wait_for_selector(".messagelist .success")
    wait_for(lambda: product.handle in live(shopify_sim), what="published by the workers")
    wait_for(jobs_settled, what="jobs settled")
    page.reload()
    page.wait_for_selector("#store-panel")
    assert page.get_attribute("#store-panel .sync-state", "data-state") == "published"
    assert page.locator(f"#store-panel a[href$='/products/{product.handle}']").count() == 1
    screenshot(page, "product-store-panel")


@pytest.mark.timeout(600)  # 50 publishes by two workers on a machine that may be running another suite
def test_bulk_assign_fifty_products_and_see_them_published(page, live_server, django_user_model, shopify_sim,
                                                           sim_stores, workers):
    store_a, _ = sim_stores
    manager(django_user_model)
    products = [make_product(title=f"Bulk Tee {n:02d}", sku_prefix=f"BLK{n:02d}", sizes=("S",)) for n in range(50)]
    login(page, live_server, "cm", "pw-cm-12345")
    page.goto(f"{live_server.url}/admin/pim/product/?q=BLK")
    page.wait_for_selector("#result_list")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "assign_to_store")
    page.click("button[name=index]")
    page.wait_for_selector("text=50 selected")
    page.select_option("select[name=store]", str(store_a.pk))
    screenshot(page, "bulk-assign")
    page.click("input[type=submit][value=\"Yes, I'm sure\"]")
    page.wait_for_selector(".messagelist .success")
    assert "50 product(s) assigned to shop-a" in page.inner_text(".messagelist")
    wait_for(lambda: all(p.handle in live(shopify_sim) for p in products), timeout=420, interval=1,
             what="50 products published")
    wait_for(jobs_settled, what="jobs settled")
    page.goto(f"{live_server.url}/admin/pim/product/?q=BLK&sync=published&store={store_a.pk}")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 50
    assert Product.objects.filter(assignments__store=store_a, assignments__shopify_product_id__gt="").count() == 50


def test_review_onboarding_differences_in_bulk(page, live_server, django_user_model, transactional_db):
    from channels.models import Store

    store = Store.objects.create(name="South", shop_domain="south.myshopify.com", access_token="shpat_south")
    manager(django_user_model)
    for n in range(6):
        Conflict.objects.create(store=store, shopify_product_id=str(n), field="title", policy_applied="overwrite",
                                source=Conflict.Source.ONBOARDING, synced_at=timezone.now(), sku=f"SKU-{n}",
                                pim_value=f'"PIM title {n}"', last_written_value="", shopify_before=f'"Old {n}"')
    login(page, live_server, "cm", "pw-cm-12345")
    page.wait_for_selector("#pim-dashboard")
    assert "Open conflicts" in page.inner_text("#pim-dashboard")
    screenshot(page, "admin-index")
    page.goto(f"{live_server.url}/admin/conflicts/conflict/?source__exact=onboarding")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list strong:text('onboarding')").count() == 6
    page.check("#action-toggle")
    page.select_option("select[name=action]", "acknowledge")
    page.click("button[name=index]")
    page.wait_for_selector("text=Acknowledge these onboarding differences?")
    assert "Old 3" in page.inner_text("#content") and "PIM title 3" in page.inner_text("#content")
    screenshot(page, "onboarding-conflicts")
    page.click("input[type=submit][value=\"Yes, I'm sure\"]")
    page.wait_for_selector(".messagelist .success")
    assert Conflict.objects.filter(status=Conflict.Status.OVERWRITTEN).count() == 6


def test_connect_a_store_through_the_form_and_register_its_webhooks(page, live_server, django_user_model,
                                                                     shopify_sim, transactional_db):
    from channels.models import Store

    django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-1")
    creds = shopify_sim.shops["shop-b"]
    login(page, live_server, "root", "pw-root-1")
    page.goto(f"{live_server.url}/admin/channels/store/")
    page.click("#connect-store")
    page.wait_for_selector("#save-and-test")
    assert "read_inventory" in page.input_value("#scopes")
    page.fill("#id_name", "Shop B")
    page.fill("#id_shop_domain", creds.domain)
    if page.locator("#id_api_base_url").count():
        page.fill("#id_api_base_url", creds.base_url)
    page.check("input[name=auth_mode][value=static_token]")
    page.fill("#id_access_token", creds.access_token)
    page.fill("#id_webhook_secret", creds.webhook_secret)
    screenshot(page, "connect-store")
    page.click("#save-and-test")
    page.wait_for_selector("#connect-result")
    assert "Connected to" in page.inner_text("#connect-result"), page.inner_text("#content")
    assert "Webhooks" in page.inner_text("#content") and "Locations in Shopify" in page.inner_text("#content")
    screenshot(page, "connect-store-result")
    subscriptions = shopify_sim.control.webhook_subscriptions("shop-b")
    assert subscriptions and all(s["uri"].startswith(live_server.url) for s in subscriptions)
    assert Store.objects.get(name="Shop B").is_active
