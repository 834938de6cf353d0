"""Benchmark the product CSV import (issue 20): a real-export-shaped file, all-or-nothing vs ``--skip-invalid``.

    python bench/bench_csv_import.py                     # 2,000 products x 3 variants
    python bench/bench_csv_import.py --products 500

What it does:

1. creates a throw-away PostgreSQL database (``pim_bench_csv``, dropped at the end unless ``--keep``) and migrates it;
2. writes two files shaped as Shopify's 2025 export: multi-line descriptions, a localized metafield column, an
   image-only row per product, digit-only SKUs and barcodes with the export's leading apostrophe, 5 % of the
   products without SKUs, 2 % sharing a SKU with another product; the "mixed" file also has 2 % invalid
   products (a zero price on a later variant);
3. times, on the valid file, the dry run and the all-or-nothing import, then (catalog emptied) the
   ``--skip-invalid`` import (one savepoint per product), and on the mixed file the refused all-or-nothing import
   and the ``--skip-invalid`` import; prints the figures and checks the counts.

Needs PostgreSQL (``DATABASE_URL``; default as in the tests).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pim")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")

BENCH_DB = "pim_bench_csv"
HEADER = next(csv.reader((ROOT / "tests" / "onboarding" / "samples" / "product_csv_header_2025.csv").open()))
FABRIC = "Stoffqualität (product.metafields.custom.fabric)"


def _admin_connection():
    import psycopg

    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    return psycopg.connect(f"{base}/postgres", autocommit=True)


def _recreate_database() -> None:
    with _admin_connection() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")


def _drop_database() -> None:
    with _admin_connection() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def write_export(path: Path, *, products: int, invalid_share: float, rng: random.Random) -> dict:
    """Write an export-shaped file; return what it holds."""
    counts = {"products": products, "variants": 0, "invalid": 0, "skuless": 0, "shared": 0}
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER + [FABRIC])
        for n in range(products):
            handle = f"produkt-{n:06d}"
            roll = rng.random()
            invalid = roll < invalid_share
            skuless = invalid_share <= roll < invalid_share + 0.05
            shared = invalid_share + 0.05 <= roll < invalid_share + 0.07
            counts["invalid"] += invalid
            counts["skuless"] += skuless
            counts["shared"] += shared
            for i, size in enumerate(("S", "M", "L")):
                sku = "" if skuless else (f"'{n:07d}{i}" if n % 5 == 0 else f"P{n}-{size}")
                if shared and i == 0:
                    sku = "SHARED-SKU"
                row = dict.fromkeys(HEADER + [FABRIC], "")
                row.update({"URL handle": handle, "Option1 value": size, "SKU": sku,
                            "Barcode": f"'0{n:08d}{i}", "Price": "0" if invalid and i == 2 else "19.90"})
                if i == 0:
                    row.update({"Title": f"Produkt {n}", "Description": "<p>Weich.</p>\n<p>Waschbar.</p>",
                                "Status": "Active", "Option1 name": "Größe", FABRIC: "Baumwolle",
                                "Product image URL": f"https://cdn.example.com/{handle}-1.jpg", "Image position": "1"})
                writer.writerow(list(row.values()))
                counts["variants"] += 1
            image = dict.fromkeys(HEADER + [FABRIC], "")
            image.update({"URL handle": handle, "Product image URL": f"https://cdn.example.com/{handle}-2.jpg",
                          "Image position": "2"})
            writer.writerow(list(image.values()))
    return counts


def _timed(label: str, call):
    started = time.monotonic()
    try:
        result = call()
    except Exception as exc:  # the refused import raises by design
        result = exc
    elapsed = time.monotonic() - started
    print(f"  {label:<44} {elapsed:7.2f} s")
    return result, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    _recreate_database()
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    os.environ["DATABASE_URL"] = f"{base}/{BENCH_DB}"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from onboarding import outcomes, services
    from pim.models import Product

    rng = random.Random(20)
    work = Path(tempfile.mkdtemp(prefix="bench-csv-"))
    try:
        valid = write_export(work / "valid.csv", products=args.products, invalid_share=0.0, rng=rng)
        mixed = write_export(work / "mixed.csv", products=args.products, invalid_share=0.02, rng=rng)
        print(f"valid file: {valid}; mixed file: {mixed}")
        report = work / "report"

        def run(path, **kw):
            return services.shopify_csv_reconcile(path=path, report_base=report, **kw)

        dry, _ = _timed("dry run (valid file)", lambda: run(work / "valid.csv"))
        whole, t_whole = _timed("all-or-nothing import (valid file)", lambda: run(work / "valid.csv", import_missing=True))
        assert whole.actions[outcomes.IMPORTED] == args.products, whole.actions
        Product.objects.all().delete()
        skip, t_skip = _timed("--skip-invalid import (valid file)",
                              lambda: run(work / "valid.csv", import_missing=True, skip_invalid=True))
        assert skip.actions[outcomes.IMPORTED] == args.products
        Product.objects.all().delete()
        refused, _ = _timed("all-or-nothing import (mixed file, refused)",
                            lambda: run(work / "mixed.csv", import_missing=True))
        assert isinstance(refused, outcomes.CsvImportError) and not Product.objects.exists()
        partial, _ = _timed("--skip-invalid import (mixed file)",
                            lambda: run(work / "mixed.csv", import_missing=True, skip_invalid=True))
        assert partial.skipped_products == mixed["invalid"], (partial.skipped_products, mixed)
        assert partial.actions[outcomes.IMPORTED] == args.products - mixed["invalid"]
        print(f"  dry run: would import {dry.actions[outcomes.WOULD_IMPORT]}, flagged variants {dry.flagged_variants}")
        print(f"  mixed --skip-invalid: imported {partial.actions[outcomes.IMPORTED]}, skipped "
              f"{partial.skipped_products}, flagged variants {partial.flagged_variants}")
        print(f"  import rate: {args.products / t_whole:.1f} products/s all-or-nothing, "
              f"{args.products / t_skip:.1f} products/s with a savepoint per product "
              f"({(t_skip / t_whole - 1) * 100:+.1f} %)")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            _drop_database()


if __name__ == "__main__":
    main()
