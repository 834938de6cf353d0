"""Fault and load scenarios: one function per fault, parameterised by size and duration.

The pytest suite (``tests/faults/test_faults.py``) runs them small; ``bench/bench_faults.py`` runs them at the
issue's full sizes. Every scenario drives the real system: ``manage.py rqworker`` processes, the sweeper
(``outbox_sweeper --loop``), gunicorn serving ``/shopify/webhooks/`` when webhooks
are involved, PostgreSQL, Redis and the Shopify simulator over HTTP. It injects its fault, then *measures*:

* **lost**: PIM products missing in a store or whose final edit is not live; order lines whose ledger movement
  is missing; stock that shows fewer sales than were sent; events that failed; pushes or jobs dead-lettered;
  another store whose quantity lags behind the PIM.
* **duplicated**: more than one Shopify product per PIM product (same handle, ``-1`` suffixes or same SKUs);
  ledger movements nobody asked for; stock that shows more sales than were sent; a store below the PIM.
* **time to converge**: from the end of the fault until every check above passes and no job, event or push is
  waiting any more.

Each scenario returns a ``FaultReport``; the caller asserts ``lost == duplicated == 0`` and a bound on the time.

The caller provides an ``Env``: the simulator (``SimulatorServer``), the database URL the subprocesses must use
(this process must be connected to the same database), the Redis URL, and a directory for process logs. The
database and the Redis database must be empty of PIM data and are left with the scenario's data.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_PATH = "/shopify/webhooks/"
SAMPLES = ROOT / "shopify_sim" / "samples"
SHOPS = ("shop-a", "shop-b")

# Short timings so leases, retries and the circuit breaker play out in seconds (the e2e suite's, plus the
# inventory leases). This process and every subprocess use the same values.
FAST_TIMINGS: dict[str, int | float] = {
    "SYNC_JOB_LEASE_SECONDS": 4,
    "SYNC_RETRY_MAX_SECONDS": 3.0,
    "SYNC_REDISPATCH_AFTER_SECONDS": 2,
    "SYNC_CIRCUIT_THRESHOLD": 3,
    "SYNC_CIRCUIT_MAX_OPEN_SECONDS": 2,
    "SYNC_JOB_MAX_ATTEMPTS": 8,
    "WEBHOOK_LEASE_SECONDS": 4,
    "INVENTORY_LEASE_SECONDS": 4,
    "INVENTORY_CHECK_DELAY_SECONDS": 0.5,
    "SHOPIFY_READ_TIMEOUT": 10.0,
    # The sweeper queues the nightly drift sweep once a day after this hour (a Redis key remembers it): at 0 it
    # runs at the start of every scenario, concurrently with the faults, whatever the time of day.
    "DRIFT_SWEEP_HOUR": 0,
}


# --- the environment and the processes ------------------------------------------------------------------------


@dataclass
class Env:
    """Where a scenario runs: the simulator, the database and Redis the subprocesses share with this process."""

    sim: Any  # shopify_sim.testing.SimulatorServer
    database_url: str
    redis_url: str
    log_dir: Path
    timings: dict[str, int | float] = field(default_factory=lambda: dict(FAST_TIMINGS))
    rq_workers: int = 2
    # The queues each RQ worker listens to, in priority order (README's production command by default).
    worker_queues: str = "webhooks inventory default publish"
    gunicorn_workers: int = 2
    gunicorn_threads: int = 4
    verbose: bool = False
    _control: Any = None

    @property
    def control(self):
        if self._control is None:
            self._control = self.sim.control
        return self._control

    def log(self, message: str) -> None:
        if self.verbose:
            print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (RQ work horses call setsid: a process-group kill misses them)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children[ppid].append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """The PIM's processes for one scenario: RQ workers, the sweeper and (optionally) gunicorn."""

    def __init__(self, env: Env, timings: dict[str, int | float]):
        from django.conf import settings

        self.env = env
        self.procs: dict[str, list[subprocess.Popen]] = defaultdict(list)
        self.logs: list[Path] = []
        self.web_url = ""
        self.environ = {
            **os.environ,
            **{k: str(v) for k, v in timings.items()},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": env.database_url,
            "REDIS_URL": env.redis_url,
            "DEBUG": "0",
            "SECRET_KEY": "faults-" + uuid.uuid4().hex,
            # The store credentials were encrypted by this process: the others need its key.
            "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        env.log_dir.mkdir(parents=True, exist_ok=True)

    # processes ---------------------------------------------------------------------------------------------
    def _start(self, role: str, argv: list[str]) -> subprocess.Popen:
        log = self.env.log_dir / f"{role}-{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=self.environ, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs[role].append(proc)
        return proc

    def start_workers(self, count: int | None = None, *, wait: bool = True) -> None:
        count = count or self.env.rq_workers
        for _ in range(count):
            self._start("worker", [sys.executable, "manage.py", "rqworker", *self.env.worker_queues.split(),
                                   "--with-scheduler"])
        if wait:
            self.wait_workers(count)

    def wait_workers(self, count: int, timeout: float = 20.0) -> None:
        import django_rq
        from rq import Worker

        conn = django_rq.get_connection("default")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if Worker.count(connection=conn) >= count:
                return
            dead = [p for p in self.procs["worker"] if p.poll() is not None]
            if dead:
                raise RuntimeError(f"an RQ worker exited at start (see {self.env.log_dir})")
            time.sleep(0.1)
        raise RuntimeError(f"RQ workers did not register within {timeout}s (see {self.env.log_dir})")

    def start_sweepers(self, interval: float = 1.0) -> None:
        # One outbox_sweeper covers every kind of durable work and the apps' periodic tasks (issue 14).
        self._start("outbox_sweeper", [sys.executable, "manage.py", "outbox_sweeper", "--loop", "--interval",
                                       str(interval)])

    def start_web(self) -> str:
        """Start gunicorn on loopback serving the project; return its base URL once it answers."""
        port = free_port()
        self._start("web", [
            sys.executable, "-m", "gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{port}",
            "-w", str(self.env.gunicorn_workers), "-k", "gthread", "--threads", str(self.env.gunicorn_threads),
            "--backlog", "2048", "--log-level", "warning", "--chdir", str(ROOT),
        ])
        self.web_url = f"http://127.0.0.1:{port}"
        return self.web_url

    def wait_web(self, timeout: float = 30.0) -> None:
        """Wait until every gunicorn worker has loaded Django (unsigned posts answer 401)."""
        deadline = time.monotonic() + timeout
        port = urlsplit(self.web_url).port
        ok = 0
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("POST", WEBHOOK_PATH, body=b"{}", headers={"Content-Type": "application/json"})
                status = conn.getresponse().status
                conn.close()
                if status == 401:
                    ok += 1
                    if ok >= 2 * self.env.gunicorn_workers:
                        return
                    continue
            except OSError:
                pass
            if any(p.poll() is not None for p in self.procs["web"]):
                raise RuntimeError(f"gunicorn exited (see {self.env.log_dir})")
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not answer")

    def kill_workers(self) -> int:
        """SIGKILL every RQ worker and its work horse and scheduler at once (a machine dying); return how many
        processes died."""
        workers = self.procs.pop("worker", [])
        victims = []
        for proc in workers:
            victims += [proc.pid, *_descendants(proc.pid)]
        for pid in victims:
            _signal(pid, signal.SIGKILL)
        for proc in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        deadline = time.monotonic() + 10  # the work horses were the workers' children: gone or zombies soon
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() and not _zombie(pid)
                                                  for pid in victims):
            time.sleep(0.02)
        return len(victims)

    def alive(self, role: str) -> int:
        return sum(1 for p in self.procs.get(role, []) if p.poll() is None)

    def close(self) -> None:
        victims = []
        for procs in self.procs.values():
            for proc in procs:
                victims += [proc.pid, *_descendants(proc.pid)]
        for pid in victims:
            _signal(pid, signal.SIGKILL)
        for procs in self.procs.values():
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
        self.procs.clear()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@contextlib.contextmanager
def running(env: Env, timings: dict[str, int | float] | None = None):
    """Apply the timings to this process's settings and yield a ``Cluster`` that is torn down afterwards."""
    from django.test import override_settings

    timings = {**env.timings, **(timings or {})}
    with override_settings(**timings), Cluster(env, timings) as cluster:
        yield cluster


# --- reports ----------------------------------------------------------------------------------------------------


@dataclass
class FaultReport:
    scenario: str
    params: dict[str, Any]
    lost: int = 0
    duplicated: int = 0
    converge_seconds: float | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.converge_seconds is not None and not self.problems

    def summary(self) -> str:
        conv = f"{self.converge_seconds:.1f} s" if self.converge_seconds is not None else "NOT CONVERGED"
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        figures = ", ".join(f"{k}={_fmt(v)}" for k, v in self.figures.items())
        text = (f"{self.scenario} ({params}): lost={self.lost} duplicated={self.duplicated} converged in {conv}"
                f"\n    {figures}")
        if self.problems:
            text += "\n    problems: " + "; ".join(self.problems[:20])
            if len(self.problems) > 20:
                text += f"; ... ({len(self.problems) - 20} more)"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "params": self.params, "lost": self.lost, "duplicated": self.duplicated,
                "converge_seconds": self.converge_seconds, "figures": self.figures, "problems": self.problems}


def _oneline(text: str, limit: int = 140) -> str:
    return " ".join((text or "").split())[:limit]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


@dataclass
class Audit:
    """One look at the system: what is lost or duplicated so far, and whether anything is still moving."""

    lost: int = 0
    duplicated: int = 0
    settled: bool = True
    problems: list[str] = field(default_factory=list)

    def __add__(self, other: Audit) -> Audit:
        return Audit(self.lost + other.lost, self.duplicated + other.duplicated, self.settled and other.settled,
                     self.problems + other.problems)

    @property
    def clean(self) -> bool:
        return self.settled and not self.lost and not self.duplicated and not self.problems


# Waits are upper bounds, not figures: on a loaded machine (another copy of the suite beside this one) the same work
# takes longer, so the tests stretch every wait by this factor; the benches run with 1 (bench_faults sets it).
def timeout_scale() -> float:
    return float(os.environ.get("PIM_TEST_TIMEOUT_SCALE", "3"))


def converge(check: Callable[[], Audit], *, since: float, timeout: float, interval: float = 0.5,
             settle: float = 1.0, stuck_after: float = 30.0) -> tuple[float | None, Audit]:
    """Poll ``check`` until it is clean; return (seconds since ``since`` when it first was, final audit).

    A clean audit is confirmed once more after ``settle`` seconds (a late duplicate would show there). A check
    that raises (the simulator slow to answer under load) counts as not settled yet. Gives up (None) at
    ``timeout``, or when nothing has been waiting any more for ``stuck_after`` seconds while something is still
    wrong (a dead-lettered job stays dead).
    """

    def look() -> Audit:
        try:
            return check()
        except Exception as exc:
            return Audit(settled=False, problems=[f"check failed: {type(exc).__name__}: {exc}"])

    deadline = time.monotonic() + timeout * timeout_scale()
    stuck_since = None
    audit = look()
    while time.monotonic() < deadline:
        if audit.clean:
            elapsed = time.monotonic() - since
            time.sleep(settle)
            audit = look()
            if audit.clean:
                return elapsed, audit
            continue
        if audit.settled:
            stuck_since = stuck_since or time.monotonic()
            if time.monotonic() - stuck_since > stuck_after:
                break
        else:
            stuck_since = None
        time.sleep(interval)
        audit = look()
    return None, audit


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout * timeout_scale()
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


# --- stores, catalog and publishing checks ----------------------------------------------------------------------


def make_stores(env: Env, *, inventory: bool = False, client_credentials: tuple[str, ...] = ()) -> dict[str, Any]:
    """PIM stores for the simulator's shop-a and shop-b (static tokens, or the client-credentials grant)."""
    from channels.models import Store

    stores = {}
    for name in SHOPS:
        creds = env.sim.shops[name]
        auth = {"access_token": creds.access_token}
        if name in client_credentials:
            auth = {"auth_mode": Store.AuthMode.CLIENT_CREDENTIALS, "client_id": creds.client_id,
                    "client_secret": creds.client_secret}
        stores[name] = Store.objects.create(name=name, shop_domain=creds.domain, api_base_url=creds.base_url,
                                            webhook_secret=creds.webhook_secret, inventory_push_enabled=inventory,
                                            **auth)
    return stores


def learn_buckets(stores: Iterable) -> None:
    """One answered call per store: until then the client lets a single probe request through at a time."""
    from channels import services

    for store in stores:
        services.store_test_connection(store=store)


def create_catalog(prefix: str, count: int) -> list:
    """``count`` ready, active products with two variants, an image and a metafield each (not inventory-tracked,
    so publishing scenarios don't queue inventory sets)."""
    from pim import services
    from pim.models import Product

    products = []
    for i in range(count):
        code = f"{prefix}{i:04d}"
        products.append(services.product_create(
            title=f"Fault {code}", handle=f"fault-{code.lower()}", option1_name="Size",
            workflow_state=Product.Workflow.READY, status=Product.Status.ACTIVE, vendor="Northwind",
            tags="fault, load", description_html=f"<p>Scenario product {code}</p>",
            variants=[{"sku": f"{code}-{size}", "option1": size, "price": Decimal("20.00"), "inventory_tracked": False}
                      for size in ("S", "M")],
            images=[{"src": f"https://cdn.example.com/{code.lower()}.jpg", "alt": "Front"}],
            attributes=[{"namespace": "pim", "key": "material", "value": "Cotton"}],
        ))
    return products


def assign(products: list, stores: Iterable) -> None:
    from channels import services

    for store in stores:
        services.assignments_bulk_set(store=store, product_ids=[p.pk for p in products])


def edit_catalog(products: list, round_: int, *, prices: bool = True) -> int:
    """Edit every product (title, and the first variant's price): two recorded changes per product."""
    from pim import services

    edits = 0
    for product in products:
        product.refresh_from_db()
        base = product.title.split(" r", 1)[0]
        services.product_update(product=product, title=f"{base} r{round_}")
        edits += 1
        if prices:
            variant = product.variants.order_by("position").first()
            services.variant_update(variant=variant, price=Decimal("20.00") + round_)
            edits += 1
    return edits


def publish_audit(env: Env, stores: Iterable) -> Audit:
    """Compare every store's products in the simulator with the PIM: one product per PIM product, carrying the
    PIM's current title and prices; and no sync job still pending, running or dead."""
    from channels.models import ChannelAssignment, SyncJob

    audit = Audit()
    for store in stores:
        live = env.control.products(store.name)
        by_handle: dict[str, list[dict]] = defaultdict(list)
        by_sku: dict[str, list[dict]] = defaultdict(list)
        for product in live:
            by_handle[re.sub(r"-\d+$", "", product["handle"])].append(product)
            by_handle[product["handle"]].append(product)
            for variant in product.get("variants") or []:
                if variant.get("sku"):
                    by_sku[variant["sku"]].append(product)
        assignments = (ChannelAssignment.objects.filter(store=store, publish=True).select_related("product")
                       .prefetch_related("product__variants"))
        for assignment in assignments:
            product = assignment.product
            skus = {v.sku: f"{v.price:.2f}" for v in product.variants.all()}
            found = {p["id"]: p for p in by_handle.get(product.handle, [])}
            for sku in skus:
                found.update({p["id"]: p for p in by_sku.get(sku, [])})
            if not found:
                audit.lost += 1
                audit.problems.append(f"{product.handle} missing in {store.name}")
                continue
            if len(found) > 1:
                audit.duplicated += len(found) - 1
                audit.problems.append(f"{product.handle} {len(found)}x in {store.name}: "
                                      f"{sorted(p['handle'] for p in found.values())}")
                continue
            node = next(iter(found.values()))
            prices = {v.get("sku"): v.get("price") for v in node.get("variants") or []}
            expected_title = assignment.title_override or product.title
            if node["title"] != expected_title or prices != skus:
                audit.lost += 1
                audit.problems.append(f"{product.handle} stale in {store.name}: title {node['title']!r} "
                                      f"(PIM {expected_title!r}), prices {prices} (PIM {skus})")
    waiting = SyncJob.objects.filter(status__in=[SyncJob.Status.PENDING, SyncJob.Status.RUNNING]).count()
    if waiting:
        audit.settled = False
    for job in SyncJob.objects.filter(status=SyncJob.Status.DEAD).select_related("store")[:20]:
        audit.problems.append(f"sync job {job.pk} ({job.product_label} -> {job.store.name}) dead after "
                              f"{job.attempts} attempts: {_oneline(job.last_error)}")
    from conflicts.models import Conflict

    # Nobody edits in Shopify here: a conflict on a PIM product means a retried or interrupted write was taken
    # for a merchant's edit. (The nightly drift sweep, which the sweeper queues, rightly reports the stock
    # scenarios' Shopify-only products.)
    conflicts = Conflict.objects.exclude(field="product.shopify_only")
    if conflicts.exists():
        audit.problems.append(f"{conflicts.count()} spurious conflict(s), e.g. "
                              f"{list(conflicts.values_list('field', 'source', 'shopify_before')[:3])}")
    return audit


def publish_figures(stores: Iterable, env: Env) -> dict[str, Any]:
    from channels.models import SyncAttempt, SyncJob

    statuses = Counter(SyncJob.objects.values_list("status", flat=True))
    outcomes = Counter(SyncAttempt.objects.values_list("outcome", flat=True))
    return {
        "jobs": sum(statuses.values()),
        "jobs_done": statuses.get("done", 0),
        "jobs_dead": statuses.get("dead", 0),
        "attempts": sum(outcomes.values()),
        "attempts_retried": outcomes.get("retry", 0),
        "attempts_killed": outcomes.get("running", 0),
    }


# --- stock, orders and webhooks ---------------------------------------------------------------------------------


@dataclass
class StockWorld:
    """K SKUs sold in both shops: PIM variants bound to the simulator's, locations mapped, full sync done."""

    env: Env
    stores: dict[str, Any]
    variants: dict[str, Any]  # sku -> Variant
    shop_variants: dict[str, dict[str, int]]  # shop -> sku -> numeric variant id
    main: Any  # Location
    stock: int

    def pim_available(self) -> dict[str, int]:
        from inventory.models import StockLevel

        levels = dict(StockLevel.objects.filter(location=self.main, variant__sku__in=list(self.variants))
                      .values_list("variant__sku", "available"))
        return {sku: levels.get(sku, 0) for sku in self.variants}

    def shop_available(self, shop: str) -> dict[str, int]:
        out = {}
        for sku in self.variants:
            info = self.env.control.inventory(shop, sku=sku)
            out[sku] = info["levels"][0]["available"]  # the first location: Main Warehouse
        return out


def stock_world(env: Env, stores: dict[str, Any], *, skus: int, stock: int, prefix: str = "STK") -> StockWorld:
    from channels.models import VariantBinding
    from channels.shopify.ids import gid_to_id
    from inventory.full_sync import inventory_full_sync
    from inventory.ledger import stock_receive
    from inventory.locations import store_locations_automap
    from inventory.models import Location
    from pim import services as pim_services

    codes = [f"{prefix}-{i:03d}" for i in range(skus)]
    variants = {}
    for code in codes:
        product = pim_services.product_create(title=f"Stock {code}", handle=f"stock-{code.lower()}",
                                              variants=[{"sku": code, "price": Decimal("10.00")}])
        variants[code] = product.variants.get()
    shop_variants: dict[str, dict[str, int]] = {}
    for shop, store in stores.items():
        seeded = env.control.seed(shop, products=[
            {"title": f"Stock {code}", "handle": f"stock-{code.lower()}",
             "variants": [{"sku": code, "price": "10.00", "inventory": stock}]} for code in codes])
        shop_variants[shop] = {}
        for node in seeded:
            v = node["variants"][0]
            shop_variants[shop][v["sku"]] = gid_to_id(v["id"])
            VariantBinding.objects.create(store=store, variant=variants[v["sku"]],
                                          shopify_variant_id=str(gid_to_id(v["id"])),
                                          shopify_inventory_item_id=str(gid_to_id(v["inventoryItemId"])))
        store_locations_automap(store=store, create_missing=True)
    main = Location.objects.get(name="Main Warehouse")
    for code, variant in variants.items():
        stock_receive(variant=variant, location=main, quantity=stock, source_ref=f"fault:opening:{code}")
    for store in stores.values():
        run = inventory_full_sync(store=store, apply=True, actor_label="fault scenario")
        if run.error:
            raise RuntimeError(f"full sync of {store.name} failed: {run.error}")
    return StockWorld(env, stores, variants, shop_variants, main, stock)


def sign(body: bytes, secret: str) -> str:
    from channels.shopify.webhooks import compute_webhook_hmac

    return compute_webhook_hmac(raw_body=body, secret=secret)


def webhook_headers(*, topic: str, shop_domain: str, body: bytes, secret: str, webhook_id: str | None = None,
                    event_id: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]
    key: str = ""  # what it delivers (e.g. the order id), for the report


class OrderFactory:
    """Signed ``orders/create`` deliveries (Shopify's sample payload, one line of quantity 1) for a shop."""

    ORDER, LINE, VARIANT = 918273645500001, 918273645500002, 918273645500003

    def __init__(self, world: StockWorld, shop: str = "shop-a"):
        template = json.loads((SAMPLES / "webhook_orders_create.json").read_text())
        line = dict(template["line_items"][0])
        line.update(id=self.LINE, admin_graphql_api_id=f"gid://shopify/LineItem/{self.LINE}",
                    variant_id=self.VARIANT, sku="__SKU__", quantity=1, current_quantity=1, fulfillable_quantity=1,
                    fulfillment_status=None)
        template.update(id=self.ORDER, admin_graphql_api_id=f"gid://shopify/Order/{self.ORDER}",
                        name=f"#{self.ORDER}", line_items=[line], location_id=None, refunds=[], fulfillments=[],
                        cancelled_at=None, cancel_reason=None)
        self.text = json.dumps(template)
        self.world = world
        self.shop = shop
        self.store = world.stores[shop]
        self.secret = env_secret(world.env, shop)
        self.next_id = random.randrange(10**9, 2 * 10**9) * 1000

    def make(self, sku: str) -> tuple[Delivery, str]:
        """One new order for ``sku``; returns the delivery and the sale's ledger reference."""
        self.next_id += 10
        order_id, line_id = self.next_id, self.next_id + 1
        body = (self.text.replace(str(self.ORDER), str(order_id)).replace(str(self.LINE), str(line_id))
                .replace(str(self.VARIANT), str(self.world.shop_variants[self.shop][sku]))
                .replace('"__SKU__"', json.dumps(sku))).encode()
        headers = webhook_headers(topic="orders/create", shop_domain=self.store.shop_domain, body=body,
                                  secret=self.secret)
        ref = f"shopify:{self.store.shop_domain}:order:{order_id}:line:{line_id}:sale"
        return Delivery(body, headers, key=sku), ref

    def batch(self, count: int, *, duplicate_share: float = 0.0, rng: random.Random | None = None):
        """``count`` orders spread over the SKUs; a share of them delivered twice (same ids, later).

        Returns (deliveries in sending order, expected sold units per SKU, expected sale references)."""
        rng = rng or random.Random(7)
        skus = list(self.world.variants)
        deliveries, refs, sold = [], set(), Counter()
        for i in range(count):
            sku = skus[i % len(skus)]
            delivery, ref = self.make(sku)
            deliveries.append(delivery)
            refs.add(ref)
            sold[sku] += 1
        for delivery in list(deliveries):
            if rng.random() < duplicate_share:
                at = rng.randrange(deliveries.index(delivery) + 1, len(deliveries) + 1)
                deliveries.insert(at, Delivery(delivery.body, dict(delivery.headers), key=delivery.key))
        return deliveries, sold, refs


def env_secret(env: Env, shop: str) -> str:
    return env.sim.shops[shop].webhook_secret


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(round(share * len(ordered) + 0.4999)) - 1))]


@dataclass
class SendStats:
    offered: int = 0
    accepted: int = 0  # answered 200 (stored or duplicate)
    first_try: int = 0
    retries: int = 0
    gave_up: int = 0
    statuses: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    max_lag_s: float = 0.0
    seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        return {
            "offered": self.offered, "accepted": self.accepted, "accepted_per_s": self.accepted / self.seconds
            if self.seconds else 0.0, "p50_ms": percentile(self.latencies_ms, 0.5),
            "p99_ms": percentile(self.latencies_ms, 0.99), "http_retries": self.retries, "gave_up": self.gave_up,
            "max_send_lag_s": self.max_lag_s, "answers": dict(self.outcomes),
        }


class WebhookSender:
    """Posts deliveries to the real endpoint open-loop at ``rate`` per second from ``threads`` keep-alive
    connections; a delivery not answered 200 is retried every 0.25 s for up to ``retry_for`` seconds (as Shopify
    retries). ``rate=None`` sends as fast as the threads go."""

    def __init__(self, base_url: str, *, threads: int = 8, retry_for: float = 60.0):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.threads = threads
        self.retry_for = retry_for
        self.stats = SendStats()
        self._thread: threading.Thread | None = None

    def _post(self, holder: dict, delivery: Delivery) -> tuple[int | None, str]:
        conn = holder.get("conn")
        try:
            if conn is None:
                conn = holder["conn"] = http.client.HTTPConnection(self.host, self.port, timeout=30)
            conn.request("POST", WEBHOOK_PATH, body=delivery.body, headers=delivery.headers)
            response = conn.getresponse()
            text = response.read().decode(errors="replace")
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                holder["conn"] = None
            return response.status, text
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            holder["conn"] = None
            return None, ""

    def run(self, deliveries: list[Delivery], rate: float | None) -> SendStats:
        stats = self.stats
        stats.offered += len(deliveries)
        lock = threading.Lock()
        cursor = iter(range(len(deliveries)))
        started = time.perf_counter()

        def work():
            holder: dict = {}
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    break
                if rate:
                    due = started + i / rate
                    lag = time.perf_counter() - due
                    if lag < 0:
                        time.sleep(-lag)
                    elif lag > stats.max_lag_s:
                        stats.max_lag_s = lag
                give_up = time.perf_counter() + self.retry_for
                first = True
                while True:
                    t0 = time.perf_counter()
                    status, text = self._post(holder, deliveries[i])
                    elapsed = (time.perf_counter() - t0) * 1000
                    with lock:
                        stats.statuses[status] += 1
                        if first:
                            stats.latencies_ms.append(elapsed)
                        if status == 200:
                            stats.accepted += 1
                            stats.first_try += first
                            stats.outcomes[text.strip()] += 1
                    if status == 200:
                        break
                    if time.perf_counter() > give_up:
                        with lock:
                            stats.gave_up += 1
                        break
                    with lock:
                        stats.retries += 1
                    first = False
                    time.sleep(0.25)
            if holder.get("conn") is not None:
                holder["conn"].close()

        pool = [threading.Thread(target=work, daemon=True) for _ in range(self.threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        stats.seconds += time.perf_counter() - started
        return stats

    def start(self, deliveries: list[Delivery], rate: float | None) -> WebhookSender:
        self._thread = threading.Thread(target=self.run, args=(deliveries, rate), daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> SendStats:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.stats

    @property
    def done(self) -> bool:
        return self._thread is None or not self._thread.is_alive()


def stock_audit(world: StockWorld, *, sold: Counter, restocked: Counter | None = None,
                expected_refs: set[str] | None = None, following: Iterable[str] = ("shop-b",),
                truth: Iterable[str] = ()) -> Audit:
    """Check stock arithmetic and the ledger after order webhooks of shop-a.

    PIM available per SKU must equal opening stock - sold + restocked; the ledger's order references (sales,
    restocks, cancellations) must be exactly ``expected_refs``; the ``following`` shops (receiving pushes) must
    show the PIM's quantity, and the ``truth`` shops (where the orders happened) the same quantity too.
    Unsettled while an event or a push still waits.
    """
    from inventory.models import InventoryPush, StockMovement, WebhookEvent

    audit = Audit()
    restocked = restocked or Counter()
    events = Counter(WebhookEvent.objects.values_list("status", flat=True))
    if any(events.get(s) for s in ("received", "processing", "retry")):
        audit.settled = False
    if events.get("failed"):
        audit.lost += events["failed"]
        for event in WebhookEvent.objects.filter(status="failed")[:5]:
            audit.problems.append(f"event {event.pk} {event.topic} failed: {_oneline(event.last_error)}")
    pushes = Counter(InventoryPush.objects.values_list("status", flat=True))
    if any(pushes.get(s) for s in ("pending", "running", "retry")):
        audit.settled = False
    if pushes.get("dead"):
        audit.lost += pushes["dead"]
        for push in InventoryPush.objects.filter(status="dead")[:5]:
            audit.problems.append(f"push {push.pk} {push.kind} dead: {_oneline(push.last_error)}")
    pim = world.pim_available()
    for sku, available in pim.items():
        expected = world.stock - sold.get(sku, 0) + restocked.get(sku, 0)
        if available > expected:
            audit.lost += 1
            audit.problems.append(f"{sku}: PIM {available}, expected {expected} (sales missing)")
        elif available < expected:
            audit.duplicated += 1
            audit.problems.append(f"{sku}: PIM {available}, expected {expected} (applied twice)")
    if expected_refs is not None:
        domain = world.stores["shop-a"].shop_domain
        refs = Counter(StockMovement.objects.filter(source_ref__startswith=f"shopify:{domain}:order:")
                       .values_list("source_ref", flat=True))
        missing = expected_refs - set(refs)
        extra = (set(refs) - expected_refs) | {r for r, n in refs.items() if n > 1}
        if missing:
            audit.lost += len(missing)
            audit.problems.append(f"{len(missing)} ledger movement(s) missing, e.g. {sorted(missing)[:2]}")
        if extra:
            audit.duplicated += len(extra)
            audit.problems.append(f"{len(extra)} unexpected ledger movement(s), e.g. {sorted(extra)[:2]}")
    for shop in [*following, *truth]:
        live = world.shop_available(shop)
        for sku, quantity in live.items():
            if quantity == pim[sku]:
                continue
            if shop in following and not audit.settled:
                continue  # pushes still on their way
            if quantity > pim[sku]:
                audit.lost += 1
            else:
                audit.duplicated += 1
            audit.problems.append(f"{shop} {sku}: {quantity}, PIM {pim[sku]}")
    return audit


def inbox_figures() -> dict[str, Any]:
    from django.db.models import Sum

    from inventory.models import InventoryPush, StockMovement, WebhookEvent

    return {
        "inbox_rows": WebhookEvent.objects.count(),
        "inbox_duplicates_counted": WebhookEvent.objects.aggregate(n=Sum("duplicates"))["n"] or 0,
        "sales_in_ledger": StockMovement.objects.filter(kind="sale").count(),
        "pushes_done": InventoryPush.objects.filter(status="done").count(),
    }


# --- faults on the infrastructure -------------------------------------------------------------------------------


def redis_db() -> int:
    from django.conf import settings

    path = urlsplit(settings.RQ_QUEUES["default"]["URL"]).path.strip("/")
    return int(path or 0)


def redis_restart() -> dict[str, int]:
    """What a Redis restart does to this database, without touching the other databases' clients: FLUSHDB
    (queued RQ jobs, registries, throttle budgets, cached tokens, drain flags all gone), then close every normal
    client connection whose current database is this one (redis-py and RQ reconnect). The script cache is not
    flushed (it is server-wide)."""
    import django_rq

    conn = django_rq.get_connection("default")
    db = redis_db()
    keys = conn.dbsize()
    conn.flushdb()
    me = conn.client_id()
    killed = 0
    for client in conn.client_list(_type="normal"):
        if int(client.get("db", -1)) == db and int(client["id"]) != me:
            with contextlib.suppress(Exception):
                killed += int(conn.client_kill_filter(_id=client["id"]))
    return {"keys_flushed": keys, "connections_killed": killed}


def postgres_drop() -> int:
    """Terminate every other backend of this (test) database: workers, sweepers, gunicorn."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return int(cursor.fetchone()[0])


# --- the scenarios ----------------------------------------------------------------------------------------------


def _create_in_flight(latency_ms: int):
    """A running first publish whose attempt is past the handle lookup: its productSet create is in flight."""
    from datetime import timedelta

    from django.utils import timezone

    from channels.models import ChannelAssignment, SyncAttempt

    now = timezone.now()
    window = (now - timedelta(milliseconds=1.9 * latency_ms), now - timedelta(milliseconds=1.45 * latency_ms))
    for attempt in SyncAttempt.objects.filter(outcome="running", job__status="running",
                                              started_at__range=window).select_related("job"):
        if ChannelAssignment.objects.filter(store_id=attempt.job.store_id, product_id=attempt.job.product_id,
                                            shopify_product_id="").exists():
            return attempt
    return None


def orphans_adopted(env: Env) -> int:
    """Killed attempts whose product Shopify created anyway (before the retry started): the retry adopted it."""
    from datetime import timedelta

    from django.utils.dateparse import parse_datetime

    from channels.models import SyncAttempt

    adopted = 0
    live = {shop: {p["handle"]: p for p in env.control.products(shop)} for shop in SHOPS}
    for attempt in SyncAttempt.objects.filter(outcome="running").select_related("job__store", "job__product"):
        retry = (SyncAttempt.objects.filter(job__store=attempt.job.store, job__product=attempt.job.product,
                                            started_at__gt=attempt.started_at)
                 .order_by("started_at").first())  # the job itself, or the newer job it was folded into
        node = live.get(attempt.job.store.name, {}).get(attempt.job.product.handle if attempt.job.product else "")
        if retry is None or node is None:
            continue
        created = parse_datetime(node["createdAt"])
        if attempt.started_at - timedelta(seconds=1) <= created <= retry.started_at - timedelta(seconds=1):
            adopted += 1
    return adopted


def scenario_worker_sigkill(env: Env, *, products: int = 12, latency_ms: int = 250, kills: int = 2,
                            timeout: float = 120.0) -> FaultReport:
    """SIGKILL every worker (and work horse) while products publish to two stores and edits arrive; restart them.

    The first kill waits for a first publish whose productSet create is in flight (Shopify creates the product,
    the PIM never learns its id); later kills hit the edit wave. The sweeper reclaims the jobs whose lease
    expired; the orphan product is adopted by handle, not created twice.
    """
    report = FaultReport("worker SIGKILL during publishes",
                         {"products": products, "stores": 2, "latency_ms": latency_ms, "kills": kills,
                          "workers": env.rq_workers})
    with running(env) as cluster:
        from channels.models import SyncJob

        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        stores = make_stores(env)
        learn_buckets(stores.values())
        catalog = create_catalog("KIL", products)
        cluster.wait_workers(env.rq_workers)
        for shop in SHOPS:
            env.control.latency(shop, latency_ms)
        total = 2 * products
        started = time.monotonic()
        assign(catalog, stores.values())
        killed, running_at_kill, edits, targeted = 0, [], 0, 0
        for k in range(kills):
            if k == 0:
                wait_until(lambda: SyncJob.objects.filter(status="done").count() >= total // 4, timeout=60)
                targeted += bool(wait_until(lambda: _create_in_flight(latency_ms), timeout=10, interval=0.02))
            else:
                if k == 1:
                    edits += edit_catalog(catalog, 1)
                done = SyncJob.objects.filter(status="done").count()
                wait_until(lambda d=done: SyncJob.objects.filter(status="done").count() >= d + max(2, total // 8)
                           and SyncJob.objects.filter(status="running").exists(), timeout=60, interval=0.05)
            running_at_kill.append(SyncJob.objects.filter(status="running").count())
            killed += cluster.kill_workers()
            env.log(f"kill {k + 1}: {running_at_kill[-1]} jobs running")
            cluster.start_workers()
        if kills < 2:
            edits += edit_catalog(catalog, 1)
        fault_end = time.monotonic()
        seconds, audit = converge(lambda: publish_audit(env, stores.values()), since=fault_end, timeout=timeout)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = audit.lost, audit.duplicated, audit.problems
        report.figures.update(processes_killed=killed, jobs_running_at_kills=running_at_kill,
                              kill_during_create=targeted, orphan_creates_adopted=orphans_adopted(env), edits=edits,
                              total_seconds=time.monotonic() - started, **publish_figures(stores.values(), env))
    return report


def scenario_redis_restart(env: Env, *, products: int = 12, latency_ms: int = 150, skus: int = 3,
                           webhook_rate: float = 20.0, webhook_seconds: float = 6.0, timeout: float = 120.0
                           ) -> FaultReport:
    """Redis forgets everything mid-run (FLUSHDB and dropped connections, workers killed and restarted) while
    products publish (one store on the client-credentials grant, whose cached token is lost too) and order
    webhooks arrive through gunicorn. The sweepers re-dispatch from PostgreSQL."""
    report = FaultReport("Redis restart", {"products": products, "latency_ms": latency_ms, "skus": skus,
                                           "webhooks_per_s": webhook_rate, "webhook_seconds": webhook_seconds})
    with running(env) as cluster:
        from channels.models import SyncJob

        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        cluster.start_web()
        stores = make_stores(env, inventory=True, client_credentials=("shop-b",))
        world = stock_world(env, stores, skus=skus, stock=10_000)
        catalog = create_catalog("RED", products)
        learn_buckets(stores.values())
        factory = OrderFactory(world)
        deliveries, sold, refs = factory.batch(int(webhook_rate * webhook_seconds), duplicate_share=0.1)
        cluster.wait_workers(env.rq_workers)
        cluster.wait_web()
        for shop in SHOPS:
            env.control.latency(shop, latency_ms)
        started = time.monotonic()
        sender = WebhookSender(cluster.web_url, threads=4).start(deliveries, webhook_rate)
        assign(catalog, stores.values())
        wait_until(lambda: SyncJob.objects.filter(status="done").count() >= products // 2, timeout=60, interval=0.05)
        time.sleep(max(0.0, started + webhook_seconds / 2 - time.monotonic()))
        killed = cluster.kill_workers()
        wiped = redis_restart()
        env.log(f"Redis restarted: {wiped}, {killed} worker processes killed")
        cluster.start_workers()
        fault_end = time.monotonic()
        sender.join()

        def check() -> Audit:
            if not sender.done:
                return Audit(settled=False)
            return publish_audit(env, stores.values()) + stock_audit(world, sold=sold, expected_refs=refs)

        seconds, audit = converge(check, since=fault_end, timeout=timeout)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = audit.lost, audit.duplicated, audit.problems
        report.figures.update(wiped, processes_killed=killed, **publish_figures(stores.values(), env),
                              **inbox_figures(), webhooks_unique=len(refs), webhooks_sent=len(deliveries),
                              webhooks_gave_up=sender.stats.gave_up)
    return report


def scenario_postgres_drop(env: Env, *, products: int = 12, latency_ms: int = 150, skus: int = 3,
                           webhook_rate: float = 20.0, webhook_seconds: float = 6.0, drops: int = 3,
                           drop_every: float = 1.5, timeout: float = 120.0) -> FaultReport:
    """Terminate every backend of the database (workers, horses, sweepers, gunicorn) several times while products
    publish and order webhooks arrive; everyone must reconnect and nothing may be lost."""
    report = FaultReport("PostgreSQL connection drop",
                         {"products": products, "latency_ms": latency_ms, "skus": skus, "drops": drops,
                          "webhooks_per_s": webhook_rate, "webhook_seconds": webhook_seconds})
    with running(env) as cluster:
        from channels.models import SyncJob

        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        cluster.start_web()
        stores = make_stores(env, inventory=True)
        world = stock_world(env, stores, skus=skus, stock=10_000)
        catalog = create_catalog("PGD", products)
        learn_buckets(stores.values())
        deliveries, sold, refs = OrderFactory(world).batch(int(webhook_rate * webhook_seconds), duplicate_share=0.1)
        cluster.wait_workers(env.rq_workers)
        cluster.wait_web()
        for shop in SHOPS:
            env.control.latency(shop, latency_ms)
        sender = WebhookSender(cluster.web_url, threads=4).start(deliveries, webhook_rate)
        assign(catalog, stores.values())
        wait_until(lambda: SyncJob.objects.filter(status__in=["done", "running"]).count() >= 2, timeout=30,
                   interval=0.05)
        terminated = []
        for i in range(drops):
            if i == drops // 2:
                edit_catalog(catalog, 1)
            terminated.append(postgres_drop())
            env.log(f"terminated {terminated[-1]} backends")
            time.sleep(drop_every)
        fault_end = time.monotonic()
        sender.join()
        alive = {"workers": cluster.alive("worker"), "web": cluster.alive("web"),
                 "sweepers": cluster.alive("outbox_sweeper")}

        def check() -> Audit:
            if not sender.done:
                return Audit(settled=False)
            return publish_audit(env, stores.values()) + stock_audit(world, sold=sold, expected_refs=refs)

        seconds, audit = converge(check, since=fault_end, timeout=timeout)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = audit.lost, audit.duplicated, audit.problems
        if alive["workers"] < env.rq_workers or not alive["web"] or alive["sweepers"] < 1:
            report.problems.append(f"processes died: {alive}")
        report.figures.update(backends_terminated=sum(terminated), **publish_figures(stores.values(), env),
                              **inbox_figures(), webhooks_unique=len(refs), webhook_http_retries=sender.stats.retries,
                              webhooks_gave_up=sender.stats.gave_up, processes_alive=alive)
    return report


def scenario_postgres_statement_error(env: Env, *, products: int = 4, latency_ms: int = 100, timeout: float = 60.0
                                      ) -> FaultReport:
    """A transient database error inside a publish job whose connection survives it: the statement that records
    the write is canceled (as ``statement_timeout``, ``lock_timeout``, an operator's ``pg_cancel_backend`` or a
    deadlock victim would be). The job must be retried, like the inventory pipeline retries database errors,
    not dead-lettered (a dead-lettered edit waits for a manager's Replay: lost).

    This process holds a row lock on the store's channel assignments while the products are edited, so each
    job blocks on the ``UPDATE`` that follows its Shopify write; those statements are then canceled."""
    import psycopg

    report = FaultReport("PostgreSQL statement canceled mid-job", {"products": products, "latency_ms": latency_ms})
    with running(env) as cluster:
        from channels.models import SyncJob

        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        store = make_stores(env)["shop-a"]
        learn_buckets([store])
        catalog = create_catalog("CAN", products)
        cluster.wait_workers(env.rq_workers)
        assign(catalog, [store])
        first, audit = converge(lambda: publish_audit(env, [store]), since=time.monotonic(), timeout=60, settle=0)
        if first is None:
            report.problems.append("initial publish did not finish: " + "; ".join(audit.problems[:5]))
            return report
        env.control.latency("shop-a", latency_ms)
        canceled = 0
        with psycopg.connect(env.database_url) as locker, psycopg.connect(env.database_url,
                                                                            autocommit=True) as admin:
            locker.execute("SELECT id FROM channels_channelassignment WHERE store_id = %s FOR UPDATE", [store.pk])
            edit_catalog(catalog, 1, prices=False)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and canceled < min(products, env.rq_workers):
                blocked = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
                    "AND query ILIKE %s", ['UPDATE "channels_channelassignment"%']).fetchall()
                for (pid,) in blocked:
                    canceled += int(admin.execute("SELECT pg_cancel_backend(%s)", [pid]).fetchone()[0])
                time.sleep(0.1)
            locker.rollback()
        fault_end = time.monotonic()
        env.log(f"canceled {canceled} statements")
        seconds, audit = converge(lambda: publish_audit(env, [store]), since=fault_end, timeout=timeout,
                                  stuck_after=10)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = audit.lost, audit.duplicated, audit.problems
        dead = SyncJob.objects.filter(status="dead").count()
        report.lost += dead  # the edit waits for a manual Replay
        if not canceled:
            report.problems.append("no statement was canceled (no job blocked on the assignment lock)")
        report.figures.update(statements_canceled=canceled, **publish_figures([store], env))
    return report


def outage_timings(outage_seconds: float) -> dict[str, int | float]:
    """The circuit breaker and backoff scaled to the outage as production's defaults are to a 5-minute one
    (retry delays capped at the outage's length, circuit at most 60 s open), never shorter than the fast timings."""
    return {"SYNC_RETRY_MAX_SECONDS": max(3.0, float(outage_seconds)),
            "SYNC_CIRCUIT_MAX_OPEN_SECONDS": max(2, round(outage_seconds / 5))}


def scenario_shopify_outage(env: Env, *, products: int = 8, outage_seconds: float = 10.0, timeout: float = 120.0,
                            timings: dict[str, int | float] | None = None) -> FaultReport:
    """One store answers 503 for ``outage_seconds`` while products are edited twice; its circuit opens, the other
    store is not delayed, and the backlog catches up after the outage."""
    timings = timings if timings is not None else outage_timings(outage_seconds)
    report = FaultReport("Shopify outage", {"products": products, "outage_s": outage_seconds,
                                            "circuit_max_open_s": timings.get("SYNC_CIRCUIT_MAX_OPEN_SECONDS"),
                                            "retry_max_s": timings.get("SYNC_RETRY_MAX_SECONDS")})
    with running(env, timings) as cluster:
        from channels.models import Store

        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        stores = make_stores(env)
        learn_buckets(stores.values())
        catalog = create_catalog("OUT", products)
        cluster.wait_workers(env.rq_workers)
        assign(catalog, stores.values())
        first, audit = converge(lambda: publish_audit(env, stores.values()), since=time.monotonic(), timeout=60,
                                settle=0)
        if first is None:
            report.problems.append("initial publish did not finish: " + "; ".join(audit.problems[:5]))
            return report
        a, b = stores["shop-a"], stores["shop-b"]
        before = env.control.stats("shop-a")["requests"]
        env.control.outage("shop-a", outage_seconds)
        outage_start = time.monotonic()
        outage_end = outage_start + outage_seconds
        opened = False

        def watch(until: float) -> float | None:
            """Seconds until shop-b shows the PIM's current values (None: not before ``until``); notes whether
            shop-a's circuit is seen open meanwhile."""
            nonlocal opened
            t0 = time.monotonic()
            seen = None
            while time.monotonic() < until:
                if Store.objects.get(pk=a.pk).circuit_is_open():
                    opened = True
                if seen is None and publish_audit(env, [b]).lost == 0:
                    seen = time.monotonic() - t0
                time.sleep(0.2 if seen is not None else 0.1)
            return seen

        edit_catalog(catalog, 1, prices=False)
        wave1 = watch(outage_start + outage_seconds / 2)
        second_at = time.monotonic()
        edit_catalog(catalog, 2)
        wave2 = watch(outage_end - 0.2)
        if wave1 is None and wave2 is not None:  # the first wave arrived with the second one at the latest
            wave1 = second_at - outage_start + wave2
        b_delays = [wave1, wave2]
        during = env.control.stats("shop-a")["requests"] - before
        env.log(f"outage over; shop-b delays {b_delays}, circuit opened {opened}, {during} requests to shop-a")
        time.sleep(max(0.0, outage_end - time.monotonic()))
        seconds, audit = converge(lambda: publish_audit(env, stores.values()), since=outage_end, timeout=timeout)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = audit.lost, audit.duplicated, audit.problems
        if not opened:
            report.problems.append("the circuit of shop-a never opened")
        if wave2 is None:
            report.problems.append("shop-b did not get the edits while shop-a was down")
        report.figures.update(circuit_opened=opened, other_store_delay_s=max((d or 0.0) for d in b_delays),
                              requests_during_outage=during,
                              requests_per_s_during_outage=during / outage_seconds,
                              **publish_figures(stores.values(), env))
    return report


def scenario_random_5xx(env: Env, *, products: int = 30, error_rate: float = 0.10, timeout: float = 180.0
                        ) -> FaultReport:
    """A store answers 500/502/503/504 to ``error_rate`` of all requests while ``products`` products publish to
    it and are then edited: every product exactly once, every edit live."""
    report = FaultReport("random 5xx", {"products": products, "error_rate": error_rate})
    with running(env) as cluster:
        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        stores = {"shop-a": make_stores(env)["shop-a"]}
        learn_buckets(stores.values())
        catalog = create_catalog("ERR", products)
        cluster.wait_workers(env.rq_workers)
        env.control.error_rate("shop-a", error_rate)
        started = time.monotonic()
        assign(catalog, stores.values())
        published, _ = converge(lambda: publish_audit(env, stores.values()), since=started, timeout=timeout,
                                settle=0)
        edited_at = time.monotonic()
        edits = edit_catalog(catalog, 1)
        seconds, audit = converge(lambda: publish_audit(env, stores.values()), since=started, timeout=timeout)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = audit.lost, audit.duplicated, audit.problems
        stats = env.control.stats("shop-a")
        report.figures.update(injected_errors=stats.get("injected_errors", 0), requests=stats.get("requests", 0),
                              first_publish_s=published, edits=edits,
                              edits_converged_s=(time.monotonic() - edited_at) if seconds is not None else None,
                              products_per_s=(products / published) if published else 0.0,
                              **publish_figures(stores.values(), env))
    return report


def _story(env: Env, world: StockWorld, *, orders: int, rng: random.Random, subscribe: Callable[[], None],
           early_share: float = 0.25):
    """Real orders in shop-a, then cancellations, refunds with and without restock, and returns after fulfilment.

    The first ``early_share`` of the orders are placed before ``subscribe`` registers the webhooks, so Shopify
    never sends their orders/create: their cancellations and refunds arrive first, the creates later (replayed).
    Returns (sold units per SKU, restocked units per SKU, expected ledger references, the early orders)."""
    shop = "shop-a"
    domain = world.stores[shop].shop_domain
    skus = list(world.variants)
    specs = []
    for _ in range(orders):
        lines = rng.sample(skus, k=min(len(skus), rng.choice((1, 1, 2))))
        specs.append({"line_items": [{"sku": sku, "quantity": rng.randint(1, 3)} for sku in lines]})
    early = int(orders * early_share)
    placed = env.control.place_orders(shop, specs[:early]) if early else []
    subscribe()
    placed += env.control.place_orders(shop, specs[early:])
    sold, restocked, refs = Counter(), Counter(), set()

    def ref(order_id, line_id, tail):
        return f"shopify:{domain}:order:{order_id}:line:{line_id}:{tail}"

    for order in placed:
        for line in order["line_items"]:
            sold[line["sku"]] += line["quantity"]
            refs.add(ref(order["id"], line["id"], "sale"))
    for i, order in enumerate(placed):
        action = i % 8
        if action in (0, 1):  # cancelled with restock: every unfulfilled unit comes back
            env.control.cancel_order(shop, order["id"], restock=True)
            for line in order["line_items"]:
                restocked[line["sku"]] += line["quantity"]
                refs.add(ref(order["id"], line["id"], "cancel"))
        elif action in (2, 3):  # one unit of the first line refunded and restocked
            line = order["line_items"][0]
            refund = env.control.refund(shop, order["id"], line_items=[{"line_item_id": line["id"], "quantity": 1}],
                                        restock=True)
            for rli in refund["refund_line_items"]:
                restocked[line["sku"]] += rli["quantity"]
                refs.add(ref(order["id"], line["id"], f"restock-{rli['restock_type']}:{refund['id']}:{rli['id']}"))
        elif action == 4:  # refunded without restock: stock stays sold
            env.control.refund(shop, order["id"], restock=False)
        elif action == 5:  # fulfilled, then everything returned and restocked
            env.control.fulfill(shop, order["id"])
            refund = env.control.refund(shop, order["id"], restock=True)
            for rli in refund["refund_line_items"]:
                line_id = rli["line_item_id"]
                sku = next(li["sku"] for li in order["line_items"] if li["id"] == line_id)
                restocked[sku] += rli["quantity"]
                refs.add(ref(order["id"], line_id, f"restock-{rli['restock_type']}:{refund['id']}:{rli['id']}"))
    return sold, restocked, refs, placed[:early]


def scenario_webhooks_duplicated_reordered(env: Env, *, orders: int = 30, skus: int = 3, duplicate_rate: float = 0.5,
                                           jitter_ms: int = 1500, replay_threads: int = 8, timeout: float = 120.0,
                                           seed: int = 11) -> FaultReport:
    """Real orders, cancellations and refunds in shop-a, their webhooks delivered by the simulator with
    ``duplicate_rate`` duplicates and up to ``jitter_ms`` of random delay (reordering), then every delivery
    replayed once more in shuffled order (a third with a new webhook id, a third also with a new event id, i.e.
    only the payload identifies them). PIM stock must equal the arithmetic and shop-a's own figure, the ledger
    must hold each movement exactly once, and shop-b must follow."""
    rng = random.Random(seed)
    report = FaultReport("duplicated and reordered webhooks",
                         {"orders": orders, "skus": skus, "duplicate_rate": duplicate_rate, "jitter_ms": jitter_ms})
    with running(env) as cluster:
        from inventory.subscriptions import webhook_subscriptions_register

        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        url = cluster.start_web()
        stores = make_stores(env, inventory=True)
        world = stock_world(env, stores, skus=skus, stock=1_000)
        cluster.wait_workers(env.rq_workers)
        cluster.wait_web()
        env.control.faults("shop-a", webhook_duplicate_rate=duplicate_rate, webhook_jitter_ms=jitter_ms)

        def subscribe():
            webhook_subscriptions_register(
                store=stores["shop-a"], callback_url=url + WEBHOOK_PATH,
                topics=["ORDERS_CREATE", "ORDERS_CANCELLED", "REFUNDS_CREATE"])

        started = time.monotonic()
        sold, restocked, refs, early = _story(env, world, orders=orders, rng=rng, subscribe=subscribe)
        if not env.control.wait_webhooks(60):
            report.problems.append("the simulator did not finish delivering")
        logged = env.control.deliveries("shop-a", payload=True)
        delivered = [d for d in logged if d["status"] == "delivered"]
        undelivered = [d for d in logged if d["status"] != "delivered"]
        if undelivered:
            report.problems.append(f"{len(undelivered)} simulator deliveries not delivered: "
                                   f"{Counter(d['status'] for d in undelivered)}")
        secret = env_secret(env, "shop-a")
        replay = []
        for i, d in enumerate(delivered):
            if d.get("duplicate"):
                continue
            body = json.dumps(d["payload"]).encode()
            kind = i % 3
            headers = webhook_headers(
                topic=d["topic"], shop_domain=stores["shop-a"].shop_domain, body=body, secret=secret,
                webhook_id=d["webhook_id"] if kind == 0 else None, event_id=d["event_id"] if kind < 2 else None)
            replay.append(Delivery(body, headers, key=d["topic"]))
        rng.shuffle(replay)
        for order in early:  # orders/create of the orders placed before the subscription: after everything else
            body = json.dumps(order).encode()
            replay.append(Delivery(body, webhook_headers(topic="orders/create", body=body, secret=secret,
                                                         shop_domain=stores["shop-a"].shop_domain), key="late"))
        sender = WebhookSender(url, threads=replay_threads)
        sender.run(replay[:-len(early)] if early else replay, rate=None)
        if early:
            sender.run(replay[-len(early):], rate=None)
        fault_end = time.monotonic()
        seconds, audit = converge(
            lambda: stock_audit(world, sold=sold, restocked=restocked, expected_refs=refs, truth=("shop-a",)),
            since=fault_end, timeout=timeout)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = (audit.lost, audit.duplicated,
                                                           report.problems + audit.problems)
        topics = Counter(d["topic"] for d in logged)
        report.figures["arrived_before_their_order"] = arrived_out_of_order()
        report.figures.update(
            sim_deliveries=len(logged), sim_duplicates=sum(1 for d in logged if d.get("duplicate")),
            replayed=len(replay), late_creates=len(early), topics=dict(topics), ledger_refs=len(refs), units_sold=sum(sold.values()),
            units_restocked=sum(restocked.values()), replay_answers=dict(sender.stats.outcomes),
            total_seconds=time.monotonic() - started, **inbox_figures())
    return report


def arrived_out_of_order() -> int:
    """Cancellations and refunds whose first delivery was stored before their order's first orders/create."""
    from inventory.models import WebhookEvent

    first_create: dict[int, int] = {}
    others: list[tuple[int, int]] = []
    for pk, topic, body in WebhookEvent.objects.order_by("pk").values_list("pk", "topic", "raw_body"):
        payload = json.loads(bytes(body))
        if topic == "orders/create":
            first_create.setdefault(payload["id"], pk)
        else:
            others.append((payload.get("order_id") or payload["id"], pk))
    return sum(1 for order_id, pk in others if pk < first_create.get(order_id, 0))


def scenario_webhook_load(env: Env, *, rate: float = 200.0, seconds: float = 5.0, skus: int = 10,
                          duplicate_share: float = 0.02, client_threads: int = 16, plan: str | None = None,
                          timeout: float = 180.0) -> FaultReport:
    """``rate`` signed orders/create webhooks per second for ``seconds`` to gunicorn while the RQ workers drain
    the inbox and push the stock to the other store. Reports accepted/s, latency, and the time for the workers
    to drain the inbox after the last delivery. ``plan`` sets the simulated shops' Shopify plan (its rate limit
    bounds how fast stock pushes reach the other store; default: the simulator's standard plan)."""
    count = int(rate * seconds)
    report = FaultReport("webhook load", {"rate_per_s": rate, "seconds": seconds, "webhooks": count, "skus": skus,
                                          "gunicorn": f"{env.gunicorn_workers}x{env.gunicorn_threads} gthread",
                                          "rq_workers": env.rq_workers, "plan": plan or "standard",
                                          "worker_queues": env.worker_queues})
    with running(env) as cluster:
        from inventory.models import WebhookEvent

        cluster.start_workers(wait=False)
        cluster.start_sweepers(interval=2.0)
        url = cluster.start_web()
        if plan:
            for shop in SHOPS:
                env.control.config(shop, plan=plan)
        stores = make_stores(env, inventory=True)
        world = stock_world(env, stores, skus=skus, stock=max(10_000, count + 1_000))
        deliveries, sold, refs = OrderFactory(world).batch(count, duplicate_share=duplicate_share)
        cluster.wait_workers(env.rq_workers)
        cluster.wait_web()
        env.log(f"sending {len(deliveries)} deliveries at {rate}/s")
        sender = WebhookSender(url, threads=client_threads, retry_for=120.0)
        stats = sender.run(deliveries, rate)
        sent_end = time.monotonic()
        stored = WebhookEvent.objects.count()
        processed_at_end = WebhookEvent.objects.filter(status="processed").count()
        env.log(f"sent in {stats.seconds:.1f}s; {stored} stored, {processed_at_end} processed so far")
        drained = None

        def check() -> Audit:
            nonlocal drained
            if drained is None and not WebhookEvent.objects.filter(
                    status__in=["received", "processing", "retry"]).exists():
                drained = time.monotonic() - sent_end
            return stock_audit(world, sold=sold, expected_refs=refs)

        converged, audit = converge(check, since=sent_end, timeout=timeout, interval=1.0)
        report.converge_seconds = converged
        report.lost, report.duplicated, report.problems = audit.lost, audit.duplicated, audit.problems
        inbox_lost = len(refs) - stored
        if inbox_lost:
            report.lost += max(0, inbox_lost)
            report.duplicated += max(0, -inbox_lost)
            report.problems.append(f"inbox holds {stored} events for {len(refs)} unique deliveries")
        report.figures.update(**stats.figures(), deliveries_sent=len(deliveries), unique=len(refs),
                              stored=stored, processed_when_sending_ended=processed_at_end,
                              inbox_drained_s=drained, **inbox_figures())
    return report


SCENARIOS: dict[str, Callable[..., FaultReport]] = {
    "sigkill": scenario_worker_sigkill,
    "redis": scenario_redis_restart,
    "postgres": scenario_postgres_drop,
    "pgcancel": scenario_postgres_statement_error,
    "outage": scenario_shopify_outage,
    "5xx": scenario_random_5xx,
    "webhooks": scenario_webhooks_duplicated_reordered,
    "load": scenario_webhook_load,
}
