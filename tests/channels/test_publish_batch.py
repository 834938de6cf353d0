"""Issue 15: sync jobs run in batches share one handle look-up and their metafieldsSet calls (25 per call);
a metafield Shopify refuses fails only its own product's job. A product's first create carries its metafields in
productSet instead (metafieldsSet costs 10 + 4 per product since 2026-09-15; productSet 0.4 per metafield)."""

from __future__ import annotations

from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def _product(i: int, keys=("fabric", "care", "origin"), images=0):
    from pim import services
    from pim.models import Product

    return services.product_create(
        title=f"Batch Tee {i}", option1_name="Size", workflow_state=Product.Workflow.READY,
        status=Product.Status.ACTIVE, vendor="Northwind",
        variants=[{"sku": f"BT{i}-{s}", "option1": s, "price": Decimal("20.00")} for s in ("S", "M")],
        attributes=[{"namespace": "custom", "key": k, "type": "single_line_text_field", "value": f"{k} {i}"}
                    for k in keys],
        images=[{"src": f"https://cdn.example.com/bt{i}-{n}.jpg", "alt": f"Tee {i} {n}"} for n in range(images)],
    )


def _change_every_value(products):
    """Edit every attribute of the products and ask for a publish: an update that only metafieldsSet carries."""
    from channels import services
    from pim.models import ProductAttribute

    for attribute in ProductAttribute.objects.filter(product__in=products):
        ProductAttribute.objects.filter(pk=attribute.pk).update(value=f"{attribute.value} v2")
    services.publish_request(product_ids=[p.pk for p in products])


def _drain():
    from outbox.services import outbox_drain

    return outbox_drain(lane="publish", budget_seconds=120, worker="test")


def _ops(shopify_sim, name):
    return [r for r in shopify_sim.control.requests("shop-a") if r.get("operation_name") == name]


def test_first_publish_of_a_batch_shares_handle_look_up_media_polls_and_metafields_calls(sim_store, shopify_sim, settings):
    from channels import services
    from channels.models import ChannelAssignment, SyncJob

    settings.PUBLISH_BATCH_SIZE = 10
    products = [_product(i, images=2) for i in range(6)]  # 6 x 3 metafields = 18: one call
    services.assignments_bulk_set(store=sim_store, product_ids=[p.pk for p in products])
    shopify_sim.control.clear_requests("shop-a")

    assert _drain() == 6

    assert set(SyncJob.objects.values_list("status", flat=True)) == {"done"}
    # First creates: the metafields travel in productSet, no metafieldsSet call at all.
    assert len(_ops(shopify_sim, "MetafieldsSetBatch")) == 0
    assert len(_ops(shopify_sim, "MetafieldsSet")) == 0
    assert all(len(r["variables"]["input"]["metafields"]) == 3 for r in _ops(shopify_sim, "ProductSet"))
    assert len(_ops(shopify_sim, "ProductsByHandles")) == 1
    assert len(_ops(shopify_sim, "ProductIdsByHandle")) == 0
    # The 12 new media are waited for together: a poll or two for the batch, not one or more per product.
    assert 1 <= len(_ops(shopify_sim, "MediaStatus")) <= 3
    by_title = {p["title"]: p for p in shopify_sim.control.products("shop-a")}
    for i in range(6):
        assert sorted((m["key"], m["value"]) for m in by_title[f"Batch Tee {i}"]["metafields"]) == [
            ("care", f"care {i}"), ("fabric", f"fabric {i}"), ("origin", f"origin {i}")]
    assert all(a.published_hash for a in ChannelAssignment.objects.all())

    # A re-publish of the unchanged batch: nothing sent.
    shopify_sim.control.clear_requests("shop-a")
    services.publish_request(store=sim_store)
    assert _drain() == 6
    assert shopify_sim.control.requests("shop-a") == []


def test_a_first_create_carries_its_metafields_in_product_set_and_records_them_as_written(sim_store, shopify_sim,
                                                                                          settings):
    """A create sends the metafields inside productSet (0.4 points each) instead of a metafieldsSet (10 + 4 per
    product since 2026-09-15); the snapshot records them, the drift compare finds them as written, and a later
    edit of a metafield goes through metafieldsSet only (productSet's list fields replace: never on updates)."""
    from channels import services
    from channels.models import ChannelAssignment
    from conflicts.models import Conflict
    from pim.models import ProductAttribute

    settings.PUBLISH_BATCH_SIZE = 10
    products = [_product(i) for i in range(3)]
    services.assignments_bulk_set(store=sim_store, product_ids=[p.pk for p in products])
    shopify_sim.control.clear_requests("shop-a")

    assert _drain() == 3

    creates = _ops(shopify_sim, "ProductSet")
    assert len(creates) == 3
    assert [sorted(m["key"] for m in r["variables"]["input"]["metafields"]) for r in creates] == [
        ["care", "fabric", "origin"]] * 3
    assert _ops(shopify_sim, "MetafieldsSetBatch") == [] and _ops(shopify_sim, "MetafieldsSet") == []
    # productSet's dynamic cost: 10 + 2 variants x 0.2 + 3 metafields x 0.4 = 11.6, rounded up
    assert {r["requested_cost"] for r in creates} == {12}
    for a in ChannelAssignment.objects.all():
        assert a.published_hash
        assert a.published_snapshot["metafields"] == {
            f"custom.{k}": ["single_line_text_field", f"{k} {products.index(a.product)}"]
            for k in ("care", "fabric", "origin")}

    # An edit of one metafield: compared live (no drift: what productSet wrote is what was recorded), then only
    # that product's metafields are set with metafieldsSet; no productSet.
    ProductAttribute.objects.filter(product=products[0], key="care").update(value="hand wash")
    services.publish_request(store=sim_store)
    shopify_sim.control.clear_requests("shop-a")
    assert _drain() == 3
    assert Conflict.objects.count() == 0
    assert _ops(shopify_sim, "ProductSet") == []
    [call] = _ops(shopify_sim, "MetafieldsSetBatch")
    assert {m["ownerId"] for m in call["variables"]["metafields"]} == {
        f"gid://shopify/Product/{ChannelAssignment.objects.get(product=products[0]).shopify_product_id}"}
    live = {p["title"]: p for p in shopify_sim.control.products("shop-a")}["Batch Tee 0"]
    assert {m["key"]: m["value"] for m in live["metafields"]}["care"] == "hand wash"
    assert ChannelAssignment.objects.get(product=products[0]).published_snapshot["metafields"]["custom.care"][1] == \
        "hand wash"


def test_products_are_packed_into_calls_of_at_most_25_metafields(sim_store, shopify_sim, settings):
    from channels import services
    from channels.models import SyncJob

    settings.PUBLISH_BATCH_SIZE = 10
    keys = tuple(f"key{k}" for k in range(10))
    products = [_product(i, keys=keys) for i in range(5)]  # 5 x 10: 2 + 2 + 1 products per call
    services.assignments_bulk_set(store=sim_store, product_ids=[p.pk for p in products])
    assert _drain() == 5  # created with their metafields in productSet
    _change_every_value(products)
    shopify_sim.control.clear_requests("shop-a")

    assert _drain() == 5

    assert set(SyncJob.objects.values_list("status", flat=True)) == {"done"}
    calls = _ops(shopify_sim, "MetafieldsSetBatch")
    assert len(calls) == 3
    assert all(len({m["ownerId"] for m in c["variables"]["metafields"]}) <= 2 for c in calls)


def test_a_refused_metafield_fails_only_its_product_and_the_others_are_sent_again(sim_store, shopify_sim, settings):
    from channels import services
    from channels.models import ChannelAssignment, SyncJob
    from pim.models import ProductAttribute

    settings.PUBLISH_BATCH_SIZE = 10
    products = [_product(i, keys=("fabric", "care")) for i in range(4)]
    services.assignments_bulk_set(store=sim_store, product_ids=[p.pk for p in products])
    assert _drain() == 4  # created with their metafields in productSet; the edits below go through metafieldsSet
    _change_every_value(products)
    # A key Shopify refuses (TOO_SHORT), written past the PIM's validation: the shared call is atomic.
    bad = ProductAttribute.objects.create(product=products[1], namespace="custom", key="x", value="refused")
    shopify_sim.control.clear_requests("shop-a")

    assert _drain() == 4

    jobs = {j.product_id: j for j in SyncJob.objects.order_by("pk")}  # the edit's jobs, after the creates
    assert {pid: j.status for pid, j in jobs.items() if pid != products[1].pk} == {
        p.pk: "done" for p in products if p.pk != products[1].pk}
    assert jobs[products[1].pk].status in ("dead", "pending")
    assert "TOO_SHORT" in jobs[products[1].pk].last_error or "short" in jobs[products[1].pk].last_error.lower()
    assert len(_ops(shopify_sim, "MetafieldsSetBatch")) == 2  # refused, then the three others again
    refused = ChannelAssignment.objects.get(product=products[1])
    assert refused.published_snapshot["metafields"]["custom.fabric"][1] == "fabric 1"  # the last write it made
    by_title = {p["title"]: p for p in shopify_sim.control.products("shop-a")}
    assert {m["value"] for m in by_title["Batch Tee 0"]["metafields"]} == {"fabric 0 v2", "care 0 v2"}
    assert {m["value"] for m in by_title["Batch Tee 1"]["metafields"]} == {"fabric 1", "care 1"}  # nothing set

    # Fixed in the PIM, the job is replayed: the product's metafields are set (no duplicate product).
    bad.delete()
    services.sync_jobs_replay(job_ids=[jobs[products[1].pk].pk])
    SyncJob.objects.filter(pk=jobs[products[1].pk].pk).update(next_attempt_at="2000-01-01T00:00:00Z")
    _drain()
    assert SyncJob.objects.get(pk=jobs[products[1].pk].pk).status == "done"
    titles = [p["title"] for p in shopify_sim.control.products("shop-a")]
    assert titles.count("Batch Tee 1") == 1
    assert {m["value"] for m in {p["title"]: p for p in shopify_sim.control.products("shop-a")}["Batch Tee 1"][
        "metafields"]} == {"fabric 1 v2", "care 1 v2"}


def test_a_publish_batch_gives_back_its_unwritten_jobs_when_order_work_waits(sim_store, shopify_sim, settings,
                                                                              monkeypatch):
    """Issue 15: a batch of 25 takes seconds; when an order waits on a higher lane the batch stops after the product
    it is writing and its other jobs go back to waiting, their attempt not counted."""
    from channels import services
    from channels.models import SyncAttempt, SyncJob

    settings.PUBLISH_BATCH_SIZE = 10
    products = [_product(i) for i in range(4)]
    services.assignments_bulk_set(store=sim_store, product_ids=[p.pk for p in products])
    asked = []

    def order_waits_after_the_first_write(lane):
        asked.append(lane)
        return "webhooks"

    monkeypatch.setattr(services, "lane_higher_waiting", order_waits_after_the_first_write)
    monkeypatch.setattr("outbox.services.lane_higher_waiting", lambda lane: "webhooks")

    assert _drain() == 4  # claimed together; one written, three given back
    assert asked == ["publish"]
    done = SyncJob.objects.filter(status="done")
    assert done.count() == 1
    waiting = SyncJob.objects.exclude(status="done")
    assert waiting.count() == 3 and {j.attempts for j in waiting} == {0}
    assert all(j.status in ("pending", "retry") and j.lease_until is None for j in waiting)
    assert SyncAttempt.objects.filter(outcome="released").count() == 3
    assert len(shopify_sim.control.products("shop-a")) == 1

    # With no order waiting, the next drain writes the three (nothing was lost or sent twice).
    monkeypatch.setattr(services, "lane_higher_waiting", lambda lane: None)
    monkeypatch.setattr("outbox.services.lane_higher_waiting", lambda lane: None)
    assert _drain() == 3
    assert SyncJob.objects.filter(status="done").count() == 4
    assert len(shopify_sim.control.products("shop-a")) == 4


def test_a_batch_step_longer_than_the_lease_keeps_its_jobs_leased(transactional_db, settings):
    """A step of a batch can outlast a lease (media polls, a slow write under load): a thread keeps the batch's
    leases alive meanwhile, so the sweeper does not hand the jobs to a second worker (two creates of one product);
    once the batch is over, nothing renews them any more."""
    import threading
    from datetime import timedelta

    from django.utils import timezone

    from channels.models import Store, SyncJob
    from channels.publish_batch import _lease_heartbeat
    from tests.e2e.conftest import wait_for

    settings.SYNC_JOB_LEASE_SECONDS = 1
    store = Store.objects.create(name="s", shop_domain="lease-test.myshopify.com")
    first = timezone.now() + timedelta(seconds=1)
    jobs = [SyncJob.objects.create(store=store, product_label=f"P{i}", status=SyncJob.Status.RUNNING,
                                   lease_until=first, worker="me") for i in range(2)]

    def leases():
        return sorted(SyncJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list("lease_until", flat=True))

    with _lease_heartbeat(jobs):
        # The step runs past two leases' ends; both jobs' leases are renewed while it does.
        wait_for(lambda: all(lease > first + timedelta(seconds=1) for lease in leases()), timeout=10,
                 what="the heartbeat to renew the leases")
    # Over: the heartbeat thread has ended with the batch (nothing renews the leases of a finished batch).
    assert not [t for t in threading.enumerate() if t.name == "sync-lease-heartbeat"]
