"""Issue 15: a publish batch does not sleep for a store's empty cost budget; it gives its jobs back unrun, due later."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .conftest import make_product, product_set_calls

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_batch_facing_a_long_budget_wait_gives_its_jobs_back_due_later(sim_store, shopify_sim, settings):
    from channels import services
    from channels.clients import client_for_store
    from channels.models import SyncJob
    from outbox.services import outbox_drain
    from pim.clock import clock_advance, clock_now, clock_reset

    settings.PUBLISH_BATCH_SIZE = 10
    settings.PUBLISH_BUDGET_WAIT_SECONDS = 1.0
    products = [make_product(title=f"Budget {i}", sku_prefix=f"BW{i}") for i in range(3)]
    for p in products:
        services.assignment_set(product=p, store=sim_store)
    budget = client_for_store(sim_store).budget
    budget.block_for(30)  # as after a 429 with Retry-After: 30 (every worker of this store must wait)
    try:
        before = clock_now()
        ran = outbox_drain(lane="publish", budget_seconds=60, worker="test")
        jobs = list(SyncJob.objects.filter(product__in=products))
        assert ran == 3
        assert product_set_calls(shopify_sim) == []  # nothing sent
        assert {j.status for j in jobs} == {"pending"}
        assert {j.attempts for j in jobs} == {0}  # given back unrun: no attempt used
        assert all(j.next_attempt_at >= before + timedelta(seconds=25) for j in jobs)
        assert outbox_drain(lane="publish", budget_seconds=5, worker="test") == 0  # not due yet

        budget.reset()  # the budget is there again; and the jobs are due
        clock_advance(seconds=31)
        assert outbox_drain(lane="publish", budget_seconds=60, worker="test") == 3
        assert set(SyncJob.objects.filter(product__in=products).values_list("status", flat=True)) == {"done"}
        assert len(product_set_calls(shopify_sim)) == 3
    finally:
        budget.reset()
        clock_reset()


def test_a_short_budget_wait_is_still_waited_for(sim_store, shopify_sim, settings):
    from channels import services
    from channels.clients import client_for_store
    from channels.models import SyncJob
    from outbox.services import outbox_drain

    settings.PUBLISH_BATCH_SIZE = 10
    settings.PUBLISH_BUDGET_WAIT_SECONDS = 5.0
    products = [make_product(title=f"Short {i}", sku_prefix=f"SW{i}") for i in range(2)]
    for p in products:
        services.assignment_set(product=p, store=sim_store)
    budget = client_for_store(sim_store).budget
    budget.block_for(0.3)
    try:
        assert outbox_drain(lane="publish", budget_seconds=60, worker="test") == 2
        assert set(SyncJob.objects.filter(product__in=products).values_list("status", flat=True)) == {"done"}
    finally:
        budget.reset()
