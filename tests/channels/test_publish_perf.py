"""Issue 15: a re-publish of an unchanged product costs a couple of queries and no API call (batched drain)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from .conftest import make_product, run_jobs

pytestmark = pytest.mark.django_db(transaction=True)


def test_unchanged_republish_in_a_drain_costs_few_queries_per_job_and_no_call(sim_store, shopify_sim, settings):
    from channels import services
    from channels.models import SyncJob
    from outbox.services import outbox_drain

    settings.PUBLISH_BATCH_SIZE = 10
    products = [make_product(title=f"Tee {i}", sku_prefix=f"T{i}") for i in range(10)]
    for p in products:
        services.assignment_set(product=p, store=sim_store)
    run_jobs(sim_store)
    shopify_sim.control.clear_requests("shop-a")
    jobs = services.publish_request(store=sim_store)
    with CaptureQueriesContext(connection) as ctx:
        ran = outbox_drain(lane="publish", budget_seconds=60, worker="test")
    assert ran == 10
    assert set(SyncJob.objects.filter(pk__in=jobs).values_list("status", flat=True)) == {"skipped"}
    assert shopify_sim.control.requests("shop-a") == []
    per_job = len(ctx.captured_queries) / 10
    assert per_job <= 4  # was ~21 per job before issue 15 (one job at a time)


def _first_publish_queries(sim_store, count: int, tag: str) -> int:
    from channels import services
    from channels.models import SyncJob
    from outbox.services import outbox_drain

    products = [make_product(title=f"{tag} {i}", sku_prefix=f"{tag}{i}", sizes=("S", "M", "L"),
                             images=[{"src": f"https://cdn.example.com/{tag}-{i}-{n}.jpg", "alt": "x"}
                                     for n in range(2)])
                for i in range(count)]
    for p in products:
        services.assignment_set(product=p, store=sim_store)
    with CaptureQueriesContext(connection) as ctx:
        ran = outbox_drain(lane="publish", budget_seconds=120, worker="test")
    assert ran == count
    assert set(SyncJob.objects.filter(product__in=products).values_list("status", flat=True)) == {"done"}
    return len(ctx.captured_queries)


def test_first_publish_batch_queries_grow_by_a_bounded_amount_per_product(sim_store, settings):
    """Issue 15: a batch of new products costs a fixed handful of queries plus a few per product (bindings, the
    snapshot, the job's outcome), not the ~23 per product of the first batched version."""
    settings.PUBLISH_BATCH_SIZE = 25
    small = _first_publish_queries(sim_store, 4, "A")
    large = _first_publish_queries(sim_store, 12, "B")
    per_extra_product = (large - small) / 8
    assert per_extra_product <= 12, (small, large)  # measured ~11 (BEGIN/COMMIT pairs included)
