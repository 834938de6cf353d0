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
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from slugify import slugify

from channels.binder import ONBOARDING_MARK, bind_adopted
from channels.clients import client_for_store
from channels.models import ChannelAssignment, Store, StoreMetafieldMapping, VariantBinding
from channels.shopify.exceptions import (
    ShopifyBulkOperationError,
    ShopifyError,
    ShopifyGraphQLError,
    ShopifyUserError,
)
from channels.shopify.ids import inventory_item_gid, location_gid
from pim import services as pim_services
from pim.models import Product, Variant
from pim.validators import validate_handle

from . import csv_format
from .importing import ImportPlan, import_plan_build
from .matching import (
    AMBIGUOUS,
    BY_BINDING,
    BY_HANDLE,
    BY_SKU,
    MATCHED,
    PIM_ONLY,
    SHOPIFY_ONLY,
    Decision,
    PimIndex,
    ShopifyProduct,
    ShopifyTally,
    ShopifyVariant,
    pim_index_build,
    product_classify,
    shopify_product_from_node,
)
from .report import ReportRow, ReportWriter

logger = logging.getLogger(__name__)

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
class _Options:
    apply: bool = False
    import_missing: bool = False
    adopt_handles: bool = False
    allow_zero_price: bool = False
    offline: bool = False  # CSV: no Shopify ids, all-or-nothing import unless skip_invalid
    skip_invalid: bool = False  # CSV: import every valid product, report each skipped one

    @property
    def dry_run(self) -> bool:
        return not (self.apply or self.import_missing or self.adopt_handles)


# --- reading the Shopify side ---------------------------------------------------------------------------


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


# --- the run ----------------------------------------------------------------------------------------------


class _Run:
    """One reconcile: pass 1 spools the Shopify side, pass 2 classifies, reports and acts."""

    def __init__(self, *, store: Store | None, options: _Options, report_base: Path | None,
                 progress: ProgressFn | None, source_label: str, location_name: str = "") -> None:
        self.store = store
        self.options = options
        self.progress = progress or (lambda stage, n: None)
        self.pim: PimIndex = pim_index_build(store=store)
        self.tally = ShopifyTally()
        self.claimed: set[int] = set()
        self.result = ReconcileResult(
            store=store.name if store else "", source=source_label, dry_run=options.dry_run,
            pim_products=self.pim.product_count,
        )
        self.problems: list[str] = []  # CSV import: everything that blocks it
        self.pending_binds: list[tuple[ReportRow, ShopifyProduct, int]] = []
        self.mappings = self._reverse_mappings()
        self.location_to_create = ""  # CSV import: made inside the import's transaction, never before
        self.stock_locations = self._stock_locations(location_name)
        self.client = None
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        name = slugify(store.name if store else "csv") or "store"
        self.report_base = report_base or DEFAULT_REPORT_DIR / f"reconcile-{name}-{stamp}"
        self.started = time.monotonic()

    # -- setup -------------------------------------------------------------------------------------------
    def _reverse_mappings(self) -> dict[tuple[str, str], tuple[str, str]]:
        if self.store is None:
            return {}
        return {
            (m.metafield_namespace, m.metafield_key): (m.attribute_namespace, m.attribute_key)
            for m in StoreMetafieldMapping.objects.filter(store=self.store)
        }

    def _stock_locations(self, location_name: str) -> list[tuple[Any, str]]:
        """Return (PIM location, Shopify location id) pairs stock is imported for."""
        try:
            from inventory.models import Location, StoreLocation
        except ImportError:  # inventory not installed: stock is not imported, and the report says so
            return []
        if self.options.offline:
            existing = [(loc, "") for loc in Location.objects.filter(name__iexact=" ".join(location_name.split()))[:1]]
            if location_name and self.options.import_missing and not existing:
                # Created by the import itself (``import_offline``), so a refused import leaves no location.
                self.location_to_create = location_name
                return []
            if location_name:  # a dry run creates nothing, not even the location
                return existing
            if self.store is not None:
                default = StoreLocation.objects.filter(store=self.store, is_default=True).select_related("location")
                return [(m.location, m.shopify_location_id) for m in default]
            return []
        if self.store is None:
            return []
        mappings = StoreLocation.objects.filter(store=self.store, location__is_active=True).select_related("location")
        return [(m.location, m.shopify_location_id) for m in mappings]

    # -- pass 1 ------------------------------------------------------------------------------------------
    def spool(self, nodes: Iterator[tuple[dict | None, list[str]]], spool) -> None:
        """Spool each (node, problems) or (node, problems, orphan problems) in compact form."""
        for node, problems, *rest in nodes:
            record: dict[str, Any] = {"x": problems, "o": rest[0] if rest else []}
            if node:
                product = shopify_product_from_node(node)
                self.tally.add(product)
                record["p"] = product.to_json()
                if self._may_import(product):
                    record["n"] = node
            spool.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            self.progress("read", 1)
        self.result.shopify_products = self.tally.products
        self.result.shopify_variants = self.tally.variants

    def _may_import(self, product: ShopifyProduct) -> bool:
        pim = self.pim
        if product.id and product.id in pim.bound:
            return False
        if product.handle in pim.by_handle or product.handle in pim.duplicate_handles:
            return False
        return not any(s in pim.sku_owner for s in product.skus)

    # -- pass 2 ------------------------------------------------------------------------------------------
    def decide(self, spool, sink: Callable[[ReportRow, dict | None], None]) -> None:
        """Classify every spooled product, act on it, and hand its row (with the product to import, for the
        CSV import) to ``sink``."""
        self.sink = sink
        for line in spool:
            record = json.loads(line)
            problems = [str(p) for p in record.get("x") or []]
            orphans = [str(p) for p in record.get("o") or []]
            self.result.csv_problems += len(problems) + len(orphans)
            if self.options.skip_invalid and self.options.import_missing:
                # Rows of no product are skipped and reported; a product's own problems skip that product only.
                self.result.skipped.extend(f"{p} (row skipped)" for p in orphans)
            else:  # all-or-nothing: any bad row refuses the whole file
                self.problems.extend(problems + orphans)
            if "p" not in record:
                continue
            product = ShopifyProduct.from_json(record["p"])
            decision = product_classify(product=product, pim=self.pim, tally=self.tally)
            self.claimed.update(decision.claimed)
            row = self._row(product, decision)
            row.notes.extend(problems + orphans)
            self.result.classifications[decision.classification] += 1
            deferred = False
            to_import = None
            if decision.classification == MATCHED:
                self.result.matched_by[decision.matched_by] += 1
                if decision.matched_by == BY_SKU:
                    self._handle_proposal(row, decision)
                deferred = self._bind(row, product, decision)
            elif decision.classification == SHOPIFY_ONLY:
                to_import = self._import(row, product, record.get("n"), csv_problems=problems)
            else:
                row.action = RESOLVE
                if self.options.offline and self.options.import_missing:
                    reason = f"{_where(product)}: ambiguous: {decision.reason}"
                    if self.options.skip_invalid:
                        self._skip(row, [reason])
                    else:
                        self.problems.append(reason)
            if not deferred:
                sink(row, to_import)
            self.progress("match", 1)
        self._flush_binds()

    def count_actions(self, row: ReportRow) -> None:
        for action in filter(None, row.action.split("; ")):
            self.result.actions[action] += 1

    def _row(self, product: ShopifyProduct, decision: Decision) -> ReportRow:
        pid = decision.pim_product_id
        return ReportRow(
            classification=decision.classification,
            reason=decision.reason,
            matched_by=decision.matched_by,
            shopify_product_id=product.id,
            shopify_handle=product.handle,
            shopify_title=product.title,
            shopify_status=product.status,
            shopify_skus=product.skus,
            csv_line=product.line,
            pim_product_id=pid,
            pim_handle=self.pim.store_handle.get(pid, "") if pid is not None else "",
            proposed_handle=decision.proposed_handle,
            candidates=list(decision.candidates) if decision.classification == AMBIGUOUS else [],
        )

    # -- binding -----------------------------------------------------------------------------------------
    def _bind(self, row: ReportRow, product: ShopifyProduct, decision: Decision) -> bool:
        """Bind (chunked, so the row is written later: returns True) or say what --apply would do."""
        pid = decision.pim_product_id
        assert pid is not None
        if self.options.offline:
            row.action = _join(row.action, CSV_NO_IDS)
            return False
        if not self.options.apply:
            if decision.matched_by == BY_BINDING:
                action = ALREADY_BOUND
            elif pid in self.pim.publish_off:
                action = PUBLISH_OFF
            else:
                action = WOULD_BIND
            row.action = _join(row.action, action)
            return False
        self.pending_binds.append((row, product, pid))
        if len(self.pending_binds) >= BIND_CHUNK_SIZE:
            self._flush_binds()
        return True

    def _flush_binds(self) -> None:
        if not self.pending_binds:
            return
        pending, self.pending_binds = self.pending_binds, []
        actions = bindings_write(store=self.store, items=[(p, pid) for _, p, pid in pending])
        for (row, _, _), action in zip(pending, actions, strict=True):
            row.action = _join(row.action, action)
            self.sink(row, None)

    # -- handles -----------------------------------------------------------------------------------------
    def _handle_proposal(self, row: ReportRow, decision: Decision) -> None:
        pid = decision.pim_product_id
        new = decision.proposed_handle
        pim = self.pim
        owner = pim.pim_handle.get(new)
        try:  # a UTF-8 Shopify handle can be the store's handle, not a PIM product's own
            validate_handle(new)
            fits = True
        except ValidationError:
            fits = False
        can_change_pim = fits and pid not in pim.published and pid not in pim.overridden and owner in (None, pid)
        if can_change_pim:
            row.notes.append(f"proposal: change the PIM handle to '{new}' (the product was never published)")
        else:
            why = ("the Shopify handle does not fit the PIM's own handle rules (a-z, 0-9, hyphens)" if not fits
                   else "the product has been published, so its PIM handle is frozen" if pid in pim.published
                   else f"the PIM handle '{new}' belongs to product {owner}" if owner not in (None, pid)
                   else "the product already has a store handle")
            row.notes.append(f"proposal: set the store handle to '{new}' ({why})")
        if self.options.offline or not self.options.adopt_handles:
            row.action = _join(row.action, WOULD_ADOPT if can_change_pim else WOULD_OVERRIDE)
            return
        # The index is not re-keyed: every decision of this run is made against the catalog as it was when
        # the run started (the next run matches these products by handle).
        try:
            if can_change_pim:
                handle_adopt(product_id=pid, handle=new, store=self.store)
                pim.pim_handle[new] = pid
                action = ADOPTED
            else:
                store_handle_set(product_id=pid, handle=new, store=self.store)
                action = OVERRIDDEN
        except ValidationError as exc:
            row.notes.append(f"the handle was not changed: {' '.join(exc.messages)}")
            return
        row.pim_handle = new
        row.action = _join(row.action, action)

    # -- importing ---------------------------------------------------------------------------------------
    def _skip(self, row: ReportRow, reasons: list[str]) -> None:
        """--skip-invalid: leave this product out of the import and report it with its lines and reasons."""
        row.action = _join(row.action, SKIPPED)
        self.result.skipped_products += 1
        self.result.skipped.extend(reasons)

    def _import(self, row: ReportRow, product: ShopifyProduct, node: dict | None,
                csv_problems: list[str] = ()) -> dict | None:
        """Import a Shopify-only product (online), or validate it; return the node the CSV import will create.

        A product of a CSV with problems in its own rows is not importable (with ``skip_invalid`` it is skipped,
        otherwise its problems refuse the whole file).
        """
        if node is None:  # cannot happen: Shopify-only products are always spooled in full
            row.action = _join(row.action, NOT_IMPORTABLE)
            row.notes.append("the product data was not kept")
            return None
        plan = self._plan(node)
        row.notes.extend(plan.notes)
        for sku in dict.fromkeys(s for s in product.skus if s in self.tally.duplicate_skus):
            others = [label for label in self.tally.duplicate_skus[sku] if label != product.label]
            row.notes.append(f"SKU {sku} is also on Shopify product {', '.join(others)}: imported as is and "
                             "flagged for a manager (its stock is matched by its Shopify variant id)")
            if product.skus.count(sku) == 1:  # repeated within the product: the plan flagged it already
                plan.flagged += 1
        reasons = [_problem_text(product, p) for p in plan.problems]
        if reasons or csv_problems:
            row.action = _join(row.action, NOT_IMPORTABLE)
            row.notes.extend(f"not importable: {p}" for p in reasons)
            if self.options.offline and self.options.import_missing:
                if self.options.skip_invalid:
                    self._skip(row, list(csv_problems) + reasons)
                else:
                    self.problems.extend(reasons)  # its row problems are already listed
            elif self.options.offline:
                row.action = _join(row.action, WOULD_SKIP)
            return None
        if not self.options.import_missing:
            row.action = _join(row.action, WOULD_IMPORT)
            self.result.flagged_variants += plan.flagged
            return None
        if self.options.offline:
            node["_flagged"] = plan.flagged  # counted when the CSV import creates it
            return node  # created by the CSV import's single transaction once the whole file is valid
        self._import_online(row, product, plan)
        return None

    def _plan(self, node: dict) -> ImportPlan:
        return import_plan_build(node=node, allow_zero_price=self.options.allow_zero_price,
                                 taken_handles=self.pim.pim_handle, mappings=self.mappings)

    def _import_online(self, row: ReportRow, product: ShopifyProduct, plan: ImportPlan) -> None:
        levels: dict[tuple[str, str], int] = {}
        if self.stock_locations:
            items = [item for _, item in plan.shopify_ids if item]
            locations = [loc for _, loc in self.stock_locations]
            try:
                for level in self.client.inventory_levels(
                    inventory_item_ids=[inventory_item_gid(i) for i in items],
                    location_ids=[location_gid(loc) for loc in locations],
                ):
                    if level.get("stocked"):
                        key = (_tail(level["inventoryItemId"]), _tail(level["locationId"]))
                        levels[key] = int((level.get("quantities") or {}).get("available") or 0)
            except ShopifyError as exc:  # not imported: importing without its stock could not be redone later
                row.action = _join(row.action, IMPORT_FAILED)
                row.notes.append(f"import failed: could not read its stock from Shopify ({exc}); run again")
                return
        else:
            row.notes.append("stock was not imported: no Shopify location of this store is mapped to a PIM location")
        try:
            created, stocked = product_import(
                plan=plan, store=self.store, shopify_product_id=product.id, levels=levels,
                locations=self.stock_locations, reason=f"Imported from Shopify store {self.store.name}",
            )
        except (ValidationError, ValueError) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            row.action = _join(row.action, IMPORT_FAILED)
            row.notes.extend(f"import failed: {m}" for m in messages)
            return
        self.result.stock_levels_imported += stocked
        self.result.flagged_variants += plan.flagged
        self.claimed.add(created.pk)
        self.pim.pim_handle[created.handle] = created.pk
        row.pim_product_id = created.pk
        row.pim_handle = created.handle
        row.action = _join(row.action, IMPORTED)

    def import_offline(self, rows) -> dict[int, tuple[int, str]]:
        """Create the products of the CSV import in one transaction; return index -> (PIM product id, handle).

        ``rows`` yields (index, row, node). All-or-nothing by default: any failure rolls all of it back (the
        stock location too) and raises CsvImportError. With ``skip_invalid`` a product the PIM refuses is
        rolled back alone (its savepoint) and reported as skipped.
        """
        created_ids: dict[int, tuple[int, str]] = {}
        stocked = 0
        with transaction.atomic():
            for index, row, node in rows:
                plan = self._plan(node)
                try:
                    with transaction.atomic():
                        locations = self._offline_locations() if any(q is not None for q in plan.quantities) else []
                        created, count = product_import(
                            plan=plan, store=None, shopify_product_id="", reason="Imported from a Shopify product CSV",
                            levels={}, locations=locations, from_csv=True,
                        )
                except (ValidationError, ValueError) as exc:
                    if self.location_to_create and self.stock_locations:  # rolled back with the savepoint
                        self.stock_locations = []
                    messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
                    where = f"line {row.csv_line}" if row.csv_line else f"'{row.shopify_handle}'"
                    reason = f"{where}: product '{row.shopify_handle}': {' '.join(messages)}"
                    if not self.options.skip_invalid:
                        raise CsvImportError([reason])
                    self.result.skipped_products += 1
                    self.result.skipped.append(reason)
                    continue
                stocked += count
                self.result.flagged_variants += node.get("_flagged", plan.flagged)
                self.pim.pim_handle[created.handle] = created.pk
                created_ids[index] = (created.pk, created.handle)
                self.progress("import", 1)
        self.result.stock_levels_imported = stocked
        return created_ids

    def _offline_locations(self) -> list[tuple[Any, str]]:
        """The CSV quantities' location; the one named by ``--location`` is created here, inside the import."""
        if self.location_to_create and not self.stock_locations:
            from inventory.locations import location_create

            self.stock_locations = [(location_create(name=self.location_to_create), "")]
        return self.stock_locations

    # -- PIM-only ----------------------------------------------------------------------------------------
    def pim_only(self, sink: Callable[[ReportRow, dict | None], None]) -> None:
        rows = Product.objects.values_list("id", "title").order_by("id")
        for pid, title in rows.iterator(chunk_size=5000):
            if pid in self.claimed or pid not in self.pim.store_handle:
                continue
            notes = []
            if pid in self.pim.bound_to:
                notes.append(f"bound to Shopify product {self.pim.bound_to[pid]}, which is not in the store")
            self.result.classifications[PIM_ONLY] += 1
            sink(ReportRow(
                classification=PIM_ONLY,
                reason="no Shopify product has this handle or any of its SKUs",
                pim_product_id=pid,
                pim_handle=self.pim.store_handle[pid],
                pim_title=title,
                notes=notes,
            ), None)


def _tail(gid: str) -> str:
    return str(gid).rsplit("/", 1)[-1]


def _join(current: str, action: str) -> str:
    return f"{current}; {action}" if current else action


def _where(product: ShopifyProduct) -> str:
    return f"line {product.line}" if product.line else f"'{product.handle}'"


def _problem_text(product: ShopifyProduct, problem) -> str:
    """Name the line of the variant a problem is about (else the product's first line, or its handle)."""
    line = getattr(problem, "line", None) or product.line
    return f"line {line}: {problem}" if line else f"'{product.handle}': {problem}"


def _header(run: _Run, mode: str) -> dict[str, Any]:
    return {
        "store": run.result.store,
        "source": run.result.source,
        "mode": mode,
        "dry_run": run.options.dry_run,
        "started_at": timezone.now().isoformat(),
    }


def _mode(options: _Options) -> str:
    parts = [name for name, on in (("apply", options.apply), ("import-missing", options.import_missing),
                                   ("adopt-shopify-handles", options.adopt_handles)) if on]
    return ", ".join(parts) or "dry run"


def _direct_sink(run: _Run, writer: ReportWriter) -> Callable[[ReportRow, dict | None], None]:
    def sink(row: ReportRow, node: dict | None) -> None:
        run.count_actions(row)
        writer.write(row)

    return sink


def _finish(run: _Run, writer: ReportWriter, *, summary: dict[str, Any] | None = None) -> ReconcileResult:
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
    options = _Options(apply=apply, import_missing=import_missing, adopt_handles=adopt_shopify_handles,
                       allow_zero_price=allow_zero_price)
    if source not in SOURCES:
        raise OnboardingError(f"Unknown source '{source}': use one of {', '.join(SOURCES)}.")
    client = client or client_for_store(store)
    run = _Run(store=store, options=options, report_base=report_base, progress=progress, source_label=source)
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


def _open_report(run: _Run, options: _Options) -> ReportWriter:
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
    options = _Options(import_missing=import_missing, allow_zero_price=allow_zero_price, offline=True,
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
        run = _Run(store=store, options=options, report_base=report_base, progress=progress,
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
                        row.action = _join(row.action, IMPORTED)
                    elif skip_invalid and not problems:
                        row.action = _join(row.action, SKIPPED)
                    else:
                        row.action = _join(row.action, "not imported: the import stopped on the problems listed")
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


@transaction.atomic
def bindings_write(*, store: Store, items: list[tuple[ShopifyProduct, int]]) -> list[str]:
    """Bind each (Shopify product, PIM product id) pair in ``store`` and return what was done for each.

    Creates the assignment when missing (publish on), sets its Shopify product id and ``ONBOARDING_MARK``
    (so the first publish logs every overwritten field as a conflict) unless it was already bound to that
    product, and writes each variant's Shopify variant and inventory item ids (variants paired by
    ``variant_pairs``: SKU, else option values). Assignments with
    publishing turned off are left alone. Idempotent: pairs already bound as given change nothing.
    """
    pids = [pid for _, pid in items]
    assignments = {
        a.product_id: a
        for a in ChannelAssignment.objects.select_for_update().filter(store=store, product_id__in=pids)
    }
    pim_variants: dict[int, list[tuple[int, str, tuple[str, ...]]]] = {}
    rows = Variant.objects.filter(product_id__in=pids).values_list("id", "product_id", "sku", "option1", "option2",
                                                                   "option3")
    for vid, pid, sku, *options in rows:
        pim_variants.setdefault(pid, []).append((vid, sku.strip(), tuple(o for o in options if o)))
    all_vids = [vid for variants in pim_variants.values() for vid, _, _ in variants]
    current = {
        variant_id: (shopify_vid, item)
        for variant_id, shopify_vid, item in VariantBinding.objects.filter(store=store, variant_id__in=all_vids)
        .values_list("variant_id", "shopify_variant_id", "shopify_inventory_item_id")
    }
    shopify_vids = [v.id for product, _ in items for v in product.variants if v.id]
    holders = dict(
        VariantBinding.objects.filter(store=store, shopify_variant_id__in=shopify_vids).values_list(
            "shopify_variant_id", "variant_id"
        )
    )
    actions: list[str] = []
    new_assignments: list[ChannelAssignment] = []
    replace_variant_ids: list[int] = []
    release_shopify_vids: list[str] = []
    new_bindings: list[VariantBinding] = []
    bound_existing: list[tuple[int, str]] = []
    mark = {ONBOARDING_MARK: True}
    for product, pid in items:
        assignment = assignments.get(pid)
        already = assignment is not None and assignment.shopify_product_id == product.id
        if assignment is not None and not assignment.publish and not already:
            actions.append(PUBLISH_OFF)
            continue
        if assignment is not None and assignment.shopify_product_id not in ("", product.id):
            actions.append(f"not bound: bound to another Shopify product ({assignment.shopify_product_id})")
            continue
        changed = 0
        for vid, variant in variant_pairs(pim_variants=pim_variants.get(pid, []), shopify_variants=product.variants):
            if not variant.id:
                continue
            wanted = (variant.id, variant.inventory_item_id)
            if current.get(vid) == wanted:
                continue
            if vid in current:
                replace_variant_ids.append(vid)
            holder = holders.get(variant.id)
            if holder is not None and holder != vid:
                release_shopify_vids.append(variant.id)
            new_bindings.append(VariantBinding(store=store, variant_id=vid, shopify_variant_id=variant.id,
                                               shopify_inventory_item_id=variant.inventory_item_id))
            changed += 1
        if assignment is None:
            new_assignments.append(ChannelAssignment(
                product_id=pid, store=store, publish=True, shopify_product_id=product.id,
                published_snapshot=mark, published_hash="",
            ))
            actions.append(BOUND)
        elif not assignment.shopify_product_id:
            bound_existing.append((assignment.pk, product.id))
            actions.append(BOUND)
        else:
            actions.append(REPAIRED if changed else ALREADY_BOUND)
    bind_adopted(store=store, bound=bound_existing, new_assignments=new_assignments, new_bindings=new_bindings,
                 release_shopify_variant_ids=release_shopify_vids, replace_variant_ids=replace_variant_ids)
    return actions


def variant_pairs(
    *, pim_variants: list[tuple[int, str, tuple[str, ...]]], shopify_variants: list[ShopifyVariant]
) -> Iterator[tuple[int, ShopifyVariant]]:
    """Pair one product's PIM variants (id, SKU, option values) with its Shopify variants.

    By SKU when the SKU is on exactly one variant on each side; otherwise (no SKU, a shared SKU) by option
    values, which Shopify keeps unique within a product. Variants neither identifies are left unpaired.
    """
    pim_count = Counter(sku for _, sku, _ in pim_variants if sku)
    shopify_count = Counter(v.sku for v in shopify_variants if v.sku)
    by_sku = {sku: vid for vid, sku, _ in pim_variants if sku and pim_count[sku] == 1}
    by_options: dict[tuple[str, ...], list[int]] = {}
    for vid, _, options in pim_variants:
        by_options.setdefault(options, []).append(vid)
    used: set[int] = set()
    for variant in shopify_variants:
        vid = by_sku.get(variant.sku) if variant.sku and shopify_count[variant.sku] == 1 else None
        if vid is None:
            same = by_options.get(tuple(variant.options), [])
            vid = same[0] if len(same) == 1 else None
        if vid is not None and vid not in used:
            used.add(vid)
            yield vid, variant


def product_import(
    *,
    plan: ImportPlan,
    store: Store | None,
    shopify_product_id: str,
    reason: str,
    levels: dict[tuple[str, str], int] | None = None,
    locations: list[tuple[Any, str]] = (),
    from_csv: bool = False,
) -> tuple[Product, int]:
    """Create the PIM product of an import plan, record its stock, and bind it in ``store``; return it and
    the number of stock levels recorded.

    Stock (see ``stock_import``) is recorded before the binding exists, so no inventory push goes back to
    the shop it came from. The binding carries ``ONBOARDING_MARK`` like any onboarded product. Raises
    ValidationError (nothing of this product is saved) when the PIM refuses the product, and the inventory
    app's StockError (a ValueError) when it refuses a quantity.
    """
    if not plan.importable:
        raise ValidationError(plan.problems)
    with transaction.atomic():
        product = pim_services.product_create(
            reason=reason, variants=plan.variants, images=plan.images, attributes=plan.attributes, **plan.fields
        )
        stocked = stock_import(product=product, plan=plan, levels=levels or {}, locations=list(locations),
                               store=store, from_csv=from_csv)
        if store is not None and shopify_product_id:
            # Variants are bound by position (the plan's order), whatever their SKUs: adopted variants without
            # a SKU or with a shared one are then matched by their Shopify ids, never by SKU.
            refs = []
            for variant, (variant_id, item_id) in zip(product.variants.order_by("position"), plan.shopify_ids,
                                                      strict=True):
                refs.append(ShopifyVariant(id=variant_id, sku=variant.sku, inventory_item_id=item_id,
                                           options=tuple(variant.option_values)))
            shopify = ShopifyProduct(id=shopify_product_id, handle=product.handle, title=product.title, status="",
                                     variants=refs)
            bindings_write(store=store, items=[(shopify, product.pk)])
    return product, stocked


def stock_import(
    *,
    product: Product,
    plan: ImportPlan,
    levels: dict[tuple[str, str], int],
    locations: list[tuple[Any, str]],
    store: Store | None = None,
    from_csv: bool = False,
) -> int:
    """Record imported quantities as stocktakes of ``product``'s tracked variants; return how many levels.

    ``locations`` are (PIM location, Shopify location id) pairs; ``levels`` maps (inventory item id, Shopify
    location id) to Shopify's available quantity; with ``from_csv`` the plan's CSV quantities (one per
    variant, by position) are used instead. The stocktakes' source references make a repeat a no-op. Raises
    the inventory app's StockError.
    """
    if not locations or not (levels or from_csv):
        return 0
    from inventory.ledger import stock_count

    count = 0
    variants = list(product.variants.order_by("position"))
    for variant, (_, item), quantity in zip(variants, plan.shopify_ids, plan.quantities, strict=True):
        if not variant.inventory_tracked:
            continue
        for location, shopify_location in locations:
            counted = quantity if from_csv else levels.get((item, shopify_location))
            if counted is None:
                continue
            where = f"store {store.pk}" if store is not None else "csv"
            stock_count(
                variant=variant, location=location, counted=max(0, counted),
                source_ref=f"onboarding:{where}:variant {variant.pk}:location {location.pk}",
                actor_label="Onboarding import", reason="Stock imported from Shopify",
            )
            count += 1
    return count


@transaction.atomic
def handle_adopt(*, product_id: int, handle: str, store: Store | None) -> Product:
    """Give a never-published PIM product the handle its Shopify counterpart already has.

    Records history naming the store. No sync job is recorded (nothing changes in Shopify). Raises
    ValidationError when the product has been published (its handle is frozen) or the handle is invalid or
    taken.
    """
    product = Product.objects.select_for_update().get(pk=product_id)
    if product.handle == handle:
        return product
    if product.first_published_at is not None:
        raise ValidationError(pim_services.HANDLE_IMMUTABLE_MESSAGE)
    original = product.handle
    product.handle = handle
    where = f" from store {store.name}" if store else ""
    return pim_services.product_save(product=product, reason=f"Adopted the Shopify handle{where}",
                                     original_handle=original)


@transaction.atomic
def store_handle_set(*, product_id: int, handle: str, store: Store) -> ChannelAssignment:
    """Set ``handle`` as the product's handle in ``store`` (the assignment's override), creating the assignment.

    Used for products whose PIM handle is frozen or taken. Raises ValidationError for an invalid handle.
    """
    assignment, _ = ChannelAssignment.objects.select_for_update().get_or_create(
        product_id=product_id, store=store, defaults={"publish": True}
    )
    if assignment.handle_override != handle:
        assignment.handle_override = handle
        assignment.full_clean()
        ChannelAssignment.objects.filter(pk=assignment.pk).update(handle_override=handle, updated_at=timezone.now())
    return assignment
