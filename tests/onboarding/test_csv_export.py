"""Export to Shopify's product CSV: the 2025 header, one row per variant, images on their own rows, attributes as
metafield columns, formula text escaped; the import reads the file back to the same products; the admin action."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from channels.csv_export import HEADER, products_csv_rows
from onboarding.csv_format import csv_products_read
from pim import services
from pim.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def products():
    hoodie = services.product_create(
        title="Harbor Hoodie", option1_name="Size", vendor="Northwind", product_type="Hoodies", tags="winter, new",
        status=Product.Status.ACTIVE, description_html="<p>Warm</p>",
        variants=[{"sku": "HOOD-S", "option1": "S", "price": Decimal("59"), "barcode": "0012345",
                   "weight": Decimal("0.5"), "weight_unit": "KILOGRAMS"},
                  {"sku": "HOOD-M", "option1": "M", "price": Decimal("61.5"), "compare_at_price": Decimal("70")}],
        images=[{"src": "https://cdn.example.com/a.jpg", "alt": "Front"},
                {"src": "https://cdn.example.com/b.jpg", "alt": "Back"},
                {"src": "https://cdn.example.com/c.jpg", "alt": "Side"}],
        attributes=[{"namespace": "pim", "key": "material", "value": "Cotton"}])
    mug = services.product_create(title="=HYPERLINK(evil)", variants=[{"sku": "MUG", "price": Decimal("16")}])
    return hoodie, mug


def export(products) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    qs = Product.objects.filter(pk__in=[p.pk for p in products]).order_by("pk").prefetch_related(
        "variants", "images", "attributes")
    for row in products_csv_rows(products=qs):
        writer.writerow(row)
    return out.getvalue()


def test_rows_as_shopify_writes_them(products):
    rows = list(csv.DictReader(io.StringIO(export(products))))
    assert list(rows[0])[: len(HEADER)] == list(HEADER)
    assert "Material (product.metafields.pim.material)" in rows[0]
    hoodie = [r for r in rows if r["URL handle"] == "harbor-hoodie"]
    assert len(hoodie) == 3  # two variants, a third image on a row of its own
    assert hoodie[0]["Title"] == "Harbor Hoodie" and hoodie[1]["Title"] == "" and hoodie[2]["SKU"] == ""
    assert [r["Product image URL"] for r in hoodie] == [f"https://cdn.example.com/{x}.jpg" for x in "abc"]
    assert hoodie[0]["Weight value (grams)"] == "500" and hoodie[1]["Compare-at price"] == "70.00"
    assert hoodie[0]["Material (product.metafields.pim.material)"] == "Cotton"
    mug = next(r for r in rows if r["SKU"] == "MUG")
    assert mug["Title"] == "'=HYPERLINK(evil)"  # a spreadsheet would run it otherwise
    assert mug["Option1 name"] == "Title" and mug["Option1 value"] == "Default Title"


def test_the_import_reads_the_export_back_to_the_same_products(products):
    read = [p for p, problems in csv_products_read(stream=io.StringIO(export(products), newline="")) if p]
    by_handle = {p["handle"]: p for p in read}
    hoodie = by_handle["harbor-hoodie"]
    assert hoodie["title"] == "Harbor Hoodie" and hoodie["vendor"] == "Northwind"
    assert [(v["sku"], Decimal(v["price"])) for v in hoodie["variants"]] == [("HOOD-S", Decimal("59.00")),
                                                                     ("HOOD-M", Decimal("61.50"))]
    assert hoodie["variants"][0]["barcode"] == "0012345"
    assert len(hoodie["media"]) == 3 and hoodie["tags"] == ["winter", "new"]


def test_admin_action_confirms_then_downloads(client, django_user_model, products):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    url = reverse("admin:pim_product_changelist")
    ids = [p.pk for p in products]
    confirm = client.post(url, {"action": "export_shopify_csv", "_selected_action": ids})
    assert confirm.status_code == 200 and "Shopify&#x27;s CSV format" in confirm.content.decode()
    response = client.post(url, {"action": "export_shopify_csv", "_selected_action": ids, "confirmed": "yes"})
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("Title,URL handle,") and "HOOD-M" in body and "MUG" in body
