"""Write services of the inventory app: stock movements, order writeback from webhooks, pushes to Shopify.

Stock
    Every change is a ``StockMovement`` with a unique ``source_ref`` applied to its ``StockLevel`` under a row
    lock (``select_for_update``); repeating a source reference changes nothing. In the same transaction the
    change is recorded in the push outbox (``InventoryPush``) for every other store that carries the variant;
    RQ (queue ``inventory``) gets the push ids only after commit, so Shopify being slow or down never blocks
    or fails a movement, and ``inventory_sweep`` re-sends whatever Redis lost.

Webhooks
    The ``webhooks`` app stores and processes deliveries; this app registers the handlers of its topics (orders,
    refunds, fulfillment orders, inventory levels) in ``InventoryConfig.ready()``. Order webhooks of one order are serialised by a row lock on
    ``ShopifyOrder``; their source references are per order line (sale), per refund line (restock) and per
    order line (cancellation without refund lines), so duplicates, reordering and concurrency apply each once.

Pushes
    Deltas (``inventoryAdjustQuantities``) for levels that had an absolute set; absolute sets
    (``inventorySetQuantities`` with ``changeFromQuantity``) for first pushes, full syncs and overwrites of
    merchant edits. A per-level lease keeps pushes of one level in order; a set records the PIM level version it
    included (``ShopifyLevel.baseline_version``) and supersedes the deltas it covers. Idempotency keys derive
    from the push id.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from channels.clients import client_for_store
from channels.models import ConflictPolicy, Store, VariantBinding
from channels.shopify import queries
from channels.shopify.exceptions import ShopifyError, ShopifyStaleQuantity, ShopifyThrottled
from channels.shopify.ids import gid_to_id, inventory_item_gid, location_gid
from outbox.services import lane_drain_enqueue, lane_drain_started
from pim.models import Variant

from . import selectors
from .models import (
    InventoryDrift,
    InventoryPush,
    InventorySyncRun,
    Location,
    ShopifyLevel,
    StockLevel,
    StockMovement,
    StoreLocation,
    WebhookEvent,
)

logger = logging.getLogger(__name__)

INVENTORY_QUEUE = "inventory"

# The topics ``register_webhooks`` subscribes to and ``webhook_event_process`` handles.
WEBHOOK_TOPICS = (
    "ORDERS_CREATE",
    "ORDERS_UPDATED",
    "ORDERS_EDITED",
    "ORDERS_CANCELLED",
    "REFUNDS_CREATE",
    "FULFILLMENT_ORDERS_ORDER_ROUTING_COMPLETE",
    "FULFILLMENT_ORDERS_MOVED",
    "INVENTORY_LEVELS_CONNECT",
    "PRODUCTS_UPDATE",
    "PRODUCTS_DELETE",
    "INVENTORY_LEVELS_UPDATE",
    "APP_UNINSTALLED",
)

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
MAX_EXPECTED_ECHOES = 50
SET_BATCH_SIZE = 100
STALE_ROUNDS = 4


def _setting(name: str, default: Any) -> Any:
    """Read a tuning knob from Django settings, else from the environment (workers), else ``default``."""
    value = getattr(settings, name, None)
    if value is not None:
        return value
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return type(default)(raw)
    except ValueError:
        return default


def _enqueue(queue_name: str, task: Callable, ids: list[int], delay: float | None) -> None:
    """Send work to RQ: a delayed retry is one job per id at its time; immediate work is one drain job
    (which processes everything waiting), enqueued only if no drain job of this queue is already waiting."""
    if delay:
        for pk in ids:
            lane_drain_enqueue(lane=queue_name, task=task, args=(pk,), delay=delay)
        return
    lane_drain_enqueue(lane=queue_name, task=task, args=(ids[0],))


def _drain_budget() -> float:
    return float(_setting("INVENTORY_DRAIN_SECONDS", 2.0))


def worker_name() -> str:
    """Return this process's label for leases and logs (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _backoff_seconds(attempts: int) -> float:
    """Return the retry delay after ``attempts`` failures (the publishing pipeline's backoff with jitter)."""
    from channels.services import backoff_seconds as channel_backoff

    return channel_backoff(attempts)


class StockError(ValueError):
    """A stock movement that cannot be made (untracked variant, negative result, bad quantity)."""


class PayloadError(ValueError):
    """A webhook body that is valid JSON but not the shape its topic needs; the event fails for review."""


class InventorySyncRefused(RuntimeError):
    """A full inventory sync that must not run now (webhooks pending, store not allowed to push)."""


# --- locations ----------------------------------------------------------------------------------------------


def location_create(*, name: str) -> Location:
    """Create a PIM stock location, or return the existing one with this name (case-insensitive)."""
    name = " ".join((name or "").split())
    if not name:
        raise StockError("A location needs a name.")
    existing = Location.objects.filter(name__iexact=name).first()
    return existing or Location.objects.create(name=name)


@transaction.atomic
def store_location_map(
    *,
    store: Store,
    location: Location,
    shopify_location_id: str | int,
    shopify_location_name: str = "",
    is_default: bool = False,
) -> StoreLocation:
    """Map PIM ``location`` to a Shopify location of ``store`` (replacing its previous mapping).

    ``shopify_location_id`` is numeric or a Location GID. ``is_default`` makes it the store's fallback for
    orders and refunds without a mapped location (the previous default loses the flag). Raises ValueError for
    a malformed id and IntegrityError when the Shopify location is already mapped to another PIM location.
    """
    raw = str(shopify_location_id)
    numeric = str(gid_to_id(raw, resource="Location")) if raw.startswith("gid://") else raw.strip()
    if not numeric.isdigit():
        raise ValueError(f"not a Shopify location id: {shopify_location_id!r}")
    if is_default:
        StoreLocation.objects.filter(store=store, is_default=True).exclude(location=location).update(is_default=False)
    mapping, _ = StoreLocation.objects.update_or_create(
        store=store,
        location=location,
        defaults={"shopify_location_id": numeric, "shopify_location_name": shopify_location_name[:255],
                  "is_default": is_default},
    )
    if not StoreLocation.objects.filter(store=store, is_default=True).exists():
        StoreLocation.objects.filter(pk=mapping.pk).update(is_default=True)
        mapping.is_default = True
    # A new mapping: levels recorded as not stocked at the old Shopify location are eligible again.
    ShopifyLevel.objects.filter(store=store, location=location).exclude(
        not_stocked_shopify_location_id=numeric).update(not_stocked_at=None, not_stocked_shopify_location_id="")
    return mapping


@dataclass
class AutomapReport:
    mapped: list[StoreLocation] = field(default_factory=list)
    created_locations: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)


def store_locations_automap(*, store: Store, create_missing: bool = False, client=None) -> AutomapReport:
    """Map ``store``'s active Shopify locations to PIM locations of the same name (case-insensitive).

    Reads ``client.locations()``. Shopify locations without a PIM namesake are created as PIM locations when
    ``create_missing``, otherwise reported as unmatched. When the store has no default yet, the first mapped
    location that fulfils online orders becomes it. Raises the Shopify client's errors (nothing changes then).
    """
    client = client or client_for_store(store)
    nodes = [n for n in client.locations() if n.get("isActive") is not False]
    nodes.sort(key=lambda n: not n.get("fulfillsOnlineOrders"))  # online locations first: default candidates
    report = AutomapReport()
    with transaction.atomic():
        for node in nodes:
            name = " ".join((node.get("name") or "").split())
            location = Location.objects.filter(name__iexact=name).first()
            if location is None:
                if not create_missing or not name:
                    report.unmatched.append(name)
                    continue
                location = location_create(name=name)
                report.created_locations.append(location.name)
            numeric = str(node.get("legacyResourceId") or gid_to_id(node["id"]))
            StoreLocation.objects.filter(store=store, shopify_location_id=numeric).exclude(location=location).delete()
            current = StoreLocation.objects.filter(store=store, location=location).first()
            report.mapped.append(
                store_location_map(store=store, location=location, shopify_location_id=numeric,
                                   shopify_location_name=name, is_default=bool(current and current.is_default))
            )
    return report


# --- stock movements ------------------------------------------------------------------------------------------


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


def _lock_level(variant_id: int, location_id: int) -> StockLevel:
    level = StockLevel.objects.select_for_update().filter(variant_id=variant_id, location_id=location_id).first()
    if level is None:
        StockLevel.objects.bulk_create([StockLevel(variant_id=variant_id, location_id=location_id)],
                                       ignore_conflicts=True)
        level = StockLevel.objects.select_for_update().get(variant_id=variant_id, location_id=location_id)
    return level


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


# --- order writeback -------------------------------------------------------------------------------------------


def _rest_id(value: Any, what: str) -> str:
    if isinstance(value, bool) or value is None:
        raise PayloadError(f"{what} is missing")
    text = str(value).strip()
    if text.startswith("gid://"):
        text = str(gid_to_id(text))
    if not text.isdigit():
        raise PayloadError(f"{what} is not a Shopify id: {value!r}")
    return text


def _quantity(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PayloadError(f"{what} is not a quantity: {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise PayloadError(f"{what} is not a quantity: {value!r}")
    if number < 0:
        raise PayloadError(f"{what} is negative")
    return number


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


# This app's topics; registered in webhooks.topics by InventoryConfig.ready().
TOPIC_HANDLERS: dict[str, Callable[..., str]] = {
    "inventory_levels/update": _handle_inventory_level_update,
    "inventory_levels/connect": _handle_inventory_level_update,
}


# --- the push outbox --------------------------------------------------------------------------------------------


def _shopify_level(store_id: int, variant_id: int, location_id: int) -> ShopifyLevel:
    level = ShopifyLevel.objects.filter(store_id=store_id, variant_id=variant_id, location_id=location_id).first()
    if level is None:
        ShopifyLevel.objects.bulk_create(
            [ShopifyLevel(store_id=store_id, variant_id=variant_id, location_id=location_id)], ignore_conflicts=True
        )
        level = ShopifyLevel.objects.get(store_id=store_id, variant_id=variant_id, location_id=location_id)
    return level


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
    now = at or timezone.now()
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
        InventoryPush.objects.filter(pk__in=sent).update(dispatched_at=timezone.now())
    return len(sent)


def _lease_level(level_id: int, owner: str) -> bool:
    now = timezone.now()
    until = now + timedelta(seconds=_setting("INVENTORY_LEASE_SECONDS", 120))
    return bool(
        ShopifyLevel.objects.filter(pk=level_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner))
        .update(lease_until=until, lease_owner=owner)
    )


def _release_level(level_id: int, owner: str) -> None:
    ShopifyLevel.objects.filter(pk=level_id, lease_owner=owner).update(lease_until=None, lease_owner="")


def _check_is_quiet(push: InventoryPush) -> bool:
    waited = (timezone.now() - push.created_at).total_seconds()
    if waited > float(_setting("INVENTORY_CHECK_MAX_WAIT_SECONDS", 120)):
        return True
    if selectors.unprocessed_order_events(shop_domain=push.store.shop_domain):
        return False
    return not selectors.level_pushes_in_flight(store_id=push.store_id, variant_id=push.variant_id,
                                                 location_id=push.location_id)


def _claim_push(push_id: int, worker: str) -> tuple[InventoryPush | None, ShopifyLevel | None, str]:
    """Move a due push to running and lease its level; a busy level or a check that must wait is left for later."""
    now = timezone.now()
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
    now = timezone.now()
    latency = None
    if status == InventoryPush.Status.DONE:
        latency = int((now - push.first_change_at).total_seconds() * 1000)
    InventoryPush.objects.filter(pk=push.pk).update(
        status=status, result=result[:500], finished_at=now, lease_until=None, latency_ms=latency, **fields
    )


def _dispatch_level_backlog(push: InventoryPush) -> None:
    now = timezone.now()
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


def inventory_push_execute(*, push_id: int, worker: str | None = None) -> PushOutcome:
    """Run one push: claim it and its level, talk to Shopify, record the outcome; never raises for Shopify.

    Idempotent: a push that is not waiting is left alone; a retried delta reuses its idempotency key.
    Retryable Shopify errors put the push back with exponential backoff, others dead-letter it.
    """
    worker = worker or worker_name()
    push, level, claim = _claim_push(push_id, worker)
    if push is None:
        return PushOutcome(claim)
    try:
        if push.kind == InventoryPush.Kind.DELTA:
            outcome = _run_delta(push, level)
        elif push.kind == InventoryPush.Kind.SET:
            outcome = _run_sets(push.store, [(push, level)])[push.pk]
        else:
            outcome = _run_check(push, level)
    except ShopifyError as exc:
        outcome = _push_fail(push, exc, retryable=exc.retryable)
    except (OperationalError, InterfaceError) as exc:  # the database hiccuped (deadlock, restart): try again
        logger.warning("inventory push %s: database error %s; retrying", push.pk, exc)
        outcome = _push_fail(push, exc, retryable=True)
    except Exception as exc:
        logger.exception("inventory push %s failed unexpectedly", push.pk)
        outcome = _push_fail(push, exc, retryable=False)
    finally:
        _release_level(level.pk, level.lease_owner)
    _dispatch_level_backlog(push)
    return outcome


def inventory_pushes_drain(*, first_push_id: int, budget_seconds: float | None = None, worker: str | None = None) -> int:
    """Execute push ``first_push_id``, then every other due push (oldest change first) whose level is free, for up
    to ``budget_seconds``; queue a new drain if work is left. Returns how many pushes were executed."""
    worker = worker or worker_name()
    lane_drain_started(INVENTORY_QUEUE)
    tried = {first_push_id}
    count = int(inventory_push_execute(push_id=first_push_id, worker=worker).status in _EXECUTED)
    deadline = time.monotonic() + (_drain_budget() if budget_seconds is None else budget_seconds)
    while True:
        pk = _next_due_push_id(exclude=tried)
        if pk is None:
            return count
        if time.monotonic() >= deadline:
            inventory_pushes_dispatch(push_ids=[pk], force=True)
            return count
        tried.add(pk)
        count += int(inventory_push_execute(push_id=pk, worker=worker).status in _EXECUTED)


_EXECUTED = {"done", "retry", "dead", "skipped", "superseded"}


def _next_due_push_id(*, exclude: set[int]) -> int | None:
    now = timezone.now()
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
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        )
        inventory_pushes_dispatch(push_ids=[push.pk], delay=delay)
        return PushOutcome("retry", message)
    _push_finish(push, InventoryPush.Status.DEAD, "dead-lettered", last_error=message)
    logger.error("inventory push %s dead-lettered: %s", push.pk, message)
    return PushOutcome(InventoryPush.Status.DEAD, message)


def _level_target(store: Store, variant_id: int, location_id: int) -> tuple[str, str] | None:
    item = (
        VariantBinding.objects.filter(store=store, variant_id=variant_id)
        .exclude(shopify_inventory_item_id="")
        .values_list("shopify_inventory_item_id", flat=True)
        .first()
    )
    shopify_location = (
        StoreLocation.objects.filter(store=store, location_id=location_id)
        .values_list("shopify_location_id", flat=True)
        .first()
    )
    if not item or not shopify_location:
        return None
    return inventory_item_gid(item), location_gid(shopify_location)


def _remember_quantity(level_id: int, quantity: int | None, *, baseline: int | None = None) -> None:
    """Note what our push left in Shopify (its inventory_levels/update echo is then recognised)."""
    with transaction.atomic():
        level = ShopifyLevel.objects.select_for_update().get(pk=level_id)
        echoes = list(level.expected_echoes or [])
        if quantity is not None:
            echoes = (echoes + [quantity])[-MAX_EXPECTED_ECHOES:]
        update: dict[str, Any] = {"expected_echoes": echoes, "synced_at": timezone.now()}
        if quantity is not None:
            update["last_known_available"] = quantity
        if baseline is not None and (level.baseline_version is None or baseline > level.baseline_version):
            update["baseline_version"] = baseline
        ShopifyLevel.objects.filter(pk=level_id).update(**update)


def _available_after(group: dict | None, item_gid: str, location: str) -> int | None:
    for change in (group or {}).get("changes") or []:
        if (change.get("name") == "available" and (change.get("item") or {}).get("id") == item_gid
                and (change.get("location") or {}).get("id") == location):
            return change.get("quantityAfterChange")
    return None


def _run_delta(push: InventoryPush, level: ShopifyLevel) -> PushOutcome:
    if level.baseline_version is None:
        with transaction.atomic():
            set_id = _push_record(kind=InventoryPush.Kind.SET, store_id=push.store_id, variant_id=push.variant_id,
                                  location_id=push.location_id, version=push.max_version)
            inventory_pushes_dispatch_on_commit(push_ids=[set_id])
            _push_finish(push, InventoryPush.Status.SUPERSEDED, f"level never set in Shopify: absolute set #{set_id}")
        return PushOutcome(InventoryPush.Status.SUPERSEDED)
    if push.max_version <= level.baseline_version:
        _push_finish(push, InventoryPush.Status.SUPERSEDED, "already included in an absolute set")
        return PushOutcome(InventoryPush.Status.SUPERSEDED)
    target = _level_target(push.store, push.variant_id, push.location_id)
    if target is None:
        _push_finish(push, InventoryPush.Status.SKIPPED, "variant or location no longer mapped in this store")
        logger.warning("push %s skipped: variant %s / location %s unmapped in %s", push.pk, push.variant_id,
                       push.location_id, push.store.name)
        return PushOutcome(InventoryPush.Status.SKIPPED)
    if push.delta == 0:
        _push_finish(push, InventoryPush.Status.DONE, "changes cancel out: nothing to send")
        return PushOutcome(InventoryPush.Status.DONE)
    item, location = target
    client = client_for_store(push.store)
    group = client.inventory_adjust_quantities(
        name="available",
        reason=push.reason,
        changes=[{"inventoryItemId": item, "locationId": location, "delta": push.delta}],
        idempotency_key=push.idempotency_key,
        reference_document_uri=f"gid://pim/InventoryPush/{push.pk}",
    )
    after = _available_after(group, item, location)
    _remember_quantity(level.pk, after)
    _push_finish(push, InventoryPush.Status.DONE, f"adjusted by {push.delta:+d}, available now {after}",
                 quantity_sent=push.delta, shopify_location_id=str(gid_to_id(location)), mapping_used="mapped")
    return PushOutcome(InventoryPush.Status.DONE, f"{push.delta:+d}")


def _run_sets(store: Store, batch: list[tuple[InventoryPush, ShopifyLevel]]) -> dict[int, PushOutcome]:
    """Set Shopify to the PIM's quantity for the batch's levels (compare-and-set, re-read when stale)."""
    outcomes: dict[int, PushOutcome] = {}
    targets: dict[int, tuple[str, str]] = {}
    for push, _ in batch:
        target = _level_target(store, push.variant_id, push.location_id)
        if target is None:
            _push_finish(push, InventoryPush.Status.SKIPPED, "variant or location not mapped in this store")
            outcomes[push.pk] = PushOutcome(InventoryPush.Status.SKIPPED)
        else:
            targets[push.pk] = target
    live = [(p, lv) for p, lv in batch if p.pk in targets]
    if not live:
        return outcomes
    client = client_for_store(store)
    first = live[0][0]
    activate = _store_settings(store).activate_unstocked
    unmapped = {p.pk: selectors.store_unmapped_location_ids(store_id=store.pk, location_id=p.location_id)
                for p, _ in live}
    for round_ in range(STALE_ROUNDS):
        rows = client.inventory_levels(
            inventory_item_ids=[targets[p.pk][0] for p, _ in live],
            location_ids=[targets[p.pk][1] for p, _ in live],
            names=("available",),
        )
        shopify = {(r["inventoryItemId"], r["locationId"]): r for r in rows}
        pim: dict[int, tuple[int, int]] = {}
        with transaction.atomic():
            for push, _ in sorted(live, key=lambda x: (x[0].variant_id, x[0].location_id)):
                stock = _lock_level(push.variant_id, push.location_id)
                extra = unmapped.get(push.pk) or []
                added = (StockLevel.objects.filter(variant_id=push.variant_id, location_id__in=extra)
                         .aggregate(total=Sum("available"))["total"] or 0) if extra else 0
                pim[push.pk] = (stock.on_hand - stock.reserved + added, stock.version)
                InventoryPush.objects.filter(
                    store=store, variant_id=push.variant_id, location_id=push.location_id,
                    kind=InventoryPush.Kind.DELTA,
                    status__in=[InventoryPush.Status.PENDING, InventoryPush.Status.RETRY],
                    max_version__lte=stock.version,
                ).update(status=InventoryPush.Status.SUPERSEDED, finished_at=timezone.now(),
                         result=f"included in absolute set #{push.pk}")
        quantities, plan = [], []
        for push, level in live:
            item, location = targets[push.pk]
            row = shopify.get((item, location)) or {}
            available, version = pim[push.pk]
            if not row.get("exists") or not row.get("stocked"):
                if row.get("exists") and activate:
                    detail = _activate_level(client, push, level, item, location, available, version)
                    outcomes[push.pk] = PushOutcome(InventoryPush.Status.DONE, detail)
                    continue
                why = "inventory item unknown in Shopify" if not row.get("exists") else "not stocked at the location"
                _mark_not_stocked(level, location)
                why += ": recorded, not retried until the mapping or Shopify's stocking changes"
                _push_finish(push, InventoryPush.Status.SKIPPED, why)
                outcomes[push.pk] = PushOutcome(InventoryPush.Status.SKIPPED, why)
                continue
            current = (row.get("quantities") or {}).get("available")
            plan.append((push, level, available, version, current))
            if current != available:
                quantities.append({"inventoryItemId": item, "locationId": location, "quantity": available,
                                   "changeFromQuantity": current})
        if quantities:
            key = f"pim-invset-{first.pk}-n{len(live)}-a{first.attempts}-r{round_}"
            try:
                client.inventory_set_quantities(
                    name="available", reason="correction", quantities=quantities, idempotency_key=key,
                    reference_document_uri=f"gid://pim/InventoryPush/{first.pk}",
                )
            except ShopifyStaleQuantity:
                logger.info("inventory set %s: Shopify changed meanwhile, re-reading (round %s)", first.pk, round_)
                live = [(p, lv) for p, lv, *_ in plan]
                continue
        for push, level, available, version, current in plan:
            _remember_quantity(level.pk, available if current != available else None, baseline=version)
            detail = f"set to {available} (was {current})" if current != available else f"already {available}"
            used = "default+unmapped" if unmapped.get(push.pk) else "mapped"
            _push_finish(push, InventoryPush.Status.DONE, detail, quantity_sent=available, change_from=current,
                         shopify_location_id=str(gid_to_id(targets[push.pk][1])), mapping_used=used)
            outcomes[push.pk] = PushOutcome(InventoryPush.Status.DONE, detail)
        return outcomes
    raise ShopifyStaleQuantity(f"Shopify kept changing during {STALE_ROUNDS} compare-and-set rounds",
                               shop_domain=store.shop_domain)


def _store_settings(store: Store):
    from .store_settings import store_settings

    return store_settings(store=store)


def _mark_not_stocked(level: ShopifyLevel, location_gid_: str) -> None:
    """Remember that the variant has no level at this Shopify location (the sweeper then leaves it alone)."""
    ShopifyLevel.objects.filter(pk=level.pk).update(not_stocked_at=timezone.now(),
                                                    not_stocked_shopify_location_id=str(gid_to_id(location_gid_)))


def _activate_level(client, push: InventoryPush, level: ShopifyLevel, item: str, location: str, available: int,
                    version: int) -> str:
    """Stock the item at the location with the PIM's quantity (``inventoryActivate``); finish the push."""
    client.execute(queries.INVENTORY_ACTIVATE, {"inventoryItemId": item, "locationId": location,
                                                "available": available,
                                                "idempotencyKey": f"pim-invactivate-{push.pk}-a{push.attempts}"})
    ShopifyLevel.objects.filter(pk=level.pk).update(not_stocked_at=None, not_stocked_shopify_location_id="")
    _remember_quantity(level.pk, available, baseline=version)
    detail = f"activated at the location with {available} (store setting)"
    _push_finish(push, InventoryPush.Status.DONE, detail, quantity_sent=available)
    return detail


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


def _run_check(push: InventoryPush, level: ShopifyLevel) -> PushOutcome:
    target = _level_target(push.store, push.variant_id, push.location_id)
    if target is None:
        _push_finish(push, InventoryPush.Status.SKIPPED, "variant or location not mapped in this store")
        return PushOutcome(InventoryPush.Status.SKIPPED)
    item, location = target
    before = StockLevel.objects.filter(variant_id=push.variant_id, location_id=push.location_id).first()
    rows = client_for_store(push.store).inventory_levels(inventory_item_ids=[item], location_ids=[location],
                                                         names=("available",))
    after = StockLevel.objects.filter(variant_id=push.variant_id, location_id=push.location_id).first()
    row = rows[0] if rows else {}
    if not row.get("stocked"):
        _push_finish(push, InventoryPush.Status.DONE, "not stocked at the location in Shopify")
        return PushOutcome(InventoryPush.Status.DONE)
    shopify = (row.get("quantities") or {}).get("available")
    pim = selectors.pim_available_for_target(store_id=push.store_id, variant_id=push.variant_id,
                                             location_id=push.location_id)
    moving = (before.version if before else 0) != (after.version if after else 0) or selectors.level_pushes_in_flight(
        store_id=push.store_id, variant_id=push.variant_id, location_id=push.location_id)
    if shopify == pim:
        _push_finish(push, InventoryPush.Status.DONE, f"Shopify matches the PIM ({pim})")
        return PushOutcome(InventoryPush.Status.DONE, "consistent")
    if moving:  # the PIM changed while we read: compare again later
        with transaction.atomic():
            check_id = _push_record(kind=InventoryPush.Kind.CHECK, store_id=push.store_id, variant_id=push.variant_id,
                                    location_id=push.location_id, delay=2)
            inventory_pushes_dispatch_on_commit(push_ids=[check_id], delay=2)
            _push_finish(push, InventoryPush.Status.DONE, f"stock moved while comparing: check #{check_id} queued")
        return PushOutcome(InventoryPush.Status.DONE, "inconclusive")
    store = push.store
    overwrite = store.default_conflict_policy == ConflictPolicy.OVERWRITE
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
            detail = f"Shopify {shopify} ≠ PIM {pim}: held for review (hold policy)"
        _push_finish(push, InventoryPush.Status.DONE, detail)
    logger.warning("store %s, variant %s at location %s: %s", store.name, push.variant_id, push.location_id, detail)
    return PushOutcome(InventoryPush.Status.DONE, detail)


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


# --- full sync --------------------------------------------------------------------------------------------------


@dataclass
class LevelDiff:
    sku: str
    location: str
    shopify: int | None
    pim: int
    stocked: bool

    @property
    def differs(self) -> bool:
        return self.stocked and self.shopify != self.pim


def inventory_full_sync(
    *,
    store: Store,
    apply: bool,
    actor_label: str = "",
    client=None,
    wait_seconds: float = 60.0,
) -> InventorySyncRun:
    """Compare every managed level of ``store`` with Shopify and, with ``apply``, overwrite Shopify with the PIM.

    The dry run only reports. Applying sets each level with compare-and-set in batches (re-reading on a stale
    compare), records the PIM version each set included, and completes the store's initial full sync (delta
    pushes are refused before). Raises InventorySyncRefused when the store may not push inventory or order
    webhooks of its shop are still unprocessed, and the Shopify client's errors.
    """
    if not store.is_active or not store.inventory_push_enabled:
        raise InventorySyncRefused(
            f"{store.name} does not push inventory (enable 'inventory push' on this connection; only one "
            "connection per shop may)."
        )
    waiting = selectors.unprocessed_order_events(shop_domain=store.shop_domain)
    if waiting:
        raise InventorySyncRefused(
            f"{waiting} order webhook(s) of {store.shop_domain} are not processed yet; overwriting now would undo "
            "those sales in Shopify. Try again when the workers have caught up."
        )
    client = client or client_for_store(store)
    # An applied run counts as in progress from now on: changes made meanwhile are recorded for this store.
    run = InventorySyncRun.objects.create(store=store, applied=apply, actor_label=actor_label[:255])
    try:
        _full_sync_run(run=run, store=store, client=client, apply=apply, wait_seconds=wait_seconds)
    except Exception as exc:
        run.error = f"{type(exc).__name__}: {exc}"[:4000]
        raise
    finally:
        run.finished_at = timezone.now()
        run.save()
    return run


def _full_sync_run(*, run: InventorySyncRun, store: Store, client, apply: bool, wait_seconds: float) -> None:
    targets = selectors.store_level_targets(store=store)
    rows = client.inventory_levels(
        inventory_item_ids=[t.inventory_item_gid for t in targets],
        location_ids=[t.location_gid for t in targets],
        names=("available",),
    ) if targets else []
    shopify = {(r["inventoryItemId"], r["locationId"]): r for r in rows}
    pim = {
        (lv.variant_id, lv.location_id): lv.available
        for lv in StockLevel.objects.filter(variant_id__in={t.variant_id for t in targets})
    }
    unmapped = {loc: selectors.store_unmapped_location_ids(store_id=store.pk, location_id=loc)
                for loc in {t.location_id for t in targets}}
    diffs = []
    for t in targets:
        row = shopify.get((t.inventory_item_gid, t.location_gid)) or {}
        stocked = bool(row.get("exists") and row.get("stocked"))
        current = (row.get("quantities") or {}).get("available") if stocked else None
        extra = unmapped.get(t.location_id, [])
        expected = pim.get((t.variant_id, t.location_id), 0) + sum(pim.get((t.variant_id, x), 0) for x in extra)
        diffs.append(LevelDiff(t.sku, t.location_name, current, expected, stocked))
    run.levels_checked = len(diffs)
    run.differences = sum(1 for d in diffs if d.differs)
    run.skipped = sum(1 for d in diffs if not d.stocked)
    run.report = [d.__dict__ | {"differs": d.differs} for d in diffs if d.differs or not d.stocked][:5000]
    if not apply:
        return
    with transaction.atomic():
        push_ids = [
            _push_record(kind=InventoryPush.Kind.SET, store_id=store.pk, variant_id=t.variant_id,
                         location_id=t.location_id, sync_run_id=run.pk)
            for t in targets
        ]
    deadline = timezone.now() + timedelta(seconds=wait_seconds)
    remaining = list(push_ids)
    while remaining:
        batch: list[tuple[InventoryPush, ShopifyLevel]] = []
        for pk in remaining[:SET_BATCH_SIZE]:
            push, level, _ = _claim_push(pk, worker_name())
            if push is not None:
                batch.append((push, level))
        try:
            if batch:
                _run_sets(store, batch)
        except ShopifyError as exc:
            for push, _ in batch:
                _push_fail(push, exc, retryable=exc.retryable)
            run.error = f"{type(exc).__name__}: {exc}"[:4000]
        finally:
            for _push, level in batch:
                _release_level(level.pk, level.lease_owner)
        still = set(
            InventoryPush.objects.filter(pk__in=remaining, status__in=[InventoryPush.Status.PENDING,
                                                                        InventoryPush.Status.RUNNING])
            .values_list("pk", flat=True)
        )
        remaining = [pk for pk in remaining if pk in still]
        if run.error or timezone.now() > deadline:
            break
        if remaining and not batch:
            time.sleep(0.2)  # levels leased by running pushes: wait for them
    done = InventoryPush.objects.filter(pk__in=push_ids)
    run.levels_set = done.filter(status=InventoryPush.Status.DONE, quantity_sent__isnull=False,
                                 change_from__isnull=False).exclude(quantity_sent=F("change_from")).count()
    run.skipped = done.filter(status=InventoryPush.Status.SKIPPED).count()
    if remaining and not run.error:
        run.error = f"{len(remaining)} level(s) still busy; their sets stay queued for the workers"
        inventory_pushes_dispatch(push_ids=remaining, force=True)


# --- webhook subscriptions --------------------------------------------------------------------------------------


def webhook_subscriptions_register(
    *, store: Store, callback_url: str, topics: Iterable[str] = WEBHOOK_TOPICS, replace: bool = False, client=None
) -> list[dict]:
    """Subscribe ``callback_url`` to the topics this app handles in ``store``'s shop; return what was done.

    Already-present subscriptions (same topic and URL) are kept; with ``replace``, subscriptions of these topics
    to other URLs are deleted. Each result row is ``{topic, action (created|exists|deleted), id}``. Raises
    ValueError for a non-HTTPS URL (plain HTTP is allowed on loopback only) and the Shopify client's errors.
    """
    from urllib.parse import urlsplit

    from config.logsafe import url_for_log

    parts = urlsplit(callback_url)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1") or (parts.hostname or "").endswith(".localhost")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValueError("Shopify delivers webhooks to HTTPS addresses only.")
    if not parts.path.rstrip("/").endswith("/shopify/webhooks"):
        logger.warning("the webhook URL for %s does not end with /shopify/webhooks/", url_for_log(callback_url))
    client = client or client_for_store(store)
    wanted = [t.upper() for t in topics]
    existing = client.webhook_subscriptions()
    results = []
    for topic in wanted:
        mine = [s for s in existing if s.get("topic") == topic and s.get("uri") == callback_url]
        others = [s for s in existing if s.get("topic") == topic and s.get("uri") != callback_url]
        if replace:
            for sub in others:
                client.webhook_subscription_delete(subscription_id=sub["id"])
                results.append({"topic": topic, "action": "deleted", "id": sub["id"], "uri": sub.get("uri")})
        if mine:
            results.append({"topic": topic, "action": "exists", "id": mine[0]["id"], "uri": callback_url})
            continue
        created = client.webhook_subscription_create(topic=topic, callback_url=callback_url)
        results.append({"topic": topic, "action": "created", "id": created.get("id"), "uri": callback_url})
    return results


# --- sweeping ---------------------------------------------------------------------------------------------------


@dataclass
class SweepReport:
    pushes_reclaimed: int = 0
    pushes_dispatched: int = 0
    sets_requested: int = 0


def inventory_sweep(*, now=None, unset_limit: int = 500) -> SweepReport:
    """Make sure no push is lost: reclaim expired leases and re-send due work (webhook events: the outbox sweep).

    Pushes whose worker died go back to waiting; waiting ones not sent recently (Redis flushed,
    enqueue failed) are sent again. Levels of fully synced stores never set in Shopify (variants published
    after the full sync) get an absolute set. Safe to run any number of times, from many machines.
    """
    now = now or timezone.now()
    report = SweepReport()
    resend_before = now - timedelta(seconds=_setting("SYNC_REDISPATCH_AFTER_SECONDS", 30))
    for push in InventoryPush.objects.filter(status=InventoryPush.Status.RUNNING, lease_until__lt=now):
        InventoryPush.objects.filter(pk=push.pk, status=InventoryPush.Status.RUNNING).update(
            status=InventoryPush.Status.RETRY, lease_until=None, dispatched_at=None,
            last_error=f"lease expired on worker {push.worker}",
        )
        report.pushes_reclaimed += 1
    due_pushes = InventoryPush.objects.filter(
        status__in=[InventoryPush.Status.PENDING, InventoryPush.Status.RETRY], next_attempt_at__lte=now
    ).filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=resend_before)).order_by("pk")
    report.pushes_dispatched = inventory_pushes_dispatch(
        push_ids=list(due_pushes.values_list("pk", flat=True)[:5000]), force=True
    )
    report.sets_requested = _request_missing_sets(limit=unset_limit)
    return report


def _request_missing_sets(*, limit: int) -> int:
    """Queue absolute sets for managed levels never set in their store (e.g. variants published later)."""
    count = 0
    for store in Store.objects.filter(is_active=True, inventory_push_enabled=True):
        if count >= limit or not selectors.store_full_sync_done(store=store):
            continue
        ids = []
        with transaction.atomic():
            for mapping in StoreLocation.objects.filter(store=store):
                level_set = ShopifyLevel.objects.filter(
                    store=store, variant_id=OuterRef("variant_id"), location_id=mapping.location_id,
                ).filter(Q(baseline_version__isnull=False) | Q(
                    not_stocked_at__isnull=False, not_stocked_shopify_location_id=mapping.shopify_location_id))
                set_queued = InventoryPush.objects.filter(
                    store=store, variant_id=OuterRef("variant_id"), location_id=mapping.location_id,
                    kind=InventoryPush.Kind.SET,
                    status__in=[InventoryPush.Status.PENDING, InventoryPush.Status.RETRY, InventoryPush.Status.RUNNING],
                )
                variant_ids = (
                    VariantBinding.objects.filter(store=store, variant__inventory_tracked=True,
                                                  variant__inventory_sync_excluded=False)
                    .exclude(shopify_inventory_item_id="")
                    .filter(~Exists(level_set), ~Exists(set_queued))
                    .values_list("variant_id", flat=True)[: limit - count - len(ids)]
                )
                ids += [_push_record(kind=InventoryPush.Kind.SET, store_id=store.pk, variant_id=variant_id,
                                     location_id=mapping.location_id) for variant_id in variant_ids]
                if count + len(ids) >= limit:
                    break
            inventory_pushes_dispatch_on_commit(push_ids=ids)
        count += len(ids)
    return count


# Order topics live in ``inventory.orders`` (imported last: it builds on the helpers above).
from .orders import ORDER_TOPICS, handle_order_event, order_event_prefetch  # noqa: E402

TOPIC_HANDLERS.update(dict.fromkeys(ORDER_TOPICS, handle_order_event))
TOPIC_PREFETCH: dict[str, Callable[..., Any]] = dict.fromkeys(ORDER_TOPICS, order_event_prefetch)
