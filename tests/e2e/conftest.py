"""End-to-end fixtures: real RQ worker processes (``demo.harness``) on the real Redis, the simulator over HTTP,
committed data."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import django_rq
import pytest
from django.conf import settings
from django.db import connection

from demo.harness import Harness

# Short timings so outages, leases and retries play out in seconds; the worker processes get the same.
E2E_SETTINGS = {
    "SYNC_JOB_LEASE_SECONDS": "4",
    "SYNC_RETRY_MAX_SECONDS": "3",
    "SYNC_REDISPATCH_AFTER_SECONDS": "2",
    "SYNC_CIRCUIT_THRESHOLD": "3",
    "SYNC_CIRCUIT_MAX_OPEN_SECONDS": "2",
    "SYNC_JOB_MAX_ATTEMPTS": "6",
}


@pytest.fixture
def e2e_settings(settings):
    for key, value in E2E_SETTINGS.items():
        current = getattr(settings, key)
        setattr(settings, key, [float(v) for v in value.split(",")] if isinstance(current, list)
                else type(current)(value))
    return settings


def database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def e2e_harness() -> Harness:
    """The process harness (``demo.harness``) on the test database and Redis, with the e2e timings."""
    return Harness(database_url=database_url(), redis_url=settings.RQ_QUEUES["default"]["URL"], timings=E2E_SETTINGS)


@pytest.fixture
def redis_clean():
    conn = django_rq.get_connection("default")
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture
def workers(transactional_db, redis_clean, e2e_settings):
    harness = e2e_harness()
    harness.start_workers()  # one worker on every queue, registered in Redis before the test goes on
    yield harness
    harness.close()


def wait_for(predicate: Callable[[], object], *, timeout: float = 20.0, interval: float = 0.1, what: str = ""):
    """Poll ``predicate`` until it returns something truthy; fail the test with ``what`` on timeout.

    ``timeout`` is an upper bound, stretched by ``PIM_TEST_TIMEOUT_SCALE`` (default 3) so a loaded machine (another
    copy of the suite beside this one) is not mistaken for a bug; a passing wait returns as soon as it holds."""
    timeout *= float(os.environ.get("PIM_TEST_TIMEOUT_SCALE", "3"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


@pytest.fixture
def sim_stores(shopify_sim, transactional_db):
    """Two PIM stores pointing at the simulator's shop-a and shop-b (static tokens)."""
    from channels.models import Store

    stores = []
    for name in ("shop-a", "shop-b"):
        creds = shopify_sim.shops[name]
        stores.append(
            Store.objects.create(
                name=name,
                shop_domain=creds.domain,
                api_base_url=creds.base_url,
                access_token=creds.access_token,
                webhook_secret=creds.webhook_secret,
            )
        )
    return stores


def make_product(title: str = "Trail Tee", sku_prefix: str = "TT", sizes=("S", "M"), **fields):
    from decimal import Decimal

    from pim import services
    from pim.models import Product

    return services.product_create(
        title=title,
        option1_name="Size",
        workflow_state=Product.Workflow.READY,
        status=Product.Status.ACTIVE,
        vendor="Northwind",
        tags="summer, new",
        description_html="<p>Soft cotton</p>",
        variants=[{"sku": f"{sku_prefix}-{s}", "option1": s, "price": Decimal("20.00")} for s in sizes],
        images=[{"src": "https://cdn.example.com/tee.jpg", "alt": "Front"}],
        attributes=[{"namespace": "pim", "key": "material", "value": "Cotton"}],
        **fields,
    )


def jobs_settled(*job_filter) -> bool:
    """True when no sync job is pending or running; sweeps once per call, as the scheduler would."""
    from channels import services
    from channels.models import SyncJob

    services.sync_jobs_sweep()
    return not SyncJob.objects.filter(status__in=["pending", "running"]).exists()
