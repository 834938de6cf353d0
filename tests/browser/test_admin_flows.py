"""The admin in a real browser, with real workers and the simulator: edit → published, replay, health page."""

from channels import services
from channels.models import SyncJob
from tests.e2e.conftest import jobs_settled, make_product, wait_for

from .conftest import login, screenshot


def live_title(sim, handle):
    return next((p["title"] for p in sim.control.products("shop-a") if p["handle"] == handle), None)


def test_edit_publish_replay_and_health(page, live_server, django_user_model, shopify_sim, sim_stores, workers):
    store_a, _ = sim_stores
    django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-1")
    product = make_product(title="Browser Tee", sku_prefix="BRW")
    services.assignment_set(product=product, store=store_a)
    wait_for(jobs_settled, what="first publish")

    # Edit the product in the admin; the workers publish it.
    login(page, live_server, "root", "pw-root-1")
    page.goto(f"{live_server.url}/admin/pim/product/?q=BRW-S")
    page.click("text=Browser Tee")
    page.fill("#id_title", "Browser Tee — edited in the admin")
    screenshot(page, "product-edit")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    wait_for(lambda: live_title(shopify_sim, product.handle) == "Browser Tee — edited in the admin",
             what="admin edit live in Shopify")
    page.goto(f"{live_server.url}/admin/channels/syncjob/")
    page.wait_for_selector("#result_list")
    assert "Done" in page.inner_text("#result_list")
    screenshot(page, "sync-jobs")

    # A terminal error dead-letters the next job; replay it from the admin after fixing the cause.
    shopify_sim.control.invalid_token("shop-a")
    page.goto(f"{live_server.url}/admin/pim/product/{product.pk}/change/")
    page.fill("#id_vendor", "Replay Outfitters")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    dead = wait_for(lambda: SyncJob.objects.filter(status="dead").first(), what="dead letter")
    shopify_sim.control.invalid_token("shop-a", on=False)
    page.goto(f"{live_server.url}/admin/channels/syncjob/?status__exact=dead")
    page.check(f"input[name=_selected_action][value='{dead.pk}']")
    page.select_option("select[name=action]", "replay")
    page.click("button[name=index]")
    page.wait_for_selector("text=Replay these sync jobs?")
    page.click("input[type=submit][value=\"Yes, I'm sure\"]")
    page.wait_for_selector(".messagelist .success")
    wait_for(jobs_settled, what="replayed job")
    dead.refresh_from_db()
    assert dead.status == "done"
    vendor = next(p["vendor"] for p in shopify_sim.control.products("shop-a") if p["handle"] == product.handle)
    assert vendor == "Replay Outfitters"

    # The sync health page.
    page.goto(f"{live_server.url}/admin/channels/store/health/")
    page.wait_for_selector("text=Queue depth (pending)")
    text = page.inner_text("#content")
    assert "shop-a" in text and "Edit-to-live latency" in text and "last hour" in text
    screenshot(page, "sync-health")
