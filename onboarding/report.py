"""The reconcile report: one row per Shopify product and per PIM-only product, as CSV and as JSON.

Rows are written as they are decided (constant memory): the CSV gets one line per row, the JSON file is
``{"store", "source", "mode", "started_at", "products": [rows...], "summary": {...}}`` with the summary
written last, once the counts are known.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pim.spreadsheet import SafeCSVWriter

REPORT_COLUMNS = (
    "classification",  # matched | shopify_only | ambiguous | pim_only
    "matched_by",  # binding | handle | sku
    "action",  # what --apply / --import-missing / --adopt-shopify-handles did or would do
    "reason",
    "shopify_product_id",
    "shopify_handle",
    "shopify_title",
    "shopify_status",
    "shopify_skus",
    "csv_line",
    "pim_product_id",
    "pim_handle",
    "pim_title",  # PIM-only rows
    "proposed_handle",
    "candidates",  # PIM product ids named by an ambiguous product
    "notes",
)
LIST_COLUMNS = ("shopify_skus", "candidates", "notes")


@dataclass
class ReportRow:
    classification: str
    reason: str = ""
    matched_by: str = ""
    action: str = ""
    shopify_product_id: str = ""
    shopify_handle: str = ""
    shopify_title: str = ""
    shopify_status: str = ""
    shopify_skus: list[str] = field(default_factory=list)
    csv_line: int | None = None
    pim_product_id: int | None = None
    pim_handle: str = ""
    pim_title: str = ""
    proposed_handle: str = ""
    candidates: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in REPORT_COLUMNS}


class ReportWriter:
    """Write report rows to ``<base>.csv`` and ``<base>.json`` as they come."""

    def __init__(self, *, base: Path, header: dict[str, Any]) -> None:
        base.parent.mkdir(parents=True, exist_ok=True)
        self.csv_path = base.with_name(base.name + ".csv")
        self.json_path = base.with_name(base.name + ".json")
        self._csv_file = self.csv_path.open("w", newline="", encoding="utf-8")
        self._csv = SafeCSVWriter(self._csv_file)  # cells from Shopify may start with '='
        self._csv.writerow(REPORT_COLUMNS)
        self._json = self.json_path.open("w", encoding="utf-8")
        head = json.dumps(header, ensure_ascii=False, default=str)
        self._json.write(head[:-1] + (', ' if header else '') + '"products": [\n')
        self._first = True
        self.rows = 0

    def write(self, row: ReportRow) -> None:
        data = row.as_dict()
        self._csv.writerow(
            "; ".join(str(x) for x in data[name]) if name in LIST_COLUMNS else ("" if data[name] is None else data[name])
            for name in REPORT_COLUMNS
        )
        self._json.write(("" if self._first else ",\n") + json.dumps(data, ensure_ascii=False, default=str))
        self._first = False
        self.rows += 1

    def close(self, *, summary: dict[str, Any]) -> None:
        self._json.write('\n], "summary": ' + json.dumps(summary, ensure_ascii=False, default=str) + "}\n")
        self._json.close()
        self._csv_file.close()

    def abort(self) -> None:
        """Close the files after a failure, leaving a valid JSON document that says the run did not finish."""
        if not self._json.closed:
            self.close(summary={"finished": False})
