"""Exports: CSV cells a spreadsheet would run as a formula are escaped (the onboarding report)."""

import csv

import pytest

from onboarding.report import ReportRow, ReportWriter
from pim.spreadsheet import csv_cell_escape

DANGEROUS = ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tTab",
             "\rCR"]


@pytest.mark.parametrize("value", DANGEROUS)
def test_formula_cells_are_escaped(value):
    assert csv_cell_escape(value) == "'" + value


def test_plain_values_are_kept():
    assert csv_cell_escape("Tee shirt") == "Tee shirt"
    assert csv_cell_escape(-5) == -5  # numbers stay numbers
    assert csv_cell_escape(None) is None


def test_onboarding_report_csv_escapes_shopify_text(tmp_path):
    writer = ReportWriter(base=tmp_path / "report", header={"store": "x"})
    writer.write(ReportRow(classification="shopify_only", shopify_title=DANGEROUS[0], shopify_handle="@handle",
                           shopify_skus=["=SKU", "OK"], notes=["-note"], csv_line=12))
    writer.close(summary={})
    with open(tmp_path / "report.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    row = rows[0]
    assert row["shopify_title"] == "'" + DANGEROUS[0]
    assert row["shopify_handle"] == "'@handle"
    assert row["shopify_skus"] == "'=SKU; OK"
    assert row["notes"] == "'-note"
    assert row["classification"] == "shopify_only"
    assert all(not value.startswith(("=", "+", "-", "@", "\t", "\r")) for value in row.values())
