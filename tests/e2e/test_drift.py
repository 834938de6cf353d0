"""Drift detection end to end: merchant edits in the simulator, PIM publishes through real workers."""

from decimal import Decimal

from channels import services
from channels.models import ChannelAssignment, SyncJob
from conflicts import review, sweep
from conflicts import services as conflict_services
from conflicts.models import Conflict, FieldPolicy
from pim import services as pim_services
from pim.models import Product

from .conftest import jobs_settled, make_product, wait_for


def live(sim, shop, handle):
    return next(p for p in sim.control.products(shop) if p["handle"] == handle)


def publish_to(stores, *products):
    for product in products:
        for store in stores:
            services.assignment_set(product=product, store=store)
    wait_for(jobs_settled, what="initial publish")


def test_overwrite_policy_records_conflict_then_publishes_pim_value(shopify_sim, sim_stores, workers, django_user_model):
    a, b = sim_stores
    product = make_product()
    publish_to([a, b], product)
    shop_id = live(shopify_sim, "shop-a", product.handle)["id"]
    shopify_sim.control.edit_product("shop-a", shop_id, title="Merchant title",
                                     variants=[{"sku": "TT-S", "price": "18.00"}])
    pim_services.product_update(product=product, vendor="Northwind Co")  # any PIM edit triggers a publish
    wait_for(jobs_settled, what="publish after merchant edit")

    conflicts = {c.field: c for c in Conflict.objects.filter(store=a)}
    assert set(conflicts) == {"title", "variant.price"}
    title = conflicts["title"]
    assert (title.pim_value, title.last_written_value, title.shopify_before, title.shopify_after) == (
        "Trail Tee", "Trail Tee", "Merchant title", "Trail Tee")
    assert title.policy_applied == "overwrite" and title.status == "open" and title.synced_at
    price = conflicts["variant.price"]
    assert price.sku == "TT-S" and price.shopify_variant_id and price.shopify_before == "18.00"
    assert live(shopify_sim, "shop-a", product.handle)["title"] == "Trail Tee"  # overwritten
    assert not Conflict.objects.filter(store=b).exists()

    # A repeated merchant edit updates the same open conflict.
    shopify_sim.control.edit_product("shop-a", shop_id, title="Merchant title 2")
    pim_services.product_update(product=product, vendor="Northwind Company")
    wait_for(jobs_settled)
    title = Conflict.objects.get(store=a, field="title")
    assert title.shopify_before == "Merchant title 2" and title.occurrences == 2


def test_hold_pauses_only_that_product_on_that_store(shopify_sim, sim_stores, workers):
    a, b = sim_stores
    FieldPolicy.objects.create(store=a, field="title", policy="hold")
    held, other = make_product(title="Held Tee", sku_prefix="HLD"), make_product(title="Free Tee", sku_prefix="FRE")
    publish_to([a, b], held, other)
    shopify_sim.control.edit_product("shop-a", live(shopify_sim, "shop-a", held.handle)["id"], title="Merchant")
    pim_services.product_update(product=held, description_html="<p>New copy</p>")
    pim_services.product_update(product=other, description_html="<p>New copy</p>")
    wait_for(jobs_settled)
    assert live(shopify_sim, "shop-a", held.handle)["title"] == "Merchant"  # not overwritten
    assert live(shopify_sim, "shop-a", held.handle)["descriptionHtml"] == "<p>Soft cotton</p>"  # paused
    assert live(shopify_sim, "shop-b", held.handle)["descriptionHtml"] == "<p>New copy</p>"  # other store goes on
    assert live(shopify_sim, "shop-a", other.handle)["descriptionHtml"] == "<p>New copy</p>"  # other product goes on
    conflict = Conflict.objects.get(store=a)
    assert conflict.status == "held" and conflict.policy_applied == "hold"
    assert ChannelAssignment.objects.get(store=a, product=held).held
    assert SyncJob.objects.filter(store=a, product=held, status="held").exists()

    # Further edits stay paused until a manager resolves it; overwrite then publishes the PIM values.
    pim_services.product_update(product=held, vendor="Later")
    wait_for(jobs_settled)
    assert live(shopify_sim, "shop-a", held.handle)["vendor"] == "Northwind"
    review.conflict_overwrite(conflict=conflict, actor=None)
    wait_for(jobs_settled)
    now = live(shopify_sim, "shop-a", held.handle)
    assert (now["title"], now["vendor"], now["descriptionHtml"]) == ("Held Tee", "Later", "<p>New copy</p>")
    assert not ChannelAssignment.objects.get(store=a, product=held).held
    assert Conflict.objects.get(pk=conflict.pk).status == "overwritten"


def test_accept_takes_shopify_value_into_pim_and_fans_out(shopify_sim, sim_stores, workers, django_user_model):
    a, b = sim_stores
    manager = django_user_model.objects.create_user("manager")
    product = make_product()
    publish_to([a, b], product)
    shopify_sim.control.edit_product("shop-a", live(shopify_sim, "shop-a", product.handle)["id"],
                                     title="Better title", variants=[{"sku": "TT-M", "price": "24.00"}])
    records = conflict_services.drift_check_for_product(
        store_id=a.pk, shopify_product_id=ChannelAssignment.objects.get(store=a, product=product).shopify_product_id)
    assert {c.field for c in records} == {"title", "variant.price"}
    wait_for(jobs_settled)
    # Default overwrite policy: the webhook-triggered check put the PIM value back.
    assert live(shopify_sim, "shop-a", product.handle)["title"] == "Trail Tee"
    for conflict in Conflict.objects.filter(store=a):
        review.conflict_accept(conflict=conflict, actor=manager)
    wait_for(jobs_settled)
    product.refresh_from_db()
    assert product.title == "Better title"
    assert product.variants.get(sku="TT-M").price == Decimal("24.00")
    record = product.history.first()
    assert record.history_user == manager and "shop-a" in record.history_change_reason
    assert live(shopify_sim, "shop-b", product.handle)["title"] == "Better title"  # fanned out
    assert live(shopify_sim, "shop-a", product.handle)["title"] == "Better title"
    assert set(Conflict.objects.values_list("status", flat=True)) == {"accepted"}


def test_reformatting_only_is_not_drift(shopify_sim, sim_stores, workers):
    a, _ = sim_stores
    product = make_product()
    publish_to([a], product)
    shop_id = live(shopify_sim, "shop-a", product.handle)["id"]
    shopify_sim.control.edit_product("shop-a", shop_id, descriptionHtml="<p>Soft   cotton</p>\n",
                                     tags=["summer", "new"], variants=[{"sku": "TT-S", "price": "20"}])
    pim_services.product_update(product=product, vendor="Someone else")
    wait_for(jobs_settled)
    assert not Conflict.objects.exists()
    assert SyncJob.objects.filter(status="done").count() == 2


def test_sweep_finds_edits_deletions_and_shopify_only(shopify_sim, sim_stores, workers):
    a, _ = sim_stores
    edited, deleted, fine = (make_product(title=t, sku_prefix=p) for t, p in
                             (("Edited", "EDT"), ("Deleted", "DEL"), ("Fine", "FIN")))
    publish_to([a], edited, deleted, fine)
    shopify_sim.control.seed("shop-a", products=[{"title": "Only in Shopify", "variants": [{"sku": "ONLY-1",
                                                                                          "price": "5.00"}]}])
    shopify_sim.control.edit_product("shop-a", live(shopify_sim, "shop-a", edited.handle)["id"], vendor="Merchant")
    shopify_sim.control.delete_product("shop-a", live(shopify_sim, "shop-a", deleted.handle)["id"])
    before = {p["handle"]: p["updatedAt"] for p in shopify_sim.control.products("shop-a")}
    report = sweep.drift_sweep(store=a)
    assert (report.compared, report.conflicts, report.deleted_in_shopify, report.shopify_only) == (2, 1, 1, 1)
    fields = sorted(Conflict.objects.values_list("field", flat=True))
    assert fields == ["product.exists", "product.shopify_only", "vendor"]
    assert Conflict.objects.get(field="vendor").source == "sweep"
    # The sweep only records: nothing was written to Shopify.
    assert {p["handle"]: p["updatedAt"] for p in shopify_sim.control.products("shop-a")} == before
    assert live(shopify_sim, "shop-a", edited.handle)["vendor"] == "Merchant"
    assert Product.objects.count() == 3


def test_a_products_update_webhook_reads_shopify_before_its_transaction(shopify_sim, sim_stores, workers):
    """The inbox runs the products/update read (the live product) before the event's transaction; inside it only
    the compare and the records. The test settings fail any Shopify call made inside a transaction."""
    import json
    import uuid
    from datetime import timedelta

    from django.utils import timezone

    from channels.shopify.ids import gid_to_id
    from inventory.models import WebhookEvent
    from webhooks.inbox import webhook_event_process, webhook_receive

    a, _ = sim_stores
    product = make_product()
    publish_to([a], product)
    shop_id = live(shopify_sim, "shop-a", product.handle)["id"]
    shopify_sim.control.edit_product("shop-a", shop_id, title="Merchant title")
    body = json.dumps({"id": int(gid_to_id(shop_id)), "title": "Merchant title",
                       "updated_at": (timezone.now() + timedelta(minutes=1)).isoformat()}).encode()
    receipt = webhook_receive(store=a, raw_body=body, headers={
        "X-Shopify-Topic": "products/update", "X-Shopify-Shop-Domain": a.shop_domain,
        "X-Shopify-Webhook-Id": str(uuid.uuid4()), "X-Shopify-API-Version": "2026-07"})
    assert receipt.outcome == "stored"
    webhook_event_process(event_id=receipt.event_id)  # here, unless a worker claimed it first
    event = wait_for(lambda: WebhookEvent.objects.filter(pk=receipt.event_id, status="processed").first(),
                     what="the products/update event processed")
    assert event.result == f"drift check requested for product {gid_to_id(shop_id)}"
    conflict = Conflict.objects.get(store=a)
    assert (conflict.field, conflict.shopify_before, conflict.source) == ("title", "Merchant title", "webhook")
    wait_for(jobs_settled, what="the overwrite publish")
    assert live(shopify_sim, "shop-a", product.handle)["title"] == "Trail Tee"
