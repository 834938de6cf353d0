"""Benchmark ``reconcile_store``: time and peak memory for a store with 50,000 variants.

    python bench/bench_reconcile.py                  # 50,000 variants, dry run then --apply
    python bench/bench_reconcile.py --variants 10000 --skip-apply

What it does:

1. creates a throw-away PostgreSQL database (``pim_bench_reconcile``, dropped at the end unless ``--keep``)
   and seeds the PIM with ``pim.catalog_seed`` (apparel with colour x size variants, simple products);
2. starts the Shopify simulator in a separate process (so its memory is not counted) and seeds one shop
   through its control API with an overlapping catalog: 85 % of the PIM products with the same handle and
   SKUs, 5 % with a changed handle (matched by SKU), 2 % with one SKU changed (ambiguous), 3 % of the PIM
   left out (PIM-only), plus Shopify-only products until the shop holds exactly ``--variants`` variants;
3. runs the reconcile in a child process (so seeding does not inflate its figures): a dry run timed
   without tracing (wall time split into waiting for the bulk operation, streaming, matching; peak RSS),
   the same dry run under ``tracemalloc`` (peak of Python allocations), then ``--apply`` (writes the
   bindings of every matched product);
4. prints the figures and the report's counts (checked against what was seeded).

Needs PostgreSQL and Redis (``DATABASE_URL``, ``REDIS_URL``; defaults as in the tests).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pim")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
# The simulator runs a bulk query while holding the shop's lock, so status polls wait for it to finish.
os.environ.setdefault("SHOPIFY_READ_TIMEOUT", "600")

BENCH_DB = "pim_bench_reconcile"
SHOP = "bench"
SEED_BATCH = 400


def _django(database: str | None = None) -> None:
    import django

    if database:
        base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
        os.environ["DATABASE_URL"] = f"{base}/{database}"
    django.setup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_simulator() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    command = [sys.executable, "-m", "shopify_sim", "--port", str(port), "--shops", SHOP]
    log_path = ROOT / "bench" / "out" / "simulator.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    from shopify_sim.control import SimControl

    control = SimControl(url, timeout=600)
    deadline = time.monotonic() + 60
    while True:
        try:
            control.health()
            return proc, url
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start; see {log_path}")
            time.sleep(0.2)


# --- parent: set up ---------------------------------------------------------------------------------------


def _shopify_spec(handle: str, title: str, option_names: list[str], variants: list[tuple]) -> dict:
    spec: dict = {"title": title, "handle": handle, "vendor": "Bench", "productType": "Bench",
                  "images": [f"https://cdn.example.com/bench/{handle}.jpg"],
                  "metafields": [{"namespace": "pim", "key": "material", "type": "single_line_text_field",
                                  "value": "cotton"}]}
    if option_names:
        spec["options"] = [
            {"name": name, "values": list(dict.fromkeys(v[2 + i] for v in variants))}
            for i, name in enumerate(option_names)
        ]
    spec["variants"] = [
        {"sku": sku, "price": str(price), "inventory": 5,
         **({"options": [v for v in (o1, o2) if v]} if option_names else {})}
        for sku, price, o1, o2 in variants
    ]
    return spec


def setup(variants_target: int, control, rng: random.Random) -> dict:
    from pim.catalog_seed import catalog_seed
    from pim.models import Product, Variant

    started = time.monotonic()
    products = max(10, int(variants_target / 4.1))
    seeded = catalog_seed(products=products, seed=7, batch_size=2000)
    print(f"PIM seeded: {seeded.products} products, {seeded.variants} variants ({time.monotonic() - started:.0f}s)")

    rows: dict[int, list[tuple]] = {}
    for pid, sku, price, o1, o2 in Variant.objects.values_list("product_id", "sku", "price", "option1", "option2") \
            .order_by("product_id", "position").iterator(chunk_size=10000):
        rows.setdefault(pid, []).append((sku, price, o1, o2))
    expected = {"matched_by_handle": 0, "matched_by_sku": 0, "ambiguous": 0, "pim_only": 0, "shopify_only": 0}
    specs: list[dict] = []
    shop_variants = 0
    for pid, handle, title, o1, o2 in Product.objects.values_list(
        "id", "handle", "title", "option1_name", "option2_name"
    ).order_by("id"):
        variants = rows[pid]
        names = [n for n in (o1, o2) if n]
        roll = rng.random()
        if roll < 0.03 or shop_variants + len(variants) > variants_target:
            expected["pim_only"] += 1
            continue
        if roll < 0.05:  # one SKU differs: handle matches, SKUs disagree
            variants = [(variants[0][0] + "-X", *variants[0][1:]), *variants[1:]]
            expected["ambiguous"] += 1
        elif roll < 0.10:  # renamed in Shopify, same SKUs
            handle = f"{handle}-shop"
            expected["matched_by_sku"] += 1
        else:
            expected["matched_by_handle"] += 1
        specs.append(_shopify_spec(handle, title, names, variants))
        shop_variants += len(variants)
    number = 0
    while shop_variants < variants_target:
        number += 1
        count = min(4, variants_target - shop_variants)
        variants = [(f"SHOPIFY-ONLY-{number:06d}-{i}", "19.00", f"V{i}", "") for i in range(count)]
        specs.append(_shopify_spec(f"shopify-only-{number}", f"Shopify Only {number}",
                                   ["Version"] if count > 1 else [], variants))
        shop_variants += count
        expected["shopify_only"] += 1
    started = time.monotonic()
    for start in range(0, len(specs), SEED_BATCH):
        control.seed(SHOP, products=specs[start:start + SEED_BATCH])
    print(f"Simulator seeded: {len(specs)} products, {shop_variants} variants ({time.monotonic() - started:.0f}s)")
    expected["shopify_products"] = len(specs)
    expected["shopify_variants"] = shop_variants
    return expected


def _make_store(url: str):
    from channels.models import Store
    from shopify_sim.control import SimControl

    info = SimControl(url).shop(SHOP)
    return Store.objects.create(name="Bench", shop_domain=info["domain"], api_base_url=info["base_url"],
                                access_token=info["access_token"], api_version="2026-07")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", type=int, default=50_000, help="variants in the Shopify store")
    parser.add_argument("--skip-apply", action="store_true", help="measure the dry run only")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)

    _django()
    from django.db import connection

    from shopify_sim.control import SimControl

    total = time.monotonic()
    settings_dict = connection.settings_dict
    settings_dict.setdefault("TEST", {})["NAME"] = BENCH_DB
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    sim, url = _start_simulator()
    try:
        expected = setup(args.variants, SimControl(url, timeout=600), random.Random(11))
        store = _make_store(url)
        figures = {}
        modes = ["dry-run", "trace"] + ([] if args.skip_apply else ["apply"])
        for mode in modes:
            env = {**os.environ, "DATABASE_URL": os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + BENCH_DB}
            out = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps({"mode": mode, "store": store.pk})],
                cwd=ROOT, env=env, capture_output=True, text=True, check=False,
            )
            if out.returncode != 0:
                print(out.stdout, out.stderr, file=sys.stderr)
                return 1
            figures[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        _print(expected, figures)
        ok = all(figures["dry-run"]["summary"][key] == value for key, value in expected.items())
        print("Report counts match the seeded catalog." if ok else "MISMATCH between report and seeded catalog!")
        print(f"Total bench time {time.monotonic() - total:.0f}s")
        return 0 if ok else 1
    finally:
        sim.terminate()
        sim.wait(timeout=10)
        if not args.keep:
            connection.creation.destroy_test_db(BENCH_DB, verbosity=0)


def _print(expected: dict, figures: dict) -> None:
    dry = figures["dry-run"]
    s = dry["summary"]
    print()
    print(f"Store: {s['shopify_products']} Shopify products, {s['shopify_variants']} variants; "
          f"PIM: {s['pim_products']} products")
    print(f"Report: matched {s['matched']} (handle {s['matched_by_handle']}, SKU {s['matched_by_sku']}), "
          f"Shopify-only {s['shopify_only']}, PIM-only {s['pim_only']}, ambiguous {s['ambiguous']}")
    print(f"reconcile (dry run, {s['source']}): {dry['seconds']:.1f}s wall = {dry['bulk_wait_seconds']:.1f}s "
          f"waiting for the bulk operation + {dry['download_seconds']:.1f}s streaming the result + "
          f"{dry['match_seconds']:.1f}s matching and report")
    print(f"  peak RSS {dry['maxrss_mb']:.0f} MB (before the reconcile, after Django start: "
          f"{dry['baseline_rss_mb']:.0f} MB)")
    if "trace" in figures:
        trace = figures["trace"]
        print(f"reconcile (dry run) under tracemalloc: peak Python allocations {trace['traced_peak_mb']:.1f} MB "
              f"({trace['seconds']:.1f}s with tracing: {_phases(trace)})")
    if "apply" in figures:
        apply = figures["apply"]
        print(f"reconcile --apply: {apply['seconds']:.1f}s ({_phases(apply)}), "
              f"{apply['summary']['actions'].get('bound', 0)} products bound; peak RSS {apply['maxrss_mb']:.0f} MB")


def _phases(figures: dict) -> str:
    return (f"bulk operation {figures['bulk_wait_seconds']:.1f}s, streaming {figures['download_seconds']:.1f}s, "
            f"matching {figures['match_seconds']:.1f}s")


# --- child: measure ---------------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (VmHWM: unlike ru_maxrss, not inherited from the parent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(raw: str) -> int:
    spec = json.loads(raw)
    _django()
    import logging

    logging.disable(logging.INFO)
    from channels.models import Store
    from onboarding.services import store_reconcile

    store = Store.objects.get(pk=spec["store"])
    out_dir = ROOT / "bench" / "out"
    baseline = _peak_rss_mb()
    mode = spec["mode"]
    marks: dict[str, float] = {}

    def progress(stage: str, count: int) -> None:
        marks.setdefault(stage, time.monotonic())

    traced = mode == "trace"
    if traced:
        tracemalloc.start()
    started = time.monotonic()
    result = store_reconcile(store=store, apply=mode == "apply", report_base=out_dir / f"reconcile-{mode}",
                             progress=progress)
    ended = time.monotonic()
    figures = {
        "seconds": ended - started,
        # Until the first product arrives: the bulk operation runs in Shopify (here: the simulator).
        "bulk_wait_seconds": marks.get("read", ended) - started,
        "download_seconds": marks.get("match", ended) - marks.get("read", ended),
        "match_seconds": ended - marks.get("match", ended),
        "maxrss_mb": _peak_rss_mb(),
        "baseline_rss_mb": baseline,
        "summary": result.summary(),
    }
    if traced:
        figures["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    print(json.dumps(figures, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
