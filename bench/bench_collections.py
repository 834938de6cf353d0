"""Benchmark category → collection membership (issue 19): 10,000 products in 20 categories, one store on the
Standard plan (bucket 2,000 points, 100 points/s), every collection created by the PIM and filled from empty.

    python bench/bench_collections.py                       # 10,000 products, 20 categories
    python bench/bench_collections.py --products 2000 --categories 5

It creates a throw-away database (``pim_bench_collections``), starts the simulator in its own process, seeds
the shop with the products and binds them in the PIM (as after a first publish), maps each category to a new
collection, then runs every mapping's membership job in this process (one after another through the store's
shared cost budget, as one worker would) and prints calls and points per operation, wall time, and a second run
with nothing to change. Needs PostgreSQL and Redis (``DATABASE_URL``, ``REDIS_URL``; defaults as in the tests).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pim")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SHOPIFY_ALLOW_BASE_URL_OVERRIDE", "1")

BENCH_DB = "pim_bench_collections"


def run(mappings, control, shop, check_drift: bool = True) -> dict:
    from channels.collections import collection_membership_sync

    control.clear_requests(shop)
    started = time.monotonic()
    for mapping in mappings:
        mapping.refresh_from_db()
        collection_membership_sync(mapping=mapping, check_drift=check_drift)
    seconds = time.monotonic() - started
    log = control.requests(shop)
    calls = Counter(r["operation_name"] for r in log)
    points = Counter()
    for r in log:
        points[r["operation_name"]] += r.get("actual_cost") or 0
    return {"seconds": seconds, "calls": calls, "points": points}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--categories", type=int, default=20)
    args = parser.parse_args()

    import django

    django.setup()
    from bench_reconcile import SHOP, _make_store, _start_simulator
    from django.db import connection

    from channels.models import ChannelAssignment, CollectionMapping
    from pim import categories
    from pim.models import Product, ProductCategory
    from shopify_sim.control import SimControl

    connection.settings_dict.setdefault("TEST", {})["NAME"] = BENCH_DB
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    sim, url = _start_simulator()
    control = SimControl(url, timeout=600)
    try:
        control.sim_config(request_log_size=100_000)
        started = time.monotonic()
        ids = []
        for start in range(0, args.products, 2000):
            n = min(2000, args.products - start)
            ids += [p["id"] for p in control.seed(SHOP, generate=n, variants_per_product=1)]
        store = _make_store(url)
        products = Product.objects.bulk_create(
            [Product(title=f"Bench {i}", handle=f"bench-{i}", workflow_state="ready") for i in range(len(ids))],
            batch_size=2000)
        ChannelAssignment.objects.bulk_create(
            [ChannelAssignment(product=p, store=store, shopify_product_id=gid.rsplit("/", 1)[1])
             for p, gid in zip(products, ids, strict=True)], batch_size=2000)
        cats = [categories.category_create(name=f"Category {c}") for c in range(args.categories)]
        ProductCategory.objects.bulk_create(
            [ProductCategory(product=p, category=cats[i % len(cats)]) for i, p in enumerate(products)],
            batch_size=2000)
        mappings = [CollectionMapping.objects.create(store=store, category=c) for c in cats]
        print(f"seeded {len(ids)} products in {len(cats)} categories ({time.monotonic() - started:.0f}s)")

        first = run(mappings, control, SHOP)
        again = run(mappings, control, SHOP, check_drift=False)
        audit = run(mappings, control, SHOP, check_drift=True)
        in_shop = sum(len(c["productIds"]) for c in control.collections(SHOP))
        print(f"\nfirst run: {sum(first['calls'].values())} calls, {sum(first['points'].values()):.0f} points, "
              f"{first['seconds']:.1f}s wall on the Standard plan; {in_shop} memberships in the shop")
        for op in sorted(first["calls"]):
            print(f"  {op:28} {first['calls'][op]:5} calls {first['points'][op]:8.0f} points")
        print(f"second run (nothing to change): {sum(again['calls'].values())} calls, "
              f"{sum(again['points'].values()):.0f} points, {again['seconds']:.1f}s")
        for op in sorted(again["calls"]):
            print(f"  {op:28} {again['calls'][op]:5} calls {again['points'][op]:8.0f} points")
        print(f"drift check (reads every collection, nothing to change): {sum(audit['calls'].values())} calls, "
              f"{sum(audit['points'].values()):.0f} points, {audit['seconds']:.1f}s")
        return 0 if in_shop == len(ids) else 1
    finally:
        sim.terminate()
        sim.wait(timeout=10)
        connection.creation.destroy_test_db(BENCH_DB, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
