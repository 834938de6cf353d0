"""Issue 15: sync jobs run in batches share one handle look-up and their metafieldsSet calls (25 per call);
a metafield Shopify refuses fails only its own product's job."""

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
    assert len(_ops(shopify_sim, "MetafieldsSetBatch")) == 1
    assert len(_ops(shopify_sim, "MetafieldsSet")) == 0
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


def test_products_are_packed_into_calls_of_at_most_25_metafields(sim_store, shopify_sim, settings):
    from channels import services
    from channels.models import SyncJob

    settings.PUBLISH_BATCH_SIZE = 10
    keys = tuple(f"key{k}" for k in range(10))
    products = [_product(i, keys=keys) for i in range(5)]  # 5 x 10: 2 + 2 + 1 products per call
    services.assignments_bulk_set(store=sim_store, product_ids=[p.pk for p in products])
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
    # A key Shopify refuses (TOO_SHORT), written past the PIM's validation: the shared call is atomic.
    bad = ProductAttribute.objects.create(product=products[1], namespace="custom", key="x", value="refused")
    services.assignments_bulk_set(store=sim_store, product_ids=[p.pk for p in products])
    shopify_sim.control.clear_requests("shop-a")

    assert _drain() == 4

    jobs = {j.product_id: j for j in SyncJob.objects.all()}
    assert {pid: j.status for pid, j in jobs.items() if pid != products[1].pk} == {
        p.pk: "done" for p in products if p.pk != products[1].pk}
    assert jobs[products[1].pk].status in ("dead", "pending")
    assert "TOO_SHORT" in jobs[products[1].pk].last_error or "short" in jobs[products[1].pk].last_error.lower()
    assert len(_ops(shopify_sim, "MetafieldsSetBatch")) == 2  # refused, then the three others again
    refused = ChannelAssignment.objects.get(product=products[1])
    assert refused.published_hash == ""  # not recorded as written: the next try sends everything again
    by_title = {p["title"]: p for p in shopify_sim.control.products("shop-a")}
    assert len(by_title["Batch Tee 0"]["metafields"]) == 2
    assert by_title["Batch Tee 1"]["metafields"] == []

    # Fixed in the PIM, the job is replayed: the product is completed (productSet by id, no duplicate).
    bad.delete()
    services.sync_jobs_replay(job_ids=[jobs[products[1].pk].pk])
    SyncJob.objects.filter(pk=jobs[products[1].pk].pk).update(next_attempt_at="2000-01-01T00:00:00Z")
    _drain()
    assert SyncJob.objects.get(pk=jobs[products[1].pk].pk).status == "done"
    titles = [p["title"] for p in shopify_sim.control.products("shop-a")]
    assert titles.count("Batch Tee 1") == 1
    assert len({p["title"]: p for p in shopify_sim.control.products("shop-a")}["Batch Tee 1"]["metafields"]) == 2


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
