"""Benchmark of the Shopify webhook endpoint and of order writeback latency.

Run from the project root (PostgreSQL and Redis must be up; the Shopify simulator runs in this process):

    python bench/bench_webhooks.py                     # short default run (well under 2 minutes)
    python bench/bench_webhooks.py --requests 10000 --concurrency 16 --orders 200 --gunicorn-workers 4

Phase 1, ingest: gunicorn serves the real project (DEBUG off) on loopback; client threads POST signed
orders/create deliveries to ``/shopify/webhooks/`` and, in the same run, the same bodies to a trivial Django view
behind the same middleware, the two alternating in ``--rounds`` rounds (side by side, so a changing machine load
weighs on both). Reported: throughput, p50/p99 latency, and the webhook/trivial ratios. No RQ
worker runs during this phase (events only pile up in the inbox and the ``webhooks`` queue), so it measures
what Shopify waits for: HMAC check, durable insert, enqueue after commit.

Phase 2, end to end: RQ workers run (the project's ``rqworker``); each order webhook for shop A is posted to
gunicorn and the clock stops when shop B (simulated) shows the new available quantity. Reported p50/p95, with
the inbox wait and the push latency the PIM itself recorded.

The bench uses its own database (``--database-url``, default ``.../pim_bench``, dropped and re-created: its name
must contain "bench") and Redis database (``--redis-url``, default db 13, flushed).

This file is also the WSGI module gunicorn loads (``bench_webhooks:application``): the project's routes plus the
trivial view.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
TRIVIAL_PATH = "/bench/trivial/"
WEBHOOK_PATH = "/shopify/webhooks/"
SKU = "BENCH-TEE"

# --- the WSGI side (imported by gunicorn) ---------------------------------------------------------------------

_handler = None
_handler_lock = threading.Lock()


def application(environ, start_response):
    """WSGI entry point: the Django project with this module as the URLconf (adds the trivial view)."""
    global _handler
    if _handler is None:
        with _handler_lock:
            if _handler is None:
                os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
                from django.conf import settings
                from django.core.wsgi import get_wsgi_application

                handler = get_wsgi_application()
                settings.ROOT_URLCONF = __name__
                _handler = handler
    return _handler(environ, start_response)


def __getattr__(name: str):
    """Build ``urlpatterns`` lazily (Django must be set up before the project's URLconf is imported)."""
    if name != "urlpatterns":
        raise AttributeError(name)
    from django.http import HttpResponse
    from django.urls import include, path
    from django.views.decorators.csrf import csrf_exempt

    @csrf_exempt
    def trivial(request):
        request.body  # read it like the webhook view does  # noqa: B018
        return HttpResponse("ok", content_type="text/plain")

    patterns = [path(TRIVIAL_PATH.strip("/") + "/", trivial), path("", include("config.urls"))]
    globals()["urlpatterns"] = patterns
    return patterns


# --- the driver -----------------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(share * len(ordered) + 0.4999)) - 1))
    return ordered[index]


def prepare_environment(args) -> dict[str, str]:
    name = urlsplit(args.database_url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"refusing to drop database {name!r}: the bench database name must contain 'bench'")
    redis_db = urlsplit(args.redis_url).path.lstrip("/") or "0"
    if redis_db in ("0", "15"):
        sys.exit("use a dedicated Redis database for the bench (not 0, not the tests' 15)")
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "FIELD_ENCRYPTION_KEY": os.environ.get("FIELD_ENCRYPTION_KEY") or Fernet.generate_key().decode(),
        "SHOPIFY_ALLOW_BASE_URL_OVERRIDE": "1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "INVENTORY_CHECK_DELAY_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(env)
    import psycopg

    admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    import django_rq

    django_rq.get_connection("default").flushdb()
    return env


def seed(sim, stock: int):
    """Two stores on the simulator sharing one variant, locations mapped, full sync done."""
    from decimal import Decimal

    from channels.models import Store, VariantBinding
    from channels.shopify.ids import gid_to_id
    from inventory.full_sync import inventory_full_sync
    from inventory.ledger import stock_receive
    from inventory.locations import store_locations_automap
    from inventory.models import Location
    from pim import services as pim_services

    variant = pim_services.product_create(title="Bench tee", variants=[{"sku": SKU, "price": Decimal("10")}]).variants.get()
    stores = {}
    for shop in ("shop-a", "shop-b"):
        creds = sim.shops[shop]
        store = Store.objects.create(name=f"Bench {shop}", shop_domain=creds.domain, api_base_url=creds.base_url,
                                     access_token=creds.access_token, webhook_secret=creds.webhook_secret,
                                     inventory_push_enabled=True)
        node = sim.control.seed(shop, products=[{"title": "Bench tee", "variants": [
            {"sku": SKU, "price": "10.00", "inventory": 0}]}])[0]["variants"][0]
        VariantBinding.objects.create(store=store, variant=variant, shopify_variant_id=str(gid_to_id(node["id"])),
                                      shopify_inventory_item_id=str(gid_to_id(node["inventoryItemId"])))
        store_locations_automap(store=store, create_missing=True)
        stores[shop] = (store, gid_to_id(node["id"]))
    main = Location.objects.get(name="Main Warehouse")
    stock_receive(variant=variant, location=main, quantity=stock, source_ref="bench:opening")
    for store, _ in stores.values():
        run = inventory_full_sync(store=store, apply=True, actor_label="bench")
        if run.error:
            sys.exit(f"full sync failed: {run.error}")
    return variant, stores


def order_body(template: dict, order_id: int, variant_id: int) -> bytes:
    order = copy.deepcopy(template)
    line = order["line_items"][0]
    line.update(id=order_id * 10 + 1, variant_id=variant_id, sku=SKU, quantity=1)
    order.update(id=order_id, name=f"#B{order_id}", line_items=[line], location_id=None, refunds=[],
                 fulfillments=[], cancelled_at=None, cancel_reason=None)
    return json.dumps(order).encode()


def signed_headers(body: bytes, *, shop: str, secret: str, topic: str = "orders/create") -> dict[str, str]:
    from channels.shopify.webhooks import compute_webhook_hmac

    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": compute_webhook_hmac(raw_body=body, secret=secret),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def post(port: int, path: str, body: bytes, headers: dict[str, str], conn_holder: dict) -> int:
    import http.client

    conn = conn_holder.get("conn")
    for attempt in range(2):
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
            conn_holder["conn"] = conn
            return response.status
        except (ConnectionError, http.client.HTTPException, OSError):
            conn.close()
            conn = None
            if attempt:
                raise
    raise RuntimeError("unreachable")


def load(port: int, path: str, requests: list[tuple[bytes, dict]], concurrency: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    queue = list(reversed(requests))

    def worker():
        holder: dict = {}
        while True:
            with lock:
                if not queue:
                    return
                body, headers = queue.pop()
            started = time.perf_counter()
            status = post(port, path, body, headers, holder)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed * 1000)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {"rps": len(latencies) / wall, "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
            "statuses": statuses, "count": len(latencies), "latencies": latencies, "wall": wall}


def merge(results: list[dict]) -> dict:
    """Combine rounds of ``load``: requests over the summed wall time, percentiles over every latency."""
    latencies = [ms for r in results for ms in r["latencies"]]
    statuses: dict[int, int] = {}
    for r in results:
        for status, n in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    wall = sum(r["wall"] for r in results)
    return {"rps": len(latencies) / wall, "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
            "statuses": statuses, "count": len(latencies), "latencies": latencies, "wall": wall}


def start_web(procs, args) -> int:
    """Start gunicorn serving this module (the project plus the trivial view) through the process harness; return
    its port once it accepts connections."""
    url = procs.start_web(app="bench_webhooks:application", pythonpath=[ROOT / "bench", ROOT],
                          workers=args.gunicorn_workers, worker_class=args.worker_class, threads=args.threads)
    procs.wait_web(timeout=30)
    return int(url.rsplit(":", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1500, help="webhook (and trivial) requests in phase 1")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads in phase 1")
    parser.add_argument("--rounds", type=int, default=6,
                        help="phase 1 alternates trivial and webhook requests in this many rounds (side by side)")
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread", choices=["sync", "gthread"],
                        help="gthread (default), as README's production command: the intake's group commit needs "
                             "concurrent requests in one process")
    parser.add_argument("--threads", type=int, default=8, help="threads per gthread worker")
    parser.add_argument("--orders", type=int, default=40, help="order webhooks timed end to end in phase 2")
    parser.add_argument("--order-rate", type=float, default=0.0,
                        help="orders per second sent open-loop in phase 2 (default 0: one at a time)")
    parser.add_argument("--rq-workers", type=int, default=2)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON (e.g. bench/out/webhooks.json)")
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pim_bench"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    args = parser.parse_args()

    t_start = time.monotonic()
    env = prepare_environment(args)
    from demo.harness import Harness

    procs = Harness(env=env, log_dir=ROOT / "reports" / "bench_webhooks")
    procs.exit_on_signals()
    sim = procs.simulator(["shop-a", "shop-b"])
    try:
        variant, stores = seed(sim, stock=args.requests + args.orders + 1000)
        store_a, variant_a = stores["shop-a"]
        secret = sim.shops["shop-a"].webhook_secret
        shop = sim.shops["shop-a"].domain
        template = json.loads((ROOT / "shopify_sim" / "samples" / "webhook_orders_create.json").read_text())
        port = start_web(procs, args)

        # ---- phase 1: ingest -------------------------------------------------------------------------------
        warm = [(order_body(template, 10**9 + i, variant_a), None) for i in range(50)]
        load(port, TRIVIAL_PATH, [(b, {"Content-Type": "application/json"}) for b, _ in warm], args.concurrency)
        load(port, WEBHOOK_PATH, [(b, signed_headers(b, shop=shop, secret=secret)) for b, _ in warm],
             args.concurrency)
        bodies = [order_body(template, 2 * 10**9 + i, variant_a) for i in range(args.requests)]
        webhook_requests = [(b, signed_headers(b, shop=shop, secret=secret)) for b in bodies]
        trivial_requests = [(b, dict(h)) for b, h in webhook_requests]
        # Side by side: the two kinds alternate in rounds, so a machine whose load changes during the run (other
        # processes on its cores) weighs on both alike.
        rounds = []
        size = -(-args.requests // args.rounds)
        for start in range(0, args.requests, size):
            rounds.append((load(port, TRIVIAL_PATH, trivial_requests[start:start + size], args.concurrency),
                           load(port, WEBHOOK_PATH, webhook_requests[start:start + size], args.concurrency)))
        trivial, webhook = (merge([r[i] for r in rounds]) for i in (0, 1))
        round_ratios = [w["rps"] / t["rps"] for t, w in rounds]

        from inventory.models import InventoryPush, WebhookEvent

        stored = WebhookEvent.objects.filter(status="received").count()
        lost = args.requests + len(warm) - stored
        # Forget the ingest backlog before the workers start (it would only delay phase 2).
        import django_rq

        django_rq.get_queue("webhooks").empty()  # (its waiting drain job goes too; the next delivery makes one)
        WebhookEvent.objects.all().delete()

        # ---- phase 2: order webhook -> other store ------------------------------------------------------------
        procs.start_workers(args.rq_workers, queues="webhooks inventory default")  # until they have registered
        shop_b = sim.state("shop-b")  # read shop B's level in memory: polling it costs no HTTP round trip
        with shop_b.lock:
            level_b = shop_b.level(shop_b.variant_by_sku(SKU)["_item"], shop_b.primary_location["_n"])

        def available_b() -> int:
            with shop_b.lock:
                return level_b["_q"]["available"]

        # A monitor notes when shop B first shows each further unit sold: the k-th order sent is "live" when
        # B's quantity has dropped by k (exact one at a time; with --order-rate, pushes may coalesce).
        start_level = available_b()
        reached: dict[int, float] = {}
        stop_monitor = threading.Event()

        def monitor():
            while not stop_monitor.is_set():
                now = time.perf_counter()
                for k in range(len(reached) + 1, start_level - available_b() + 1):
                    reached[k] = now
                time.sleep(0.001)

        watcher = threading.Thread(target=monitor, daemon=True)
        watcher.start()
        sent: list[float] = []
        holder: dict = {}
        interval = 1.0 / args.order_rate if args.order_rate else 0.0
        for i in range(args.orders):
            body = order_body(template, 3 * 10**9 + i, variant_a)
            headers = signed_headers(body, shop=shop, secret=secret)
            if interval:
                time.sleep(max(0.0, (sent[0] + i * interval) - time.perf_counter()) if sent else 0.0)
            sent.append(time.perf_counter())
            status = post(port, WEBHOOK_PATH, body, headers, holder)
            if status != 200:
                sys.exit(f"webhook answered {status}")
            if not interval:
                deadline = time.perf_counter() + 15
                while len(reached) < i + 1 and time.perf_counter() < deadline:
                    time.sleep(0.001)
        deadline = time.perf_counter() + 30
        while len(reached) < args.orders and time.perf_counter() < deadline:
            time.sleep(0.01)
        stop_monitor.set()
        watcher.join()
        e2e = [(reached[k + 1] - sent[k]) * 1000 for k in range(args.orders) if k + 1 in reached]
        timeouts = args.orders - len(e2e)
        settle = time.monotonic() + 10
        while InventoryPush.objects.filter(status__in=["pending", "running", "retry"], kind="delta").exists():
            if time.monotonic() > settle:
                break
            time.sleep(0.05)
        events = list(WebhookEvent.objects.filter(status="processed").values_list("received_at", "processed_at"))
        inbox_wait = [(p - r).total_seconds() * 1000 for r, p in events if p]
        pushes = list(InventoryPush.objects.filter(store=stores["shop-b"][0], kind="delta", status="done",
                                                   latency_ms__isnull=False).values_list("latency_ms", flat=True))
        pim_ok = WebhookEvent.objects.filter(status="processed").count() == args.orders - timeouts

        # ---- report ---------------------------------------------------------------------------------------------
        print()
        print(f"webhook bench  (gunicorn {args.gunicorn_workers}x{args.worker_class}, {args.concurrency} client "
              f"threads, {args.requests} requests each, loopback, PostgreSQL + Redis, {os.cpu_count()} CPUs)")
        for label, r in (("trivial Django view", trivial), ("POST /shopify/webhooks/", webhook)):
            print(f"  {label:24} {r['rps']:8.0f} req/s   p50 {r['p50']:6.1f} ms   p99 {r['p99']:6.1f} ms   "
                  f"statuses {r['statuses']}")
        print(f"  ratio webhook/trivial    throughput {webhook['rps'] / trivial['rps']:.2f}   "
              f"p50 x{webhook['p50'] / trivial['p50']:.2f}   p99 x{webhook['p99'] / trivial['p99']:.2f}   "
              f"(per round: {', '.join(f'{r:.2f}' for r in round_ratios)}; median "
              f"{statistics.median(round_ratios):.2f})")
        load_avg = os.getloadavg()
        print(f"  load average at the end  {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}")
        print(f"  events stored: {stored} of {args.requests + len(warm)} sent ({lost} lost)")
        pace = f"{args.order_rate:g}/s open-loop" if args.order_rate else "one at a time"
        print(f"order webhook -> shop B quantity  ({args.rq_workers} RQ workers, {args.orders} orders, {pace})")
        print(f"  end to end               p50 {percentile(e2e, 0.5):6.0f} ms   p95 {percentile(e2e, 0.95):6.0f} ms   "
              f"max {max(e2e) if e2e else float('nan'):6.0f} ms   timeouts {timeouts}")
        print(f"  inbox (stored->processed) p50 {percentile(inbox_wait, 0.5):6.0f} ms   "
              f"p95 {percentile(inbox_wait, 0.95):6.0f} ms")
        print(f"  push (sale->in Shopify)  p50 {percentile(pushes, 0.5):6.0f} ms   p95 {percentile(pushes, 0.95):6.0f} ms"
              f"   ({len(pushes)} pushes for {args.orders} orders)")
        print(f"  all orders processed once: {pim_ok}   mean {statistics.fmean(e2e) if e2e else float('nan'):.0f} ms")
        print(f"total bench time {time.monotonic() - t_start:.0f} s")
        if args.json:
            figures = {
                "config": {k: v for k, v in vars(args).items() if k not in ("database_url", "redis_url", "json")},
                "cpus": os.cpu_count(),
                "trivial": {k: trivial[k] for k in ("rps", "p50", "p99")},
                "webhook": {k: webhook[k] for k in ("rps", "p50", "p99")},
                "ratio_throughput": webhook["rps"] / trivial["rps"],
                "ratio_per_round": round_ratios, "load_average": load_avg,
                "events_lost": lost,
                "order_to_other_store_ms": {"p50": percentile(e2e, 0.5), "p95": percentile(e2e, 0.95),
                                            "timeouts": timeouts},
            }
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(figures, indent=2))
    finally:
        procs.close()


if __name__ == "__main__":
    main()
