"""Match Shopify products to PIM products by handle, then by variant SKUs, and classify each one.

The PIM side is indexed once with ``values_list`` (handles, SKUs and bindings as plain strings and ints, never
model instances); the Shopify side is streamed product by product and reduced to a ``ShopifyProduct`` (id,
handle, title and its variants' ids and SKUs). Whether a SKU or a handle is duplicated in Shopify is only
known after the whole stream, so classification runs in a second pass over a spool of these compact records
(``ShopifyTally`` holds what the first pass learnt).

Classification of one Shopify product, first rule that applies:

1. bound: this store already has an assignment bound to its Shopify id -> matched (by binding);
2. its handle is on another Shopify product (possible in a CSV) -> ambiguous; a SKU shared with another
   Shopify product (or repeated within it) that a PIM product has -> ambiguous unless the handle decides
   (rule 4). Shared and missing SKUs are legal in Shopify: they never match by SKU, and a product whose other
   SKUs and handle are unknown to the PIM is Shopify-only (importable, flagged);
3. its handle is the store handle (``handle_override``, else the PIM handle) of several PIM products ->
   ambiguous;
4. its handle is the store handle of a PIM product: matched (by handle) when both have exactly the same
   non-empty SKUs and as many variants, and none of its SKUs belongs to another PIM product; ambiguous
   otherwise ("handle matches but SKUs disagree", or SKUs of several PIM products);
5. its SKUs (those on no other Shopify product and no other PIM product) belong to PIM products: matched
   (by SKU) when they all belong to one PIM product with exactly the same SKUs and as many variants (the report
   proposes adopting the Shopify handle); ambiguous otherwise;
6. otherwise Shopify-only.

A PIM candidate already bound to a different Shopify product in this store makes the product ambiguous.
PIM products that no Shopify product matched or named as a candidate are PIM-only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from channels.models import ChannelAssignment, Store
from channels.shopify.ids import gid_to_id
from pim.models import Product, Variant

MATCHED = "matched"
PIM_ONLY = "pim_only"
SHOPIFY_ONLY = "shopify_only"
AMBIGUOUS = "ambiguous"
CLASSIFICATIONS = (MATCHED, PIM_ONLY, SHOPIFY_ONLY, AMBIGUOUS)

BY_BINDING = "binding"
BY_HANDLE = "handle"
BY_SKU = "sku"


def _numeric_id(value: Any) -> str:
    """Return a Shopify id as the numeric string the PIM stores ("" when absent)."""
    if value in (None, ""):
        return ""
    text = str(value)
    if text.startswith("gid://"):
        return str(gid_to_id(text))
    return text


def _clean_sku(value: Any) -> str:
    return str(value or "").strip()


@dataclass
class ShopifyVariant:
    id: str
    sku: str
    inventory_item_id: str
    title: str = ""
    options: tuple[str, ...] = ()  # option values in order; () for a simple product ("Default Title")

    def __post_init__(self) -> None:
        self.options = tuple(self.options or ())


@dataclass
class ShopifyProduct:
    """The part of a Shopify product that matching needs (ids, handle, SKUs), small enough to spool."""

    id: str
    handle: str
    title: str
    status: str
    variants: list[ShopifyVariant]
    line: int | None = None  # first CSV line of the product (offline path)

    @property
    def skus(self) -> list[str]:
        return [v.sku for v in self.variants if v.sku]

    @property
    def label(self) -> str:
        where = f"line {self.line}" if self.line else (f"id {self.id}" if self.id else "")
        return f"'{self.handle}' ({where})" if where else f"'{self.handle}'"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "handle": self.handle,
            "title": self.title,
            "status": self.status,
            "line": self.line,
            "variants": [[v.id, v.sku, v.inventory_item_id, v.title, list(v.options)] for v in self.variants],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShopifyProduct:
        return cls(
            id=data["id"],
            handle=data["handle"],
            title=data["title"],
            status=data["status"],
            line=data.get("line"),
            variants=[ShopifyVariant(*v) for v in data["variants"]],
        )


def shopify_product_from_node(node: dict[str, Any]) -> ShopifyProduct:
    """Reduce a product of the bulk export, ``product_get`` or the CSV reader to a ``ShopifyProduct``."""
    variants = node.get("variants") or []
    if isinstance(variants, dict):
        variants = variants.get("nodes") or [e["node"] for e in variants.get("edges", [])]
    compact = []
    for v in variants:
        item = v.get("inventoryItem") or {}
        compact.append(
            ShopifyVariant(
                id=_numeric_id(v.get("id")),
                sku=_clean_sku(v.get("sku")),
                inventory_item_id=_numeric_id(item.get("id")),
                title=str(v.get("title") or ""),
                options=variant_option_values(v.get("selectedOptions")),
            )
        )
    return ShopifyProduct(
        id=_numeric_id(node.get("legacyResourceId") or node.get("id")),
        handle=str(node.get("handle") or ""),
        title=str(node.get("title") or ""),
        status=str(node.get("status") or "").upper(),
        variants=compact,
        line=node.get("_line"),
    )


def variant_option_values(selected: Any) -> tuple[str, ...]:
    """Return a Shopify variant's option values in order, () for the "Title: Default Title" of a simple product."""
    pairs = [(str(o.get("name") or ""), str(o.get("value") or "")) for o in selected or []]
    if pairs in ([], [("Title", "Default Title")]):
        return ()
    return tuple(value for _, value in pairs)


# --- the PIM side ---------------------------------------------------------------------------------------


@dataclass
class PimIndex:
    """The PIM catalog as seen by one store, as plain values."""

    by_handle: dict[str, int] = field(default_factory=dict)  # store handle -> product id
    duplicate_handles: dict[str, list[int]] = field(default_factory=dict)
    store_handle: dict[int, str] = field(default_factory=dict)  # product id -> store handle
    pim_handle: dict[str, int] = field(default_factory=dict)  # the PIM's own handle -> product id
    sku_owner: dict[str, int] = field(default_factory=dict)
    shared_skus: dict[str, set[int]] = field(default_factory=dict)  # SKU on several PIM products (adopted)
    skus: dict[int, frozenset[str]] = field(default_factory=dict)  # non-empty SKUs
    variant_count: dict[int, int] = field(default_factory=dict)
    bound: dict[str, int] = field(default_factory=dict)  # shopify product id -> product id
    bound_to: dict[int, str] = field(default_factory=dict)
    published: set[int] = field(default_factory=set)  # first_published_at set: handle is frozen
    publish_off: set[int] = field(default_factory=set)  # assignment exists with publish=False
    overridden: set[int] = field(default_factory=set)  # has a handle_override on this store

    @property
    def product_count(self) -> int:
        return len(self.store_handle)


def pim_index_build(*, store: Store | None) -> PimIndex:
    """Index every PIM product by its store handle and by SKU, with the store's bindings.

    The store handle is the assignment's ``handle_override`` when set, else the product's handle. With no
    store (offline CSV matching) the PIM handles are used. Reads with ``values_list`` only.
    """
    index = PimIndex()
    overrides: dict[int, str] = {}
    if store is not None:
        rows = ChannelAssignment.objects.filter(store=store).values_list(
            "product_id", "handle_override", "shopify_product_id", "publish"
        )
        for product_id, override, shopify_id, publish in rows.iterator(chunk_size=5000):
            if override:
                overrides[product_id] = override
                index.overridden.add(product_id)
            if shopify_id:
                index.bound[shopify_id] = product_id
                index.bound_to[product_id] = shopify_id
            if not publish:
                index.publish_off.add(product_id)
    products = Product.objects.values_list("id", "handle", "first_published_at").order_by()
    for product_id, handle, first_published_at in products.iterator(chunk_size=5000):
        index.pim_handle[handle] = product_id
        if first_published_at is not None:
            index.published.add(product_id)
        store_handle = overrides.get(product_id) or handle
        index.store_handle[product_id] = store_handle
        other = index.by_handle.get(store_handle)
        if other is None:
            index.by_handle[store_handle] = product_id
        else:
            index.duplicate_handles.setdefault(store_handle, [other]).append(product_id)
    current: int | None = None
    bucket: list[str] = []
    rows = Variant.objects.values_list("product_id", "sku").order_by("product_id")
    for product_id, sku in rows.iterator(chunk_size=10000):
        if product_id != current:
            if current is not None:
                index.skus[current] = frozenset(bucket)
            current, bucket = product_id, []
        index.variant_count[product_id] = index.variant_count.get(product_id, 0) + 1
        sku = _clean_sku(sku)
        if not sku:  # adopted variants may have none: they are matched by binding or handle, never by SKU
            continue
        bucket.append(sku)
        owner = index.sku_owner.setdefault(sku, product_id)
        if owner != product_id:
            index.shared_skus.setdefault(sku, {owner}).add(product_id)
    if current is not None:
        index.skus[current] = frozenset(bucket)
    return index


# --- the Shopify side -----------------------------------------------------------------------------------


@dataclass
class ShopifyTally:
    """What the first pass over the Shopify catalog learnt: SKUs and handles used by several products."""

    products: int = 0
    variants: int = 0
    _sku_first: dict[str, str] = field(default_factory=dict)
    duplicate_skus: dict[str, list[str]] = field(default_factory=dict)  # sku -> labels of its products
    _handle_first: dict[str, str] = field(default_factory=dict)
    duplicate_handles: dict[str, list[str]] = field(default_factory=dict)

    def add(self, product: ShopifyProduct) -> None:
        self.products += 1
        self.variants += len(product.variants)
        label = product.label
        for sku in dict.fromkeys(product.skus):  # a SKU twice in one product is checked per product
            first = self._sku_first.setdefault(sku, label)
            if first != label:
                self.duplicate_skus.setdefault(sku, [first]).append(label)
        if product.handle:
            first = self._handle_first.setdefault(product.handle, label)
            if first != label:
                self.duplicate_handles.setdefault(product.handle, [first]).append(label)


# --- classification -------------------------------------------------------------------------------------


@dataclass
class Decision:
    classification: str
    reason: str
    pim_product_id: int | None = None
    matched_by: str = ""
    candidates: tuple[int, ...] = ()
    proposed_handle: str = ""

    @property
    def claimed(self) -> tuple[int, ...]:
        """PIM products this Shopify product matched or named as candidates (so they are not PIM-only)."""
        ids = set(self.candidates)
        if self.pim_product_id is not None:
            ids.add(self.pim_product_id)
        return tuple(sorted(ids))


def _sku_list(skus: Iterable[str], limit: int = 5) -> str:
    items = sorted(skus)
    text = ", ".join(items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _sku_difference(shopify: set[str], pim: frozenset[str]) -> str:
    parts = []
    if pim - shopify:
        parts.append(f"only in the PIM: {_sku_list(pim - shopify)}")
    if shopify - pim:
        parts.append(f"only in Shopify: {_sku_list(shopify - pim)}")
    return "; ".join(parts)


def product_classify(*, product: ShopifyProduct, pim: PimIndex, tally: ShopifyTally) -> Decision:
    """Classify one Shopify product against the PIM index and the whole-catalog tally (see module doc)."""
    bound_pid = pim.bound.get(product.id) if product.id else None
    if bound_pid is not None:
        skus = set(product.skus)
        note = ""
        if skus != pim.skus.get(bound_pid, frozenset()):
            note = f"; SKUs differ ({_sku_difference(skus, pim.skus.get(bound_pid, frozenset()))})"
        return Decision(MATCHED, f"already bound to this Shopify product{note}", bound_pid, BY_BINDING)

    skus = product.skus
    sku_set = set(skus)
    # SKUs Shopify has on several variants (legal there) never identify a product on their own.
    shared_in_shopify = {s for s in sku_set if skus.count(s) > 1 or s in tally.duplicate_skus}
    handle_pid = pim.by_handle.get(product.handle)
    sku_pids: set[int] = set()
    for s in sku_set:
        if s in pim.sku_owner:
            sku_pids.update(pim.shared_skus.get(s) or {pim.sku_owner[s]})
    candidates = set(sku_pids)
    if handle_pid is not None:
        candidates.add(handle_pid)
    if product.handle in pim.duplicate_handles:
        candidates.update(pim.duplicate_handles[product.handle])
    cands = tuple(sorted(candidates))

    def ambiguous(reason: str) -> Decision:
        return Decision(AMBIGUOUS, reason, None, "", cands)

    shared_known = sorted(s for s in shared_in_shopify if s in pim.sku_owner)
    if shared_known and handle_pid is None:
        sku = shared_known[0]
        others = [label for label in tally.duplicate_skus.get(sku, []) if label != product.label]
        where = f"also in Shopify product {', '.join(others)}" if others else "on several variants of this product"
        more = f" (and {len(shared_known) - 1} more shared SKUs)" if len(shared_known) > 1 else ""
        return ambiguous(f"SKU {sku} is {where}, and a PIM product has it{more}")
    if product.handle in tally.duplicate_handles:
        others = [label for label in tally.duplicate_handles[product.handle] if label != product.label]
        return ambiguous(f"handle '{product.handle}' is also used by {', '.join(others)}")
    if product.handle in pim.duplicate_handles:
        ids = ", ".join(str(i) for i in pim.duplicate_handles[product.handle])
        return ambiguous(f"handle '{product.handle}' is the store handle of several PIM products ({ids})")
    for pid in cands:
        if pid in pim.bound_to:
            return ambiguous(
                f"PIM product {pid} is already bound to Shopify product {pim.bound_to[pid]} in this store"
            )

    if handle_pid is not None:
        # SKUs shared in Shopify or in the PIM (legal in adopted catalogs) cannot point to another product.
        distinct = {s for s in sku_set if s not in shared_in_shopify and s not in pim.shared_skus}
        others = {pim.sku_owner[s] for s in distinct if s in pim.sku_owner} - {handle_pid}
        if others:
            ids = ", ".join(str(i) for i in sorted(others))
            return ambiguous(
                f"handle matches PIM product {handle_pid} but some SKUs belong to other PIM products ({ids})"
            )
        pim_skus = pim.skus.get(handle_pid, frozenset())
        pim_count = pim.variant_count.get(handle_pid, 0)
        if sku_set != pim_skus or len(product.variants) != pim_count:
            detail = _sku_difference(sku_set, pim_skus)
            if len(product.variants) != pim_count:
                detail = "; ".join(filter(None, [detail, f"{len(product.variants)} Shopify variant(s), "
                                                          f"{pim_count} in the PIM"]))
            return ambiguous(f"handle matches PIM product {handle_pid} but SKUs disagree ({detail})")
        return Decision(MATCHED, "same handle and SKUs", handle_pid, BY_HANDLE, cands)

    if sku_pids:
        if len(sku_pids) > 1:
            ids = ", ".join(str(i) for i in sorted(sku_pids))
            return ambiguous(f"SKUs belong to several PIM products ({ids})")
        (pid,) = sku_pids
        pim_skus = pim.skus.get(pid, frozenset())
        blank = len(product.variants) - len(skus)
        if sku_set != pim_skus or blank or pim.variant_count.get(pid, 0) != len(pim_skus) or any(
            s in pim.shared_skus for s in sku_set
        ):
            detail = _sku_difference(sku_set, pim_skus)
            if blank:
                detail = "; ".join(filter(None, [detail, f"{blank} Shopify variant(s) without SKU"]))
            return ambiguous(f"SKUs partly match PIM product {pid} ({detail})")
        return Decision(
            MATCHED,
            f"same SKUs, different handle (store handle in the PIM: '{pim.store_handle.get(pid, '')}')",
            pid,
            BY_SKU,
            cands,
            proposed_handle=product.handle,
        )
    return Decision(SHOPIFY_ONLY, "no PIM product has this handle or any of its SKUs")
