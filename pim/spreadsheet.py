"""CSV that is safe to open in a spreadsheet: text cells a spreadsheet would run as a formula are escaped.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'`` (OWASP's
"CSV injection" advice), so a product title like ``=HYPERLINK(...)`` from a Shopify store stays text. Numbers
are written as they are.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell_escape(value: Any) -> Any:
    """Return ``value`` with a leading ``'`` when it is text that a spreadsheet would treat as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class SafeCSVWriter:
    """``csv.writer`` whose rows are escaped with ``csv_cell_escape``."""

    def __init__(self, stream, **kwargs) -> None:
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([csv_cell_escape(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
