"""The publishing pipeline end to end: real RQ workers, real Redis, PostgreSQL, the simulator over HTTP."""

import time
from decimal import Decimal

from channels import services
from channels.models import ChannelAssignment, SyncAttempt, SyncJob, VariantBinding
from pim import services as pim_services
from pim.models import Product

from .conftest import jobs_settled, make_product, wait_for


def shop_product(sim, shop, handle):
    return next((p for p in sim.control.products(shop) if p["handle"] == handle), None)


def test_create_edit_override_fanout_skip_and_unassign(shopify_sim, sim_stores, workers):
    a, b = sim_stores
    product = make_product()
    services.assignment_set(product=product, store=a)
    services.assignment_set(product=product, store=b, title_override="Trail Tee (B edition)")
    wait_for(jobs_settled, what="first publish to both stores")
    # Each assignment records jobs for every store of the product: if store A's first job finished before the
    # second assignment committed, A gets a second job, which finds nothing to send (skipped).
    assert set(SyncJob.objects.values_list("status", flat=True)) <= {"done", "skipped"}
    assert SyncJob.objects.filter(status="done").values("store").distinct().count() == 2

    in_a = shop_product(shopify_sim, "shop-a", product.handle)
    in_b = shop_product(shopify_sim, "shop-b", product.handle)
    assert in_a["title"] == "Trail Tee" and in_b["title"] == "Trail Tee (B edition)"
    assert sorted(v["sku"] for v in in_a["variants"]) == ["TT-M", "TT-S"]
    assert in_a["status"] == "ACTIVE" and sorted(in_a["tags"]) == ["new", "summer"]
    assert {m["key"]: m["value"] for m in in_a["metafields"]}["material"] == "Cotton"
    # Bindings written back: product, variant and inventory item ids per store.
    assignment = ChannelAssignment.objects.get(product=product, store=a)
    assert in_a["id"].endswith("/" + assignment.shopify_product_id)
    bindings = VariantBinding.objects.filter(store=a)
    assert bindings.count() == 2 and all(b.shopify_inventory_item_id for b in bindings)
    product.refresh_from_db()
    assert product.first_published_at is not None

    # An edit reaches both stores, one job per store.
    shopify_sim.control.clear_requests("shop-a")
    pim_services.product_update(product=product, title="Trail Tee v2")
    variant = product.variants.get(sku="TT-S")
    pim_services.variant_update(variant=variant, price=Decimal("22.50"))
    wait_for(lambda: shop_product(shopify_sim, "shop-a", product.handle)["title"] == "Trail Tee v2",
             what="edit live in shop-a")
    wait_for(jobs_settled, what="edit published")
    in_a = shop_product(shopify_sim, "shop-a", product.handle)
    assert {v["sku"]: v["price"] for v in in_a["variants"]}["TT-S"] == "22.50"
    assert shop_product(shopify_sim, "shop-b", product.handle)["title"] == "Trail Tee (B edition)"
    # The variants kept their Shopify ids (sent as gids), so inventory items survive edits.
    assert {b.shopify_variant_id for b in VariantBinding.objects.filter(store=a)} == {
        v["id"].rsplit("/", 1)[-1] for v in in_a["variants"]
    }

    # A second full publish of the unchanged catalog sends no product writes.
    shopify_sim.control.clear_requests("shop-a")
    shopify_sim.control.clear_requests("shop-b")
    skipped_before = SyncJob.objects.filter(status="skipped").count()  # the first publish may have skipped one
    services.publish_request()
    wait_for(jobs_settled, what="second publish")
    writes = [r for shop in ("shop-a", "shop-b") for r in shopify_sim.control.requests(shop)
              if r.get("operation") in ("ProductSet", "MetafieldsSet")]
    assert writes == []
    assert SyncJob.objects.filter(status="skipped").count() - skipped_before == 2

    # Unassigning sets the product to draft in that store, never deletes it.
    services.assignment_set(product=product, store=a, publish=False)
    wait_for(lambda: shop_product(shopify_sim, "shop-a", product.handle)["status"] == "DRAFT",
             what="unpublished in shop-a")
    assert shop_product(shopify_sim, "shop-b", product.handle)["status"] == "ACTIVE"


def test_product_in_review_does_not_reach_any_store(shopify_sim, sim_stores, workers):
    a, _ = sim_stores
    product = make_product(title="Secret", sku_prefix="SEC")
    pim_services.product_update(product=product, workflow_state=Product.Workflow.REVIEW)
    services.assignment_set(product=product, store=a)
    wait_for(jobs_settled)
    assert shop_product(shopify_sim, "shop-a", product.handle) is None
    assert SyncJob.objects.get().status == "skipped"


def test_outage_pauses_one_store_and_catches_up_in_order(shopify_sim, sim_stores, workers):
    a, b = sim_stores
    products = [make_product(title=f"Outage {i}", sku_prefix=f"OUT{i}") for i in range(4)]
    for product in products:
        services.assignment_set(product=product, store=a)
        services.assignment_set(product=product, store=b)
    wait_for(jobs_settled, what="initial publish")

    shopify_sim.control.outage("shop-a", 4)
    for product in products:
        pim_services.product_update(product=product, title=product.title + " (edited)")
    # The healthy store is not delayed by the other's outage.
    wait_for(lambda: all(shop_product(shopify_sim, "shop-b", p.handle)["title"].endswith("(edited)")
                         for p in products), timeout=10, what="shop-b updated during shop-a outage")
    a.refresh_from_db()
    wait_for(lambda: jobs_settled(), timeout=40, what="shop-a catches up after the outage")
    for product in products:
        assert shop_product(shopify_sim, "shop-a", product.handle)["title"].endswith("(edited)")
    retried = SyncAttempt.objects.filter(job__store=a, outcome="retry").count()
    assert retried >= 1
    # Caught up oldest first: the backlog is dispatched in the order the edits were recorded. With two workers
    # taking jobs from one FIFO queue, neighbours may run side by side (either may finish or start first), but a
    # job never starts after the one two places behind it.
    edits = list(SyncJob.objects.filter(store=a, status="done", attempts__gte=1)
                 .exclude(attempt_log__outcome="done", attempts=1).order_by("first_edit_at"))
    starts = [job.attempt_log.get(outcome="done").started_at for job in edits]
    assert all(starts[i] <= starts[i + 2] for i in range(len(starts) - 2)), starts
    a.refresh_from_db()
    assert a.circuit_failures == 0 and a.circuit_open_until is None


def test_worker_killed_mid_job_is_reclaimed_without_duplicates(shopify_sim, sim_stores, workers):
    a, _ = sim_stores
    # Learn the bucket first: until a store has answered once, the client allows a single probe in flight,
    # and a probe lost with a killed worker blocks the store until its reservation expires (~45 s).
    services.store_test_connection(store=a)
    shopify_sim.control.latency("shop-a", 2500)
    product = make_product(title="Killed", sku_prefix="KIL")
    services.assignment_set(product=product, store=a)
    wait_for(lambda: SyncJob.objects.filter(status="running").exists(), what="job running")
    time.sleep(0.8)  # the productSet request is in flight now
    workers.kill()
    shopify_sim.control.clear_faults("shop-a")
    workers.start_workers()
    wait_for(jobs_settled, timeout=30, what="reclaimed job finished")
    matches = [p for p in shopify_sim.control.products("shop-a") if p["handle"].startswith(product.handle)]
    assert len(matches) == 1, [p["handle"] for p in matches]
    assert ChannelAssignment.objects.get(product=product, store=a).shopify_product_id
    job = SyncJob.objects.get(store=a)
    assert job.status == "done" and job.attempts >= 2


def test_redis_flushed_loses_nothing(shopify_sim, sim_stores, workers, redis_clean):
    a, _ = sim_stores
    workers.stop()
    product = make_product(title="Flushed", sku_prefix="FLU")
    services.assignment_set(product=product, store=a)
    assert SyncJob.objects.get().dispatched_at is not None
    redis_clean.flushdb()  # the queued RQ job is gone
    workers.start_workers()
    wait_for(jobs_settled, timeout=30, what="sweeper re-dispatched the job")
    assert shop_product(shopify_sim, "shop-a", product.handle) is not None


def test_terminal_error_dead_letters_and_replay_publishes(shopify_sim, sim_stores, workers):
    a, _ = sim_stores
    shopify_sim.control.invalid_token("shop-a")
    product = make_product(title="Dead", sku_prefix="DED")
    services.assignment_set(product=product, store=a)
    job = wait_for(lambda: SyncJob.objects.filter(status="dead").first(), what="dead letter")
    assert job.attempts == 1 and "ShopifyAuthError" in job.last_error
    attempt = job.attempt_log.get()
    assert attempt.outcome == "error" and not attempt.retryable
    assert "shpat_" not in job.last_error  # the token is never recorded

    shopify_sim.control.invalid_token("shop-a", on=False)
    assert services.sync_jobs_replay(job_ids=[job.pk]) == 1
    wait_for(jobs_settled, what="replayed job")
    job.refresh_from_db()
    assert job.status == "done"
    assert shop_product(shopify_sim, "shop-a", product.handle) is not None
