"""Review actions on a conflict (accept, overwrite, hold, release, acknowledge) and retention of resolved ones.

Each action locks its conflict, changes it, and un-holds / republishes the product as the decision requires.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from channels import binder
from channels.mapping import acceptable, field_for
from channels.models import ChannelAssignment, VariantBinding
from pim.clock import clock_now
from pim.models import Variant

from .compare import Drift
from .compare import snapshot_with_live as _snapshot_with_live
from .models import Conflict


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


def conflicts_purge(*, now=None) -> int:
    """Delete resolved conflicts older than CONFLICT_RETENTION_DAYS (at least 30); return how many."""
    days = max(30, settings.CONFLICT_RETENTION_DAYS)
    cutoff = (now or clock_now()) - timedelta(days=days)
    deleted, _ = Conflict.objects.filter(
        resolved_at__lt=cutoff, status__in=[Conflict.Status.ACCEPTED, Conflict.Status.OVERWRITTEN]
    ).delete()
    return deleted
