"""Preview a publish (issue 17, "Preview"): per product and field, what Shopify has now, what the publish would
write, and which differences would become conflicts under the store's policy. Nothing is written: no Shopify
mutation, no database row (reads only: the live product, the PIM, the store's policies and open conflicts).

It runs the publish's own stages (``channels.publishing``): the plan, the live read, the compare and the policy's
decision (``decide``, the read-only half of the policy stage), and ``publish_writes`` for what would be sent, so
a preview predicts exactly what the next publish writes while nothing changes meanwhile.

What Shopify has now comes from a live read of each product, or, when the preview covers more products than
``PUBLISH_PREVIEW_LIVE_READ_MAX`` (reads would cost too much of the store's API budget), from the snapshot of what
the PIM last wrote there; the report says which (``source``). From a snapshot no Shopify-side edit can be seen.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from django.conf import settings

from pim.models import Product
from pim.spreadsheet import SafeCSVWriter

from .binder import ONBOARDING_MARK, bindings_for
from .clients import client_for_store
from .hooks import drift_hooks
from .media import image_bindings_for
from .models import ChannelAssignment, Store
from .payloads import publish_plan_build
from .publishing import product_compare, product_live_read, publish_writes

CSV_COLUMNS = ("store", "product_id", "product", "field", "variant", "shopify_now", "would_write", "conflict",
               "source")


@dataclass
class PreviewRow:
    store: str
    product_id: int
    product: str
    field: str
    variant: str  # the variant's SKU (or its id when it has none); empty for product fields
    shopify_now: Any
    would_write: Any
    conflict: str  # "" | "overwrite" (recorded, then overwritten) | "hold" (the product would be held)
    source: str  # "live" | "snapshot" | "none" (not in Shopify yet)


@dataclass
class PreviewProduct:
    product_id: int
    product: str
    outcome: str  # "write" | "create" | "unchanged" | "hold" | "skipped: <why>"
    # What the publish would send: the productSet input (None: no productSet call) and the metafields it sets.
    product_input: dict | None = None
    metafields: list = field(default_factory=list)


@dataclass
class PreviewReport:
    store: str
    source: Literal["live", "snapshot"]
    rows: list[PreviewRow] = field(default_factory=list)
    products: list[PreviewProduct] = field(default_factory=list)

    def as_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1, default=str)

    def write_csv(self, stream) -> None:
        writer = SafeCSVWriter(stream)
        writer.writerow(CSV_COLUMNS)
        for row in self.rows:
            values = asdict(row)
            writer.writerow([_cell(values[c]) for c in CSV_COLUMNS])


def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


def _flatten(snapshot: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """(field, variant key) -> value, the way conflicts name fields ("variant.price", "metafield:ns.key")."""
    flat: dict[tuple[str, str], Any] = {}
    for key, value in snapshot.items():
        if key == "variants":
            for vkey, entry in value.items():
                for sub, sub_value in entry.items():
                    flat[(f"variant.{sub}", vkey)] = sub_value
        elif key == "metafields":
            for mkey, mvalue in value.items():
                flat[(f"metafield:{mkey}", "")] = mvalue
        elif not key.startswith("_"):
            flat[(key, "")] = value
    return flat


def publish_preview(*, store: Store, product_ids: list[int] | None = None,
                    source: Literal["live", "snapshot"] | None = None) -> PreviewReport:
    """Preview publishing ``product_ids`` (default: every product assigned to ``store``) to ``store``.

    ``source`` forces live reads or snapshots; by default live reads up to PUBLISH_PREVIEW_LIVE_READ_MAX products.
    Writes nothing. Raises the client's ShopifyError when a live read fails.
    """
    selected = ChannelAssignment.objects.filter(store=store, publish=True)
    if product_ids is not None:
        selected = selected.filter(product_id__in=list(product_ids))
    ids = list(selected.order_by("product_id").values_list("pk", flat=True))
    if source is None:
        source = "live" if len(ids) <= settings.PUBLISH_PREVIEW_LIVE_READ_MAX else "snapshot"
    report = PreviewReport(store=store.name, source=source)
    client = None
    for assignment, product in _chunks(ids):
        assignment.product = product
        if product.workflow_state != Product.Workflow.READY:
            report.products.append(PreviewProduct(product.pk, product.title, f"skipped: {product.workflow_state}"))
            continue
        if assignment.held:
            report.products.append(PreviewProduct(product.pk, product.title, "skipped: held by a conflict"))
            continue
        if source == "live" and client is None and assignment.shopify_product_id:
            client = client_for_store(store)
        _preview_one(report, assignment, product, client if source == "live" else None)
    return report


def _chunks(ids: list[int], size: int = 500):
    """(assignment, product) pairs, loaded with their prefetches a chunk at a time (memory stays bounded)."""
    for start in range(0, len(ids), size):
        chunk = list(ChannelAssignment.objects.filter(pk__in=ids[start:start + size]).select_related("store")
                     .prefetch_related("variant_overrides", "store__metafield_mappings").order_by("product_id"))
        products = {p.pk: p for p in Product.objects.filter(pk__in=[a.product_id for a in chunk])
                    .prefetch_related("variants", "images", "attributes")}
        for assignment in chunk:
            yield assignment, products[assignment.product_id]


def _preview_one(report: PreviewReport, assignment: ChannelAssignment, product: Product, client) -> None:
    store = assignment.store
    plan = publish_plan_build(assignment=assignment, bindings=bindings_for(store=store, product=product),
                              image_bindings=image_bindings_for(store_id=store.pk, product=product))
    skus = {str(v.pk): v.sku or f"variant {v.pk}" for v in product.variants.all()}
    entry = PreviewProduct(product.pk, product.title, "write")
    report.products.append(entry)
    if not assignment.shopify_product_id:
        entry.outcome = "create"
        writes = publish_writes(assignment=assignment, plan=plan)
        entry.product_input, entry.metafields = writes["product_input"], writes["metafields"]
        for (name, vkey), value in _flatten(plan.snapshot).items():
            report.rows.append(PreviewRow(store.name, product.pk, product.title, name, skus.get(vkey, vkey),
                                          None, value, "", "none"))
        return
    if plan.hash == assignment.published_hash:
        entry.outcome = "unchanged"
        return
    last = assignment.published_snapshot or {}
    shopify_now = {} if last.get(ONBOARDING_MARK) else last
    conflicts: dict[tuple[str, str], str] = {}
    virtual = copy.copy(assignment)  # what the binder would record before the write, in memory only
    if client is not None and last:
        live_node = product_live_read(client=client, assignment=assignment, plan=plan)
        result = product_compare(assignment=assignment, plan=plan, live_node=live_node)
        shopify_now = result.live
        hold = False
        for drift, policy, holds in drift_hooks().decide(store=store, shopify_product_id=assignment.shopify_product_id,
                                                         drifts=result.drifts):
            conflicts[(drift.field, drift.key)] = "hold" if holds else policy
            hold = hold or holds
        if hold:
            entry.outcome = "hold"
        elif result.deleted:
            virtual.shopify_product_id, virtual.published_snapshot = "", {}
            entry.outcome = "create"
        elif result.drifts:
            virtual.published_snapshot = result.last_with_live
        for drift in result.drifts:
            if drift.field in ("variant.exists", "product.exists"):
                report.rows.append(PreviewRow(store.name, product.pk, product.title, drift.field,
                                              drift.sku or drift.key, drift.live, drift.pim,
                                              conflicts[(drift.field, drift.key)], report.source))
    if entry.outcome != "hold":
        writes = publish_writes(assignment=virtual, plan=plan)
        entry.product_input, entry.metafields = writes["product_input"], writes["metafields"]
    now = _flatten(shopify_now)
    for (name, vkey), value in _flatten(plan.snapshot).items():
        current = now.get((name, vkey))
        conflict = conflicts.get((name, vkey), "")
        same = current == value
        if name == "images" and isinstance(current, list):  # Shopify rewrites image URLs: compare alt texts
            same = [alt for _, alt in current] == [alt for _, alt in value]
        if same and not conflict:
            continue
        report.rows.append(PreviewRow(store.name, product.pk, product.title, name, skus.get(vkey, vkey), current,
                                      None if entry.outcome == "hold" else value, conflict, report.source))
