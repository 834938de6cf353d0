"""One reconcile run: pass 1 spools the Shopify side, pass 2 classifies, reports and acts.

``ReconcileRun`` holds the PIM index, the Shopify tally and the result of a run; ``services`` drives it
(online or from a CSV) and writes its report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from slugify import slugify

from channels.models import Store, StoreMetafieldMapping
from channels.shopify.exceptions import ShopifyError
from channels.shopify.ids import inventory_item_gid, location_gid
from pim.models import Product
from pim.validators import validate_handle

from .adopting import bindings_write, handle_adopt, store_handle_set
from .importing import ImportPlan, import_plan_build
from .matching import (
    AMBIGUOUS,
    BY_BINDING,
    BY_SKU,
    MATCHED,
    PIM_ONLY,
    SHOPIFY_ONLY,
    Decision,
    PimIndex,
    ShopifyProduct,
    ShopifyTally,
    pim_index_build,
    product_classify,
    shopify_product_from_node,
)
from .outcomes import (
    ADOPTED,
    ALREADY_BOUND,
    BIND_CHUNK_SIZE,
    CSV_NO_IDS,
    DEFAULT_REPORT_DIR,
    IMPORT_FAILED,
    IMPORTED,
    NOT_IMPORTABLE,
    OVERRIDDEN,
    PUBLISH_OFF,
    RESOLVE,
    SKIPPED,
    WOULD_ADOPT,
    WOULD_BIND,
    WOULD_IMPORT,
    WOULD_OVERRIDE,
    WOULD_SKIP,
    CsvImportError,
    ProgressFn,
    ReconcileResult,
    RunOptions,
    action_join,
)
from .product_import import product_import
from .report import ReportRow


class ReconcileRun:
    """One reconcile: pass 1 spools the Shopify side, pass 2 classifies, reports and acts."""

    def __init__(self, *, store: Store | None, options: RunOptions, report_base: Path | None,
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
            row.action = action_join(row.action, CSV_NO_IDS)
            return False
        if not self.options.apply:
            if decision.matched_by == BY_BINDING:
                action = ALREADY_BOUND
            elif pid in self.pim.publish_off:
                action = PUBLISH_OFF
            else:
                action = WOULD_BIND
            row.action = action_join(row.action, action)
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
            row.action = action_join(row.action, action)
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
            row.action = action_join(row.action, WOULD_ADOPT if can_change_pim else WOULD_OVERRIDE)
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
        row.action = action_join(row.action, action)

    # -- importing ---------------------------------------------------------------------------------------
    def _skip(self, row: ReportRow, reasons: list[str]) -> None:
        """--skip-invalid: leave this product out of the import and report it with its lines and reasons."""
        row.action = action_join(row.action, SKIPPED)
        self.result.skipped_products += 1
        self.result.skipped.extend(reasons)

    def _import(self, row: ReportRow, product: ShopifyProduct, node: dict | None,
                csv_problems: list[str] = ()) -> dict | None:
        """Import a Shopify-only product (online), or validate it; return the node the CSV import will create.

        A product of a CSV with problems in its own rows is not importable (with ``skip_invalid`` it is skipped,
        otherwise its problems refuse the whole file).
        """
        if node is None:  # cannot happen: Shopify-only products are always spooled in full
            row.action = action_join(row.action, NOT_IMPORTABLE)
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
            row.action = action_join(row.action, NOT_IMPORTABLE)
            row.notes.extend(f"not importable: {p}" for p in reasons)
            if self.options.offline and self.options.import_missing:
                if self.options.skip_invalid:
                    self._skip(row, list(csv_problems) + reasons)
                else:
                    self.problems.extend(reasons)  # its row problems are already listed
            elif self.options.offline:
                row.action = action_join(row.action, WOULD_SKIP)
            return None
        if not self.options.import_missing:
            row.action = action_join(row.action, WOULD_IMPORT)
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
                row.action = action_join(row.action, IMPORT_FAILED)
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
            row.action = action_join(row.action, IMPORT_FAILED)
            row.notes.extend(f"import failed: {m}" for m in messages)
            return
        self.result.stock_levels_imported += stocked
        self.result.flagged_variants += plan.flagged
        self.claimed.add(created.pk)
        self.pim.pim_handle[created.handle] = created.pk
        row.pim_product_id = created.pk
        row.pim_handle = created.handle
        row.action = action_join(row.action, IMPORTED)

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


def _where(product: ShopifyProduct) -> str:
    return f"line {product.line}" if product.line else f"'{product.handle}'"


def _problem_text(product: ShopifyProduct, problem) -> str:
    """Name the line of the variant a problem is about (else the product's first line, or its handle)."""
    line = getattr(problem, "line", None) or product.line
    return f"line {line}: {problem}" if line else f"'{product.handle}': {problem}"
