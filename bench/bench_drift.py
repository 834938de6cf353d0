"""Drift sweep benchmark: compare N published products with a bulk export of the simulated store.

Sets up N PIM products as already published to a simulated store (the simulator is seeded directly and the
bindings and snapshots are written as the pipeline would), makes merchant edits, deletions and
Shopify-only products, then runs the sweep and prints: time, products/s, peak Python memory (tracemalloc)
and peak RSS, database queries per product, and the conflicts found (which must equal what was changed).

Usage: python bench/bench_drift.py [--products 10000] [--edits 100]
Uses its own database (pim_bench_drift).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=10000)
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--db", default="pim_bench_drift")
    args = parser.parse_args()

    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {args.db}",
                    "-c", f"CREATE DATABASE {args.db}"], check=True, capture_output=True)
    os.environ.update({"DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{args.db}",
                       "REDIS_URL": "redis://127.0.0.1:6379/13", "LOG_LEVEL": "WARNING",
                       "DRIFT_ALERT_THRESHOLD": "1000000"})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    import django_rq

    django_rq.get_connection("default").flushdb()

    from channels.models import ChannelAssignment, Store
    from channels.payloads import publish_plan_build, snapshot_from_shopify, snapshot_hash
    from conflicts.models import Conflict
    from conflicts.sweep import drift_sweep
    from pim.catalog_seed import catalog_seed
    from pim.models import Product
    from shopify_sim.control import SimControl

    print(f"Seeding {args.products} PIM products ...", flush=True)
    catalog_seed(products=args.products, seed=11)

    # The simulator runs in its own process so that memory and CPU figures are the PIM's alone.
    port = free_port()
    config = ROOT / "bench" / "out" / "drift-sim.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"shops": {"drift": {"plan": "plus"}}}))
    sim_proc = subprocess.Popen([sys.executable, "-m", "shopify_sim", "--port", str(port), "--shops", "drift",
                                 "--config", str(config)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sim = SimpleNamespace(control=SimControl(f"http://127.0.0.1:{port}"))
        for _ in range(100):
            try:
                sim.control.health()
                break
            except Exception:
                time.sleep(0.2)
        shop = next(s for s in sim.control.shops() if s["name"] == "drift")
        store = Store.objects.create(name="drift", shop_domain=shop["domain"], api_base_url=shop["base_url"],
                                     access_token=shop["access_token"])
        # Without weights in the simulator's seed format, compare what the seed can carry.
        store.publish_fields = ["title", "description", "vendor", "product_type", "tags", "status", "prices",
                                "metafields"]
        store.save()
        print("Seeding the simulator and binding (as if published) ...", flush=True)
        products = Product.objects.prefetch_related("variants", "images", "attributes").order_by("id")
        batch: list[tuple[Product, dict]] = []
        likes: dict[str, tuple[int, dict]] = {}

        def flush(batch):
            specs = []
            for product, plan_input in batch:
                specs.append({
                    "title": plan_input["title"], "handle": product.handle, "vendor": plan_input["vendor"],
                    "productType": plan_input["productType"], "status": plan_input["status"],
                    "tags": plan_input["tags"], "descriptionHtml": plan_input["descriptionHtml"],
                    "options": [{"name": o["name"], "values": [v["name"] for v in o["values"]]}
                                for o in plan_input["productOptions"]],
                    "variants": [{"sku": v["sku"], "price": v["price"], "compareAtPrice": v["compareAtPrice"],
                                  "options": [ov["name"] for ov in v["optionValues"]]}
                                 for v in plan_input["variants"]],
                    "metafields": plan_input["_metafields"],
                })
            sim.control.seed("drift", products=specs)
            for product, plan_input in batch:
                likes[product.handle] = (product.pk, plan_input["_snapshot"])

        for product in products.iterator(chunk_size=500):
            assignment = ChannelAssignment(product=product, store=store)
            plan = publish_plan_build(assignment=assignment)
            batch.append((product, {**plan.product_input, "_metafields": plan.metafields, "_snapshot": plan.snapshot}))
            if len(batch) == 500:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
        # Bind as the pipeline would after a publish: the snapshot is what Shopify holds.
        rows = []
        for node in sim.control.products("drift"):
            product_id, like = likes[node["handle"]]
            snapshot = snapshot_from_shopify(node=node, like=like)
            rows.append(ChannelAssignment(product_id=product_id, store=store,
                                          shopify_product_id=node["id"].rsplit("/", 1)[-1],
                                          published_snapshot=snapshot, published_hash=snapshot_hash(snapshot)))
        ChannelAssignment.objects.bulk_create(rows, batch_size=1000)

        # Merchant changes: edits, deletions and products that exist only in Shopify.
        bound = list(ChannelAssignment.objects.filter(store=store).values_list("shopify_product_id", flat=True))
        edited = bound[: args.edits]
        deleted = bound[args.edits : args.edits + 10]
        for pid in edited:
            sim.control.edit_product("drift", pid, vendor="Edited in Shopify")
        for pid in deleted:
            sim.control.delete_product("drift", pid)
        sim.control.seed("drift", generate=5, prefix="ONLY")

        print(f"Sweeping {len(bound)} products ...", flush=True)
        queries = []

        def count(execute, sql, params, many, context):
            queries.append(1)
            return execute(sql, params, many, context)

        tracemalloc.start()
        started = time.monotonic()
        with connection.execute_wrapper(count):
            report = drift_sweep(store=store)
        duration = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("\n== Drift sweep ==")
        print(f"products compared: {report.compared} in {duration:.1f}s -> {report.compared / duration:.0f} products/s")
        print(f"conflicts: {report.conflicts} field conflicts (edited {len(edited)}), "
              f"{report.deleted_in_shopify} deleted in Shopify (deleted {len(deleted)}), "
              f"{report.shopify_only} Shopify-only (created 5)")
        print(f"database queries: {len(queries)} -> {len(queries) / max(report.compared, 1):.3f} per product "
              f"(recording a conflict costs a few queries; clean products cost none)")
        print(f"peak Python memory during the sweep: {peak / 1e6:.1f} MB; peak RSS of the process: {rss:.0f} MB")
        assert report.conflicts == len(edited) and report.deleted_in_shopify == len(deleted)
        assert report.shopify_only == 5 and Conflict.objects.count() == len(edited) + len(deleted) + 5
    finally:
        sim_proc.terminate()
        sim_proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()
