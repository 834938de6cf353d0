"""The push outbox: recording, dispatching, claiming and finishing pushes of stock to Shopify.

Deltas (``inventoryAdjustQuantities``) for levels that had an absolute set; absolute sets
(``inventorySetQuantities`` with ``changeFromQuantity``) for first pushes, full syncs and overwrites of
merchant edits. A per-level lease keeps pushes of one level in order; a set records the PIM level version it
included (``ShopifyLevel.baseline_version``) and supersedes the deltas it covers. Idempotency keys derive
from the push id. Running a push against Shopify is in ``inventory.push_runs``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q

from channels.models import Store
from channels.shopify.exceptions import ShopifyThrottled
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
from .queueing import INVENTORY_QUEUE, _backoff_seconds, _enqueue, _setting

logger = logging.getLogger(__name__)


_UPSERT_SQL = """
    INSERT INTO {table} (store_id, variant_id, location_id, kind, status, delta, reason, min_version, max_version,
                         movements, movement_id, sync_run_id, idempotency_key, attempts, max_attempts,
                         next_attempt_at, worker, result, last_error, first_change_at, created_at)
    VALUES (%s, %s, %s, %s, 'pending', %s, %s, %s, %s, 1, %s, %s, '', 0, %s, %s, '', '', '', %s, %s)
    ON CONFLICT (store_id, variant_id, location_id, kind) WHERE status = 'pending'
    DO UPDATE SET
        delta = {table}.delta + EXCLUDED.delta,
        movements = {table}.movements + 1,
        reason = CASE WHEN {table}.reason = EXCLUDED.reason THEN {table}.reason ELSE 'correction' END,
        min_version = CASE WHEN EXCLUDED.min_version < {table}.min_version
                           THEN EXCLUDED.min_version ELSE {table}.min_version END,
        max_version = CASE WHEN EXCLUDED.max_version > {table}.max_version
                           THEN EXCLUDED.max_version ELSE {table}.max_version END,
        sync_run_id = COALESCE(EXCLUDED.sync_run_id, {table}.sync_run_id)
    RETURNING id
"""


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
    sql = _UPSERT_SQL.format(table=InventoryPush._meta.db_table)
    params = [store_id, variant_id, location_id, kind, delta, reason, version, version, movement_id, sync_run_id,
              _setting("INVENTORY_PUSH_MAX_ATTEMPTS", 10), now + timedelta(seconds=delay), now, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


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


def inventory_pushes_dispatch_on_commit(*, push_ids: list[int], delay: float | None = None) -> None:
    """Send the pushes to RQ once the surrounding transaction commits."""
    ids = sorted(set(push_ids))
    if ids:
        transaction.on_commit(lambda: inventory_pushes_dispatch(push_ids=ids, delay=delay))


def inventory_pushes_dispatch(*, push_ids: Iterable[int], delay: float | None = None, force: bool = False) -> int:
    """Queue waiting pushes on ``inventory`` (one drain job covers them all); return how many were sent.

    Pushes already sent (and not since returned) are skipped unless ``force``. A Redis failure is logged, not
    raised: the pushes stay in PostgreSQL and ``inventory_sweep`` sends them.
    """
    from .tasks import inventory_push_run

    waiting = InventoryPush.objects.filter(
        pk__in=list(push_ids), status__in=[InventoryPush.Status.PENDING, InventoryPush.Status.RETRY]
    )
    if not force:
        waiting = waiting.filter(dispatched_at__isnull=True)
    ids = list(waiting.order_by("pk").values_list("pk", flat=True))
    if not ids:
        return 0
    sent = []
    try:
        _enqueue(INVENTORY_QUEUE, inventory_push_run, ids, delay)
        sent = ids
    except Exception:
        logger.exception("could not enqueue inventory pushes %s; the sweeper will retry", ids)
    if sent:
        InventoryPush.objects.filter(pk__in=sent).update(dispatched_at=clock_now())
    return len(sent)


def _lease_level(level_id: int, owner: str) -> bool:
    now = clock_now()
    until = now + timedelta(seconds=_setting("INVENTORY_LEASE_SECONDS", 120))
    return bool(
        ShopifyLevel.objects.filter(pk=level_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner))
        .update(lease_until=until, lease_owner=owner)
    )


def _release_level(level_id: int, owner: str) -> None:
    ShopifyLevel.objects.filter(pk=level_id, lease_owner=owner).update(lease_until=None, lease_owner="")


def _check_is_quiet(push: InventoryPush) -> bool:
    waited = (clock_now() - push.created_at).total_seconds()
    if waited > float(_setting("INVENTORY_CHECK_MAX_WAIT_SECONDS", 120)):
        return True
    if selectors.unprocessed_order_events(shop_domain=push.store.shop_domain):
        return False
    return not selectors.level_pushes_in_flight(store_id=push.store_id, variant_id=push.variant_id,
                                                 location_id=push.location_id)


def _claim_push(push_id: int, worker: str) -> tuple[InventoryPush | None, ShopifyLevel | None, str]:
    """Move a due push to running and lease its level; a busy level or a check that must wait is left for later."""
    now = clock_now()
    with transaction.atomic():
        # Waits (briefly) for a movement that is folding a delta into this push: skipping it would strand it.
        push = (
            InventoryPush.objects.select_for_update(of=("self",))
            .select_related("store", "variant")
            .filter(pk=push_id, status__in=[InventoryPush.Status.PENDING, InventoryPush.Status.RETRY])
            .first()
        )
        if push is None:
            return None, None, "not-claimed"
        if push.next_attempt_at > now + timedelta(seconds=1):
            return None, None, "not-due"
        store = push.store
        refusal = ""
        if not store.is_active:
            refusal = "store is disabled"
        elif not store.inventory_push_enabled:
            refusal = "store does not push inventory"
        elif push.kind == InventoryPush.Kind.DELTA and not selectors.store_accepts_deltas(store=store):
            refusal = "refused: the store has not had its initial full sync"
        elif not push.variant.inventory_tracked or push.variant.inventory_sync_excluded:
            refusal = f"{push.variant.sku} is untracked or excluded from inventory sync"
        if refusal:
            _push_finish(push, InventoryPush.Status.SKIPPED, refusal)
            return None, None, "skipped"
        if push.kind == InventoryPush.Kind.CHECK and not _check_is_quiet(push):
            InventoryPush.objects.filter(pk=push.pk).update(next_attempt_at=now + timedelta(seconds=2),
                                                            dispatched_at=None)
            transaction.on_commit(lambda: inventory_pushes_dispatch(push_ids=[push_id], delay=2))
            return None, None, "deferred"
        level = _shopify_level(push.store_id, push.variant_id, push.location_id)
        owner = f"push-{push.pk}-{push.attempts + 1}"
        if not _lease_level(level.pk, owner):
            # Another push of this level is running; it dispatches the level's waiting pushes when it ends.
            InventoryPush.objects.filter(pk=push.pk).update(dispatched_at=None)
            return None, None, "level-busy"
        push.status = InventoryPush.Status.RUNNING
        push.attempts += 1
        push.started_at = now
        push.lease_until = now + timedelta(seconds=_setting("INVENTORY_LEASE_SECONDS", 120))
        push.worker = worker[:255]
        if push.kind == InventoryPush.Kind.DELTA and not push.idempotency_key:
            push.idempotency_key = f"pim-invpush-{push.pk}"
        push.save(update_fields=["status", "attempts", "started_at", "lease_until", "worker", "idempotency_key"])
        level.lease_owner = owner
        return push, level, "claimed"


def _push_finish(push: InventoryPush, status: str, result: str, **fields: Any) -> None:
    now = clock_now()
    latency = None
    if status == InventoryPush.Status.DONE:
        latency = int((now - push.first_change_at).total_seconds() * 1000)
    InventoryPush.objects.filter(pk=push.pk).update(
        status=status, result=result[:500], finished_at=now, lease_until=None, latency_ms=latency, **fields
    )


def _dispatch_level_backlog(push: InventoryPush) -> None:
    now = clock_now()
    backlog = list(
        InventoryPush.objects.filter(
            store_id=push.store_id, variant_id=push.variant_id, location_id=push.location_id,
            status__in=[InventoryPush.Status.PENDING, InventoryPush.Status.RETRY], next_attempt_at__lte=now,
        ).values_list("pk", flat=True)
    )
    if backlog:
        inventory_pushes_dispatch(push_ids=backlog, force=True)


@dataclass
class PushOutcome:
    status: str
    detail: str = ""


def _next_due_push_id(*, exclude: set[int]) -> int | None:
    now = clock_now()
    leased = ShopifyLevel.objects.filter(
        store_id=OuterRef("store_id"), variant_id=OuterRef("variant_id"), location_id=OuterRef("location_id"),
        lease_until__gt=now,
    )
    return (
        InventoryPush.objects.filter(status__in=[InventoryPush.Status.PENDING, InventoryPush.Status.RETRY],
                                     next_attempt_at__lte=now)
        .exclude(pk__in=exclude)
        .filter(~Exists(leased))
        .order_by("first_change_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )


def _push_fail(push: InventoryPush, exc: BaseException, *, retryable: bool) -> PushOutcome:
    message = f"{type(exc).__name__}: {exc}"[:4000]
    if retryable and push.attempts < push.max_attempts:
        delay = getattr(exc, "retry_after", None) if isinstance(exc, ShopifyThrottled) else None
        delay = max(delay or 0, _backoff_seconds(push.attempts))
        InventoryPush.objects.filter(pk=push.pk).update(
            status=InventoryPush.Status.RETRY, last_error=message, lease_until=None, dispatched_at=None,
            next_attempt_at=clock_now() + timedelta(seconds=delay),
        )
        inventory_pushes_dispatch(push_ids=[push.pk], delay=delay)
        return PushOutcome("retry", message)
    _push_finish(push, InventoryPush.Status.DEAD, "dead-lettered", last_error=message)
    logger.error("inventory push %s dead-lettered: %s", push.pk, message)
    return PushOutcome(InventoryPush.Status.DEAD, message)


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


def inventory_pushes_replay(*, push_ids: Iterable[int]) -> int:
    """Give dead-lettered pushes fresh attempts and queue them; return how many.

    A dead delta becomes an absolute set (its quantity may or may not have reached Shopify).
    """
    count = 0
    with transaction.atomic():
        for push in InventoryPush.objects.filter(pk__in=list(push_ids), status=InventoryPush.Status.DEAD):
            set_id = _push_record(kind=InventoryPush.Kind.SET, store_id=push.store_id, variant_id=push.variant_id,
                                  location_id=push.location_id)
            InventoryPush.objects.filter(pk=push.pk).update(status=InventoryPush.Status.SUPERSEDED,
                                                            result=f"replayed as absolute set #{set_id}")
            inventory_pushes_dispatch_on_commit(push_ids=[set_id])
            count += 1
    return count
