"""Stock movements (the ledger).

Every change is a ``StockMovement`` with a unique ``source_ref`` applied to its ``StockLevel`` under a row
lock (``select_for_update``); repeating a source reference changes nothing. In the same transaction the
change is recorded as an outbox row (``InventoryPush``) for every other store that carries the variant; the
``inventory`` lane is woken only after commit, so Shopify being slow or down never blocks or fails a
movement, and the outbox sweep re-sends whatever Redis lost.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from channels.models import Store
from pim.models import Variant

from . import selectors
from .errors import StockError
from .levels import _lock_level
from .models import (
    InventoryPush,
    Location,
    ShopifyLevel,
    StockLevel,
    StockMovement,
    WebhookEvent,
)
from .pushes import _push_record, _push_record_delta, inventory_pushes_dispatch_on_commit

# Shopify's adjustment reason for each kind of PIM movement pushed to a store.
SHOPIFY_REASONS = {
    StockMovement.Kind.RECEIPT: "received",
    StockMovement.Kind.SALE: "correction",
    StockMovement.Kind.CANCELLATION: "restock",
    StockMovement.Kind.REFUND_RESTOCK: "restock",
    StockMovement.Kind.ADJUSTMENT: "correction",
    StockMovement.Kind.STOCKTAKE: "cycle_count_available",
    StockMovement.Kind.SYNC_CORRECTION: "correction",
    StockMovement.Kind.ORDER_EDIT: "correction",
    StockMovement.Kind.SALE_MOVED: "correction",
}


@dataclass
class _Change:
    """One movement to make inside a transaction that already holds the needed locks."""

    variant: Variant
    location_id: int
    kind: str
    quantity: int = 0
    reserved_change: int = 0
    set_on_hand: int | None = None
    source_ref: str = ""
    reason: str = ""
    order_line_id: int | None = None


@dataclass
class _Origin:
    actor: AbstractBaseUser | None = None
    actor_label: str = ""
    store: Store | None = None
    shop_domain: str = ""
    webhook_event: WebhookEvent | None = None


def _apply(change: _Change, origin: _Origin, *, allow_negative: bool, push_ids: list[int]) -> tuple[StockMovement, bool]:
    """Apply one change to its (locked here) level; return the movement and whether it is new."""
    existing = StockMovement.objects.filter(source_ref=change.source_ref).first()
    if existing is not None:
        return existing, False
    level = _lock_level(change.variant.pk, change.location_id)
    existing = StockMovement.objects.filter(source_ref=change.source_ref).first()
    if existing is not None:  # recorded by a transaction that committed while we waited for the lock
        return existing, False
    quantity = change.quantity
    if change.set_on_hand is not None:
        quantity = change.set_on_hand - level.on_hand
    on_hand = level.on_hand + quantity
    reserved = level.reserved + change.reserved_change
    if reserved < 0:
        raise StockError(f"{change.variant.sku}: reserved stock cannot go below zero (it is {level.reserved}).")
    if not allow_negative and (on_hand < 0 or on_hand - reserved < 0) and (quantity < 0 or change.reserved_change > 0):
        raise StockError(
            f"{change.variant.sku}: only {level.on_hand - level.reserved} available at this location; "
            f"the change would leave {on_hand - reserved}."
        )
    version = level.version + 1
    now = timezone.now()
    try:
        with transaction.atomic():
            movement = StockMovement.objects.create(
                variant=change.variant, location_id=change.location_id, kind=change.kind, quantity=quantity,
                reserved_change=change.reserved_change, on_hand_after=on_hand, reserved_after=reserved,
                level_version=version, source_ref=change.source_ref[:255], store=origin.store,
                shop_domain=origin.shop_domain, actor=origin.actor if getattr(origin.actor, "pk", None) else None,
                actor_label=origin.actor_label[:255], reason=change.reason[:500],
                webhook_event=origin.webhook_event, order_line_id=change.order_line_id, created_at=now,
            )
    except IntegrityError:  # the same source reference, committed meanwhile at another level
        return StockMovement.objects.get(source_ref=change.source_ref), False
    StockLevel.objects.filter(pk=level.pk).update(on_hand=on_hand, reserved=reserved, version=version, updated_at=now)
    available_change = quantity - change.reserved_change
    if available_change:
        for store_id, target_location_id, via_default in selectors.push_targets(
            variant=change.variant, location_id=change.location_id, exclude_shop=origin.shop_domain
        ):
            if via_default:  # an unmapped location: the store's default location shows it, set absolutely
                if not ShopifyLevel.objects.filter(store_id=store_id, variant_id=change.variant.pk,
                                                   location_id=target_location_id,
                                                   not_stocked_at__isnull=False).exists():
                    push_ids.append(_push_record(kind=InventoryPush.Kind.SET, store_id=store_id,
                                                 variant_id=change.variant.pk, location_id=target_location_id,
                                                 movement_id=movement.pk, at=now))
                continue
            push_id = _push_record_delta(store_id=store_id, variant_id=change.variant.pk,
                                         location_id=change.location_id, delta=available_change, version=version,
                                         reason=SHOPIFY_REASONS[change.kind], movement_id=movement.pk, at=now)
            if push_id is not None:
                push_ids.append(push_id)
    return movement, True


def _record(changes: list[_Change], origin: _Origin, *, allow_negative: bool) -> list[tuple[StockMovement, bool]]:
    """Apply changes in one transaction, levels locked in a fixed order; dispatch their pushes after commit."""
    push_ids: list[int] = []
    results: dict[int, tuple[StockMovement, bool]] = {}
    with transaction.atomic():
        order = sorted(range(len(changes)), key=lambda i: (changes[i].variant.pk, changes[i].location_id))
        for i in order:
            results[i] = _apply(changes[i], origin, allow_negative=allow_negative, push_ids=push_ids)
        inventory_pushes_dispatch_on_commit(push_ids=push_ids)
    return [results[i] for i in range(len(changes))]


def _manual_origin(actor: AbstractBaseUser | None, actor_label: str) -> _Origin:
    if not actor_label:
        actor_label = f"user {actor.get_username()}" if getattr(actor, "pk", None) else "PIM"
    return _Origin(actor=actor, actor_label=actor_label)


def _check_variant(variant: Variant) -> None:
    if not variant.inventory_tracked:
        raise StockError(f"{variant.sku} does not track inventory; turn tracking on before recording stock.")


def stock_receive(
    *,
    variant: Variant,
    location: Location,
    quantity: int,
    source_ref: str | None = None,
    actor: AbstractBaseUser | None = None,
    actor_label: str = "",
    reason: str = "",
) -> StockMovement:
    """Record a receipt of ``quantity`` (> 0) units of ``variant`` at ``location`` and queue the pushes.

    ``source_ref`` (e.g. a purchase order line) makes the call idempotent: repeating it returns the first
    movement without changing stock. Raises StockError for an untracked variant or a quantity below 1.
    """
    _check_variant(variant)
    if int(quantity) <= 0:
        raise StockError("A receipt needs a positive quantity.")
    change = _Change(variant=variant, location_id=location.pk, kind=StockMovement.Kind.RECEIPT, quantity=int(quantity),
                     source_ref=source_ref or f"pim:receipt:{uuid.uuid4()}", reason=reason or "Goods received")
    return _record([change], _manual_origin(actor, actor_label), allow_negative=False)[0][0]


def stock_adjust(
    *,
    variant: Variant,
    location: Location,
    quantity: int = 0,
    reserved_change: int = 0,
    reason: str,
    source_ref: str | None = None,
    actor: AbstractBaseUser | None = None,
    actor_label: str = "",
) -> StockMovement:
    """Change the on-hand (``quantity``) and/or reserved stock of ``variant`` at ``location`` by a delta.

    Needs a reason (damage, shrinkage, a reservation...). Raises StockError for an untracked variant, no
    change, or a result below zero available or reserved.
    """
    _check_variant(variant)
    if not quantity and not reserved_change:
        raise StockError("An adjustment must change the quantity on hand or the reserved quantity.")
    if not (reason or "").strip():
        raise StockError("An adjustment needs a reason.")
    change = _Change(variant=variant, location_id=location.pk, kind=StockMovement.Kind.ADJUSTMENT,
                     quantity=int(quantity), reserved_change=int(reserved_change),
                     source_ref=source_ref or f"pim:adjustment:{uuid.uuid4()}", reason=reason)
    return _record([change], _manual_origin(actor, actor_label), allow_negative=False)[0][0]


def stock_count(
    *,
    variant: Variant,
    location: Location,
    counted: int,
    source_ref: str | None = None,
    actor: AbstractBaseUser | None = None,
    actor_label: str = "",
    reason: str = "",
) -> StockMovement:
    """Record a stocktake: set the on-hand quantity of ``variant`` at ``location`` to ``counted`` (>= 0).

    The movement holds the difference found (possibly zero). Raises StockError for an untracked variant or
    a negative count.
    """
    _check_variant(variant)
    if int(counted) < 0:
        raise StockError("A counted quantity cannot be negative.")
    change = _Change(variant=variant, location_id=location.pk, kind=StockMovement.Kind.STOCKTAKE,
                     set_on_hand=int(counted), source_ref=source_ref or f"pim:stocktake:{uuid.uuid4()}",
                     reason=reason or f"Counted {int(counted)}")
    return _record([change], _manual_origin(actor, actor_label), allow_negative=True)[0][0]
