"""Running pushes against Shopify: a delta, a batch of compare-and-set sets, a drain of due pushes.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Sum
from django.utils import timezone

from channels.clients import client_for_store
from channels.models import Store
from channels.shopify import queries
from channels.shopify.exceptions import ShopifyError, ShopifyStaleQuantity
from channels.shopify.ids import gid_to_id
from outbox.services import lane_drain_started

from . import selectors
from .drift import _run_check
from .levels import _level_target, _lock_level
from .models import (
    InventoryPush,
    ShopifyLevel,
    StockLevel,
)
from .pushes import (
    PushOutcome,
    _claim_push,
    _dispatch_level_backlog,
    _next_due_push_id,
    _push_fail,
    _push_finish,
    _push_record,
    _release_level,
    _store_settings,
    inventory_pushes_dispatch,
    inventory_pushes_dispatch_on_commit,
)
from .queueing import INVENTORY_QUEUE, _drain_budget, worker_name

logger = logging.getLogger(__name__)


MAX_EXPECTED_ECHOES = 50

STALE_ROUNDS = 4


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
