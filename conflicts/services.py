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
from typing import Any, Literal

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from channels import binder
from channels.binder import ONBOARDING_MARK as _ONBOARDING_MARK
from channels.mapping import acceptable, field_for
from channels.models import ChannelAssignment, ConflictPolicy, Store, SyncJob, VariantBinding
from channels.payloads import publish_plan_build, snapshot_from_shopify
from channels.publishing import product_live_read
from channels.shopify.netguard import network_call_check
from pim.models import Product, Variant

from .compare import PRODUCT_KEYS, VARIANT_KEYS, CompareResult, Drift, drift_compare, publish_compare  # noqa: F401
from .compare import snapshot_with_live as _snapshot_with_live
from .models import Conflict, DriftAlert, FieldPolicy

logger = logging.getLogger(__name__)

# Set as {"_onboarding": True} in ChannelAssignment.published_snapshot by onboarding's --apply.
ONBOARDING_MARK = _ONBOARDING_MARK


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def field_policy(*, store: Store, field: str, policies: dict[str, str] | None = None) -> str:
    """Return the policy for ``field`` on ``store``: its per-field policy, else the store's default."""
    if policies is None:
        policies = dict(FieldPolicy.objects.filter(store=store).values_list("field", "policy"))
    key = "metafields" if field.startswith("metafield:") else field
    return policies.get(key) or store.default_conflict_policy


# --- recording ----------------------------------------------------------------------------------------


def policy_decide(*, store: Store, shopify_product_id: str, drifts: list[Drift], source: str = "publish",
                  existing: dict | None = None) -> list[tuple[Drift, str, bool]]:
    """Return, per drift, the store's policy for its field and whether it holds the product. Reads only.

    A drift whose open conflict a manager released for exactly this Shopify value does not hold again; the sweep
    never holds. ``existing`` (if given) is filled with the open conflicts by (Shopify variant id, field).
    """
    policies = dict(FieldPolicy.objects.filter(store=store).values_list("field", "policy"))
    found = {
        (c.shopify_variant_id, c.field): c
        for c in Conflict.objects.filter(
            store=store, shopify_product_id=shopify_product_id, status__in=Conflict.OPEN_STATUSES
        )
    }
    if existing is not None:
        existing.update(found)
    decisions = []
    for drift in drifts:
        policy = field_policy(store=store, field=drift.field, policies=policies)
        conflict = found.get((drift.shopify_variant_id, drift.field))
        released = bool(conflict and conflict.release_approved and conflict.shopify_before == _text(drift.live))
        decisions.append((drift, policy, policy == ConflictPolicy.HOLD and not released
                          and source != Conflict.Source.SWEEP))
    return decisions


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
    existing: dict = {}
    decisions = policy_decide(store=store, shopify_product_id=shopify_product_id, drifts=drifts, source=source,
                              existing=existing)
    hold = False
    records = []
    for drift, policy, holds in decisions:
        conflict = existing.get((drift.shopify_variant_id, drift.field))
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


def _fetch_live(client, assignment: ChannelAssignment) -> dict | None:
    """Read the live product sized to what we last wrote (the publish's own live read stage)."""
    from channels.payloads import PublishPlan

    return product_live_read(client=client, assignment=assignment,
                             plan=PublishPlan(snapshot=assignment.published_snapshot, product_input={}))


def publish_policy_record(*, store: Store, product: Product, shopify_product_id: str, result: CompareResult,
                          job: SyncJob | None) -> Literal["proceed", "hold"]:
    """The policy stage of a publish: record each drift of ``result`` as a conflict and return proceed or hold.

    Writes conflict rows only; what follows for the channel rows (hold flag, forgotten ids, the snapshot with the
    live values) is the publish's to bind.
    """
    source = Conflict.Source.ONBOARDING if result.source == "onboarding" else Conflict.Source.PUBLISH
    _, hold = conflicts_record(store=store, product=product, shopify_product_id=shopify_product_id,
                               drifts=result.drifts, source=source, job=job)
    return "hold" if hold else "proceed"


def drift_after_publish(*, job) -> None:
    """Fill in "Shopify value after the sync" for the conflicts this publish overwrote."""
    if job is None:
        return
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
    live_node = _fetch_live(client, assignment)
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
    plan = publish_plan_build(assignment=assignment,
                              bindings=binder.bindings_for(store=store, product=assignment.product))
    result = publish_compare(last=last, plan_snapshot=plan.snapshot, live_node=read.live_node,
                             keys_by_shopify_id=binder.snapshot_keys_by_shopify_id(
                                 store=store, product_id=assignment.product_id))
    if not result.drifts:
        return []
    with transaction.atomic():
        records, hold = conflicts_record(store=store, product=assignment.product,
                                         shopify_product_id=assignment.shopify_product_id, drifts=result.drifts,
                                         source=Conflict.Source.WEBHOOK)
        if hold:
            binder.bind_hold(assignment=assignment, held=True)
        else:
            binder.bind_snapshot_as_live(assignment=assignment, snapshot=result.last_with_live)
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
        binder.bind_hold(assignment=assignment, held=True)
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
    keys: dict[int, dict[str, str]] = {}  # product id -> Shopify variant id -> snapshot key
    for product_id, variant_id, vid in VariantBinding.objects.filter(store=store).values_list(
        "variant__product_id", "variant_id", "shopify_variant_id"
    ).iterator(chunk_size=5000):
        keys.setdefault(product_id, {})[vid] = str(variant_id)
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
        by_id = keys.get(product_id, {})
        live = snapshot_from_shopify(node=node, like=last, keys_by_shopify_id=by_id)
        drifts = drift_compare(last=last, live=live, pim=None, variant_ids={k: sid for sid, k in by_id.items()})
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
    if not acceptable(field):
        raise ValidationError(f"A Shopify value for '{field}' cannot be accepted into the PIM; overwrite it instead.")
    reason = f"Accepted Shopify value from store {conflict.store.name}"[:100]
    variant = _conflict_variant(conflict) if field.startswith("variant.") else None
    field_for(field).accept(store=conflict.store, product=product, variant=variant, field=field,
                            raw=conflict.shopify_before, actor=actor, reason=reason)


def _conflict_variant(conflict: Conflict) -> Variant:
    """The PIM variant of a variant conflict: by its Shopify variant id (the store's binding), else by its SKU."""
    if conflict.shopify_variant_id:
        binding = VariantBinding.objects.filter(store=conflict.store, shopify_variant_id=conflict.shopify_variant_id,
                                                variant__product=conflict.product).select_related("variant").first()
        if binding is not None:
            return binding.variant
    variant = Variant.objects.filter(product=conflict.product, sku=conflict.sku).first() if conflict.sku else None
    if variant is None:
        raise ValidationError("The PIM variant of this conflict no longer exists.")
    return variant


def _release_hold_if_clear(conflict: Conflict) -> None:
    still_held = Conflict.objects.filter(
        store=conflict.store, shopify_product_id=conflict.shopify_product_id, status=Conflict.Status.HELD
    ).exclude(pk=conflict.pk)
    if not still_held.exists():
        binder.bind_hold(store=conflict.store, shopify_product_id=conflict.shopify_product_id, held=False)


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
    if conflict.field.startswith("product.") or conflict.field == "variant.exists":
        return
    key = _snapshot_key(conflict, assignment.published_snapshot) if conflict.field.startswith("variant.") else ""
    drift = Drift(conflict.field, None, live_value, sku=conflict.sku, key=key)
    live = {"images": [[None, alt] for alt in live_value]} if conflict.field == "images" else {}
    binder.bind_snapshot_as_live(assignment=assignment,
                                 snapshot=_snapshot_with_live(assignment.published_snapshot, live, [drift]))


def _snapshot_key(conflict: Conflict, snapshot: dict) -> str:
    """The snapshot key of a variant conflict's variant: through its Shopify variant id, else its SKU."""
    written = snapshot.get("variants") or {}
    if conflict.shopify_variant_id:
        variant_id = VariantBinding.objects.filter(store=conflict.store, shopify_variant_id=conflict.shopify_variant_id
                                                   ).values_list("variant_id", flat=True).first()
        if variant_id is not None and str(variant_id) in written:
            return str(variant_id)
    matches = [k for k, entry in written.items() if entry.get("sku", k) == conflict.sku]
    return matches[0] if len(matches) == 1 else ""


@transaction.atomic
def conflict_hold(*, conflict: Conflict, actor) -> Conflict:
    """Pause publishing the conflict's product to its store until the conflict is resolved or released."""
    conflict = Conflict.objects.select_for_update().get(pk=conflict.pk)
    if conflict.status != Conflict.Status.OPEN:
        return conflict
    conflict.status = Conflict.Status.HELD
    conflict.save(update_fields=["status", "updated_at"])
    binder.bind_hold(store=conflict.store, shopify_product_id=conflict.shopify_product_id, held=True)
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
