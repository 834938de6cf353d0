"""The compare stage of a publish: pure functions, no database, no network.

A drift is a field where the live Shopify value differs from what the PIM last wrote there (and from what the PIM is
about to write). ``publish_compare`` turns (what we last wrote, what Shopify has now, what we are about to write)
into a ``CompareResult``; the policy stage (``conflicts.recording``) decides and records, the binder (``channels``)
writes what follows for the channel rows. Fields come from the field registry (``channels.mapping``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from channels.binder import ONBOARDING_MARK
from channels.mapping import SCALAR_FIELDS, VARIANT_FIELDS
from channels.payloads import SHOPIFY_ONLY_PREFIX, snapshot_from_shopify

PRODUCT_KEYS = tuple(f.key for f in SCALAR_FIELDS)
VARIANT_KEYS = tuple(f.name for f in VARIANT_FIELDS if f.compared)


@dataclass
class Drift:
    field: str
    last_written: Any
    live: Any
    pim: Any = None
    sku: str = ""
    shopify_variant_id: str = ""
    key: str = ""  # the variant's snapshot key (variant fields)


@dataclass
class CompareResult:
    """What the compare found for one product in one store."""

    drifts: list[Drift] = field(default_factory=list)
    source: str = "publish"  # "onboarding" when the product was bound by onboarding and never written by us
    deleted: bool = False  # the product is gone from Shopify
    # What we last wrote with Shopify's drifted values in (empty without drifts): comparing the plan with it makes
    # the write cover every drifted field (overwrite policy) even where the PIM did not change.
    last_with_live: dict[str, Any] = field(default_factory=dict)
    live: dict[str, Any] = field(default_factory=dict)

    @property
    def gone_variant_keys(self) -> list[str]:
        """Variants deleted in Shopify whose ids no longer exist there (the publish creates them again)."""
        return [d.key for d in self.drifts if d.field == "variant.exists" and d.live == "deleted in Shopify"]


def _variant_sku(key: str, entry: dict | None) -> str:
    if entry and "sku" in entry:
        return entry["sku"] or ""
    return "" if key.startswith(SHOPIFY_ONLY_PREFIX) else key  # snapshots from before issue 14 were keyed by SKU


def _variant_shopify_id(key: str, variant_ids: dict[str, str]) -> str:
    if key.startswith(SHOPIFY_ONLY_PREFIX):
        return key[len(SHOPIFY_ONLY_PREFIX):]
    return variant_ids.get(key, "")


def drift_compare(
    *, last: dict[str, Any], live: dict[str, Any], pim: dict[str, Any] | None, variant_ids: dict[str, str]
) -> list[Drift]:
    """Return the fields where ``live`` differs from ``last`` (what we wrote) and from ``pim`` (what we will write).

    ``variant_ids`` maps variant snapshot keys to Shopify variant ids. A live value equal to the PIM's current value
    is not drift (it is our own write echoing back, or the merchant made the same change). Image URLs are not
    compared (Shopify rewrites them to its CDN); their count and alt texts are.
    """
    pim = pim or {}
    drifts: list[Drift] = []
    for key in PRODUCT_KEYS:
        if key in last and key in live and live[key] != last[key] and live[key] != pim.get(key, last[key]):
            drifts.append(Drift(key, last[key], live[key], pim.get(key)))
    if "images" in last and "images" in live:
        last_alts = [alt for _, alt in last["images"]]
        live_alts = [alt for _, alt in live["images"]]
        pim_alts = [alt for _, alt in pim.get("images", last["images"])]
        if live_alts != last_alts and live_alts != pim_alts:
            drifts.append(Drift("images", last_alts, live_alts, pim_alts))
    if "metafields" in last and "metafields" in live:
        for key, value in last["metafields"].items():
            now = live["metafields"].get(key)
            if now != value and now != pim.get("metafields", {}).get(key, value):
                drifts.append(Drift(f"metafield:{key}", value, now, pim.get("metafields", {}).get(key)))
    if "variants" in last and "variants" in live:
        pim_variants = pim.get("variants", {})
        for key, written in last["variants"].items():
            current = live["variants"].get(key)
            sku, vid = _variant_sku(key, written), _variant_shopify_id(key, variant_ids)
            if current is None:
                if key in pim_variants:
                    drifts.append(Drift("variant.exists", "present", "deleted in Shopify", "present", sku, vid, key))
                continue
            for sub in VARIANT_KEYS:
                if sub not in written:
                    continue
                want = pim_variants.get(key, {}).get(sub, written[sub])
                if current.get(sub) != written[sub] and current.get(sub) != want:
                    drifts.append(Drift(f"variant.{sub}", written[sub], current.get(sub), want, sku, vid, key))
        for key, current in live["variants"].items():
            if key not in last["variants"] and key not in pim_variants:
                drifts.append(Drift("variant.exists", "absent", "added in Shopify", "absent",
                                    _variant_sku(key, current), _variant_shopify_id(key, variant_ids), key))
    return drifts


def snapshot_with_live(last: dict[str, Any], live: dict[str, Any], drifts: list[Drift]) -> dict[str, Any]:
    """Return a copy of ``last`` with each drifted field set to its live value (a variant deleted in Shopify is
    dropped), so a publish compared with it writes every drifted field."""
    snapshot = copy.deepcopy(last)
    for drift in drifts:
        if drift.field.startswith("variant.") and drift.key:
            if drift.field == "variant.exists":
                snapshot.setdefault("variants", {}).pop(drift.key, None)
            else:
                snapshot.setdefault("variants", {}).setdefault(drift.key, {})[drift.field.split(".", 1)[1]] = drift.live
        elif drift.field.startswith("metafield:"):
            snapshot.setdefault("metafields", {})[drift.field.split(":", 1)[1]] = drift.live
        elif drift.field == "images":
            snapshot["images"] = live.get("images", [])
        elif drift.field in snapshot:
            snapshot[drift.field] = drift.live
    return snapshot


def publish_compare(*, last: dict[str, Any], plan_snapshot: dict[str, Any], live_node: dict | None,
                    keys_by_shopify_id: dict[str, str]) -> CompareResult:
    """Compare what Shopify has (``live_node``, None if the product is gone) with what we last wrote (``last``) and
    what we are about to write (``plan_snapshot``). Pure.

    A product bound by onboarding (``last`` is the onboarding mark) was never written by us: every field the first
    publish changes is a difference to log (source "onboarding").
    """
    variant_ids = {key: sid for sid, key in keys_by_shopify_id.items()}
    if live_node is None:
        return CompareResult(drifts=[Drift("product.exists", "present", "deleted in Shopify", "present")],
                             deleted=True)
    source = "publish"
    if last.get(ONBOARDING_MARK):
        last, source = dict(plan_snapshot), "onboarding"
    live = snapshot_from_shopify(node=live_node, like=last, keys_by_shopify_id=keys_by_shopify_id)
    drifts = drift_compare(last=last, live=live, pim=plan_snapshot, variant_ids=variant_ids)
    return CompareResult(drifts=drifts, source=source, live=live,
                         last_with_live=snapshot_with_live(last, live, drifts) if drifts else {})
