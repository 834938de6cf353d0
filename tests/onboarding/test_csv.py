"""The offline path: matching and importing Shopify's product CSV exports (legacy and 2025 headers)."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from onboarding import outcomes, services
from onboarding.csv_format import CURRENT, LEGACY, CsvFormatError, csv_layout_detect
from pim.models import Product, ProductAttribute, ProductImage, Variant

from .conftest import make_product

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).parent / "samples"
LEGACY_SAMPLE = SAMPLES / "product_template_legacy.csv"
HEADER_2025 = next(csv.reader((SAMPLES / "product_csv_header_2025.csv").open(encoding="utf-8")))


def write_2025(path: Path, rows: list[dict], extra_columns: tuple[str, ...] = ()) -> Path:
    """Write a CSV with the 2025 header (plus ``extra_columns``); ``rows`` use header names as keys."""
    header = HEADER_2025 + list(extra_columns)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return path


def test_both_header_sets_are_recognised():
    legacy = next(csv.reader(LEGACY_SAMPLE.open(encoding="utf-8")))
    assert csv_layout_detect(header=legacy).format == LEGACY
    layout = csv_layout_detect(header=HEADER_2025)
    assert layout.format == CURRENT
    assert HEADER_2025[layout.columns["handle"]] == "URL handle"
    assert HEADER_2025[layout.columns["price"]] == "Price"
    assert layout.metafields == [(HEADER_2025.index("Color (product.metafields.shopify.color-pattern)"), "shopify",
                                  "color-pattern")]
    with pytest.raises(CsvFormatError, match="neither 'Handle'"):
        csv_layout_detect(header=["Name", "Price"])


def test_legacy_sample_imports_everything_once(tmp_path):
    result = services.shopify_csv_reconcile(path=LEGACY_SAMPLE, import_missing=True, location_name="Warehouse",
                                            report_base=tmp_path / "import")
    assert result.count("shopify_only") == 3 and result.actions[outcomes.IMPORTED] == 3
    assert (result.shopify_products, result.shopify_variants) == (3, 16)

    shirt = Product.objects.get(handle="example-shirt")
    assert (shirt.title, shirt.vendor, shirt.product_type, shirt.status) == ("Example T-Shirt", "Acme", "Shirts", "active")
    assert (shirt.option1_name, shirt.option2_name) == ("Color", "Size") and shirt.variants.count() == 12
    assert shirt.tag_list == ["Made to Order", "Shirt Tag"]
    assert shirt.seo_title == "Example T-Shirt | Test Store"
    assert ProductImage.objects.filter(product=shirt).count() == 6
    first = Variant.objects.get(sku="SRT_COT_111")
    assert (first.option1, first.option2, first.price, first.barcode) == ("Green", "S", Decimal("25.00"), "365275101829")
    assert (first.weight, first.weight_unit, first.inventory_tracked) == (Decimal("145.000"), "GRAMS", False)
    pants = Product.objects.get(handle="example-pants")
    assert pants.status == "draft" and pants.variants.count() == 3
    assert ProductImage.objects.filter(product=pants).count() == 4  # the image-only row belongs to the product
    jeans = Variant.objects.get(sku="PNT_DEN_285")
    assert (jeans.weight, jeans.weight_unit, jeans.cost, jeans.compare_at_price) == (
        Decimal("8.000"), "OUNCES", Decimal("50.00"), Decimal("64.95"))
    hat = Product.objects.get(handle="example-hat")
    assert hat.status == "archived" and not hat.has_options and hat.variants.get().sku == "HAT_GRY_275"

    from inventory.models import StockLevel

    stock = dict(StockLevel.objects.filter(location__name="Warehouse").values_list("variant__sku", "on_hand"))
    assert stock == {"PNT_DEN_285": 20, "PNT_DEN_305": 15, "PNT_DEN_405": 10, "HAT_GRY_275": 50}
    assert result.stock_levels_imported == 4

    again = services.shopify_csv_reconcile(path=LEGACY_SAMPLE, import_missing=True, location_name="Warehouse",
                                           report_base=tmp_path / "again")
    assert again.count("matched") == 3 and again.summary()["matched_by_handle"] == 3
    assert outcomes.IMPORTED not in again.actions
    assert Product.objects.count() == 3 and Variant.objects.count() == 16


def test_2025_export_with_metafield_columns(tmp_path):
    extra = ("Fabric (product.metafields.custom.fabric)",)
    path = write_2025(tmp_path / "products.csv", [
        {"Title": "Linen Shirt", "URL handle": "linen-shirt", "Description": "<p>Cool.</p>", "Vendor": "Flax",
         "Type": "Shirts", "Tags": "summer, linen", "Published on online store": "TRUE", "Status": "Active",
         "SKU": "LIN-S", "Option1 name": "Size", "Option1 value": "S", "Price": "49.00",
         "Compare-at price": "59.00", "Inventory tracker": "shopify", "Inventory quantity": "3",
         "Weight value (grams)": "300", "Weight unit for display": "kg", "Product image URL": "https://cdn.example.com/l.jpg",
         "Image position": "1", "Image alt text": "Linen shirt", "SEO title": "Linen",
         "Color (product.metafields.shopify.color-pattern)": "white", extra[0]: "linen"},
        {"URL handle": "linen-shirt", "SKU": "LIN-M", "Option1 value": "M", "Price": "49.00",
         "Inventory tracker": "shopify", "Inventory quantity": "5"},
    ], extra)
    result = services.shopify_csv_reconcile(path=path, import_missing=True, report_base=tmp_path / "r")
    assert result.actions[outcomes.IMPORTED] == 1
    shirt = Product.objects.get(handle="linen-shirt")
    assert (shirt.title, shirt.status, shirt.option1_name) == ("Linen Shirt", "active", "Size")
    assert list(shirt.variants.values_list("sku", "option1", "price")) == [
        ("LIN-S", "S", Decimal("49.00")), ("LIN-M", "M", Decimal("49.00"))]
    small = Variant.objects.get(sku="LIN-S")
    assert (small.weight, small.weight_unit, small.compare_at_price) == (Decimal("0.300"), "KILOGRAMS", Decimal("59.00"))
    assert list(ProductAttribute.objects.filter(product=shirt).values_list("namespace", "key", "value")) == [
        ("custom", "fabric", "linen")]  # shopify.color-pattern is Shopify's own and stays there
    row = json.loads(result.report_json.read_text())["products"][0]
    assert any("reserved namespace" in note for note in row["notes"])
    # No location given and no store mapping: quantities are not imported (and nothing pretends they were).
    assert result.stock_levels_imported == 0


def test_bad_rows_are_all_reported_with_line_numbers_and_nothing_is_written(tmp_path):
    make_product("existing", ["EX-1"])
    path = write_2025(tmp_path / "bad.csv", [
        {"Title": "Good", "URL handle": "good", "SKU": "GOOD-1", "Price": "10"},  # line 2
        {"Title": "Bad Price", "URL handle": "bad-price", "SKU": "BP-1", "Price": "ten"},  # line 3
        {"Title": "No Handle", "URL handle": "", "SKU": "NH-1", "Price": "10"},  # line 4
        {"Title": "No SKU", "URL handle": "no-sku", "SKU": "", "Price": "10"},  # line 5
        {"Title": "Dup A", "URL handle": "dup-a", "SKU": "DUP-1", "Price": "10"},  # line 6
        {"Title": "Dup B", "URL handle": "dup-b", "SKU": "DUP-1", "Price": "10"},  # line 7
        {"Title": "Free", "URL handle": "free", "SKU": "FREE-1", "Price": "0"},  # line 8
        {"Title": "Clash", "URL handle": "clash", "SKU": "EX-1", "Price": "10"},  # line 9: SKU of 'existing'
    ])
    with pytest.raises(outcomes.CsvImportError) as caught:
        services.shopify_csv_reconcile(path=path, import_missing=True, report_base=tmp_path / "r")
    problems = "\n".join(caught.value.problems)
    assert "line 3: price 'ten' is not a number" in problems
    assert "line 4: the row has no handle" in problems
    # Legal in Shopify, so not problems: a variant without a SKU, a SKU on two products the PIM does not know.
    assert "line 5" not in problems and "line 6" not in problems and "line 7" not in problems
    assert "line 8: variant FREE-1 has a price of 0" in problems
    assert Product.objects.count() == 1  # not even 'good' was imported
    summary = json.loads(caught.value.report.report_json.read_text())["summary"]
    assert summary["import_failed"] is True and summary["problems"] == caught.value.problems
    rows = {r["shopify_handle"]: r for r in json.loads(caught.value.report.report_json.read_text())["products"]}
    assert rows["good"]["action"].startswith("not imported")
    assert rows["no-sku"]["action"].startswith("not imported") and rows["dup-a"]["action"].startswith("not imported")
    assert rows["clash"]["classification"] == "matched" and rows["clash"]["matched_by"] == "sku"


def test_csv_matching_without_import_uses_the_store_handles(store, tmp_path):
    from channels.models import ChannelAssignment

    bag = make_product("bag", ["BAG-1"])
    ChannelAssignment.objects.create(product=bag, store=store, handle_override="tote-bag")
    make_product("poster", ["POS-1"])
    path = write_2025(tmp_path / "p.csv", [
        {"Title": "Tote", "URL handle": "tote-bag", "SKU": "BAG-1", "Price": "30"},
        {"Title": "Scarf", "URL handle": "scarf", "SKU": "SC-1", "Price": "30"},
    ])
    result = services.shopify_csv_reconcile(path=path, store=store, report_base=tmp_path / "r")
    assert (result.count("matched"), result.count("shopify_only"), result.count("pim_only")) == (1, 1, 1)
    assert result.summary()["matched_by_handle"] == 1
    assert result.actions[outcomes.WOULD_IMPORT] == 1 and result.actions[outcomes.CSV_NO_IDS] == 1
    assert not Product.objects.filter(handle="scarf").exists()


def test_unreadable_files_get_a_clear_error(tmp_path):
    with pytest.raises(outcomes.OnboardingError, match="not a Shopify product CSV"):
        path = tmp_path / "x.csv"
        path.write_text("Name,Price\nA,1\n")
        services.shopify_csv_reconcile(path=path, report_base=tmp_path / "r")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(",".join(HEADER_2025).encode() + b"\nCaf\xe9,cafe,,,,,,,,C-1\n")
    with pytest.raises(outcomes.OnboardingError, match="not UTF-8"):
        services.shopify_csv_reconcile(path=latin, report_base=tmp_path / "r")
    with pytest.raises(outcomes.OnboardingError, match="Cannot open"):
        services.shopify_csv_reconcile(path=tmp_path / "missing.csv", report_base=tmp_path / "r")
