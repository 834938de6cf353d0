"""Build product CSV files shaped as Shopify's export writes them (issue 20).

Shopify's export (help.shopify.com/en/manual/products/import-export/using-csv) writes one row per variant,
the product's own columns only on its first row, extra rows with only the handle and image columns for images
beyond the variants, quoted multi-line cells (descriptions, multi-line metafields), product metafield columns
named ``<name in the shop's language> (product.metafields.<namespace>.<key>)``, and digit-only text (barcodes,
numeric SKUs, metafield values) with a leading apostrophe so spreadsheets keep it as text.
"""

from __future__ import annotations

import csv
from pathlib import Path

SAMPLES = Path(__file__).parent / "samples"
HEADER_2025 = next(csv.reader((SAMPLES / "product_csv_header_2025.csv").open(encoding="utf-8")))
HEADER_LEGACY = next(csv.reader((SAMPLES / "product_template_legacy.csv").open(encoding="utf-8")))


def export_csv(path: Path, rows: list[dict], *, header: list[str] = HEADER_2025,
               extra_columns: tuple[str, ...] = ()) -> Path:
    """Write ``rows`` (dicts keyed by header names; missing cells empty) under ``header`` + ``extra_columns``.

    Quoting is the csv module's minimal quoting, as Shopify's export does: a cell with a comma, a quote or a
    line break is quoted, so a multi-line cell spans several physical lines of the file.
    """
    columns = list(header) + list(extra_columns)
    unknown = {key for row in rows for key in row} - set(columns)
    assert not unknown, f"not columns of the export: {unknown}"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(column, "") for column in columns])
    return path


def physical_line_of(path: Path, text: str) -> int:
    """The 1-based physical line of the file where ``text`` first appears (to check reported line numbers)."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} is not in {path}")
