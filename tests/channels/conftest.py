"""Fixtures for publishing tests that run jobs in-process against the simulator over HTTP (no RQ workers)."""

from __future__ import annotations

from decimal import Decimal

import pytest


@pytest.fixture
def sim_store(shopify_sim, db):
    """A PIM store pointing at the simulator's shop-a (static token)."""
    from channels.models import Store

    creds = shopify_sim.shops["shop-a"]
    return Store.objects.create(
        name="shop-a", shop_domain=creds.domain, api_base_url=creds.base_url, access_token=creds.access_token,
        webhook_secret=creds.webhook_secret,
    )


def run_jobs(store=None) -> list:
    """Execute every pending sync job now, in this process; return their ExecutionResults."""
    from channels import services
    from channels.models import SyncJob

    results = []
    jobs = SyncJob.objects.filter(status="pending")
    if store is not None:
        jobs = jobs.filter(store=store)
    for job_id in list(jobs.order_by("id").values_list("pk", flat=True)):
        results.append(services.sync_job_execute(job_id=job_id, worker="test"))
    return results


def make_product(title="Trail Tee", sku_prefix="TT", sizes=("S", "M"), images=None, **fields):
    from pim import services
    from pim.models import Product

    return services.product_create(
        title=title,
        option1_name="Size",
        workflow_state=Product.Workflow.READY,
        status=Product.Status.ACTIVE,
        vendor="Northwind",
        variants=[{"sku": f"{sku_prefix}-{s}", "option1": s, "price": Decimal("20.00")} for s in sizes],
        images=images if images is not None else [],
        **fields,
    )


def sim_product(shopify_sim, handle, shop="shop-a"):
    return next((p for p in shopify_sim.control.products(shop) if p["handle"] == handle), None)


def product_set_calls(shopify_sim, shop="shop-a") -> list[dict]:
    return [r for r in shopify_sim.control.requests(shop) if r.get("operation_name") == "ProductSet"]
