"""Inventory drift: merchant edits of stock in Shopify (``inventory_levels/update``), the delayed compare with the
PIM (a ``check`` push), and the review actions on a held drift (accept Shopify's quantity, overwrite it).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from channels.clients import client_for_store
from channels.models import ConflictPolicy, VariantBinding
from outbox.kinds import Outcome
from pim.clock import clock_now

from . import selectors
from .errors import StockError, _rest_id
from .ledger import _Change, _manual_origin, _record
from .levels import _level_target, _lock_level, _shopify_level
from .models import (
    InventoryDrift,
    InventoryPush,
    ShopifyLevel,
    StockLevel,
    StockMovement,
    StoreLocation,
    WebhookEvent,
)
from .pushes import (
    _push_finish,
    _push_record,
    _store_settings,
    inventory_level_stocked,
    inventory_pushes_dispatch_on_commit,
    inventory_set_request,
)
from .queueing import _setting

logger = logging.getLogger(__name__)


def _handle_inventory_level_update(*, event: WebhookEvent, payload: dict) -> str:
    item_id = _rest_id(payload.get("inventory_item_id"), "inventory_item_id")
    shopify_location = _rest_id(payload.get("location_id"), "location_id")
    available = payload.get("available")
    if available is not None:
        available = int(available)
    store = selectors.inventory_pusher_for_shop(shop_domain=event.shop_domain)
    if store is None:
        return f"no connection pushes inventory to {event.shop_domain}: recorded only"
    if not selectors.store_accepts_deltas(store=store):
        return f"{store.name} has not had its initial full sync: recorded only"
    binding = VariantBinding.objects.filter(store=store, shopify_inventory_item_id=item_id).select_related("variant").first()
    mapping = StoreLocation.objects.filter(store=store, shopify_location_id=shopify_location).first()
    if binding is None or mapping is None:
        logger.info("inventory_levels/update for unmapped item %s / location %s in %s", item_id, shopify_location,
                    event.shop_domain)
        return "unmapped inventory item or location: recorded only"
    variant = binding.variant
    if not variant.inventory_tracked or variant.inventory_sync_excluded:
        return f"{variant.sku} is not synced: recorded only"
    stocked_set = inventory_level_stocked(store=store, variant_id=variant.pk, location_id=mapping.location_id)
    if event.topic == "inventory_levels/connect":
        return (f"{variant.sku} stocked at {mapping.location} in Shopify"
                + (f": absolute set #{stocked_set}" if stocked_set else ""))
    if not _store_settings(store).merchant_edits_write_back:
        return f"{store.name} does not write merchant stock edits back: recorded only"
    # No row lock is held across both writes below (a lock here plus the check push's row would deadlock
    # with a worker claiming that push): the echo is consumed with a compare-and-swap instead.
    level = _shopify_level(store.pk, variant.pk, mapping.location_id)
    for _ in range(5):
        echoes = list(level.expected_echoes or [])
        if available is None or available not in echoes:
            break
        remaining = list(echoes)
        remaining.remove(available)
        if ShopifyLevel.objects.filter(pk=level.pk, expected_echoes=echoes).update(expected_echoes=remaining):
            return f"echo of our own push ({variant.sku} available {available})"
        level.refresh_from_db(fields=["expected_echoes"])
    delay = float(_setting("INVENTORY_CHECK_DELAY_SECONDS", 10))
    push_id = _push_record(kind=InventoryPush.Kind.CHECK, store_id=store.pk, variant_id=variant.pk,
                           location_id=mapping.location_id, delay=delay)
    inventory_pushes_dispatch_on_commit(push_ids=[push_id], delay=delay)
    return (f"not our push ({variant.sku} available {available}): compared with the PIM in {delay:g}s "
            f"(check #{push_id})")


def _check_settle_seconds() -> float:
    return float(_setting("INVENTORY_CHECK_DELAY_SECONDS", 10))


def _check_unsettled(push: InventoryPush, row: dict, read_at) -> tuple[str, float]:
    """Say why a mismatch read just now may be a sale in flight rather than a merchant edit ('' when it cannot be),
    and how long to wait before comparing again.

    ``_admit`` looked for waiting order webhooks before the claim, but an order placed or delivered between the
    claim and the read is in the number read and not yet in the PIM (``level_sale_in_flight``). After
    INVENTORY_CHECK_MAX_WAIT_SECONDS of waiting the check concludes anyway.
    """
    if level_wait_is_over(push=push, now=read_at):
        return "", 0.0
    return level_sale_in_flight(shop_domain=push.store.shop_domain, row=row, read_at=read_at)


def level_wait_is_over(*, push: InventoryPush, now) -> bool:
    """Whether ``push`` has waited INVENTORY_CHECK_MAX_WAIT_SECONDS for Shopify to settle (it then goes ahead)."""
    return (now - push.created_at).total_seconds() > float(_setting("INVENTORY_CHECK_MAX_WAIT_SECONDS", 120))


def level_sale_in_flight(*, shop_domain: str, row: dict, read_at) -> tuple[str, float]:
    """Say why Shopify's level ``row`` (an ``inventory_levels`` row, read at ``read_at``) may include a sale the PIM
    has not booked yet ('' when it cannot), and how many seconds to wait before reading it again.

    Shopify's change and its order webhook are not atomic: a sale lowers ``available`` at once and its
    ``orders/create`` arrives later, in any order with the ``inventory_levels/update`` it caused. So a waiting order
    webhook of the shop, or a level Shopify changed less than INVENTORY_CHECK_DELAY_SECONDS ago (its webhook may
    still be on its way), leaves the number read in doubt. Used by a check (is it a merchant edit?) and by an
    absolute set (would it put sold units back?).
    """
    if selectors.unprocessed_order_events(shop_domain=shop_domain):
        return "an order webhook of the shop is not processed yet", 2.0
    settle = _check_settle_seconds()
    changed_at = parse_datetime(row.get("updatedAt") or "")
    if settle > 0 and changed_at is not None:
        if not changed_at.microsecond:  # whole seconds: the change may be up to a second later than it says
            changed_at += timedelta(seconds=1)
        age = (read_at - changed_at).total_seconds()
        if age < settle:
            return f"changed in Shopify {max(0, int(age))}s ago: its order webhook may be on its way", settle - age
    return "", 0.0


def _check_again(push: InventoryPush, why: str, delay: float) -> Outcome:
    """Finish an inconclusive check and queue the next one; the next keeps this one's start, so the max wait holds."""
    delay = max(1.0, delay)
    with transaction.atomic():
        check_id = _push_record(kind=InventoryPush.Kind.CHECK, store_id=push.store_id, variant_id=push.variant_id,
                                location_id=push.location_id, delay=delay)
        InventoryPush.objects.filter(pk=check_id, created_at__gt=push.created_at).update(created_at=push.created_at)
        inventory_pushes_dispatch_on_commit(push_ids=[check_id], delay=delay)
        _push_finish(push, InventoryPush.Status.DONE, f"{why}: check #{check_id} queued")
    return Outcome(InventoryPush.Status.DONE, "inconclusive")


def _run_check(push: InventoryPush, level: ShopifyLevel) -> Outcome:
    target = _level_target(push.store, push.variant_id, push.location_id)
    if target is None:
        _push_finish(push, InventoryPush.Status.SKIPPED, "variant or location not mapped in this store")
        return Outcome(InventoryPush.Status.SKIPPED)
    item, location = target
    before = StockLevel.objects.filter(variant_id=push.variant_id, location_id=push.location_id).first()
    rows = client_for_store(push.store).inventory_levels(inventory_item_ids=[item], location_ids=[location],
                                                         names=("available",))
    read_at = clock_now()
    after = StockLevel.objects.filter(variant_id=push.variant_id, location_id=push.location_id).first()
    row = rows[0] if rows else {}
    if not row.get("stocked"):
        _push_finish(push, InventoryPush.Status.DONE, "not stocked at the location in Shopify")
        return Outcome(InventoryPush.Status.DONE)
    shopify = (row.get("quantities") or {}).get("available")
    pim = selectors.pim_available_for_target(store_id=push.store_id, variant_id=push.variant_id,
                                             location_id=push.location_id)
    moving = (before.version if before else 0) != (after.version if after else 0) or selectors.level_pushes_in_flight(
        store_id=push.store_id, variant_id=push.variant_id, location_id=push.location_id)
    if shopify == pim:
        _push_finish(push, InventoryPush.Status.DONE, f"Shopify matches the PIM ({pim})")
        return Outcome(InventoryPush.Status.DONE, "consistent")
    if moving:  # the PIM changed while we read: compare again later
        return _check_again(push, "stock moved while comparing", 2.0)
    unsettled, wait = _check_unsettled(push, row, read_at)
    if unsettled:  # Shopify {shopify} may include a sale the PIM has not booked yet
        return _check_again(push, f"Shopify {shopify} ≠ PIM {pim} but {unsettled}", wait)
    store = push.store
    # Concluding after the max wait while an order webhook of the shop is still waiting (or failed, for review): the
    # difference may be that sale, and a set would undo it in Shopify for good (the order's own store is never
    # pushed when the PIM books it later). So the drift is held for review instead of overwritten.
    doubt = selectors.unprocessed_order_events(shop_domain=store.shop_domain) + selectors.failed_order_events(
        shop_domain=store.shop_domain)
    overwrite = store.default_conflict_policy == ConflictPolicy.OVERWRITE and not doubt
    with transaction.atomic():
        open_drift = InventoryDrift.objects.filter(
            store=store, variant_id=push.variant_id, location_id=push.location_id, resolved_at__isnull=True
        ).first()
        if open_drift is not None and not overwrite:
            InventoryDrift.objects.filter(pk=open_drift.pk).update(shopify_available=shopify, pim_available=pim)
        else:
            InventoryDrift.objects.create(
                store=store, variant_id=push.variant_id, location_id=push.location_id, shopify_available=shopify,
                pim_available=pim,
                action=InventoryDrift.Action.OVERWRITTEN if overwrite else InventoryDrift.Action.HELD,
                resolved_at=timezone.now() if overwrite else None,
                resolved_by="overwrite policy" if overwrite else "",
            )
        if overwrite:
            set_id = _push_record(kind=InventoryPush.Kind.SET, store_id=push.store_id, variant_id=push.variant_id,
                                  location_id=push.location_id)
            inventory_pushes_dispatch_on_commit(push_ids=[set_id])
            detail = f"Shopify {shopify} ≠ PIM {pim}: merchant edit overwritten by set #{set_id}"
        else:
            why = f"{doubt} order webhook(s) of the shop not processed" if doubt else "hold policy"
            detail = f"Shopify {shopify} ≠ PIM {pim}: held for review ({why})"
        _push_finish(push, InventoryPush.Status.DONE, detail)
    logger.warning("store %s, variant %s at location %s: %s", store.name, push.variant_id, push.location_id, detail)
    return Outcome(InventoryPush.Status.DONE, detail)


def inventory_drift_accept(*, drift: InventoryDrift, actor: AbstractBaseUser | None = None) -> StockMovement | None:
    """Take Shopify's quantity of a held drift into the PIM as a sync correction, then close the drift.

    The correction is pushed to the other stores like any movement. Raises StockError if the drift is closed.
    """
    if drift.resolved_at is not None:
        raise StockError("This drift is already resolved.")
    origin = _manual_origin(actor, "")
    origin.store, origin.shop_domain = drift.store, drift.store.shop_domain
    with transaction.atomic():
        stock = _lock_level(drift.variant_id, drift.location_id)
        movement, _ = _record(
            [_Change(variant=drift.variant, location_id=drift.location_id, kind=StockMovement.Kind.SYNC_CORRECTION,
                     quantity=drift.shopify_available - stock.available, source_ref=f"pim:drift:{drift.pk}:accept",
                     reason=f"Shopify quantity {drift.shopify_available} accepted from {drift.store.name}")],
            origin, allow_negative=True,
        )[0]
        InventoryDrift.objects.filter(pk=drift.pk).update(
            action=InventoryDrift.Action.ACCEPTED, resolved_at=timezone.now(), resolved_by=origin.actor_label
        )
    return movement


def inventory_drift_overwrite(*, drift: InventoryDrift, actor: AbstractBaseUser | None = None) -> int:
    """Push the PIM's quantity over a held drift (absolute set with compare-and-set); return the push id."""
    with transaction.atomic():
        push_id = inventory_set_request(store=drift.store, variant=drift.variant, location=drift.location)
        label = _manual_origin(actor, "").actor_label
        InventoryDrift.objects.filter(pk=drift.pk).update(
            action=InventoryDrift.Action.OVERWRITTEN, resolved_at=timezone.now(), resolved_by=label
        )
    return push_id
