"""Read Shopify's product CSV export, legacy or 2025 header set, into bulk-export-shaped products.

One row per variant (and extra rows for additional images); consecutive rows with the same handle form one
product whose product-level columns come from its first row. Both header sets map onto the same internal
column names (see ``LEGACY_COLUMNS`` and ``CURRENT_COLUMNS``); headers are matched case-insensitively and
unknown columns are ignored, except product metafield columns such as ``Fabric (product.metafields.custom.fabric)``.

``csv_products_read`` streams: it holds one product's rows at a time and yields ``(product, problems)``,
where the product has the keys of a bulk-export product (``handle``, ``title``, ``variants`` with
``selectedOptions``, ``media``, ``metafields``...) plus ``_line`` (its first line) and, per variant,
``_line``, ``_quantity``, ``_weight`` and ``_cost``. Problems carry the CSV line number and the reason.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, Any

LEGACY = "legacy"
CURRENT = "2025"

# Internal name -> header (lower-cased) in each format.
LEGACY_COLUMNS = {
    "handle": "handle",
    "title": "title",
    "description": "body (html)",
    "vendor": "vendor",
    "product_type": "type",
    "tags": "tags",
    "published": "published",
    "status": "status",
    "sku": "variant sku",
    "barcode": "variant barcode",
    "option1_name": "option1 name",
    "option1_value": "option1 value",
    "option2_name": "option2 name",
    "option2_value": "option2 value",
    "option3_name": "option3 name",
    "option3_value": "option3 value",
    "price": "variant price",
    "compare_at_price": "variant compare at price",
    "cost": "cost per item",
    "inventory_tracker": "variant inventory tracker",
    "inventory_quantity": "variant inventory qty",
    "grams": "variant grams",
    "weight_unit": "variant weight unit",
    "image_src": "image src",
    "image_position": "image position",
    "image_alt": "image alt text",
    "seo_title": "seo title",
    "seo_description": "seo description",
}
CURRENT_COLUMNS = {
    "handle": "url handle",
    "title": "title",
    "description": "description",
    "vendor": "vendor",
    "product_type": "type",
    "tags": "tags",
    "published": "published on online store",
    "status": "status",
    "sku": "sku",
    "barcode": "barcode",
    "option1_name": "option1 name",
    "option1_value": "option1 value",
    "option2_name": "option2 name",
    "option2_value": "option2 value",
    "option3_name": "option3 name",
    "option3_value": "option3 value",
    "price": "price",
    "compare_at_price": "compare-at price",
    "cost": "cost per item",
    "inventory_tracker": "inventory tracker",
    "inventory_quantity": "inventory quantity",
    "grams": "weight value (grams)",
    "weight_unit": "weight unit for display",
    "image_src": "product image url",
    "image_position": "image position",
    "image_alt": "image alt text",
    "seo_title": "seo title",
    "seo_description": "seo description",
}
VARIANT_KEYS = ("sku", "barcode", "option1_value", "option2_value", "option3_value", "price",
                "compare_at_price", "cost", "inventory_quantity", "grams")
PRODUCT_KEYS = ("title", "description", "vendor", "product_type", "tags", "status", "seo_title",
                "seo_description", "option1_name", "option2_name", "option3_name")
METAFIELD_HEADER_RE = re.compile(r"\(product\.metafields\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\)\s*$")
# Grams per unit, for "Variant Weight Unit" / "Weight unit for display".
UNIT_GRAMS = {
    "g": ("GRAMS", Decimal("1")),
    "kg": ("KILOGRAMS", Decimal("1000")),
    "oz": ("OUNCES", Decimal("28.349523125")),
    "lb": ("POUNDS", Decimal("453.59237")),
}
STATUSES = {"active": "ACTIVE", "draft": "DRAFT", "archived": "ARCHIVED", "unlisted": "UNLISTED"}
TRUE_WORDS = {"true", "yes", "1"}
FALSE_WORDS = {"false", "no", "0"}


# Shopify's export writes digit-only text (barcodes, numeric SKUs, metafield values) with a leading apostrophe
# so that spreadsheets keep it as text (and its leading zeros); the apostrophe is not part of the value.
SPREADSHEET_TEXT_RE = re.compile(r"'([0-9]+)")


def shopify_text(value: str | None) -> str:
    """Return a cell's text, trimmed, without the apostrophe Shopify's export puts before digit-only text.

    Only an apostrophe followed by digits and nothing else is removed: ``'0012345`` -> ``0012345``, while
    ``'abc`` or ``it's`` are kept as they are.
    """
    text = (value or "").strip()
    match = SPREADSHEET_TEXT_RE.fullmatch(text)
    return match.group(1) if match else text


class CsvFormatError(ValueError):
    """The file is not a Shopify product CSV (no handle column, unreadable header or encoding)."""


@dataclass(frozen=True)
class CsvProblem:
    line: int
    message: str
    orphan: bool = False  # a row that belongs to no product (no handle, unreadable): never a product's fault

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class CsvLayout:
    format: str
    columns: dict[str, int]  # internal name -> column index
    metafields: list[tuple[int, str, str]]  # (column index, namespace, key)
    width: int


def csv_layout_detect(*, header: list[str]) -> CsvLayout:
    """Recognise the header row of a Shopify product CSV and map its columns.

    Raises CsvFormatError when neither ``Handle`` (legacy) nor ``URL handle`` (2025) is present, or when a
    column appears twice.
    """
    names = [h.replace("\ufeff", "").strip().lower() for h in header]
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise CsvFormatError(f"line 1: the column '{name}' appears twice in the header")
        seen.add(name)
    if "url handle" in names:
        fmt, mapping = CURRENT, CURRENT_COLUMNS
    elif "handle" in names:
        fmt, mapping = LEGACY, LEGACY_COLUMNS
    else:
        raise CsvFormatError(
            "line 1: this is not a Shopify product CSV: the header has neither 'Handle' (legacy export) nor "
            "'URL handle' (2025 export)"
        )
    columns = {key: names.index(header_name) for key, header_name in mapping.items() if header_name in names}
    if "title" not in columns:
        raise CsvFormatError("line 1: the header has no 'Title' column")
    metafields = []
    for position, raw in enumerate(header):
        match = METAFIELD_HEADER_RE.search(raw)
        if match:
            metafields.append((position, match.group(1), match.group(2)))
    return CsvLayout(fmt, columns, metafields, len(header))


def _decimal(value: str, *, label: str, line: int, problems: list[CsvProblem]) -> Decimal | None:
    text = value.strip().replace(",", "") if value else ""
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        problems.append(CsvProblem(line, f"{label} '{value}' is not a number"))
        return None
    if not number.is_finite():
        problems.append(CsvProblem(line, f"{label} '{value}' is not a number"))
        return None
    if number < 0:
        problems.append(CsvProblem(line, f"{label} '{value}' cannot be negative"))
        return None
    return number


def _integer(value: str, *, label: str, line: int, problems: list[CsvProblem]) -> int | None:
    text = (value or "").strip()
    if not text:
        return None
    if not re.fullmatch(r"[+-]?\d+", text):
        problems.append(CsvProblem(line, f"{label} '{value}' is not a whole number"))
        return None
    return int(text)


class _ProductBuilder:
    """Collects the rows of one product and turns them into a bulk-export-shaped product."""

    def __init__(self, handle: str, line: int, layout: CsvLayout) -> None:
        self.handle = handle
        self.line = line
        self.layout = layout
        self.first: dict[str, str] | None = None
        self.metafields: dict[tuple[str, str], str] = {}
        self.variants: list[dict[str, Any]] = []
        self.images: dict[str, dict[str, Any]] = {}
        self.problems: list[CsvProblem] = []

    def add(self, row: dict[str, str], raw: list[str], line: int) -> None:
        if self.first is None:
            self.first = row
            for position, namespace, key in self.layout.metafields:
                value = shopify_text(raw[position]) if position < len(raw) else ""
                if value:
                    self.metafields[(namespace, key)] = value
        elif any(row.get(k) for k in ("title",)) and row.get("title") != self.first.get("title"):
            # Shopify only fills Title on a product's first row; a different title means a second product.
            self.problems.append(
                CsvProblem(line, f"handle '{self.handle}' is reused by a product with another title")
            )
        src = row.get("image_src", "").strip()
        if src and src not in self.images:
            position = _integer(row.get("image_position", ""), label="Image position", line=line,
                                problems=self.problems)
            self.images[src] = {"src": src, "alt": row.get("image_alt", "").strip(), "position": position,
                                "order": len(self.images)}
        if any(row.get(k, "").strip() for k in VARIANT_KEYS):
            self._add_variant(row, line)

    def _add_variant(self, row: dict[str, str], line: int) -> None:
        problems = self.problems
        price = _decimal(row.get("price", ""), label="price", line=line, problems=problems)
        if price is None and not row.get("price", "").strip():
            problems.append(CsvProblem(line, "the variant has no price"))
        compare_at = _decimal(row.get("compare_at_price", ""), label="compare-at price", line=line,
                              problems=problems)
        cost = _decimal(row.get("cost", ""), label="cost per item", line=line, problems=problems)
        quantity = _integer(row.get("inventory_quantity", ""), label="inventory quantity", line=line,
                            problems=problems)
        grams = _decimal(row.get("grams", ""), label="weight (grams)", line=line, problems=problems)
        weight = None
        if grams is not None and grams > 0:
            unit_name = (row.get("weight_unit", "") or "g").strip().lower() or "g"
            if unit_name not in UNIT_GRAMS:
                problems.append(CsvProblem(line, f"weight unit '{row.get('weight_unit')}' is not one of g, kg, oz, lb"))
            else:
                unit, factor = UNIT_GRAMS[unit_name]
                weight = {"value": (grams / factor).quantize(Decimal("0.001")), "unit": unit}
        tracker = row.get("inventory_tracker", "").strip().lower()
        self.variants.append(
            {
                "sku": shopify_text(row.get("sku")),
                "barcode": shopify_text(row.get("barcode")) or None,
                "price": None if price is None else str(price),
                "compareAtPrice": None if compare_at is None else str(compare_at),
                "_values": [row.get(f"option{i}_value", "").strip() for i in (1, 2, 3)],
                "inventoryItem": {"tracked": tracker == "shopify" if "inventory_tracker" in self.layout.columns
                                  else quantity is not None},
                "_line": line,
                "_quantity": quantity,
                "_weight": weight,
                "_cost": None if cost is None else str(cost),
                "title": "",
            }
        )

    def build(self) -> dict[str, Any]:
        first = self.first or {}
        problems = self.problems
        title = first.get("title", "").strip()
        if not title:
            problems.append(CsvProblem(self.line, f"the first row of product '{self.handle}' has no Title"))
        names = [first.get(f"option{i}_name", "").strip() for i in (1, 2, 3)]
        if not self.variants:
            problems.append(CsvProblem(self.line, f"product '{self.handle}' has no variant row (SKU, price or options)"))
        status_text = first.get("status", "").strip().lower()
        if status_text:
            status = STATUSES.get(status_text)
            if status is None:
                problems.append(CsvProblem(self.line, f"status '{first.get('status')}' is not active, draft or archived"))
                status = "DRAFT"
        else:
            published = first.get("published", "").strip().lower()
            status = "ACTIVE" if published in TRUE_WORDS else "DRAFT"
        option_names = [n for n in names if n]
        if names != option_names + [""] * (3 - len(option_names)):
            problems.append(CsvProblem(self.line, "option names must be filled in order (Option1, then Option2, then Option3)"))
        options: list[dict[str, Any]] = []
        for i, name in enumerate(option_names):
            values: list[str] = []
            for v in self.variants:
                value = v["_values"][i]
                if not value:
                    problems.append(CsvProblem(v["_line"], f"the variant has no value for option '{name}'"))
                elif value not in values:
                    values.append(value)
            options.append({"name": name, "position": i + 1, "values": values})
        for v in self.variants:
            extra = [value for value in v["_values"][len(option_names):] if value]
            if extra:
                problems.append(CsvProblem(v["_line"], f"the variant has a value ('{extra[0]}') for an option the product does not name"))
            values = v.pop("_values")
            v["selectedOptions"] = [{"name": n, "value": values[i]} for i, n in enumerate(option_names)]
            v["title"] = " / ".join(values[: len(option_names)]) or "Default Title"
        for position, v in enumerate(self.variants, start=1):
            v["position"] = position
        images = sorted(self.images.values(), key=lambda i: (i["position"] is None, i["position"] or 0, i["order"]))
        return {
            "id": "",
            "handle": self.handle,
            "title": title,
            "descriptionHtml": first.get("description", ""),
            "vendor": first.get("vendor", "").strip(),
            "productType": first.get("product_type", "").strip(),
            "tags": [t.strip() for t in first.get("tags", "").split(",") if t.strip()],
            "status": status,
            "seo": {"title": first.get("seo_title", "").strip(), "description": first.get("seo_description", "").strip()},
            "options": options,
            "variants": self.variants,
            "media": [
                {"mediaContentType": "IMAGE", "alt": i["alt"], "image": {"url": i["src"], "altText": i["alt"]}}
                for i in images
            ],
            "metafields": [
                {"namespace": ns, "key": key, "type": "multi_line_text_field" if "\n" in value else "single_line_text_field",
                 "value": value}
                for (ns, key), value in self.metafields.items()
            ],
            "_line": self.line,
        }


def csv_products_read(*, stream: IO[str]) -> Iterator[tuple[dict[str, Any] | None, list[CsvProblem]]]:
    """Yield each product of a Shopify product CSV with the problems found in its rows.

    ``stream`` is a text stream opened with ``newline=""``. Raises CsvFormatError for a file that is not a
    Shopify product CSV or not UTF-8 text; problems in rows (a missing handle, a price that is not a number, a row wider than
    the header...) are returned with their line numbers instead, so every bad row is reported (rows without a
handle before the first product come with a product of None).
    """
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFormatError("the file is empty")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"the file is not UTF-8 text ({exc.reason}); export it again from Shopify as CSV")
    except csv.Error as exc:
        raise CsvFormatError(f"line 1: cannot read the header: {exc}")
    layout = csv_layout_detect(header=header)
    current: _ProductBuilder | None = None
    orphans: list[CsvProblem] = []
    line_end = reader.line_num
    while True:
        start = line_end + 1
        try:
            raw = next(reader)
        except StopIteration:
            break
        except UnicodeDecodeError as exc:
            raise CsvFormatError(
                f"the file is not UTF-8 text ({exc.reason} after line {line_end}); export it again from Shopify as CSV"
            )
        except csv.Error as exc:
            orphans.append(CsvProblem(start, f"unreadable row: {exc}", orphan=True))
            break
        line_end = reader.line_num
        if not any(cell.strip() for cell in raw):
            continue
        if len(raw) > layout.width and any(cell.strip() for cell in raw[layout.width:]):
            problem = CsvProblem(start, f"the row has {len(raw)} cells but the header has {layout.width} columns")
            if current is not None:
                current.problems.append(problem)
            else:
                orphans.append(problem)
            continue
        row = {key: (raw[i] if i < len(raw) else "") for key, i in layout.columns.items()}
        handle = shopify_text(row.get("handle"))
        if not handle:
            orphans.append(
                CsvProblem(start, "the row has no handle (the 'Handle' / 'URL handle' column is empty)", orphan=True)
            )
            continue
        if current is None or handle != current.handle:
            if current is not None:
                product = current.build()
                yield product, current.problems + orphans
                orphans = []
            current = _ProductBuilder(handle, start, layout)
        current.add(row, raw, start)
    if current is not None:
        product = current.build()
        yield product, current.problems + orphans
    elif orphans:
        yield None, orphans
