"""The management commands are thin: they print the summary, point at the report and turn errors into messages."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from channels.models import VariantBinding
from pim.models import Product

from .conftest import SHOP, make_product, shopify_spec
from .test_csv import write_2025

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_reconcile_store_dry_run_then_apply(store, sim_control, tmp_path):
    make_product("tee", ["T-S", "T-M"])
    make_product("poster", ["POS-1"])
    sim_control.seed(SHOP, products=[shopify_spec("tee", ["T-S", "T-M"]), shopify_spec("scarf", ["SC-1"])])
    report = tmp_path / "dry"
    output = run("reconcile_store", "--store", "Shop A", "--report", str(report))
    assert "Read 2 Shopify products (3 variants)" in output
    assert "matched             1" in output and "Shopify-only        1" in output and "PIM-only            1" in output
    assert "Dry run: nothing was changed" in output
    assert str(report) + ".csv" in output and json.loads(report.with_suffix(".json").read_text())["summary"]["matched"] == 1
    assert not VariantBinding.objects.exists()

    output = run("reconcile_store", "--store", store.shop_domain, "--apply", "--report", str(tmp_path / "apply"))
    assert "bound: 1" in output and "manage.py publish --store Shop A --all" in output
    assert VariantBinding.objects.filter(store=store).count() == 2


def test_reconcile_store_errors(store, sim_control, tmp_path):
    with pytest.raises(CommandError, match="No store named 'Nope'"):
        run("reconcile_store", "--store", "Nope")
    with pytest.raises(CommandError, match="Say which store"):
        run("reconcile_store")
    with pytest.raises(CommandError, match="has no Shopify ids"):
        run("reconcile_store", "--csv", str(tmp_path / "x.csv"), "--apply")
    with pytest.raises(CommandError, match="Cannot write the report"):
        run("reconcile_store", "--store", "Shop A", "--report", "/dev/null/report")
    assert sim_control.requests(SHOP) == []  # it failed before reading Shopify
    sim_control.invalid_token(SHOP)
    with pytest.raises(CommandError, match="Could not read the Shopify catalog; nothing was written"):
        run("reconcile_store", "--store", "Shop A", "--report", str(tmp_path / "r"))


def test_import_shopify_csv(db, tmp_path):
    good = write_2025(tmp_path / "good.csv", [{"Title": "Mug", "URL handle": "mug", "SKU": "MUG-1", "Price": "12"}])
    output = run("import_shopify_csv", str(good), "--dry-run", "--report", str(tmp_path / "dry"))
    assert "would import: 1" in output and "Dry run: nothing was imported." in output
    assert not Product.objects.exists()
    output = run("import_shopify_csv", str(good), "--report", str(tmp_path / "r"))
    assert "Imported 1 product(s)" in output and Product.objects.filter(handle="mug").exists()

    bad = write_2025(tmp_path / "bad.csv", [{"Title": "Cup", "URL handle": "cup", "SKU": "CUP-1", "Price": "x"}])
    with pytest.raises(CommandError) as caught:
        run("import_shopify_csv", str(bad), "--report", str(tmp_path / "bad"))
    assert "line 2: price 'x' is not a number" in str(caught.value) and "nothing was imported" in str(caught.value)
    assert not Product.objects.filter(handle="cup").exists()


def test_import_shopify_csv_skip_invalid(db, tmp_path):
    mixed = write_2025(tmp_path / "mixed.csv", [
        {"Title": "Mug", "URL handle": "mug", "SKU": "'0042", "Price": "12"},  # line 2
        {"Title": "Cup", "URL handle": "cup", "SKU": "CUP-1", "Price": "x"},  # line 3
        {"Title": "Bowl", "URL handle": "bowl", "SKU": "", "Price": "7"},  # line 4: no SKU, flagged
    ])
    output = run("import_shopify_csv", str(mixed), "--dry-run", "--report", str(tmp_path / "dry"))
    assert ("Import would create 2 product(s); 1 product(s) have problems: with --skip-invalid they would be "
            "skipped, without it the import is refused.") in output
    assert not Product.objects.exists()
    with pytest.raises(CommandError, match="line 3: price 'x' is not a number"):
        run("import_shopify_csv", str(mixed), "--report", str(tmp_path / "all"))
    assert not Product.objects.exists()

    output = run("import_shopify_csv", str(mixed), "--skip-invalid", "--report", str(tmp_path / "skip"))
    assert "Imported 2 product(s)" in output
    assert "Skipped 1 product(s):\n  line 3: price 'x' is not a number" in output
    assert "flagged             1" in output
    assert set(Product.objects.values_list("handle", flat=True)) == {"mug", "bowl"}
    assert Product.objects.get(handle="mug").variants.get().sku == "0042"
    with pytest.raises(CommandError, match="--skip-invalid is for --csv imports"):
        run("reconcile_store", "--store", "x", "--skip-invalid")
    # reconcile_store --csv follows the same rules.
    Product.objects.all().delete()
    output = run("reconcile_store", "--csv", str(mixed), "--import-missing", "--skip-invalid",
                 "--report", str(tmp_path / "rs"))
    assert "Skipped 1 product(s):\n  line 3: price 'x' is not a number" in output and "imported: 2" in output
    assert set(Product.objects.values_list("handle", flat=True)) == {"mug", "bowl"}
