"""Write services of onboarding: reconcile a store's existing Shopify catalog with the PIM, bind, import.

A reconcile reads the whole Shopify catalog first (bulk operation, or page by page as a fallback; or a
product CSV export offline), reducing each product to its ids, handle and SKUs in a spool file, so nothing
is written before every product has been read. A second pass classifies each product (see ``matching``),
writes the report row and, only when asked, acts:

- ``apply``: bind matched products (assignment's Shopify product id, each variant's Shopify variant and
  inventory item ids), creating the assignment if missing, and mark the assignment with ``ONBOARDING_MARK``
  so the first publish logs every field it overwrites as a conflict under the store's policy;
- ``import_missing``: create PIM products from Shopify-only products (variants, images, metafields, stock
  per mapped location) and bind them;
- ``adopt_shopify_handles``: for products matched by SKU only, take the Shopify handle into the PIM (never
  published products) or set it as the store's handle override (published ones, whose handle is frozen).

Everything is idempotent: a second run finds the bound products by their binding and changes nothing.

This module holds the entry points and the report around a run; the run itself is ``run``, the binding
and handle writes ``adopting``, the import's writes ``product_import``, labels and results ``outcomes``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from channels.clients import client_for_store
from channels.models import Store
from channels.shopify.exceptions import ShopifyBulkOperationError, ShopifyGraphQLError, ShopifyUserError

from . import csv_format
from .outcomes import (
    IMPORTED,
    SKIPPED,
    SOURCES,
    CsvImportError,
    OnboardingError,
    ProgressFn,
    ReconcileResult,
    RunOptions,
    action_join,
)
from .report import ReportRow, ReportWriter
from .run import ReconcileRun

logger = logging.getLogger(__name__)


def shopify_products_stream(*, client, source: str = "auto", used: list[str] | None = None) -> Iterator[dict]:
    """Yield every product of the shop with variants, metafields and media, in constant memory.

    ``source`` "bulk" runs a bulk operation, "pages" pages through products (one ``product_get`` each),
    "auto" tries the bulk operation and falls back to pages when it cannot start or fails before the first
    product. The source actually used is appended to ``used``. Raises the client's ShopifyError otherwise.
    """
    if source not in SOURCES:
        raise OnboardingError(f"Unknown source '{source}': use one of {', '.join(SOURCES)}.")
    if source in ("auto", "bulk"):
        yielded = False
        try:
            for node in client.bulk_export_products(poll_interval=_setting("ONBOARDING_BULK_POLL_SECONDS", 1.0)):
                if not yielded and used is not None:
                    used.append("bulk")
                yielded = True
                yield node
            if not yielded and used is not None:
                used.append("bulk")
            return
        except (ShopifyBulkOperationError, ShopifyUserError, ShopifyGraphQLError) as exc:
            if source == "bulk" or yielded:
                raise
            logger.warning("bulk export of %s failed (%s); reading products page by page", client.shop_domain, exc)
    if used is not None:
        used.append("pages")
    for summary in client.iter_products(page_size=50):
        node = client.product_get(product_id=summary["id"])
        if node is not None:
            yield node


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def _header(run: ReconcileRun, mode: str) -> dict[str, Any]:
    return {
        "store": run.result.store,
        "source": run.result.source,
        "mode": mode,
        "dry_run": run.options.dry_run,
        "started_at": timezone.now().isoformat(),
    }


def _mode(options: RunOptions) -> str:
    parts = [name for name, on in (("apply", options.apply), ("import-missing", options.import_missing),
                                   ("adopt-shopify-handles", options.adopt_handles)) if on]
    return ", ".join(parts) or "dry run"


def _direct_sink(run: ReconcileRun, writer: ReportWriter) -> Callable[[ReportRow, dict | None], None]:
    def sink(row: ReportRow, node: dict | None) -> None:
        run.count_actions(row)
        writer.write(row)

    return sink


def _finish(run: ReconcileRun, writer: ReportWriter, *, summary: dict[str, Any] | None = None) -> ReconcileResult:
    result = run.result
    result.elapsed_seconds = time.monotonic() - run.started
    writer.close(summary=summary or result.summary())
    result.report_csv, result.report_json = writer.csv_path, writer.json_path
    return result


# --- public services --------------------------------------------------------------------------------------


def store_reconcile(
    *,
    store: Store,
    apply: bool = False,
    import_missing: bool = False,
    adopt_shopify_handles: bool = False,
    allow_zero_price: bool = False,
    source: str = "auto",
    report_base: Path | None = None,
    client=None,
    progress: ProgressFn | None = None,
) -> ReconcileResult:
    """Match ``store``'s whole Shopify catalog to the PIM, write the report and, if asked, bind and import.

    Without ``apply``, ``import_missing`` or ``adopt_shopify_handles`` it is a dry run that writes only the
    report (``<report_base>.csv`` and ``.json``). The catalog is read completely before anything is written.
    Raises OnboardingError for an unknown source and the client's ShopifyError when Shopify cannot be read
    (nothing is written then). Per-product problems (not importable, import failed) are in the report.
    """
    options = RunOptions(apply=apply, import_missing=import_missing, adopt_handles=adopt_shopify_handles,
                       allow_zero_price=allow_zero_price)
    if source not in SOURCES:
        raise OnboardingError(f"Unknown source '{source}': use one of {', '.join(SOURCES)}.")
    client = client or client_for_store(store)
    run = ReconcileRun(store=store, options=options, report_base=report_base, progress=progress, source_label=source)
    run.client = client
    used: list[str] = []
    writer = _open_report(run, options)  # before reading Shopify: an unwritable report path fails fast
    try:
        with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
            nodes = shopify_products_stream(client=client, source=source, used=used)
            run.spool(((node, []) for node in nodes), spool)
            run.result.source = used[0] if used else source
            spool.seek(0)
            sink = _direct_sink(run, writer)
            run.decide(spool, sink)
            run.pim_only(sink)
    except BaseException:
        writer.abort()
        raise
    return _finish(run, writer)


def _check_writable(base: Path) -> None:
    try:
        base.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OnboardingError(f"Cannot write the report to {base}.csv/.json: {exc.strerror or exc}")
    if not os.access(base.parent, os.W_OK):
        raise OnboardingError(f"Cannot write the report to {base}.csv/.json: the folder is not writable")


def _open_report(run: ReconcileRun, options: RunOptions) -> ReportWriter:
    try:
        return ReportWriter(base=run.report_base, header=_header(run, _mode(options)))
    except OSError as exc:
        raise OnboardingError(f"Cannot write the report to {run.report_base}.csv/.json: {exc.strerror or exc}")


def shopify_csv_reconcile(
    *,
    path: Path,
    store: Store | None = None,
    import_missing: bool = False,
    allow_zero_price: bool = False,
    skip_invalid: bool = False,
    location_name: str = "",
    report_base: Path | None = None,
    progress: ProgressFn | None = None,
) -> ReconcileResult:
    """Match a Shopify product CSV export (legacy or 2025 headers) to the PIM and, if asked, import from it.

    ``store`` supplies its store handles (``handle_override``); without it the PIM handles are used. With
    ``import_missing`` the CSV's Shopify-only products are created in the PIM (adopted: SKU-less and shared
    SKUs are kept and flagged) in one transaction after the whole file has been validated, with the CSV
    quantities at ``location_name`` (created by the import if needed) or the store's default mapped location.
    All-or-nothing by default; with ``skip_invalid`` every valid product is imported and every invalid one
    (or bad row) is skipped and listed in ``result.skipped`` with its line and reason (a dry run marks them
    "would be skipped"). Raises OnboardingError for a file that cannot be read or is not a product CSV, and
    CsvImportError (nothing written at all, every problem with its line number; the report is still written)
    when an all-or-nothing import finds a bad row, an ambiguous product or a product it cannot import.
    """
    options = RunOptions(import_missing=import_missing, allow_zero_price=allow_zero_price, offline=True,
                       skip_invalid=skip_invalid)
    path = Path(path)
    try:
        stream = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise OnboardingError(f"Cannot open {path}: {exc.strerror or exc}")
    with stream, tempfile.TemporaryFile("w+", encoding="utf-8") as spool, \
            tempfile.TemporaryFile("w+", encoding="utf-8") as rows_spool:
        try:
            reader = csv_format.csv_products_read(stream=stream)
            first = next(reader, None)
        except csv_format.CsvFormatError as exc:
            raise OnboardingError(f"{path}: {exc}")
        run = ReconcileRun(store=store, options=options, report_base=report_base, progress=progress,
                   source_label=f"csv ({path.name})", location_name=location_name)
        _check_writable(run.report_base)

        def split(problems) -> tuple[list[str], list[str]]:
            return [str(p) for p in problems if not p.orphan], [str(p) for p in problems if p.orphan]

        def products() -> Iterator[tuple[dict | None, list[str], list[str]]]:
            if first is None:
                return
            yield first[0], *split(first[1])
            try:
                for product, problems in reader:
                    yield product, *split(problems)
            except csv_format.CsvFormatError as exc:
                raise OnboardingError(f"{path}: {exc}")

        run.spool(products(), spool)
        spool.seek(0)

        # Rows wait in a second spool until the import's outcome is known, then go to the report.
        def keep(row: ReportRow, node: dict | None) -> None:
            rows_spool.write(json.dumps({"row": row.as_dict(), "n": node}, ensure_ascii=False, default=str) + "\n")

        run.decide(spool, keep)
        problems = list(run.problems) if import_missing else []
        created: dict[int, tuple[int, str]] = {}
        if import_missing and not problems:
            rows_spool.seek(0)
            try:
                created = run.import_offline(
                    (index, ReportRow(**record["row"]), record["n"])
                    for index, record in enumerate(json.loads(line) for line in rows_spool)
                    if record["n"] is not None
                )
            except CsvImportError as exc:
                problems = exc.problems
        if not problems:
            for pid, _ in created.values():
                run.claimed.add(pid)
        rows_spool.seek(0)
        writer = _open_report(run, options)
        try:
            sink = _direct_sink(run, writer)
            for index, line in enumerate(rows_spool):
                record = json.loads(line)
                row = ReportRow(**record["row"])
                if record["n"] is not None:
                    if index in created:
                        row.pim_product_id, row.pim_handle = created[index]
                        row.action = action_join(row.action, IMPORTED)
                    elif skip_invalid and not problems:
                        row.action = action_join(row.action, SKIPPED)
                    else:
                        row.action = action_join(row.action, "not imported: the import stopped on the problems listed")
                sink(row, None)
            run.pim_only(sink)
        except BaseException:
            writer.abort()
            raise
    if problems:
        run.result.dry_run = True
        run.result.stock_levels_imported = run.result.flagged_variants = 0
        summary = run.result.summary()
        summary.update(finished=True, import_failed=True, problems=problems)
        result = _finish(run, writer, summary=summary)
        raise CsvImportError(problems, report=result)
    return _finish(run, writer)
