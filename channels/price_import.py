"""Prices by SKU: a CSV of SKU, price and compare-at price (optionally per store) that changes prices and nothing else.

The file's header names its columns (any order, any case): ``sku``, ``price``, ``compare_at_price`` (or
``compare at price``), and optionally ``store`` (a store's name or myshopify domain). A row without a store changes
the PIM's own price; a row with a store sets that store's price override for the variant (the product must be
assigned to the store). An empty compare-at price clears it; a missing compare-at column leaves it alone.

Always validate first (the dry run): every row is checked and each problem is reported with its line number. The
file is applied only when it has no problem at all, in one transaction, each change recorded in history as
"Price upload" and published by the usual outbox like any other edit.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from pim import services as pim_services
from pim.models import Variant

from .models import ChannelAssignment, Store, VariantOverride

MAX_ROWS = 50_000
REASON = "Price upload"
_ALIASES = {"sku": "sku", "price": "price", "compare_at_price": "compare_at_price",
            "compare at price": "compare_at_price", "compare-at price": "compare_at_price", "store": "store",
            "variant sku": "sku", "variant price": "price", "variant compare at price": "compare_at_price"}


@dataclass
class PriceChange:
    line: int
    sku: str
    store: str  # "" for the PIM's own price
    old_price: Decimal | None
    new_price: Decimal
    old_compare: Decimal | None
    new_compare: Decimal | None
    compare_given: bool

    @property
    def changed(self) -> bool:
        return self.old_price != self.new_price or (self.compare_given and self.old_compare != self.new_compare)


@dataclass
class PriceImportReport:
    changes: list[PriceChange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "line N: ..."
    applied: bool = False

    @property
    def to_change(self) -> list[PriceChange]:
        return [c for c in self.changes if c.changed]

    def summary(self) -> str:
        unchanged = len(self.changes) - len(self.to_change)
        verb = "changed" if self.applied else "would change"
        text = f"{len(self.to_change)} price(s) {verb}, {unchanged} unchanged"
        if self.errors:
            text += f", {len(self.errors)} problem(s): nothing was changed"
        return text + "."


def _decimal(raw: str, *, line: int, name: str, errors: list[str], required: bool) -> Decimal | None:
    text = (raw or "").strip().lstrip("'")  # spreadsheets keep digit-only cells as text with an apostrophe
    if not text:
        if required:
            errors.append(f"line {line}: {name} is empty.")
        return None
    if "," in text and "." not in text:
        errors.append(f"line {line}: {name} '{raw}' uses a comma; write the decimal point as '.' (12.50).")
        return None
    try:
        value = Decimal(text.replace(",", ""))  # "1,299.00": commas are thousands separators here
    except InvalidOperation:
        errors.append(f"line {line}: {name} '{raw}' is not a number.")
        return None
    if value < 0:
        errors.append(f"line {line}: {name} cannot be negative.")
        return None
    return value.quantize(Decimal("0.01"))


def prices_import(*, text: str, apply: bool = False, actor=None) -> PriceImportReport:
    """Validate a prices CSV and, with ``apply`` and no problem found, change the prices; return the report.

    Problems (unknown SKU or store, bad numbers, a zero price the product does not allow, a store the product is not
    assigned to, a SKU given twice for the same store, a missing column) never raise: they are reported by line and
    nothing is changed.
    """
    report = PriceImportReport()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        report.errors.append("line 1: the file is empty.")
        return report
    columns = {_ALIASES.get(h.strip().lower()): i for i, h in enumerate(header) if _ALIASES.get(h.strip().lower())}
    for needed in ("sku", "price"):
        if needed not in columns:
            report.errors.append(f"line 1: no '{needed}' column (found: {', '.join(header)}).")
    if report.errors:
        return report
    rows = []
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(rows) >= MAX_ROWS:
            report.errors.append(f"line {line}: more than {MAX_ROWS} rows; split the file.")
            return report
        rows.append((line, row))

    def cell(row, name):
        index = columns.get(name)
        return row[index] if index is not None and index < len(row) else ""

    skus = {cell(row, "sku").strip().lstrip("'") for _, row in rows}
    variants: dict[str, Variant] = {}
    shared: set[str] = set()
    for v in Variant.objects.filter(sku__in=skus - {""}).select_related("product"):
        if v.sku in variants:
            shared.add(v.sku)  # adopted catalogs may share a SKU: a price by SKU cannot say which one
        variants[v.sku] = v
    stores = {s.name.lower(): s for s in Store.objects.all()} | {s.shop_domain: s for s in Store.objects.all()}
    seen: set[tuple[str, str]] = set()
    overrides_wanted = []
    for line, row in rows:
        sku = cell(row, "sku").strip().lstrip("'")
        store_name = cell(row, "store").strip()
        price = _decimal(cell(row, "price"), line=line, name="price", errors=report.errors, required=True)
        compare_given = "compare_at_price" in columns
        compare = _decimal(cell(row, "compare_at_price"), line=line, name="compare-at price", errors=report.errors,
                           required=False) if compare_given else None
        variant = variants.get(sku)
        if not sku:
            report.errors.append(f"line {line}: the SKU is empty.")
            continue
        if sku in shared:
            report.errors.append(f"line {line}: SKU '{sku}' belongs to several variants; give them their own SKUs "
                                 "first (Variants, filter 'SKU to fix').")
            continue
        if variant is None:
            report.errors.append(f"line {line}: no variant with SKU '{sku}'.")
            continue
        store = stores.get(store_name.lower()) if store_name else None
        if store_name and store is None:
            report.errors.append(f"line {line}: no store named '{store_name}'.")
            continue
        if (sku, store_name.lower()) in seen:
            report.errors.append(f"line {line}: SKU '{sku}' appears twice" + (f" for {store_name}." if store_name
                                                                               else "."))
            continue
        seen.add((sku, store_name.lower()))
        if price is None:
            continue
        try:
            pim_services.variant_check_price(product=variant.product, price=price)
        except ValidationError as exc:
            report.errors.append(f"line {line}: {' '.join(exc.messages)}")
            continue
        if store is None:
            report.changes.append(PriceChange(line, sku, "", variant.price, price, variant.compare_at_price, compare,
                                              compare_given))
        else:
            overrides_wanted.append((line, variant, store, price, compare, compare_given))
    if overrides_wanted:
        assignments = {(a.product_id, a.store_id): a for a in ChannelAssignment.objects.filter(
            product_id__in={v.product_id for _, v, *_ in overrides_wanted},
            store_id__in={s.pk for _, _, s, *_ in overrides_wanted})}
        existing = {(o.assignment_id, o.variant_id): o for o in VariantOverride.objects.filter(
            assignment_id__in=[a.pk for a in assignments.values()])}
        for line, variant, store, price, compare, compare_given in overrides_wanted:
            assignment = assignments.get((variant.product_id, store.pk))
            if assignment is None:
                report.errors.append(f"line {line}: {variant.product} is not assigned to {store.name}.")
                continue
            current = existing.get((assignment.pk, variant.pk))
            report.changes.append(PriceChange(
                line, variant.sku, store.name, current.price if current else None, price,
                current.compare_at_price if current else None, compare, compare_given))
    report.errors.sort(key=lambda e: int(e.split(":")[0].split()[1]))
    if apply and not report.errors:
        _apply(report=report, variants=variants, stores=stores, actor=actor)
    return report


@transaction.atomic
def _apply(*, report: PriceImportReport, variants: dict, stores: dict, actor) -> None:
    products: set[int] = set()
    for change in report.to_change:
        variant = variants[change.sku]
        if not change.store:
            variant.price = change.new_price
            if change.compare_given:
                variant.compare_at_price = change.new_compare
            pim_services.variant_save(variant=variant, actor=actor, reason=REASON)
        else:
            assignment = ChannelAssignment.objects.get(product_id=variant.product_id,
                                                       store=stores[change.store.lower()])
            override, _ = VariantOverride.objects.get_or_create(assignment=assignment, variant=variant)
            override.price = change.new_price
            if change.compare_given:
                override.compare_at_price = change.new_compare
            override._history_user = actor
            override._change_reason = REASON
            override.save()
        products.add(variant.product_id)
    # Records the products' sync jobs (store overrides included), dispatched after commit like any edit.
    pim_services.catalog_changed(product_ids=sorted(products))
    report.applied = True
