"""Benchmark of inventory in steady state: no push loop while idle, and order -> other store latency while the
sweepers run.

Run from the project root (PostgreSQL and Redis must be up; the Shopify simulator runs in this process):

    python bench/bench_inventory_steady.py                           # ~4 minutes
    python bench/bench_inventory_steady.py --idle-seconds 900         # the issue's 15 idle minutes

Setup, like the demo: N variants in the PIM with stock at both PIM locations (Main Warehouse and Retail Store,
both mapped in both shops), published to two simulated shops that stock them at Main Warehouse only (Shopify
stocks a new variant at one location unless told otherwise). gunicorn serves the project, RQ workers process
webhooks and pushes, ``inventory_sweeper --loop --interval 2`` and ``sync_sweeper --loop --interval 5`` run.

Phase 1, idle: the number of InventoryPush rows is sampled every 10 s for ``--idle-seconds`` (after the first
sweep, which records the unstocked levels once). Reported: pushes at the start and at the end, and how many were
"skipped". Phase 2, orders: ``--orders`` real orders are placed in shop A (online, routed by the simulator, webhooks
delivered to gunicorn) one at a time; the clock stops when shop B shows the new quantity. Reported p50/p95.

Own database (``--database-url``, name must contain "bench", dropped and re-created) and Redis db (default 13).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_webhooks import percentile, prepare_environment, start_web  # noqa: E402


def seed(sim, variants: int):
    from channels.models import Store, VariantBinding
    from channels.shopify.ids import gid_to_id
    from inventory.full_sync import inventory_full_sync
    from inventory.ledger import stock_receive
    from inventory.locations import store_locations_automap
    from inventory.models import Location
    from pim import services as pim_services

    pim = [pim_services.product_create(title=f"Steady {n}", variants=[{"sku": f"ST-{n}", "price": Decimal("5")}])
           .variants.get() for n in range(variants)]
    stores = {}
    for shop in ("shop-a", "shop-b"):
        creds = sim.shops[shop]
        store = Store.objects.create(name=f"Bench {shop}", shop_domain=creds.domain, api_base_url=creds.base_url,
                                     access_token=creds.access_token, webhook_secret=creds.webhook_secret,
                                     inventory_push_enabled=True)
        seeded = sim.control.seed(shop, products=[{"title": f"Steady {n}", "variants": [
            {"sku": f"ST-{n}", "price": "5.00", "inventory": {"Main Warehouse": 0}}]} for n in range(variants)])
        by_sku = {p["variants"][0]["sku"]: p["variants"][0] for p in seeded}
        VariantBinding.objects.bulk_create([
            VariantBinding(store=store, variant=v, shopify_variant_id=str(gid_to_id(by_sku[v.sku]["id"])),
                           shopify_inventory_item_id=str(gid_to_id(by_sku[v.sku]["inventoryItemId"])))
            for v in pim])
        store_locations_automap(store=store, create_missing=True)
        stores[shop] = store
    # Shopify stocks them at Main Warehouse only (the seed stocks the other locations with 0: remove those).
    for shop in ("shop-a", "shop-b"):
        state = sim.state(shop)
        with state.lock:
            retail = next(n for n, loc in state.locations.items() if loc["name"] == "Retail Store")
            for key in [k for k in state.levels if k[1] == retail]:
                del state.levels[key]
                state.item_levels.get(key[0], {}).pop(retail, None)
    main = Location.objects.get(name="Main Warehouse")
    retail_pim = Location.objects.get(name="Retail Store")
    for v in pim:
        stock_receive(variant=v, location=main, quantity=1000, source_ref=f"bench:main:{v.pk}")
        stock_receive(variant=v, location=retail_pim, quantity=5, source_ref=f"bench:retail:{v.pk}")
    for store in stores.values():
        run = inventory_full_sync(store=store, apply=True, actor_label="bench")
        if run.error:
            sys.exit(f"full sync failed: {run.error}")
    return pim, stores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=100)
    parser.add_argument("--idle-seconds", type=int, default=120)
    parser.add_argument("--orders", type=int, default=30)
    parser.add_argument("--rq-workers", type=int, default=2)
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5432/pim_bench_steady"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    args = parser.parse_args()
    env = prepare_environment(args)
    env["INVENTORY_CHECK_DELAY_SECONDS"] = "5"
    from demo.harness import Harness

    procs = Harness(env=env, log_dir=ROOT / "reports" / "bench_inventory_steady")
    procs.exit_on_signals()
    sim = procs.simulator(["shop-a", "shop-b"])
    try:
        variants, stores = seed(sim, args.variants)
        from inventory.models import InventoryPush
        from inventory.subscriptions import webhook_subscriptions_register

        port = start_web(procs, SimpleNamespace(gunicorn_workers=2, worker_class="sync", threads=1))
        webhook_subscriptions_register(store=stores["shop-a"], callback_url=f"http://127.0.0.1:{port}/shopify/webhooks/")
        procs.start_workers(args.rq_workers, queues="webhooks inventory default")
        procs.start_sweeper(2, command="inventory_sweeper")  # the outbox sweeper's old names, as measured before
        procs.start_sweeper(5, command="sync_sweeper")

        # ---- phase 1: idle ----------------------------------------------------------------------------------
        time.sleep(15)  # the first sweeps: unstocked levels are found and recorded once
        samples = []
        started = time.monotonic()
        while True:
            samples.append((round(time.monotonic() - started), InventoryPush.objects.count()))
            if time.monotonic() - started >= args.idle_seconds:
                break
            time.sleep(10)
        skipped = InventoryPush.objects.filter(status="skipped").count()

        # ---- phase 2: orders while the sweepers run ------------------------------------------------------------
        shop_b = sim.state("shop-b")
        sku = variants[0].sku
        with shop_b.lock:
            level_b = shop_b.level(shop_b.variant_by_sku(sku)["_item"], shop_b.primary_location["_n"])

        def available_b() -> int:
            with shop_b.lock:
                return level_b["_q"]["available"]

        latencies, timeouts = [], 0
        for _ in range(args.orders):
            before = available_b()
            t0 = time.perf_counter()
            sim.control.place_order("shop-a", [{"sku": sku, "quantity": 1}])
            deadline = t0 + 30
            while available_b() != before - 1 and time.perf_counter() < deadline:
                time.sleep(0.002)
            if available_b() == before - 1:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                timeouts += 1
        print()
        print(f"inventory steady state  ({args.variants} variants x 2 PIM locations, 2 shops stocking 1 location, "
              f"{args.rq_workers} RQ workers, inventory_sweeper every 2 s, sync_sweeper every 5 s, {os.cpu_count()} CPUs)")
        print(f"  idle {args.idle_seconds} s: InventoryPush rows {samples[0][1]} -> {samples[-1][1]} "
              f"(growth {samples[-1][1] - samples[0][1]}); skipped pushes in all {skipped}")
        print(f"  samples (s, rows): {samples}")
        print(f"  order in shop A -> shop B quantity, {args.orders} orders one at a time: p50 "
              f"{percentile(latencies, 0.5):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms, "
              f"max {max(latencies) if latencies else float('nan'):.0f} ms, timeouts {timeouts}")
    finally:
        procs.close()


if __name__ == "__main__":
    main()
