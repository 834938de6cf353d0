"""End-to-end fixtures: real RQ worker processes on the real Redis, the simulator over HTTP, committed data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import django_rq
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

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


class WorkerPool:
    """Real ``manage.py rqworker`` processes against the test database and Redis."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def env(self) -> dict[str, str]:
        env = {**os.environ, **E2E_SETTINGS, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1"}
        env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
        return env

    def start(self, queues: str = "webhooks inventory default publish", count: int = 1) -> None:
        started = []
        for _ in range(count):
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "rqworker", *queues.split(), "--with-scheduler"],
                cwd=ROOT,
                env=self.env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.procs.append(proc)
            started.append(proc)
        self._wait_registered(started)

    def start_sweeper(self, interval: float = 1.0) -> None:
        """Start ``outbox_sweeper --loop``, as every deployment runs one: it re-sends a row whose hand-off was lost
        (a delayed wake that never ran), which a test without it would wait on forever."""
        self.procs.append(subprocess.Popen(
            [sys.executable, "manage.py", "outbox_sweeper", "--loop", "--interval", str(interval)],
            cwd=ROOT, env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        ))

    @staticmethod
    def _wait_registered(procs: list[subprocess.Popen]) -> None:
        """Wait until each started worker has registered in Redis (it then takes jobs), or fail if one exited."""
        from rq import Worker

        conn = django_rq.get_connection("default")

        def registered() -> bool:
            exited = [p.args for p in procs if p.poll() is not None]
            assert not exited, f"worker exited at start: {exited}"
            return {p.pid for p in procs} <= {w.pid for w in Worker.all(connection=conn)}

        wait_for(registered, timeout=30, what="the workers to register")

    @staticmethod
    def _children(pid: int) -> list[int]:
        """Child processes of ``pid`` (RQ's work horses call setsid, so a process group kill misses them)."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
        return found

    def kill(self, sig=signal.SIGKILL) -> None:
        """Kill every worker and its work horses at once (a machine dying)."""
        for proc in self.procs:
            targets = self._children(proc.pid) if sig == signal.SIGKILL else []
            for pid in targets:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs = []

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


@pytest.fixture
def redis_clean():
    conn = django_rq.get_connection("default")
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture
def workers(transactional_db, redis_clean, e2e_settings):
    pool = WorkerPool()
    pool.start()
    yield pool
    pool.kill()


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
