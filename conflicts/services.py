"""Write services of drift detection and conflict review.

A drift is a field where the live Shopify value differs from what the PIM last wrote there (and from what
the PIM is about to write). Each drift becomes, or updates, the one open conflict for its
(store, product, variant, field); the store's policy (per field or default) decides whether the publish
overwrites it or the product is held on that store until a manager resolves it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from channels.models import ChannelAssignment, ConflictPolicy, Store, SyncJob, VariantBinding
from channels.payloads import publish_plan_build, snapshot_from_shopify
from channels.shopify.ids import to_gid
from channels.shopify.netguard import network_call_check
from pim import services as pim_services
from pim.models import Product, Variant

from .models import Conflict, DriftAlert, FieldPolicy

logger = logging.getLogger(__name__)

PRODUCT_KEYS = ("title", "description", "vendor", "product_type", "tags", "status", "seo_title",
                "seo_description", "handle", "options")
VARIANT_KEYS = ("price", "compare_at_price", "barcode", "weight", "options")
ACCEPTABLE_FIELDS = {"title", "description", "vendor", "product_type", "tags", "status", "seo_title",
                     "seo_description", "variant.price", "variant.compare_at_price", "variant.barcode"}


# Set as {"_onboarding": True} in ChannelAssignment.published_snapshot by onboarding's --apply.
ONBOARDING_MARK = "_onboarding"


@dataclass
class Drift:
    field: str
    last_written: Any
    live: Any
    pim: Any = None
    sku: str = ""
    shopify_variant_id: str = ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# --- comparing ----------------------------------------------------------------------------------------


def drift_compare(
    *, last: dict[str, Any], live: dict[str, Any], pim: dict[str, Any] | None, variant_ids: dict[str, str]
) -> list[Drift]:
    """Return the fields where ``live`` differs from ``last`` (what we wrote) and from ``pim`` (what we will write).

    A live value equal to the PIM's current value is not drift (it is our own write echoing back, or the
    merchant made the same change). Image URLs are not compared (Shopify rewrites them to its CDN); their
    count and alt texts are.
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
        for sku, written in last["variants"].items():
            current = live["variants"].get(sku)
            if current is None:
                if sku in pim_variants:
                    drifts.append(Drift("variant.exists", "present", "deleted in Shopify", "present", sku,
                                        variant_ids.get(sku, "")))
                continue
            for sub in VARIANT_KEYS:
                if sub not in written:
                    continue
                want = pim_variants.get(sku, {}).get(sub, written[sub])
                if current.get(sub) != written[sub] and current.get(sub) != want:
                    drifts.append(Drift(f"variant.{sub}", written[sub], current.get(sub), want, sku,
                                        variant_ids.get(sku, "")))
        for sku in live["variants"]:
            if sku not in last["variants"] and sku not in pim_variants:
                drifts.append(Drift("variant.exists", "absent", "added in Shopify", "absent", sku))
    return drifts


def field_policy(*, store: Store, field: str, policies: dict[str, str] | None = None) -> str:
    """Return the policy for ``field`` on ``store``: its per-field policy, else the store's default."""
    if policies is None:
        policies = dict(FieldPolicy.objects.filter(store=store).values_list("field", "policy"))
    key = "metafields" if field.startswith("metafield:") else field
    return policies.get(key) or store.default_conflict_policy


# --- recording ----------------------------------------------------------------------------------------


def conflicts_record(
    *,
    store: Store,
    product: Product | None,
    shopify_product_id: str,
    drifts: list[Drift],
    source: str,
    job: SyncJob | None = None,
) -> tuple[list[Conflict], bool]:
    """Create or update one open conflict per drift and apply the store's policies.

    Returns the conflicts and whether the product must be held on this store. A drift whose open conflict
    a manager released for exactly this Shopify value is overwritten without holding again.
    """
    now = timezone.now()
    policies = dict(FieldPolicy.objects.filter(store=store).values_list("field", "policy"))
    existing = {
        (c.shopify_variant_id, c.field): c
        for c in Conflict.objects.filter(
            store=store, shopify_product_id=shopify_product_id, status__in=Conflict.OPEN_STATUSES
        )
    }
    hold = False
    records = []
    for drift in drifts:
        policy = field_policy(store=store, field=drift.field, policies=policies)
        conflict = existing.get((drift.shopify_variant_id, drift.field))
        released = bool(conflict and conflict.release_approved and conflict.shopify_before == _text(drift.live))
        holds = policy == ConflictPolicy.HOLD and not released and source != Conflict.Source.SWEEP
        hold = hold or holds
        values = {
            "product": product,
            "sku": drift.sku,
            "pim_value": _text(drift.pim),
            "last_written_value": _text(drift.last_written),
            "shopify_before": _text(drift.live),
            "source": source,
            "policy_applied": policy,
            "sync_job": job,
            "synced_at": now if job else None,
        }
        if conflict is None:
            try:
                with transaction.atomic():
                    conflict = Conflict.objects.create(
                        store=store, shopify_product_id=shopify_product_id,
                        shopify_variant_id=drift.shopify_variant_id, field=drift.field,
                        status=Conflict.Status.HELD if holds else Conflict.Status.OPEN, **values,
                    )
                records.append(conflict)
                continue
            except IntegrityError:  # recorded concurrently (webhook and publish at once): update that one
                conflict = Conflict.objects.get(
                    store=store, shopify_product_id=shopify_product_id, shopify_variant_id=drift.shopify_variant_id,
                    field=drift.field, status__in=Conflict.OPEN_STATUSES,
                )
        # A repeated edit (or the same edit seen again) updates the one open conflict.
        for name, value in values.items():
            setattr(conflict, name, value)
        if holds:
            conflict.status = Conflict.Status.HELD
        conflict.occurrences += 1
        conflict.save()
        records.append(conflict)
    if records:
        drift_alert_check(store=store)
    return records, hold


def _fetch_live(client, shopify_product_id: str, like: dict[str, Any]) -> dict | None:
    """Read the live product with connections sized to what we compare (one cheap query)."""
    return client.product_get_for_drift(
        product_id=to_gid("Product", shopify_product_id),
        variant_count=len(like.get("variants") or {}),
        media_count=len(like.get("images") or []),
        metafield_keys=sorted(like.get("metafields") or {}),
    )


def _variant_ids(store: Store, product: Product | None) -> dict[str, str]:
    if product is None:
        return {}
    return dict(
        VariantBinding.objects.filter(store=store, variant__product=product).values_list(
            "variant__sku", "shopify_variant_id"
        )
    )


def drift_check_before_publish(*, job, assignment: ChannelAssignment, plan, client) -> Literal["proceed", "hold"]:
    """Read the live product (one query), record Shopify-side edits as conflicts and apply the policy.

    Returns "hold" when a field's policy is hold; the caller pauses the product on this store. A product
    deleted in Shopify is recorded and its binding cleared, so the publish creates it again (or holds).
    Raises the client's ShopifyError on transport errors (the job retries).
    """
    last = assignment.published_snapshot or {}
    if not last:
        return "proceed"
    store = assignment.store
    product = assignment.product
    live_node = _fetch_live(client, assignment.shopify_product_id, plan.snapshot if last.get(ONBOARDING_MARK) else last)
    if live_node is None:
        drift = Drift("product.exists", "present", "deleted in Shopify", "present")
        _, hold = conflicts_record(store=store, product=product, shopify_product_id=assignment.shopify_product_id,
                                   drifts=[drift], source=Conflict.Source.PUBLISH, job=job)
        if hold:
            return "hold"
        VariantBinding.objects.filter(store=store, variant__product=product).delete()
        ChannelAssignment.objects.filter(pk=assignment.pk).update(shopify_product_id="", published_hash="",
                                                                  published_snapshot={}, publication_ids=[])
        assignment.shopify_product_id = ""
        assignment.published_snapshot = {}
        return "proceed"
    source = Conflict.Source.PUBLISH
    if last.get(ONBOARDING_MARK):
        # Bound by onboarding, never written by us: every field the first publish changes is logged.
        last = dict(plan.snapshot)
        source = Conflict.Source.ONBOARDING
    live = snapshot_from_shopify(node=live_node, like=last)
    drifts = drift_compare(last=last, live=live, pim=plan.snapshot, variant_ids=_variant_ids(store, product))
    if not drifts:
        return "proceed"
    _, hold = conflicts_record(store=store, product=product, shopify_product_id=assignment.shopify_product_id,
                               drifts=drifts, source=source, job=job)
    if hold:
        return "hold"
    # Overwrite: make sure the write covers every drifted field even if the PIM did not change it.
    _mark_snapshot_with_live(assignment, last, live, drifts)
    gone = [d.sku for d in drifts if d.field == "variant.exists" and d.live == "deleted in Shopify"]
    if gone:  # their ids no longer exist in Shopify: the publish creates them again
        VariantBinding.objects.filter(store=store, variant__product=product, variant__sku__in=gone).delete()
    return "proceed"


def _mark_snapshot_with_live(assignment: ChannelAssignment, last: dict, live: dict, drifts: list[Drift]) -> None:
    snapshot = json.loads(json.dumps(last))
    for drift in drifts:
        if drift.field.startswith("variant.") and drift.sku:
            if drift.field == "variant.exists":
                snapshot.setdefault("variants", {}).pop(drift.sku, None)
            else:
                snapshot["variants"].setdefault(drift.sku, {})[drift.field.split(".", 1)[1]] = drift.live
        elif drift.field.startswith("metafield:"):
            snapshot["metafields"][drift.field.split(":", 1)[1]] = drift.live
        elif drift.field == "images":
            snapshot["images"] = live.get("images", [])
        elif drift.field in snapshot:
            snapshot[drift.field] = drift.live
    assignment.published_snapshot = snapshot
    ChannelAssignment.objects.filter(pk=assignment.pk).update(published_snapshot=snapshot, published_hash="")


def drift_after_publish(*, job, assignment: ChannelAssignment, plan) -> None:
    """Fill in "Shopify value after the sync" for the conflicts this publish overwrote."""
    for conflict in Conflict.objects.filter(sync_job=job, status=Conflict.Status.OPEN):
        conflict.shopify_after = conflict.pim_value
        conflict.synced_at = timezone.now()
        conflict.save(update_fields=["shopify_after", "synced_at", "updated_at"])


@dataclass
class LiveRead:
    """What the read phase of a drift check fetched: the assignment and Shopify's live product node."""

    assignment: ChannelAssignment
    live_node: dict


def drift_live_read(
    *, store_id: int, shopify_product_id: str, updated_at: datetime | str | None = None, client=None
) -> LiveRead | None:
    """Read phase of a drift check (network; call it outside any transaction): load the product's assignment and
    read the live product from Shopify. Returns None when there is nothing to compare (not published by us, an
    echo of our own write, deleted in Shopify). Raises the client's ShopifyError on transport errors.
    """
    from channels.clients import client_for_store

    assignment = (
        ChannelAssignment.objects.filter(store_id=store_id, shopify_product_id=str(shopify_product_id))
        .select_related("store", "product")
        .first()
    )
    if assignment is None or not assignment.published_snapshot or not assignment.publish:
        return None
    if isinstance(updated_at, str):
        updated_at = parse_datetime(updated_at)
    if updated_at and assignment.shopify_updated_at and updated_at <= assignment.shopify_updated_at:
        return None  # our own write echoing back
    client = client or client_for_store(assignment.store)
    live_node = _fetch_live(client, assignment.shopify_product_id, assignment.published_snapshot)
    if live_node is None:
        return None  # products/delete handles deletions; the next publish records it
    return LiveRead(assignment=assignment, live_node=live_node)


def drift_live_apply(*, read: LiveRead) -> list[Conflict]:
    """Compare phase of a drift check (no network): compare the live product with the PIM and apply the store's
    policy in one transaction. Overwrite records the conflicts and queues a publish of the PIM values; hold pauses
    the product on the store. Returns the conflicts recorded."""
    from channels.services import publish_request

    assignment = read.assignment
    store = assignment.store
    last = assignment.published_snapshot
    bindings = {b.variant_id: b for b in VariantBinding.objects.filter(store=store, variant__product=assignment.product)}
    plan = publish_plan_build(assignment=assignment, bindings=bindings)
    live = snapshot_from_shopify(node=read.live_node, like=last)
    drifts = drift_compare(last=last, live=live, pim=plan.snapshot, variant_ids=_variant_ids(store, assignment.product))
    if not drifts:
        return []
    with transaction.atomic():
        records, hold = conflicts_record(store=store, product=assignment.product,
                                         shopify_product_id=assignment.shopify_product_id, drifts=drifts,
                                         source=Conflict.Source.WEBHOOK)
        if hold:
            ChannelAssignment.objects.filter(pk=assignment.pk).update(held=True)
        else:
            _mark_snapshot_with_live(assignment, last, live, drifts)
            job_ids = publish_request(store=store, product_ids=[assignment.product_id])
            Conflict.objects.filter(pk__in=[c.pk for c in records]).update(sync_job_id=job_ids[0] if job_ids else None)
    return records


def drift_check_for_product(
    *, store_id: int, shopify_product_id: str, updated_at: datetime | str | None = None, client=None
) -> list[Conflict]:
    """Check one product for Shopify-side edits now and apply the store's policy (``drift_live_read`` then
    ``drift_live_apply``; call it outside any transaction).

    ``updated_at`` is the webhook's ``updated_at``: a change not newer than Shopify's ``updatedAt`` after our
    own last write is that write echoing back, and costs no Shopify read. Returns the conflicts recorded. Raises
    the client's ShopifyError on transport errors.
    """
    read = drift_live_read(store_id=store_id, shopify_product_id=shopify_product_id, updated_at=updated_at,
                           client=client)
    return drift_live_apply(read=read) if read is not None else []


def product_deleted_in_shopify(*, store_id: int, shopify_product_id: str) -> list[Conflict]:
    """Record that a product the PIM published was deleted in Shopify, as the nightly sweep does.

    Called for the ``products/delete`` webhook, so the deletion is noticed at once. Records (or updates) the
    one open "product.exists" conflict for the product on the store; nothing is re-created until the next
    publish, which applies the store's policy (overwrite creates it again, hold pauses it). A product the PIM
    does not know on that store is ignored. Returns the conflicts recorded.
    """
    assignment = (
        ChannelAssignment.objects.filter(store_id=store_id, shopify_product_id=str(shopify_product_id))
        .select_related("store", "product")
        .first()
    )
    if assignment is None:
        return []
    drift = Drift("product.exists", "present", "deleted in Shopify", "present")
    records, hold = conflicts_record(store=assignment.store, product=assignment.product,
                                     shopify_product_id=str(shopify_product_id), drifts=[drift],
                                     source=Conflict.Source.WEBHOOK)
    if hold:  # as for products/update: the hold policy pauses the product on this store
        ChannelAssignment.objects.filter(pk=assignment.pk).update(held=True)
    return records


def _webhook_product_id(payload: dict) -> str:
    raw = payload.get("id")
    if isinstance(raw, bool) or not str(raw or "").isdigit():
        raise ValueError(f"product id is not a number: {raw!r}")
    return str(raw)


def product_update_webhook_prefetch(*, event, payload: dict) -> LiveRead | None:
    """Read phase of a ``products/update`` webhook, run by the inbox before the event's transaction: read the live
    product when a drift check is due (``drift_live_read``). Raises ValueError for a payload without a numeric
    product id, and the client's ShopifyError (the event is retried)."""
    if event.store_id is None:
        return None
    return drift_live_read(store_id=event.store_id, shopify_product_id=_webhook_product_id(payload),
                           updated_at=payload.get("updated_at"))


def product_update_webhook_handle(*, event, payload: dict, fetched: LiveRead | None = None) -> str:
    """Handle a ``products/update`` webhook inside the event's transaction: compare what the prefetch read
    (``fetched``) with the PIM and apply the store's policy; return a note.

    Shopify fires products/update for our own writes and for every stock change; the prefetch skips those whose
    ``updated_at`` is not newer than Shopify's updatedAt after our last write, and the compare covers content only.
    Raises ValueError for a payload without a numeric product id (the event is kept as failed).
    """
    if event.store_id is None:
        return "store deleted: ignored"
    raw = _webhook_product_id(payload)
    if fetched is not None:
        drift_live_apply(read=fetched)
    return f"drift check requested for product {raw}"


def products_delete_webhook_handle(*, event, payload: dict) -> str:
    """Handle a ``products/delete`` webhook (payload ``{"id": <numeric id>}``); return a result note.

    Raises ValueError for a payload without a numeric product id (the event is kept as failed).
    """
    if event.store_id is None:
        return "store deleted: ignored"
    raw = payload.get("id")
    text = str(raw).rsplit("/", 1)[-1].strip() if raw is not None and not isinstance(raw, bool) else ""
    if not text.isdigit():
        raise ValueError(f"products/delete without a numeric product id: {raw!r}")
    records = product_deleted_in_shopify(store_id=event.store_id, shopify_product_id=text)
    if not records:
        return f"product {text} is not published by the PIM on this store: ignored"
    return f"product {text} deleted in Shopify: conflict recorded"


# --- the sweep ----------------------------------------------------------------------------------------


@dataclass
class SweepReport:
    compared: int = 0
    conflicts: int = 0
    deleted_in_shopify: int = 0
    shopify_only: int = 0


def drift_sweep(*, store: Store, client=None, progress=None) -> SweepReport:
    """Compare every product published to ``store`` with a bulk export of the store; record, never overwrite.

    Also records products deleted in Shopify and products that exist only in Shopify. Memory stays bounded
    by the number of published products' snapshots; queries are a constant per chunk plus one per conflict.
    Raises the client's ShopifyError if the bulk operation fails.
    """
    from channels.clients import client_for_store

    client = client or client_for_store(store)
    report = SweepReport()
    published = {
        pid: (aid, product_id, snapshot)
        for aid, pid, product_id, snapshot in ChannelAssignment.objects.filter(store=store)
        .exclude(shopify_product_id="")
        .values_list("pk", "shopify_product_id", "product_id", "published_snapshot")
        .iterator(chunk_size=2000)
    }
    variant_ids: dict[int, dict[str, str]] = {}
    for product_id, sku, vid in VariantBinding.objects.filter(store=store).values_list(
        "variant__product_id", "variant__sku", "shopify_variant_id"
    ).iterator(chunk_size=5000):
        variant_ids.setdefault(product_id, {})[sku] = vid
    seen: set[str] = set()
    for node in client.bulk_export_products():
        numeric = str(node.get("legacyResourceId") or node["id"].rsplit("/", 1)[-1])
        seen.add(numeric)
        entry = published.get(numeric)
        if progress:
            progress(1)
        if entry is None:
            drift = Drift("product.shopify_only", "", f"{node.get('title', '')} ({node.get('handle', '')})", "")
            conflicts_record(store=store, product=None, shopify_product_id=numeric, drifts=[drift],
                             source=Conflict.Source.SWEEP)
            report.shopify_only += 1
            continue
        _, product_id, last = entry
        report.compared += 1
        if not last:
            continue
        live = snapshot_from_shopify(node=node, like=last)
        drifts = drift_compare(last=last, live=live, pim=None, variant_ids=variant_ids.get(product_id, {}))
        if drifts:
            conflicts_record(store=store, product=Product(pk=product_id), shopify_product_id=numeric,
                             drifts=drifts, source=Conflict.Source.SWEEP)
            report.conflicts += len(drifts)
    for numeric, (_, product_id, _) in published.items():
        if numeric not in seen:
            drift = Drift("product.exists", "present", "deleted in Shopify", "present")
            conflicts_record(store=store, product=Product(pk=product_id), shopify_product_id=numeric,
                             drifts=[drift], source=Conflict.Source.SWEEP)
            report.deleted_in_shopify += 1
    return report


# --- review actions -----------------------------------------------------------------------------------


def _apply_to_pim(conflict: Conflict, *, actor) -> None:
    field = conflict.field
    if field.startswith("collection:"):  # issue 19: membership of a PIM-managed collection
        from .collection_drift import collection_conflict_apply

        return collection_conflict_apply(conflict, actor=actor)
    product = conflict.product
    if product is None:
        raise ValidationError("The PIM product of this conflict no longer exists.")
    reason = f"Accepted Shopify value from store {conflict.store.name}"[:100]
    raw = conflict.shopify_before
    if field.startswith("metafield:"):
        namespace_key = field.split(":", 1)[1]
        value = json.loads(raw)[1] if raw else ""
        mapped = {
            (m.metafield_namespace, m.metafield_key): (m.attribute_namespace, m.attribute_key)
            for m in conflict.store.metafield_mappings.all()
        }
        namespace, key = namespace_key.split(".", 1)
        namespace, key = mapped.get((namespace, key), (namespace, key))
        attribute = product.attributes.get(namespace=namespace, key=key)
        attribute.value = value
        pim_services.attribute_save(attribute=attribute, actor=actor, reason=reason)
        pim_services.catalog_changed(product_ids=[product.pk])
        return
    if field not in ACCEPTABLE_FIELDS:
        raise ValidationError(f"A Shopify value for '{field}' cannot be accepted into the PIM; overwrite it instead.")
    if field.startswith("variant."):
        variant = Variant.objects.get(product=product, sku=conflict.sku)
        sub = field.split(".", 1)[1]
        if sub in ("price", "compare_at_price"):
            try:
                value = Decimal(raw) if raw else None
            except InvalidOperation:
                raise ValidationError(f"'{raw}' is not a price.")
            pim_services.variant_update(variant=variant, actor=actor, reason=reason, **{sub: value})
        else:
            pim_services.variant_update(variant=variant, actor=actor, reason=reason, barcode=raw)
        return
    names = {"description": "description_html"}
    if field == "tags":
        value = ", ".join(json.loads(raw)) if raw else ""
    elif field == "status":
        value = raw.lower()
    else:
        value = raw
    pim_services.product_update(product=product, actor=actor, reason=reason, **{names.get(field, field): value})


def _release_hold_if_clear(conflict: Conflict) -> None:
    still_held = Conflict.objects.filter(
        store=conflict.store, shopify_product_id=conflict.shopify_product_id, status=Conflict.Status.HELD
    ).exclude(pk=conflict.pk)
    if not still_held.exists():
        ChannelAssignment.objects.filter(store=conflict.store, shopify_product_id=conflict.shopify_product_id).update(
            held=False
        )


def _republish(conflict: Conflict) -> None:
    from channels.services import publish_request

    if conflict.field.startswith("collection:"):  # issue 19: the collection's membership job, not a publish
        from .collection_drift import collection_conflict_requeue

        return collection_conflict_requeue(conflict)

    if conflict.product_id:
        publish_request(store=conflict.store, product_ids=[conflict.product_id])


@transaction.atomic
def conflict_accept(*, conflict: Conflict, actor) -> Conflict:
    """Take the Shopify value into the PIM master (history names the user and the store) and resolve.

    The PIM change publishes to every store carrying the product. Raises ValidationError for a field
    that cannot be accepted (images, options, deletions) or a value the PIM refuses (e.g. price 0).
    """
    conflict = Conflict.objects.select_for_update().get(pk=conflict.pk)
    if not conflict.is_open:
        return conflict
    _apply_to_pim(conflict, actor=actor)
    conflict.status = Conflict.Status.ACCEPTED
    conflict.resolved_by = actor
    conflict.resolved_at = timezone.now()
    conflict.save()
    _release_hold_if_clear(conflict)
    _republish(conflict)
    return conflict


@transaction.atomic
def conflict_overwrite(*, conflict: Conflict, actor) -> Conflict:
    """Keep the PIM value: resolve the conflict, un-hold the product and queue a publish that overwrites Shopify."""
    conflict = Conflict.objects.select_for_update().get(pk=conflict.pk)
    if not conflict.is_open:
        return conflict
    conflict.status = Conflict.Status.OVERWRITTEN
    conflict.release_approved = True
    conflict.resolved_by = actor
    conflict.resolved_at = timezone.now()
    conflict.save()
    _approve_overwrite(conflict)
    _release_hold_if_clear(conflict)
    _republish(conflict)
    return conflict


def _approve_overwrite(conflict: Conflict) -> None:
    """Make the next publish overwrite this field even under the hold policy (it matches the live value)."""
    assignment = ChannelAssignment.objects.filter(
        store=conflict.store, shopify_product_id=conflict.shopify_product_id
    ).first()
    if assignment is None or not assignment.published_snapshot or conflict.field.startswith("collection:"):
        return
    try:
        live_value = json.loads(conflict.shopify_before)
    except ValueError:
        live_value = conflict.shopify_before
    drift = Drift(conflict.field, None, live_value, sku=conflict.sku)
    live = {"images": [[None, alt] for alt in live_value]} if conflict.field == "images" else {}
    if conflict.field.startswith("product.") or conflict.field == "variant.exists":
        return
    _mark_snapshot_with_live(assignment, assignment.published_snapshot, live, [drift])


@transaction.atomic
def conflict_hold(*, conflict: Conflict, actor) -> Conflict:
    """Pause publishing the conflict's product to its store until the conflict is resolved or released."""
    conflict = Conflict.objects.select_for_update().get(pk=conflict.pk)
    if conflict.status != Conflict.Status.OPEN:
        return conflict
    conflict.status = Conflict.Status.HELD
    conflict.save(update_fields=["status", "updated_at"])
    ChannelAssignment.objects.filter(store=conflict.store, shopify_product_id=conflict.shopify_product_id).update(
        held=True
    )
    return conflict


@transaction.atomic
def conflict_release(*, conflict: Conflict, actor) -> Conflict:
    """Resume publishing a held product; the conflict stays open for review and the PIM value goes out."""
    conflict = Conflict.objects.select_for_update().get(pk=conflict.pk)
    if conflict.status != Conflict.Status.HELD:
        return conflict
    conflict.status = Conflict.Status.OPEN
    conflict.release_approved = True
    conflict.save(update_fields=["status", "release_approved", "updated_at"])
    _approve_overwrite(conflict)
    _release_hold_if_clear(conflict)
    _republish(conflict)
    return conflict


@transaction.atomic
def conflict_acknowledge(*, conflict: Conflict, actor) -> Conflict:
    """Close an onboarding difference the PIM has already overwritten in Shopify (nothing is queued).

    Onboarding binds a store's existing products and the first publish writes the PIM's values over Shopify's,
    logging each overwritten field as a conflict: a record for the manager, not a decision to take. Raises
    ValidationError for a conflict that is not from onboarding, is held, or whose PIM value is not live yet.
    """
    conflict = Conflict.objects.select_for_update().get(pk=conflict.pk)
    if conflict.source != Conflict.Source.ONBOARDING:
        raise ValidationError("Only onboarding differences can be acknowledged; review this one.")
    if conflict.status != Conflict.Status.OPEN:
        raise ValidationError("Only open differences can be acknowledged (release or resolve a held one).")
    if conflict.synced_at is None:
        raise ValidationError("The PIM value is not live in Shopify yet; acknowledge after the first publish.")
    conflict.status = Conflict.Status.OVERWRITTEN
    conflict.resolved_by = actor
    conflict.resolved_at = timezone.now()
    conflict.save(update_fields=["status", "resolved_by", "resolved_at", "updated_at"])
    return conflict


# --- retention and alerts -----------------------------------------------------------------------------


def conflicts_purge(*, now=None) -> int:
    """Delete resolved conflicts older than CONFLICT_RETENTION_DAYS (at least 30); return how many."""
    days = max(30, settings.CONFLICT_RETENTION_DAYS)
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted, _ = Conflict.objects.filter(
        resolved_at__lt=cutoff, status__in=[Conflict.Status.ACCEPTED, Conflict.Status.OVERWRITTEN]
    ).delete()
    return deleted


def drift_alert_check(*, store: Store, now=None) -> bool:
    """Notify once per window when the store's new conflicts in the window pass DRIFT_ALERT_THRESHOLD.

    Records the window's ``DriftAlert`` now; logs, emails DRIFT_ALERT_EMAILS and posts to DRIFT_ALERT_WEBHOOK_URL
    (if set) after the surrounding transaction commits (at once outside one). Returns True if it alerted.
    """
    now = now or timezone.now()
    hours = settings.DRIFT_ALERT_WINDOW_HOURS
    window_start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=now.hour % hours)
    count = Conflict.objects.filter(store=store, detected_at__gte=now - timedelta(hours=hours)).count()
    if count < settings.DRIFT_ALERT_THRESHOLD:
        return False
    try:
        with transaction.atomic():
            DriftAlert.objects.create(store=store, window_start=window_start, conflicts=count)
    except IntegrityError:
        return False  # already alerted in this window
    message = (f"Drift alert: store {store.name} has {count} new conflicts in the last {hours} h "
               f"(threshold {settings.DRIFT_ALERT_THRESHOLD}). Review them in the admin.")
    store_name = store.name
    transaction.on_commit(lambda: _drift_alert_send(store_name=store_name, count=count, message=message))
    return True


def _drift_alert_send(*, store_name: str, count: int, message: str) -> None:
    """Log and send a drift alert (email, chat webhook); never raises for a broken channel."""
    logger.warning(message)
    network_call_check(what=f"drift alert for {store_name}")
    if settings.DRIFT_ALERT_EMAILS:
        send_mail(f"[PIM] Drift alert for {store_name}", message, None, settings.DRIFT_ALERT_EMAILS,
                  fail_silently=True)
    if settings.DRIFT_ALERT_WEBHOOK_URL:
        try:
            requests.post(settings.DRIFT_ALERT_WEBHOOK_URL, json={"store": store_name, "conflicts": count,
                                                                  "text": message}, timeout=(3, 5))
        except requests.RequestException as exc:  # never the exception text: it repeats the URL's secret path
            from config.logsafe import url_for_log

            logger.warning("drift alert webhook to %s failed: %s", url_for_log(settings.DRIFT_ALERT_WEBHOOK_URL),
                           type(exc).__name__)


def drift_sweep_schedule(*, now=None) -> bool:
    """Queue the nightly drift sweep once per day, at or after DRIFT_SWEEP_HOUR (UTC); return True if queued.

    Called by every sweeper loop; a Redis key per day makes sure only one of them queues it.
    """
    import django_rq

    now = now or timezone.now()
    if now.hour < settings.DRIFT_SWEEP_HOUR:
        return False
    connection = django_rq.get_connection("default")
    if not connection.set(f"pim:drift-sweep:{now:%Y-%m-%d}", "queued", nx=True, ex=26 * 3600):
        return False
    from .tasks import drift_sweep_all

    django_rq.get_queue("default").enqueue(drift_sweep_all, job_timeout=6 * 3600)
    logger.info("nightly drift sweep queued")
    return True
