"""Issue 20: product CSVs as real Shopify exports write them import, match and flag what the PIM's rules refuse."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from onboarding import outcomes, services
from onboarding.csv_format import shopify_text
from pim import adoption
from pim import services as pim_services
from pim.models import Product, ProductAttribute, ProductImage, Variant

from .conftest import make_product
from .exports import HEADER_LEGACY, export_csv, physical_line_of

pytestmark = pytest.mark.django_db

GRAMS = "Grams per serving (product.metafields.custom.grams)"
# A German shop names its metafield columns in German; the namespace and key stay as defined.
FABRIC_DE = "Stoffqualität (product.metafields.custom.fabric)"
CARE_DE = "Pflegehinweise (product.metafields.custom.care)"


def _rows(result) -> dict[str, dict]:
    return {r["shopify_handle"]: r for r in json.loads(result.report_json.read_text())["products"]}


def test_the_exports_apostrophe_is_stripped_from_barcode_sku_and_metafield_cells(tmp_path):
    path = export_csv(tmp_path / "products_export.csv", [
        {"Title": "Oat Milk", "URL handle": "oat-milk", "Status": "Active", "SKU": "'0012345",
         "Barcode": "'4006381333931", "Price": "3.50", GRAMS: "'250"},
        {"Title": "Tea", "URL handle": "tea", "Status": "Active", "SKU": "TEA-1", "Barcode": "'0799439112766",
         "Price": "4.00", GRAMS: "'0"},
    ], extra_columns=(GRAMS,))
    assert "'0012345" in path.read_text()  # the file is as Shopify wrote it

    result = services.shopify_csv_reconcile(path=path, import_missing=True, report_base=tmp_path / "r")

    assert result.actions[outcomes.IMPORTED] == 2
    milk = Variant.objects.get(product__handle="oat-milk")
    assert (milk.sku, milk.barcode) == ("0012345", "4006381333931")
    assert Variant.objects.get(sku="TEA-1").barcode == "0799439112766"  # leading zero kept, apostrophe gone
    assert dict(ProductAttribute.objects.filter(key="grams").values_list("product__handle", "value")) == {
        "oat-milk": "250", "tea": "0"}
    assert not Variant.objects.filter(sku__startswith="'").exists()
    assert not Variant.objects.filter(barcode__startswith="'").exists()
    # An order or a second export carrying the real SKU finds the product: the same file now matches by
    # handle with equal SKUs (it did not while the PIM stored "'0012345").
    again = services.shopify_csv_reconcile(path=path, report_base=tmp_path / "again")
    assert again.summary()["matched_by_handle"] == 2 and again.count("ambiguous") == 0


def test_only_an_apostrophe_before_digit_only_text_is_the_exports():
    assert shopify_text("'0012345") == "0012345"
    assert shopify_text(" '42 ") == "42"
    assert shopify_text("'A-1") == "'A-1"  # not digit-only: the merchant's own text, kept
    assert shopify_text("it's") == "it's"
    assert shopify_text("'") == "'"
    assert shopify_text("''12") == "''12"


def test_multiline_cells_image_only_rows_archived_products_and_metafield_columns_in_the_shops_language(tmp_path):
    description = "<p>Weiches Leinen.</p>\n<ul>\n<li>waschbar</li>\n</ul>"
    care = "30 °C waschen\nNicht bleichen"
    path = export_csv(tmp_path / "export.csv", [
        {"Title": "Leinenhemd", "URL handle": "leinenhemd", "Description": description, "Status": "Archived",
         "Published on online store": "FALSE", "Option1 name": "Größe", "Option1 value": "S", "SKU": "LH-S",
         "Price": "49.00", "Product image URL": "https://cdn.example.com/lh-1.jpg", "Image position": "1",
         FABRIC_DE: "Leinen", CARE_DE: care},
        {"URL handle": "leinenhemd", "Option1 value": "M", "SKU": "LH-M", "Price": "49.00",
         "Product image URL": "https://cdn.example.com/lh-2.jpg", "Image position": "2"},
        # An image-only row: the handle and the image columns, nothing of a variant.
        {"URL handle": "leinenhemd", "Product image URL": "https://cdn.example.com/lh-3.jpg", "Image position": "3",
         "Image alt text": "Detail"},
    ], extra_columns=(FABRIC_DE, CARE_DE))
    # The header, then the first row over 5 physical lines (3 line breaks in the description, 1 in the care
    # instructions), then two rows.
    assert len(path.read_text().splitlines()) == 1 + 5 + 2

    result = services.shopify_csv_reconcile(path=path, import_missing=True, report_base=tmp_path / "r")

    assert result.actions[outcomes.IMPORTED] == 1 and result.csv_problems == 0
    shirt = Product.objects.get(handle="leinenhemd")
    assert (shirt.status, shirt.description_html, shirt.option1_name) == ("archived", description, "Größe")
    assert list(shirt.variants.values_list("sku", "option1")) == [("LH-S", "S"), ("LH-M", "M")]
    assert list(ProductImage.objects.filter(product=shirt).values_list("src", "alt")) == [
        ("https://cdn.example.com/lh-1.jpg", ""), ("https://cdn.example.com/lh-2.jpg", ""),
        ("https://cdn.example.com/lh-3.jpg", "Detail")]
    attributes = {a.key: (a.type, a.value) for a in ProductAttribute.objects.filter(product=shirt)}
    assert attributes == {"fabric": ("single_line_text_field", "Leinen"), "care": ("multi_line_text_field", care)}
    assert _rows(result)["leinenhemd"]["csv_line"] == 2


def test_a_variants_error_names_that_variants_row(tmp_path):
    path = export_csv(tmp_path / "export.csv", [
        {"Title": "Poster", "URL handle": "poster", "Description": "<p>Big.</p>\n<p>Glossy.</p>",
         "Option1 name": "Size", "Option1 value": "A2", "SKU": "P-A2", "Price": "20.00"},
        {"URL handle": "poster", "Option1 value": "A1", "SKU": "P-A1", "Price": "0.00"},
        {"URL handle": "poster", "Option1 value": "A0", "SKU": "P-A0", "Price": "-5"},
    ])
    zero_line, negative_line = physical_line_of(path, "P-A1"), physical_line_of(path, "P-A0")
    assert (zero_line, negative_line) == (4, 5)  # the first row's description spans lines 2-3

    with pytest.raises(outcomes.CsvImportError) as caught:
        services.shopify_csv_reconcile(path=path, import_missing=True, report_base=tmp_path / "r")

    problems = caught.value.problems
    assert f"line {zero_line}: variant P-A1 has a price of 0; import it with --allow-zero-price if it is free" in problems
    assert f"line {negative_line}: price '-5' cannot be negative" in problems
    assert not any(p.startswith("line 2:") for p in problems)  # not the product's first row


def test_skuless_and_shared_skus_and_a_non_latin_handle_are_adopted_and_flagged(tmp_path, admin_client):
    path = export_csv(tmp_path / "export.csv", [
        {"Title": "Футболка", "URL handle": "футболка-классика", "Status": "Active", "Option1 name": "Размер",
         "Option1 value": "S", "SKU": "", "Price": "15.00"},
        {"URL handle": "футболка-классика", "Option1 value": "M", "SKU": "", "Price": "15.00"},
        {"Title": "Mug Red", "URL handle": "mug-red", "SKU": "MUG", "Price": "9.00"},
        {"Title": "Mug Blue", "URL handle": "mug-blue", "SKU": "MUG", "Price": "9.00"},
        {"Title": "日本 Tea", "URL handle": "日本-tea", "SKU": "JT-1", "Price": "7.00"},
    ])
    dry = services.shopify_csv_reconcile(path=path, report_base=tmp_path / "dry")
    assert dry.actions[outcomes.WOULD_IMPORT] == 4 and dry.flagged_variants == 4

    result = services.shopify_csv_reconcile(path=path, import_missing=True, report_base=tmp_path / "r")

    assert result.actions[outcomes.IMPORTED] == 4 and result.flagged_variants == 4
    tee = Product.objects.get(handle="футболка-классика")
    assert tee.origin == Product.Origin.SHOPIFY and tee.option1_name == "Размер"
    assert list(tee.variants.values_list("sku", "option1", "adopted")) == [("", "S", True), ("", "M", True)]
    assert set(Variant.objects.filter(sku="MUG").values_list("product__handle", flat=True)) == {"mug-red", "mug-blue"}
    assert Product.objects.get(handle="日本-tea").variants.get().sku == "JT-1"
    # What breaks the PIM's own rules is flagged for a manager ...
    missing = adoption.variants_with_sku_issue(queryset=Variant.objects.all(), issue=adoption.MISSING_SKU)
    shared = adoption.variants_with_sku_issue(queryset=Variant.objects.all(), issue=adoption.SHARED_SKU)
    assert {v.product.handle for v in missing} == {"футболка-классика"} and missing.count() == 2
    assert {v.product.handle for v in shared} == {"mug-red", "mug-blue"}
    rows = _rows(result)
    assert any("has no SKU: imported as is and flagged" in n for n in rows["футболка-классика"]["notes"])
    # ... and shown in the admin: a filter on the product list, a column on the variant list.
    response = admin_client.get("/admin/pim/product/?sku_issue=any")
    listed = {p.handle for p in response.context["cl"].result_list}
    assert listed == {"mug-red", "mug-blue", "футболка-классика"}
    variants_page = admin_client.get("/admin/pim/variant/?sku_issue=shared").content.decode()
    assert "Shared SKU: another variant has the same SKU" in variants_page
    tee_page = admin_client.get(f"/admin/pim/product/{tee.pk}/change/").content.decode()
    assert tee_page.count("No SKU: orders are matched by the Shopify variant id only") == 2
    assert "Adopted from a Shopify store" in tee_page
    variant_page = admin_client.get(f"/admin/pim/variant/{tee.variants.first().pk}/change/")
    assert variant_page.status_code == 200 and "Adopted" in variant_page.content.decode()
    # A manager edits an adopted variant without giving it a SKU yet: allowed (Shopify allows it) ...
    small = tee.variants.get(option1="S")
    form = {"product": tee.pk, "sku": "", "option1": "S", "option2": "", "option3": "", "price": "16.00",
            "compare_at_price": "", "cost": "", "barcode": "", "weight": "", "weight_unit": "KILOGRAMS",
            "inventory_tracked": "on", "position": 1, "stock_levels-TOTAL_FORMS": 0, "stock_levels-INITIAL_FORMS": 0}
    edited = admin_client.post(f"/admin/pim/variant/{small.pk}/change/", form)
    assert edited.status_code == 302
    small.refresh_from_db()
    assert (small.sku, str(small.price)) == ("", "16.00")
    # ... but a variant created in the PIM still needs one.
    pim_variant = make_product("pim-made", ["PM-1"]).variants.get()
    form.update(product=pim_variant.product_id, option1="")
    refused = admin_client.post(f"/admin/pim/variant/{pim_variant.pk}/change/", form)
    assert refused.status_code == 200 and "Enter a SKU." in refused.content.decode()
    # The manager fixes one shared SKU: both stop being flagged (the flags are computed, never stale).
    red = Variant.objects.get(product__handle="mug-red")
    pim_services.variant_update(variant=red, sku="MUG-RED")
    assert not adoption.variants_with_sku_issue(queryset=Variant.objects.all(), issue=adoption.SHARED_SKU).exists()
    # The same file again matches the products by handle; nothing would be imported twice.
    again = services.shopify_csv_reconcile(path=path, report_base=tmp_path / "again")
    assert again.summary()["matched_by_handle"] == 3 and outcomes.WOULD_IMPORT not in again.actions
    assert again.count("ambiguous") == 1  # mug-red's SKU now differs from the file's: for a manager to resolve


def test_the_pims_own_rules_still_hold_for_products_created_in_the_pim():
    adopted = pim_services.product_create(
        title="Adopted", handle="принят", origin=Product.Origin.SHOPIFY, variants=[{"sku": "", "price": Decimal("1")}],
    )
    assert adopted.variants.get().adopted
    with pytest.raises(ValidationError, match="Enter a SKU"):
        pim_services.product_create(title="No SKU", variants=[{"sku": "", "price": Decimal("1")}])
    make_product("tee", ["TEE-1"])
    with pytest.raises(ValidationError, match="Variant with this SKU already exists"):
        pim_services.product_create(title="Copy", variants=[{"sku": "TEE-1", "price": Decimal("1")}])
    pim_services.product_create(title="Adopted copy", handle="adopted-copy", origin=Product.Origin.SHOPIFY,
                                variants=[{"sku": "TEE-1", "price": Decimal("1")}])
    with pytest.raises(ValidationError, match="Variant with this SKU already exists"):  # not even an adopted one's
        pim_services.product_create(title="Third", variants=[{"sku": "TEE-1", "price": Decimal("1")}])
    with pytest.raises(ValidationError, match="lowercase letters"):
        pim_services.product_create(title="Cyrillic", handle="футболка", variants=[{"sku": "C-1", "price": Decimal("1")}])
    assert Product.objects.filter(origin=Product.Origin.PIM).count() == 1


def _mixed_file(tmp_path):
    """Four valid products and four invalid ones, each invalid in a different way; one row has no handle."""
    make_product("cap", ["CAP-1"])
    return export_csv(tmp_path / "mixed.csv", [
        {"Title": "Good One", "URL handle": "good-one", "SKU": "G-1", "Price": "10.00", "Inventory quantity": "5",
         "Inventory tracker": "shopify"},
        {"Title": "Bad Price", "URL handle": "bad-price", "SKU": "BP-1", "Price": "ten"},
        {"Title": "Good Two", "URL handle": "good-two", "Option1 name": "Size", "Option1 value": "S", "SKU": "",
         "Price": "12.00"},
        {"URL handle": "good-two", "Option1 value": "M", "SKU": "", "Price": "12.00"},
        {"Title": "", "URL handle": "", "SKU": "LOST-1", "Price": "3.00"},
        {"Title": "Zero Later", "URL handle": "zero-later", "Option1 name": "Size", "Option1 value": "S",
         "SKU": "ZL-S", "Price": "8.00"},
        {"URL handle": "zero-later", "Option1 value": "M", "SKU": "ZL-M", "Price": "0"},
        {"Title": "Cap Red", "URL handle": "cap-red", "SKU": "CAP-1", "Price": "5.00"},
        {"Title": "Cap Blue", "URL handle": "cap-blue", "SKU": "CAP-1", "Price": "5.00"},
        {"Title": "Good Three", "URL handle": "good-three", "SKU": "G-3", "Price": "1.00"},
        {"Title": "Good Four", "URL handle": "good-four", "SKU": "G-4", "Price": "2.00"},
    ])


def test_all_or_nothing_refuses_the_file_and_a_refused_import_leaves_no_rows_behind(tmp_path):
    from django.apps import apps
    from django.db import connection

    from channels.models import SyncJob
    from inventory.models import Location, StockLevel

    path = _mixed_file(tmp_path)
    tables = set(connection.introspection.table_names())
    models = [m for m in apps.get_models() if m._meta.managed and m._meta.db_table in tables]
    before = {m._meta.label: m.objects.count() for m in models}

    with pytest.raises(outcomes.CsvImportError) as caught:
        services.shopify_csv_reconcile(path=path, import_missing=True, location_name="New Warehouse",
                                       report_base=tmp_path / "r")

    after = {m._meta.label: m.objects.count() for m in models}
    assert after == before, {k: (before[k], after[k]) for k in after if after[k] != before[k]}
    assert not Location.objects.exists() and not StockLevel.objects.exists() and not SyncJob.objects.exists()
    problems = "\n".join(caught.value.problems)
    assert "line 3: price 'ten' is not a number" in problems
    assert "line 6: the row has no handle" in problems
    assert "line 8: variant ZL-M has a price of 0" in problems
    assert "line 9: ambiguous: SKU CAP-1 is also in Shopify product 'cap-blue' (line 10)" in problems


def test_skip_invalid_imports_every_valid_product_and_reports_each_skipped_one(tmp_path):
    from inventory.models import StockLevel

    path = _mixed_file(tmp_path)
    dry = services.shopify_csv_reconcile(path=path, skip_invalid=True, report_base=tmp_path / "dry")
    assert dry.actions[outcomes.WOULD_IMPORT] == 4 and dry.actions[outcomes.WOULD_SKIP] == 2
    assert dry.count("ambiguous") == 2 and Product.objects.count() == 1

    result = services.shopify_csv_reconcile(path=path, import_missing=True, skip_invalid=True,
                                            location_name="New Warehouse", report_base=tmp_path / "r")

    assert set(Product.objects.values_list("handle", flat=True)) == {"cap", "good-one", "good-two", "good-three",
                                                                      "good-four"}
    assert result.actions[outcomes.IMPORTED] == 4 and result.skipped_products == 4
    skipped = "\n".join(result.skipped)
    assert "line 3: price 'ten' is not a number" in skipped
    assert "line 6: the row has no handle (the 'Handle' / 'URL handle' column is empty) (row skipped)" in skipped
    assert "line 8: variant ZL-M has a price of 0" in skipped
    assert "line 9: ambiguous: SKU CAP-1" in skipped and "line 10: ambiguous: SKU CAP-1" in skipped
    rows = _rows(result)
    assert rows["bad-price"]["action"] == "not importable; skipped (invalid)"
    assert rows["cap-red"]["action"] == "resolve by hand; skipped (invalid)"
    assert rows["good-two"]["action"] == "imported"
    assert dict(StockLevel.objects.values_list("variant__sku", "on_hand")) == {"G-1": 5}
    summary = json.loads(result.report_json.read_text())["summary"]
    assert summary["skipped_products"] == 4 and summary["skipped"] == result.skipped


def test_a_legacy_export_with_the_same_quirks(tmp_path):
    path = export_csv(tmp_path / "legacy.csv", [
        {"Handle": "salz", "Title": "Meersalz", "Body (HTML)": "<p>Fein.</p>\n<p>Grob.</p>", "Status": "archived",
         "Variant SKU": "'000777", "Variant Barcode": "'4012345678901", "Variant Price": "2.50"},
        {"Handle": "salz", "Image Src": "https://cdn.example.com/salz.jpg", "Image Position": "1"},
    ], header=HEADER_LEGACY)
    result = services.shopify_csv_reconcile(path=path, import_missing=True, report_base=tmp_path / "r")
    assert result.actions[outcomes.IMPORTED] == 1
    salt = Product.objects.get(handle="salz")
    assert (salt.status, salt.variants.get().sku, salt.variants.get().barcode) == ("archived", "000777", "4012345678901")
    assert ProductImage.objects.filter(product=salt).count() == 1
