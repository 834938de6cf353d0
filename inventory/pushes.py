"""Recording and dispatching pushes of stock to Shopify: rows of the outbox kind ``inventory_push`` (issue 14).

Deltas (``inventoryAdjustQuantities``) for levels that had an absolute set; absolute sets
(``inventorySetQuantities`` with ``changeFromQuantity``) for first pushes, full syncs and overwrites of
merchant edits. A pending push per level and kind coalesces the movements that follow; a set records the PIM
level version it included (``ShopifyLevel.baseline_version``) and supersedes the deltas it covers. Idempotency
keys derive from the push id. Claiming (under a per-level lease), running and retrying a push is the outbox's
work with the kind in ``inventory.push_runs``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction

from channels.models import Store
from outbox.finishing import outbox_owned, outbox_stale_write
from outbox.kinds import outbox_kind
from outbox.services import outbox_dispatch, outbox_dispatch_on_commit, outbox_record
from pim.clock import clock_now
from pim.models import Variant

from . import selectors
from .errors import InventorySyncRefused
from .levels import _shopify_level
from .models import (
    InventoryPush,
    InventorySyncRun,
    Location,
    ShopifyLevel,
)
from .queueing import _setting

INVENTORY_PUSH_KIND = "inventory_push"
INVENTORY_SYNC_SET_KIND = "inventory_sync_set"  # a full sync's sets (``inventory.sync_sets``), lane ``default``


# A pending push of a level coalesces the movements that follow (the key: store, variant, location, kind).
_FOLD = {
    "delta": "{table}.delta + EXCLUDED.delta",
    "movements": "{table}.movements + 1",
    "reason": "CASE WHEN {table}.reason = EXCLUDED.reason THEN {table}.reason ELSE 'correction' END",
    "min_version": "LEAST({table}.min_version, EXCLUDED.min_version)",
    "max_version": "GREATEST({table}.max_version, EXCLUDED.max_version)",
    "sync_run_id": "COALESCE(EXCLUDED.sync_run_id, {table}.sync_run_id)",
}


def _push_kind():
    return outbox_kind(INVENTORY_PUSH_KIND)


def _push_record(
    *,
    kind: str,
    store_id: int,
    variant_id: int,
    location_id: int,
    delta: int = 0,
    version: int = 0,
    reason: str = "correction",
    movement_id: int | None = None,
    sync_run_id: int | None = None,
    delay: float = 0.0,
    at=None,
) -> int:
    """Insert a pending push or fold into the level's pending push of that kind; return its id."""
    now = at or clock_now()
    return outbox_record(kind=_push_kind(), on_conflict=_FOLD, values={
        "store_id": store_id, "variant_id": variant_id, "location_id": location_id, "kind": kind,
        "status": InventoryPush.Status.PENDING, "delta": delta, "reason": reason, "min_version": version,
        "max_version": version, "movements": 1, "movement_id": movement_id, "sync_run_id": sync_run_id,
        "max_attempts": _setting("INVENTORY_PUSH_MAX_ATTEMPTS", 10), "next_attempt_at": now + timedelta(seconds=delay),
        "first_change_at": now, "created_at": now,
    })


def _push_record_delta(*, store_id: int, variant_id: int, location_id: int, delta: int, version: int, reason: str,
                       movement_id: int, at) -> int | None:
    """Record a delta for a store's level; a level never set in that Shopify gets an absolute set instead."""
    level = _shopify_level(store_id, variant_id, location_id)
    if level.not_stocked_at is not None:  # recorded once as not stocked: left alone until that changes
        return None
    if level.baseline_version is None:
        return _push_record(kind=InventoryPush.Kind.SET, store_id=store_id, variant_id=variant_id,
                            location_id=location_id, version=version, movement_id=movement_id, at=at)
    return _push_record(kind=InventoryPush.Kind.DELTA, store_id=store_id, variant_id=variant_id,
                        location_id=location_id, delta=delta, version=version, reason=reason, movement_id=movement_id,
                        at=at)


def inventory_set_request(*, store: Store, variant: Variant, location: Location, sync_run: InventorySyncRun | None = None) -> int:
    """Queue an absolute set of ``variant``'s PIM quantity at ``location`` into ``store``; return the push id.

    The push reads both sides when it runs and sets Shopify with compare-and-set. Must run in (or as) a
    transaction; it is sent to RQ after commit.
    """
    with transaction.atomic():
        push_id = _push_record(kind=InventoryPush.Kind.SET, store_id=store.pk, variant_id=variant.pk,
                               location_id=location.pk, sync_run_id=sync_run.pk if sync_run else None)
        inventory_pushes_dispatch_on_commit(push_ids=[push_id])
    return push_id


def inventory_sync_request(*, store: Store, variant_ids: Iterable[int]) -> list[int]:
    """Queue a compare-and-set of every managed level of these variants in ``store`` (the admin's *Sync stock
    now* for selected products); return the push ids, sent to RQ after commit.

    Raises InventorySyncRefused when the store may not push inventory or has not had its initial full sync (a
    set before it would overwrite levels nobody compared yet).
    """
    if not store.is_active or not store.inventory_push_enabled:
        raise InventorySyncRefused(f"{store.name} does not push inventory.")
    if not selectors.store_full_sync_done(store=store):
        raise InventorySyncRefused(f"{store.name} has not had its initial full inventory sync yet: run it first.")
    targets = selectors.store_level_targets(store=store, variant_ids=list(variant_ids))
    with transaction.atomic():
        push_ids = [_push_record(kind=InventoryPush.Kind.SET, store_id=store.pk, variant_id=t.variant_id,
                                 location_id=t.location_id) for t in targets]
        inventory_pushes_dispatch_on_commit(push_ids=push_ids)
    return push_ids


def _push_kinds():
    # The two kinds over the pushes' table: a full sync's sets (``sync_run`` set) and every other push.
    return (_push_kind(), outbox_kind(INVENTORY_SYNC_SET_KIND))


def inventory_pushes_dispatch_on_commit(*, push_ids: list[int], delay: float | None = None) -> None:
    """Hand the pushes to their lane (``inventory``; a full sync's sets ``default``) once the transaction commits."""
    for kind in _push_kinds():
        outbox_dispatch_on_commit(kind=kind, ids=sorted(set(push_ids)), delay=delay)


def inventory_pushes_dispatch(*, push_ids: Iterable[int], delay: float | None = None) -> int:
    """Hand waiting pushes to their lane now; return how many were sent. Redis down: logged, the outbox sweep
    sends them."""
    push_ids = list(push_ids)
    return sum(outbox_dispatch(kind=kind, ids=push_ids, delay=delay) for kind in _push_kinds())


def _push_finish(push: InventoryPush, status: str, result: str, **fields: Any) -> None:
    """Record a push's final status and note now (a batch of sets finishes each push as its level is done); a
    push this claim no longer holds is left alone (logged)."""
    now = clock_now()
    latency = None
    if status == InventoryPush.Status.DONE:
        latency = int((now - push.first_change_at).total_seconds() * 1000)
    # Only while this claim holds the push: a worker whose lease expired must not finish a push another worker
    # claimed again meanwhile (outbox.finishing).
    if not InventoryPush.objects.filter(outbox_owned(kind=_push_kind(), row=push)).update(
        status=status, result=result[:500], finished_at=now, lease_until=None, latency_ms=latency, **fields
    ):
        outbox_stale_write(kind=_push_kind(), row=push, what=f"{status} ({result[:80]})")


def _store_settings(store: Store):
    from .store_settings import store_settings

    return store_settings(store=store)


def inventory_level_stocked(*, store: Store, variant_id: int, location_id: int) -> int | None:
    """Forget that a level was not stocked (Shopify stocked it or its mapping changed) and request a set; return
    the set's push id, or None when the level was not marked."""
    with transaction.atomic():
        cleared = ShopifyLevel.objects.filter(store=store, variant_id=variant_id, location_id=location_id,
                                              not_stocked_at__isnull=False).update(
            not_stocked_at=None, not_stocked_shopify_location_id="")
        if not cleared:
            return None
        push_id = _push_record(kind=InventoryPush.Kind.SET, store_id=store.pk, variant_id=variant_id,
                               location_id=location_id)
        inventory_pushes_dispatch_on_commit(push_ids=[push_id])
    return push_id


def _push_replay_as_set(push: InventoryPush) -> bool:
    """Replay a dead push as an absolute set of its level (a dead delta may or may not have reached Shopify);
    the dead push is marked superseded. The ``replay`` hook of the kind: ``outbox_replay`` calls it."""
    set_id = _push_record(kind=InventoryPush.Kind.SET, store_id=push.store_id, variant_id=push.variant_id,
                          location_id=push.location_id)
    InventoryPush.objects.filter(pk=push.pk).update(status=InventoryPush.Status.SUPERSEDED,
                                                    result=f"replayed as absolute set #{set_id}")
    inventory_pushes_dispatch_on_commit(push_ids=[set_id])
    return True
