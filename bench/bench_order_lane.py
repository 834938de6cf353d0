"""Benchmark of the order lane (issue 15): order -> other store's quantity while a publish and a full sync run.

Run from the project root (PostgreSQL and Redis must be up; the Shopify simulator runs in this process):

    python bench/bench_order_lane.py                              # the issue's sizes (2,000 products, 10 stores)
    python bench/bench_order_lane.py --publish-products 200 --sync-skus 100 --orders 20 --fanout-orders 10

The processes are the fault harness's (``tests.faults.scenarios``: ``Cluster`` starts the RQ workers with the
README's queue list, the ``outbox_sweeper`` and gunicorn serving ``/shopify/webhooks/``); the Shopify stores are the
simulator's, over HTTP. Ten stores are connected:

Once the workers are up, the pushes the seeding left are drained first (their time is printed). Phase 1, the
order lane under load: a full publish of ``--publish-products`` products to store C and an applied
full inventory sync of store D (``--sync-skus`` levels, each made to differ first) are started, then signed
``orders/create`` deliveries for shop A are posted to gunicorn one every ``--order-interval`` seconds; the clock
stops when store B (simulated, read in memory) shows the unit sold. The order SKUs are sold in A and B only.
Reported: order -> B p50/p95/max, and how far the publish and the sync got meanwhile (so the load was real).

Phase 2, fan-out: SKUs sold in all ten stores; each order in A must reach the nine others; reported: p50/p95/max
over orders of the *slowest* store's time, and the per-store p95s. Phase 2 runs right after phase 1, so the
publish backlog (if not finished) is still there: the report says how many publish jobs were still waiting.

``OUTBOX_LANE_YIELD`` is on unless ``--no-yield`` (to compare a run with drains that do not yield).
The bench uses its own database (``--database-url``, default ``.../pim_bench_lanes``, dropped and re-created) and
Redis database (``--redis-url``, default db 14, flushed). Both phases' figures are printed; ``--json`` saves them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
SHOP_NAMES = [f"shop-{c}" for c in "abcdefghij"]  # A orders, B the other store, C publish, D full sync


def prepare(args) -> None:
    name = urlsplit(args.database_url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"refusing to drop database {name!r}: the bench database name must contain 'bench'")
    if (urlsplit(args.redis_url).path.lstrip("/") or "0") in ("0", "15"):
        sys.exit("use a dedicated Redis database for the bench (not 0, not the tests' 15)")
    sys.path.insert(0, str(ROOT))
    os.environ.update({"DJANGO_SETTINGS_MODULE": "config.settings_test", "DATABASE_URL": args.database_url,
                       "REDIS_URL": args.redis_url, "LOG_LEVEL": "WARNING",
                       "OUTBOX_LANE_YIELD": "0" if args.no_yield else "1"})
    import psycopg

    with psycopg.connect(args.database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    import django_rq
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    django_rq.get_connection("default").flushdb()


def connect_stores(env) -> dict:
    from channels.models import Store

    stores = {}
    for shop in SHOP_NAMES:
        creds = env.sim.shops[shop]
        stores[shop] = Store.objects.create(name=shop, shop_domain=creds.domain, api_base_url=creds.base_url,
                                            access_token=creds.access_token, webhook_secret=creds.webhook_secret,
                                            inventory_push_enabled=True)
    return stores


class Watch:
    """Notes when each shop first shows each further unit sold of each SKU (in-memory reads of the simulator)."""

    def __init__(self, sim, shops: list[str], skus: list[str]):
        self.levels = {}
        for shop in shops:
            state = sim.state(shop)
            with state.lock:
                for sku in skus:
                    level = state.level(state.variant_by_sku(sku)["_item"], state.primary_location["_n"])
                    self.levels[(shop, sku)] = (state, level, level["_q"]["available"])
        self.reached: dict[tuple[str, str], list[float]] = {key: [] for key in self.levels}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.perf_counter()
            for key, (state, level, start) in self.levels.items():
                with state.lock:
                    dropped = start - level["_q"]["available"]
                times = self.reached[key]
                while len(times) < dropped:
                    times.append(now)
            time.sleep(0.002)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def send_orders(cluster, factory, skus: list[str], count: int, interval: float) -> list[tuple[str, int, float]]:
    """Post ``count`` orders (SKUs in turn) one every ``interval`` s; return (sku, n-th of its SKU, sent at)."""
    from tests.faults.traffic import WebhookSender

    sender = WebhookSender(cluster.web_url, threads=1, retry_for=30)
    sent, per_sku = [], dict.fromkeys(skus, 0)
    started = time.perf_counter()
    for i in range(count):
        time.sleep(max(0.0, started + i * interval - time.perf_counter()))
        sku = skus[i % len(skus)]
        delivery, _ = factory.make(sku)
        at = time.perf_counter()
        sender.run([delivery], rate=None)
        per_sku[sku] += 1
        sent.append((sku, per_sku[sku], at))
    if sender.stats.accepted != count:
        sys.exit(f"only {sender.stats.accepted} of {count} orders were accepted: {dict(sender.stats.statuses)}")
    return sent


def latencies(watch: Watch, shop: str, sent, *, timeout: float) -> tuple[list[float], int]:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and any(len(watch.reached[(shop, sku)]) < n for sku, n, _ in sent):
        time.sleep(0.05)
    out = [(watch.reached[(shop, sku)][n - 1] - at) * 1000 for sku, n, at in sent
           if len(watch.reached[(shop, sku)]) >= n]
    return out, len(sent) - len(out)


def summary(values: list[float]) -> dict:
    from tests.faults.traffic import percentile

    return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95),
            "max": max(values) if values else float("nan"), "n": len(values)}


def fmt(s: dict) -> str:
    return f"p50 {s['p50']:6.0f} ms   p95 {s['p95']:6.0f} ms   max {s['max']:6.0f} ms   (n={s['n']})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--publish-products", type=int, default=2000)
    parser.add_argument("--sync-skus", type=int, default=300, help="levels of store D's full inventory sync")
    parser.add_argument("--orders", type=int, default=40, help="orders timed in phase 1")
    parser.add_argument("--order-interval", type=float, default=0.5, help="seconds between orders")
    parser.add_argument("--fanout-orders", type=int, default=20, help="orders timed in phase 2 (ten stores)")
    parser.add_argument("--rq-workers", type=int, default=2)
    parser.add_argument("--no-yield", action="store_true", help="OUTBOX_LANE_YIELD=0 (drains run their budget)")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pim_bench_lanes"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    args = parser.parse_args()
    t_start = time.monotonic()
    prepare(args)

    import django_rq

    from channels.models import SyncJob
    from inventory.models import InventoryPush, InventorySyncRun, WebhookEvent
    from inventory.tasks import inventory_full_sync_run
    from shopify_sim.testing import SimulatorServer
    from tests.faults.catalog import assign, create_catalog, stock_world
    from tests.faults.harness import running, wait_until
    from tests.faults.scenarios import Env
    from tests.faults.traffic import OrderFactory

    sim = SimulatorServer(shops=SHOP_NAMES, config={"webhook_time_scale": 0.001}).start()
    figures: dict = {"config": {k: v for k, v in vars(args).items() if k not in ("database_url", "redis_url")},
                     "cpus": os.cpu_count()}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-lanes-") as tmp:
            env = Env(sim=sim, database_url=args.database_url, redis_url=args.redis_url, log_dir=Path(tmp),
                      timings={}, rq_workers=args.rq_workers)
            stores = connect_stores(env)
            a, b, c, d = (stores[s] for s in SHOP_NAMES[:4])
            print("seeding: order SKUs in A and B, fan-out SKUs in all ten stores, sync SKUs in D, "
                  f"{args.publish_products} products for C", flush=True)
            lane_world = stock_world(env, {"shop-a": a, "shop-b": b}, skus=4, stock=100000, prefix="LANE")
            fan_world = stock_world(env, stores, skus=2, stock=100000, prefix="FAN")
            sync_world = stock_world(env, {"shop-d": d}, skus=args.sync_skus, stock=50, prefix="SYN")
            products = create_catalog("PUB", args.publish_products)
            for sku in sync_world.variants:  # a merchant moved every level of D: the full sync sets them all back
                env.control.adjust_inventory("shop-d", sku=sku, delta=1)
            print(f"seeded in {time.monotonic() - t_start:.0f} s", flush=True)

            with running(env, {"OUTBOX_LANE_YIELD": not args.no_yield}) as cluster:
                cluster.start_web()
                cluster.wait_web()
                cluster.start_workers()
                cluster.start_sweepers()
                # The seeding left pushes (opening stock, sets of levels still busy at its full syncs): let the
                # workers finish them first, so the load below is the publish and the full sync only.
                settle_started = time.monotonic()
                if not wait_until(lambda: not InventoryPush.objects.filter(
                        status__in=["pending", "running", "retry"]).exists(), timeout=600):
                    sys.exit("the seeded pushes did not drain within 600 s")
                figures["seed_backlog_seconds"] = time.monotonic() - settle_started
                print(f"seeded pushes drained in {figures['seed_backlog_seconds']:.0f} s", flush=True)
                # ---- phase 1 -----------------------------------------------------------------------------
                lane_skus = list(lane_world.variants)
                watch = Watch(sim, ["shop-b"], lane_skus)
                load_started = time.monotonic()
                assign(products, [c])  # records 2,000 publish jobs and wakes the publish lane
                django_rq.get_queue("inventory").enqueue(inventory_full_sync_run, d.pk, "bench", job_timeout=3600)
                time.sleep(2.0)  # let both workers get into the publish and the sync before the first order
                sent = send_orders(cluster, OrderFactory(lane_world, "shop-a"), lane_skus, args.orders,
                                   args.order_interval)
                to_b, missed = latencies(watch, "shop-b", sent, timeout=60)
                watch.stop()
                inbox = [(done - got).total_seconds() * 1000 for got, done in WebhookEvent.objects.filter(
                    topic="orders/create", processed_at__isnull=False).values_list("received_at", "processed_at")]
                published = SyncJob.objects.filter(store=c, status=SyncJob.Status.DONE).count()
                waiting = SyncJob.objects.filter(store=c, status__in=["pending", "running"]).count()
                sync = InventorySyncRun.objects.filter(store=d).order_by("-pk").first()
                # The run's own counters are filled when it finishes: count its sets done so far instead.
                sets = InventoryPush.objects.filter(sync_run=sync) if sync else InventoryPush.objects.none()
                sets_done = sets.exclude(status__in=["pending", "retry", "running"]).count()
                sync_note = (f"run #{sync.pk} {'finished' if sync.finished_at else 'still running'}, "
                             f"{sets_done} of {sets.count()} set(s) done" if sync else "not started")
                phase1 = {"order_to_b_ms": summary(to_b), "timeouts": missed, "inbox_ms": summary(inbox),
                          "load_seconds": time.monotonic() - load_started, "published": published,
                          "publish_waiting": waiting, "full_sync": sync_note}
                figures["phase1"] = phase1
                # ---- phase 2 -----------------------------------------------------------------------------
                fan_skus = list(fan_world.variants)
                others = SHOP_NAMES[1:]
                watch = Watch(sim, others, fan_skus)
                waiting_before = SyncJob.objects.filter(store=c, status__in=["pending", "running"]).count()
                sent = send_orders(cluster, OrderFactory(fan_world, "shop-a"), fan_skus, args.fanout_orders,
                                   args.order_interval)
                per_store = {shop: latencies(watch, shop, sent, timeout=60)[0] for shop in others}
                watch.stop()
                slowest = []
                for sku, n, at in sent:
                    times = [watch.reached[(shop, sku)][n - 1] for shop in others
                             if len(watch.reached[(shop, sku)]) >= n]
                    if len(times) == len(others):
                        slowest.append((max(times) - at) * 1000)
                figures["phase2"] = {"slowest_store_ms": summary(slowest),
                                     "orders_not_everywhere": len(sent) - len(slowest),
                                     "per_store_p95_ms": {s: summary(v)["p95"] for s, v in per_store.items()},
                                     "publish_waiting_at_start": waiting_before}
    finally:
        sim.stop()

    load = os.getloadavg()
    p1, p2 = figures["phase1"], figures["phase2"]
    print(f"\norder lane bench  ({args.rq_workers} RQ workers `webhooks inventory default publish`, outbox_sweeper, "
          f"gunicorn, {os.cpu_count()} CPUs, OUTBOX_LANE_YIELD={'off' if args.no_yield else 'on'}, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
    print(f"phase 1: order in A -> B's available, one order every {args.order_interval:g} s, during a full publish "
          f"of {args.publish_products} products to C and a full inventory sync of D ({args.sync_skus} levels)")
    print(f"  order -> B               {fmt(p1['order_to_b_ms'])}   timeouts {p1['timeouts']}")
    print(f"  of which in the inbox    {fmt(p1['inbox_ms'])}   (order event stored -> processed)")
    print(f"  meanwhile ({p1['load_seconds']:.0f} s): {p1['published']} of {args.publish_products} products "
          f"published to C ({p1['publish_waiting']} jobs waiting); D's full sync: {p1['full_sync']}")
    print(f"phase 2: fan-out, an order in A reaches the nine other stores ({p2['publish_waiting_at_start']} publish "
          "jobs still waiting at the start)")
    print(f"  slowest store per order  {fmt(p2['slowest_store_ms'])}   not everywhere "
          f"{p2['orders_not_everywhere']}")
    print("  per-store p95 (ms): " + ", ".join(f"{s[-1].upper()} {v:.0f}" for s, v in p2["per_store_p95_ms"].items()))
    print(f"total bench time {time.monotonic() - t_start:.0f} s")
    figures["load_average"] = load
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
