"""Write products in Shopify's product CSV format (the 2025 header Shopify's export writes), for a merchant who
imports them into a store by hand or checks them in a spreadsheet.

One row per variant; the first row of a product carries the product's own columns and its first image, further
images go on rows of their own (as Shopify's export does). The PIM's attributes become
``Name (product.metafields.<namespace>.<key>)`` columns. Text a spreadsheet would run as a formula is escaped
(``pim.spreadsheet``). Onboarding's CSV import (``onboarding.csv_format``) reads the file back to the same products.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from pim.models import Product
from pim.spreadsheet import csv_cell_escape

# Shopify's 2025 product CSV header (../shared/shopify/samples/product_csv_header_2025.csv), without the
# Google Shopping and category-metafield columns the PIM has no data for.
HEADER = (
    "Title", "URL handle", "Description", "Vendor", "Product category", "Type", "Tags",
    "Published on online store", "Status", "SKU", "Barcode", "Option1 name", "Option1 value", "Option1 Linked To",
    "Option2 name", "Option2 value", "Option2 Linked To", "Option3 name", "Option3 value", "Option3 Linked To",
    "Price", "Compare-at price", "Cost per item", "Charge tax", "Tax code", "Unit price total measure",
    "Unit price total measure unit", "Unit price base measure", "Unit price base measure unit", "Inventory tracker",
    "Inventory quantity", "Continue selling when out of stock", "Weight value (grams)", "Weight unit for display",
    "Requires shipping", "Fulfillment service", "Product image URL", "Image position", "Image alt text",
    "Variant image URL", "Gift card", "SEO title", "SEO description",
)
GRAMS = {"GRAMS": Decimal("1"), "KILOGRAMS": Decimal("1000"), "OUNCES": Decimal("28.349523125"),
         "POUNDS": Decimal("453.59237")}
UNIT_DISPLAY = {"GRAMS": "g", "KILOGRAMS": "kg", "OUNCES": "oz", "POUNDS": "lb"}


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _grams(weight: Decimal | None, unit: str) -> str:
    if weight is None:
        return ""
    return str((weight * GRAMS.get(unit, Decimal("1"))).quantize(Decimal("1")))


def products_csv_rows(*, products: Iterable[Product]) -> Iterator[list[str]]:
    """Yield the header, then the rows of each product (prefetch variants, images and attributes for speed)."""
    products = list(products)
    keys = sorted({(a.namespace, a.key) for p in products for a in p.attributes.all()})
    return _rows(products, keys)


def _rows(products: list[Product], keys: list[tuple[str, str]]) -> Iterator[list[str]]:
    yield [*HEADER, *(f"{key.replace('_', ' ').capitalize()} (product.metafields.{ns}.{key})" for ns, key in keys)]
    for product in products:
        variants = list(product.variants.all())
        images = list(product.images.all())
        attributes = {(a.namespace, a.key): a.value for a in product.attributes.all()}
        rows = max(len(variants), len(images), 1)
        for index in range(rows):
            row = dict.fromkeys(HEADER, "")
            row["URL handle"] = product.handle
            if index == 0:
                row.update({
                    "Title": product.title, "Description": product.description_html, "Vendor": product.vendor,
                    "Type": product.product_type, "Tags": ", ".join(product.tag_list),
                    "Published on online store": "TRUE" if product.status == Product.Status.ACTIVE else "FALSE",
                    "Status": product.status, "Option1 name": product.option1_name,
                    "Option2 name": product.option2_name, "Option3 name": product.option3_name,
                    "Gift card": "FALSE", "SEO title": product.seo_title, "SEO description": product.seo_description,
                })
                if not product.has_options:
                    row["Option1 name"] = "Title"
            if index < len(variants):
                v = variants[index]
                row.update({
                    "SKU": v.sku, "Barcode": v.barcode,
                    "Option1 value": v.option1 if product.has_options else "Default Title",
                    "Option2 value": v.option2, "Option3 value": v.option3,
                    "Price": _money(v.price), "Compare-at price": _money(v.compare_at_price),
                    "Cost per item": _money(v.cost), "Charge tax": "TRUE",
                    "Inventory tracker": "shopify" if v.inventory_tracked else "",
                    "Continue selling when out of stock": "DENY",
                    "Weight value (grams)": _grams(v.weight, v.weight_unit),
                    "Weight unit for display": UNIT_DISPLAY.get(v.weight_unit, "kg"),
                    "Requires shipping": "TRUE", "Fulfillment service": "manual",
                })
            if index < len(images):
                image = images[index]
                row.update({"Product image URL": image.src, "Image position": str(index + 1),
                            "Image alt text": image.alt})
            extra = [attributes.get(k, "") if index == 0 else "" for k in keys]
            yield [csv_cell_escape(row[h]) for h in HEADER] + [csv_cell_escape(x) for x in extra]
