"""Shared helpers of the onboarding commands: progress bars and the printed summary."""

from __future__ import annotations

from typing import IO

from tqdm import tqdm

from .outcomes import WOULD_IMPORT, WOULD_SKIP, ReconcileResult

STAGES = {"read": "Reading products", "match": "Matching", "import": "Importing"}


class Progress:
    """One tqdm bar per stage, opened on the stage's first tick (totals are unknown while streaming)."""

    def __init__(self, *, file: IO[str], disable: bool) -> None:
        self.file = file
        self.disable = disable
        self.bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, count: int) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            for other in self.bars.values():
                other.close()
            bar = self.bars[stage] = tqdm(desc=STAGES.get(stage, stage), unit=" products", file=self.file,
                                          disable=self.disable, mininterval=0.5)
        bar.update(count)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def summary_lines(result: ReconcileResult) -> list[str]:
    """Return the human summary of a reconcile run."""
    s = result.summary()
    where = f"store {result.store}" if result.store else "the CSV"
    lines = [
        f"Read {s['shopify_products']} Shopify products ({s['shopify_variants']} variants) from {where} "
        f"via {result.source}; the PIM has {s['pim_products']} products.",
        f"  matched       {s['matched']:>7}  (by binding {s['matched_by_binding']}, by handle "
        f"{s['matched_by_handle']}, by SKU {s['matched_by_sku']})",
        f"  Shopify-only  {s['shopify_only']:>7}",
        f"  PIM-only      {s['pim_only']:>7}",
        f"  ambiguous     {s['ambiguous']:>7}",
    ]
    if s["csv_problems"]:
        lines.append(f"  CSV problems  {s['csv_problems']:>7}")
    if s["flagged_variants"]:
        lines.append(f"  flagged       {s['flagged_variants']:>7}  variant(s) with no SKU or a shared SKU, kept as "
                     "Shopify has them (admin: Products, filter 'SKU to fix')")
    would_skip = s["actions"].get(WOULD_SKIP, 0)
    if result.dry_run and result.source.startswith("csv"):
        would_import = s["actions"].get(WOULD_IMPORT, 0)
        lines.append(f"Import would create {would_import} product(s); {would_skip} product(s) have problems: "
                     + ("with --skip-invalid they would be skipped, without it the import is refused."
                        if would_skip else "none would be skipped."))
    if s["skipped_products"] or s["skipped"]:
        lines.append(f"Skipped {s['skipped_products']} product(s):")
        lines.extend(f"  {reason}" for reason in s["skipped"][:50])
        if len(s["skipped"]) > 50:
            lines.append(f"  ... and {len(s['skipped']) - 50} more (see the report)")
    if s["actions"]:
        lines.append("Actions: " + ", ".join(f"{name}: {count}" for name, count in s["actions"].items()))
    if s["stock_levels_imported"]:
        lines.append(f"Stock levels imported: {s['stock_levels_imported']}")
    lines.append(f"Report: {result.report_csv} and {result.report_json} ({s['elapsed_seconds']}s)")
    return lines
