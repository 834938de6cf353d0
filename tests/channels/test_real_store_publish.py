"""Publishing as a real store needs it (issue #12): sales channels, big products, handles, shop states, weight 0,
products deleted in Shopify. Jobs run in-process; Shopify is the simulator over HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from channels import services
from channels.models import ChannelAssignment, Store, SyncJob
from channels.publications import publications_cache_clear
from conflicts.models import Conflict
from pim import services as pim_services

from .conftest import make_product, product_set_calls, run_jobs, sim_product


@pytest.fixture(autouse=True)
def _fresh_publication_cache():
    import django_rq

    redis = django_rq.get_connection("default")
    publications_cache_clear(redis=redis)
    yield
    publications_cache_clear(redis=redis)


# --- sales channels -------------------------------------------------------------------------------------


def test_publish_puts_the_product_on_the_store_sales_channels_and_unassign_takes_it_off(shopify_sim, sim_store):
    product = make_product()
    services.assignment_set(product=product, store=sim_store)
    assert [r.status for r in run_jobs()] == ["done"]
    live = sim_product(shopify_sim, product.handle)
    assert live["status"] == "ACTIVE"
    assert live["publicationNames"] == ["Online Store"] and live["onlineStoreVisible"] is True

    # The store adds Point of Sale: the next publish adds the channel and nothing else.
    Store.objects.filter(pk=sim_store.pk).update(publications=["Online Store", "Point of Sale"])
    shopify_sim.control.clear_requests("shop-a")
    services.publish_request(store=sim_store)
    assert [r.status for r in run_jobs()] == ["done"]
    assert sorted(sim_product(shopify_sim, product.handle)["publicationNames"]) == ["Online Store", "Point of Sale"]
    sent = [r["operation_name"] for r in shopify_sim.control.requests("shop-a")]
    assert "ProductSet" not in sent and sent.count("PublishablePublish") == 1

    # Unassigning takes it off every channel (and drafts it, per the store's setting).
    services.assignment_set(product=product, store=sim_store, publish=False)
    assert [r.status for r in run_jobs()] == ["done"]
    live = sim_product(shopify_sim, product.handle)
    assert live["publicationNames"] == [] and live["onlineStoreVisible"] is False and live["status"] == "DRAFT"
    assert ChannelAssignment.objects.get(product=product, store=sim_store).publication_ids == []


def test_one_publication_call_carries_every_channel_and_none_when_the_product_is_already_on_them(shopify_sim,
                                                                                                  sim_store):
    """Issue 15: a new product goes on all the store's channels in one publishablePublish; an edit of a product already
    on every wanted channel (the binding records them) sends no publication call at all."""
    Store.objects.filter(pk=sim_store.pk).update(publications=["Online Store", "Point of Sale"])
    product = make_product()
    services.assignment_set(product=product, store=sim_store)
    assert [r.status for r in run_jobs()] == ["done"]
    calls = shopify_sim.control.requests("shop-a", operation="PublishablePublish")
    assert len(calls) == 1 and len(calls[0]["variables"]["input"]) == 2
    assert sorted(sim_product(shopify_sim, product.handle)["publicationNames"]) == ["Online Store", "Point of Sale"]

    shopify_sim.control.clear_requests("shop-a")
    pim_services.product_update(product=product, title="Trail Tee v2")
    assert [r.status for r in run_jobs()] == ["done"]
    sent = [r["operation_name"] for r in shopify_sim.control.requests("shop-a")]
    assert "ProductSet" in sent and "PublishablePublish" not in sent


def test_publication_ids_are_looked_up_once_for_all_workers(shopify_sim, sim_store):
    import channels.publications as publications

    for n in range(3):
        publications._cache.clear()  # another worker process: only the shared (Redis) copy is left
        services.assignment_set(product=make_product(title=f"P{n}", sku_prefix=f"P{n}"), store=sim_store)
        assert [r.status for r in run_jobs()] == ["done"]
    assert len(shopify_sim.control.requests("shop-a", operation="Publications")) == 1
    assert len(shopify_sim.control.requests("shop-a", operation="PublishablePublish")) == 3


def test_unknown_sales_channel_dead_letters_with_a_clear_message(shopify_sim, sim_store):
    Store.objects.filter(pk=sim_store.pk).update(publications=["Online Store", "Wholesale"])
    product = make_product()
    services.assignment_set(product=product, store=sim_store)
    (result,) = run_jobs()
    assert result.status == "dead"
    assert "'Wholesale' do not exist in the shop" in result.detail and "Point of Sale" in result.detail


def test_connection_report_lists_sales_channels_and_publication_scopes(shopify_sim, sim_store):
    report = services.store_test_connection(store=sim_store)
    assert report.publications == ["Online Store", "Point of Sale"] and report.missing_scopes == []
    shopify_sim.control.missing_scopes("shop-a", ["read_publications"])
    report = services.store_test_connection(store=sim_store)
    assert {"read_publications", "write_publications"} <= set(report.missing_scopes)
    assert report.publications == []


# --- big products -----------------------------------------------------------------------------------------


def test_a_2000_variant_product_publishes_and_republishes_within_the_single_query_limit(shopify_sim, sim_store):
    # Reading 2,000 variants costs ~10,000 points whatever the paging: ~100 s of a standard 2,000 @ 100/s
    # bucket. Products this big are typical of Plus shops (20,000 @ 1,000/s), which this test uses.
    shopify_sim.control.config("shop-a", plan="plus")
    shopify_sim.control.set_bucket("shop-a", size=20000, rate=1000, available=20000)
    sizes = [f"S{i:04d}" for i in range(2000)]
    product = make_product(title="Huge", sku_prefix="HG", sizes=sizes)
    services.assignment_set(product=product, store=sim_store)
    assert [r.status for r in run_jobs()] == ["done"]
    assert len(sim_product(shopify_sim, product.handle)["variants"]) == 2000

    # A price edit: the drift read (paged) and the write carry all 2,000 variants with their ids.
    pim_services.variant_update(variant=product.variants.get(sku="HG-S1999"), price=Decimal("31.00"))
    shopify_sim.control.clear_requests("shop-a")
    assert [r.status for r in run_jobs()] == ["done"]
    requests = shopify_sim.control.requests("shop-a")
    assert max(r["requested_cost"] or 0 for r in requests) <= 1000
    assert [r for r in requests if r["status"] == "max_cost_exceeded"] == []
    assert len(product_set_calls(shopify_sim)[0]["variables"]["input"]["variants"]) == 2000
    assert all("id" in v for v in product_set_calls(shopify_sim)[0]["variables"]["input"]["variants"])
    live = {v["sku"]: v["price"] for v in sim_product(shopify_sim, product.handle)["variants"]}
    assert live["HG-S1999"] == "31.00" and len(live) == 2000
    assert Conflict.objects.count() == 0


def test_max_cost_exceeded_is_terminal_with_a_clear_message_and_never_retried(shopify_sim, sim_store):
    shopify_sim.control.config("shop-a", max_query_cost=50)
    product = make_product()
    services.assignment_set(product=product, store=sim_store)
    (result,) = run_jobs()
    assert result.status == "dead"
    assert "single-query limit of 50" in result.detail and "Retrying cannot help" in result.detail
    job = SyncJob.objects.get()
    assert job.attempts == 1
    assert len(shopify_sim.control.requests("shop-a", status="max_cost_exceeded")) == 1


# --- per-store handle changes -------------------------------------------------------------------------------


def test_handle_override_changed_after_publish_is_sent_with_a_redirect_and_no_false_conflict(shopify_sim, sim_store):
    product = make_product()
    services.assignment_set(product=product, store=sim_store)
    run_jobs()
    old_handle = product.handle
    services.assignment_set(product=product, store=sim_store, handle_override="trail-tee-shop-a")
    shopify_sim.control.clear_requests("shop-a")
    assert [r.status for r in run_jobs()] == ["done"]
    sent = product_set_calls(shopify_sim)[0]["variables"]["input"]
    assert sent["handle"] == "trail-tee-shop-a" and sent["redirectNewHandle"] is True
    live = sim_product(shopify_sim, "trail-tee-shop-a")
    assert live is not None and sim_product(shopify_sim, old_handle) is None
    assert live["redirects"] == [
        {"id": live["redirects"][0]["id"], "path": f"/products/{old_handle}", "target": "/products/trail-tee-shop-a",
         "createdAt": live["redirects"][0]["createdAt"]}
    ]
    assert ChannelAssignment.objects.get(product=product).published_snapshot["handle"] == "trail-tee-shop-a"
    # Next edit: the drift check sees the new handle as ours, no conflict.
    pim_services.product_update(product=product, title="Trail Tee 2")
    assert [r.status for r in run_jobs()] == ["done"]
    assert Conflict.objects.count() == 0


def test_handle_taken_in_shopify_is_refused_and_the_pim_keeps_the_old_handle(shopify_sim, sim_store):
    shopify_sim.control.seed("shop-a", products=[{"title": "Other", "handle": "taken-handle"}])
    product = make_product()
    services.assignment_set(product=product, store=sim_store)
    run_jobs()
    services.assignment_set(product=product, store=sim_store, handle_override="taken-handle")
    (result,) = run_jobs()
    assert result.status == "dead" and "HANDLE_NOT_UNIQUE" in result.detail
    assert ChannelAssignment.objects.get(product=product).published_snapshot["handle"] == product.handle
    assert sim_product(shopify_sim, product.handle) is not None


# --- shop states ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "word"), [("frozen", "frozen"), ("locked", "locked")])
def test_frozen_or_locked_shop_pauses_the_store_with_a_clear_status(shopify_sim, sim_store, fault, word):
    product = make_product()
    shopify_sim.control.faults("shop-a", **{fault: True})
    services.assignment_set(product=product, store=sim_store)
    (result,) = run_jobs()
    assert result.status == "retry"
    store = Store.objects.get(pk=sim_store.pk)
    assert word in store.unavailable_reason and store.circuit_is_open()
    job = SyncJob.objects.get()
    assert job.status == "pending" and word in job.last_error
    # The shop answers again: the next attempt publishes and clears the status.
    shopify_sim.control.clear_faults("shop-a")
    Store.objects.filter(pk=sim_store.pk).update(circuit_open_until=None)
    SyncJob.objects.update(next_attempt_at=job.created_at)
    assert [r.status for r in run_jobs()] == ["done"]
    store.refresh_from_db()
    assert store.unavailable_reason == "" and store.circuit_failures == 0


# --- weight 0 ---------------------------------------------------------------------------------------------------


def test_zero_weight_does_not_make_a_conflict_on_every_publish(shopify_sim, sim_store):
    product = make_product()
    for variant in product.variants.all():
        pim_services.variant_update(variant=variant, weight=Decimal("0"))
    services.assignment_set(product=product, store=sim_store)
    run_jobs()
    for title in ("Trail Tee 2", "Trail Tee 3"):
        pim_services.product_update(product=product, title=title)
        assert [r.status for r in run_jobs()] == ["done"]
    assert list(Conflict.objects.values_list("field", flat=True)) == []


# --- products deleted in Shopify ------------------------------------------------------------------------------


def test_products_delete_webhook_records_the_deletion_at_once(shopify_sim, sim_store, webhook_receiver):
    from webhooks import inbox

    product = make_product()
    services.assignment_set(product=product, store=sim_store)
    run_jobs()
    assignment = ChannelAssignment.objects.get(product=product)
    from channels.clients import client_for_store

    client_for_store(sim_store).webhook_subscription_create(topic="PRODUCTS_DELETE", callback_url=webhook_receiver.url)
    shopify_sim.control.delete_product("shop-a", assignment.shopify_product_id)
    (delivery,) = webhook_receiver.wait_for(1, topic="products/delete")
    receipt = inbox.webhook_receive(store=sim_store, headers=dict(delivery.headers),
                                                 raw_body=delivery.body)
    assert receipt.outcome == "stored"
    from inventory.models import WebhookEvent

    event = WebhookEvent.objects.get(topic="products/delete")
    inbox.webhook_event_process(event_id=event.pk, worker="test")
    event.refresh_from_db()
    assert event.status == "processed" and "deleted in Shopify" in event.result
    conflict = Conflict.objects.get()
    assert conflict.field == "product.exists" and conflict.shopify_product_id == assignment.shopify_product_id
    # Handled as the sweep does: recorded only; the next publish applies the policy (overwrite: re-create).
    pim_services.product_update(product=product, title="Trail Tee again")
    assert [r.status for r in run_jobs()] == ["done"]
    assert sim_product(shopify_sim, product.handle)["title"] == "Trail Tee again"
