"""What a reconcile says: its action labels, options, result counts and errors.

The labels are the report's ``action`` values (several joined by ``action_join``); ``ReconcileResult``
is what ``services.store_reconcile`` and ``services.shopify_csv_reconcile`` return; ``RunOptions`` are the
switches of one run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from .matching import AMBIGUOUS, BY_BINDING, BY_HANDLE, BY_SKU, MATCHED, PIM_ONLY, SHOPIFY_ONLY

SOURCES = ("auto", "bulk", "pages")
BIND_CHUNK_SIZE = 500
DEFAULT_REPORT_DIR = Path(settings.BASE_DIR) / "reports" / "onboarding"

# Report actions.
WOULD_BIND = "would bind"
BOUND = "bound"
ALREADY_BOUND = "already bound"
REPAIRED = "variant bindings repaired (product bound earlier)"
PUBLISH_OFF = "not bound: publishing to this store is off for this product"
CSV_NO_IDS = "bind with an online reconcile (a CSV has no Shopify ids)"
WOULD_IMPORT = "would import"
IMPORTED = "imported"
NOT_IMPORTABLE = "not importable"
IMPORT_FAILED = "import failed"
SKIPPED = "skipped (invalid)"
WOULD_SKIP = "would be skipped with --skip-invalid"
WOULD_ADOPT = "would adopt the Shopify handle"
ADOPTED = "Shopify handle adopted"
WOULD_OVERRIDE = "would set the store handle"
OVERRIDDEN = "store handle set"
RESOLVE = "resolve by hand"

ProgressFn = Callable[[str, int], None]


class OnboardingError(Exception):
    """A reconcile or import cannot run (bad options, unreadable file, Shopify unavailable); nothing was written."""


class CsvImportError(OnboardingError):
    """A CSV import found problems; nothing was imported. ``problems`` lists each with its line number."""

    def __init__(self, problems: list[str], *, report: ReconcileResult | None = None) -> None:
        self.problems = problems
        self.report = report
        shown = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more (see the report)" if len(problems) > 50 else ""
        super().__init__(f"The CSV import found {len(problems)} problem(s); nothing was imported:\n{shown}{more}")


@dataclass
class ReconcileResult:
    """Counts of a reconcile run and where its report is."""

    store: str
    source: str
    dry_run: bool
    classifications: Counter = field(default_factory=Counter)
    matched_by: Counter = field(default_factory=Counter)
    actions: Counter = field(default_factory=Counter)
    shopify_products: int = 0
    shopify_variants: int = 0
    pim_products: int = 0
    csv_problems: int = 0
    # --skip-invalid (CSV): every skipped product or row, as "line N: reason"; and how many products.
    skipped: list[str] = field(default_factory=list)
    skipped_products: int = 0
    flagged_variants: int = 0  # imported with a SKU the PIM's own rules would refuse (missing or shared)
    stock_levels_imported: int = 0
    elapsed_seconds: float = 0.0
    report_csv: Path | None = None
    report_json: Path | None = None

    def count(self, classification: str) -> int:
        return self.classifications.get(classification, 0)

    def summary(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "source": self.source,
            "dry_run": self.dry_run,
            "shopify_products": self.shopify_products,
            "shopify_variants": self.shopify_variants,
            "pim_products": self.pim_products,
            "matched": self.count(MATCHED),
            "matched_by_binding": self.matched_by.get(BY_BINDING, 0),
            "matched_by_handle": self.matched_by.get(BY_HANDLE, 0),
            "matched_by_sku": self.matched_by.get(BY_SKU, 0),
            "shopify_only": self.count(SHOPIFY_ONLY),
            "pim_only": self.count(PIM_ONLY),
            "ambiguous": self.count(AMBIGUOUS),
            "actions": dict(sorted(self.actions.items())),
            "csv_problems": self.csv_problems,
            "skipped_products": self.skipped_products,
            "skipped": list(self.skipped),
            "flagged_variants": self.flagged_variants,
            "stock_levels_imported": self.stock_levels_imported,
            "elapsed_seconds": round(self.elapsed_seconds, 2),
            "finished": True,
        }


@dataclass
class RunOptions:
    apply: bool = False
    import_missing: bool = False
    adopt_handles: bool = False
    allow_zero_price: bool = False
    offline: bool = False  # CSV: no Shopify ids, all-or-nothing import unless skip_invalid
    skip_invalid: bool = False  # CSV: import every valid product, report each skipped one

    @property
    def dry_run(self) -> bool:
        return not (self.apply or self.import_missing or self.adopt_handles)


def action_join(current: str, action: str) -> str:
    """Return ``current`` with ``action`` appended (the report joins a row's actions with "; ")."""
    return f"{current}; {action}" if current else action
