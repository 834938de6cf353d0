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
