"""Running pushes against Shopify (a delta, a batch of compare-and-set sets) and the outbox kind that does it.

``INVENTORY_PUSH`` is the outbox kind of inventory pushes (issue 14): the outbox records, dispatches, claims
(under a lease), retries with backoff, dead-letters, sweeps and replays them; this module supplies what is
particular to a push: which rows may run now (their level is not leased), the per-level lease taken with the
claim (``_admit``: it keeps pushes of one level in order), and ``_execute``.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.db import connection, connections, transaction
from django.db.models import Exists, F, OuterRef, Sum

from channels.clients import client_for_store
from channels.models import Store
from channels.shopify import queries
from channels.shopify.exceptions import ShopifyStaleQuantity
from channels.shopify.ids import gid_to_id
from outbox.kinds import NotRun, OutboxKind, Outcome
from outbox.leases import lease_release, lease_take
from outbox.services import outbox_claim, outbox_execute
from pim.clock import clock_now

from . import selectors
from .drift import _run_check, level_sale_in_flight, level_wait_is_over
from .levels import _level_target, _lock_level, _shopify_level
from .models import (
    InventoryPush,
    ShopifyLevel,
    StockLevel,
)
from .pushes import (
    INVENTORY_PUSH_KIND,
    INVENTORY_SYNC_SET_KIND,
    _push_finish,
    _push_record,
    _push_replay_as_set,
    _store_settings,
    inventory_pushes_dispatch,
    inventory_pushes_dispatch_on_commit,
)
from .queueing import INVENTORY_QUEUE, _setting

logger = logging.getLogger(__name__)


MAX_EXPECTED_ECHOES = 50

STALE_ROUNDS = 4

_WAITING = (InventoryPush.Status.PENDING, InventoryPush.Status.RETRY)


def inventory_push_execute(*, push_id: int, worker: str | None = None) -> Outcome:
    """Run one push now: claim it and its level, talk to Shopify, record the outcome; never raises for Shopify.

    Idempotent: a push that is not waiting, not due or whose level is leased is left alone (``not-claimed``);
    a retried delta reuses its idempotency key. Retryable errors put the push back with backoff, others
    dead-letter it (the outbox's ``outbox_execute``). A full sync's set runs as its own kind (it may finish the run).
    """
    from outbox.kinds import outbox_kind

    is_sync_set = InventoryPush.objects.filter(pk=push_id, sync_run__isnull=False).exists()
    kind = outbox_kind(INVENTORY_SYNC_SET_KIND) if is_sync_set else INVENTORY_PUSH
    return outbox_execute(kind=kind, row_id=push_id, worker=worker)


# --- the per-level lease --------------------------------------------------------------------------------


def _level_owner(push: InventoryPush, attempt: int) -> str:
    return f"push-{push.pk}-{attempt}"


def _lease_seconds() -> float:
    return float(_setting("INVENTORY_LEASE_SECONDS", 120))


def _lease_level(level_id: int, owner: str) -> bool:
    return lease_take(rows=ShopifyLevel.objects.filter(pk=level_id), field="lease_until", seconds=_lease_seconds(),
                      owner_field="lease_owner", owner=owner)


def _release_level(level_id: int, owner: str) -> None:
    lease_release(rows=ShopifyLevel.objects.filter(pk=level_id), field="lease_until", owner_field="lease_owner",
                  owner=owner)


def _claimable(rows, now):
    """Pushes whose level no running push holds (the one running dispatches the level's backlog as it ends)."""
    leased = ShopifyLevel.objects.filter(
        store_id=OuterRef("store_id"), variant_id=OuterRef("variant_id"), location_id=OuterRef("location_id"),
        lease_until__gt=now,
    )
    return rows.filter(~Exists(leased))


def _check_is_quiet(push: InventoryPush) -> bool:
    waited = (clock_now() - push.created_at).total_seconds()
    if waited > float(_setting("INVENTORY_CHECK_MAX_WAIT_SECONDS", 120)):
        return True
    if selectors.unprocessed_order_events(shop_domain=push.store.shop_domain):
        return False
    return not selectors.level_pushes_in_flight(store_id=push.store_id, variant_id=push.variant_id,
                                                 location_id=push.location_id)


def _admit(push: InventoryPush, now) -> float | None:
    """Claim a push with its level's lease (in the claim's transaction); a check waits for the level to settle."""
    if push.kind == InventoryPush.Kind.CHECK and not _check_is_quiet(push):
        return 2.0
    level = _shopify_level(push.store_id, push.variant_id, push.location_id)
    if not _lease_level(level.pk, _level_owner(push, push.attempts + 1)):
        return 1.0  # another worker took the level just now
    return None


def inventory_push_claim(*, push_id: int, worker: str) -> tuple[InventoryPush, ShopifyLevel] | None:
    """Claim push ``push_id`` and its level (for a batch of sets run together); None if it cannot run now.

    Release the level with ``inventory_push_release`` when done."""
    push = outbox_claim(kind=INVENTORY_PUSH, worker=worker, row_id=push_id)
    if push is None:
        return None
    return push, _shopify_level(push.store_id, push.variant_id, push.location_id)


def inventory_push_release(*, push: InventoryPush, level: ShopifyLevel) -> None:
    """Release the level lease taken with the claim of ``push`` and hand the level's waiting pushes to the lane.

    The backlog includes a push that lost the race for the level a moment ago (pushed back ~1 s by ``_admit``):
    its own delayed dispatch found the level still leased, so without this it would wait for the sweep.
    """
    _release_level(level.pk, _level_owner(push, push.attempts))
    backlog = InventoryPush.objects.filter(
        store_id=push.store_id, variant_id=push.variant_id, location_id=push.location_id,
        status__in=_WAITING, next_attempt_at__lte=clock_now() + timedelta(seconds=2)).exclude(pk=push.pk)
    inventory_pushes_dispatch(push_ids=backlog.values_list("pk", flat=True))


# --- execute ------------------------------------------------------------------------------------------


def _refusal(push: InventoryPush) -> str:
    store = push.store
    if not store.is_active:
        return "store is disabled"
    if not store.inventory_push_enabled:
        return "store does not push inventory"
    if push.kind == InventoryPush.Kind.DELTA and not selectors.store_accepts_deltas(store=store):
        return "refused: the store has not had its initial full sync"
    if not push.variant.inventory_tracked or push.variant.inventory_sync_excluded:
        return f"{push.variant.sku} is untracked or excluded from inventory sync"
    return ""


def _execute(push: InventoryPush) -> Outcome:
    """Send one claimed push to Shopify (its level is leased to it); release the level and send its backlog."""
    level = _shopify_level(push.store_id, push.variant_id, push.location_id)
    try:
        refusal = _refusal(push)
        if refusal:
            _push_finish(push, InventoryPush.Status.SKIPPED, refusal)
            return Outcome(InventoryPush.Status.SKIPPED, refusal)
        if push.kind == InventoryPush.Kind.DELTA:
            if not push.idempotency_key:
                push.idempotency_key = f"pim-invpush-{push.pk}"
                InventoryPush.objects.filter(pk=push.pk).update(idempotency_key=push.idempotency_key)
            return _run_delta(push, level)
        if push.kind == InventoryPush.Kind.SET:
            outcome = _run_sets(push.store, [(push, level)])[push.pk]
            if isinstance(outcome, NotRun):
                raise outcome  # the outbox gives the push back unrun, due again later
            return outcome
        return _run_check(push, level)
    finally:
        inventory_push_release(push=push, level=level)


# A sale's push goes ahead of the sets a full sync or a reconciliation queued (issue 15's order lane): those can be
# thousands of rows, oldest first, and a level sold meanwhile must not wait behind them all. (A full sync's sets
# are now a kind of their own on ``default``, ``inventory.sync_sets``; both kinds keep this order.)
_PUSH_ORDER = (F("sync_run").asc(nulls_first=True), "first_change_at", "id")


def _not_sync_sets(rows):
    return rows.filter(sync_run__isnull=True)  # a full sync's sets are ``inventory.sync_sets``'s kind


def _parallel() -> int:
    return max(1, int(_setting("INVENTORY_PUSH_PARALLEL", 10)))


def _execute_in_thread(push: InventoryPush) -> Outcome | BaseException:
    try:
        return _execute(push)
    except Exception as exc:  # the row's outcome: the outbox retries or dead-letters it
        return exc
    finally:
        connections.close_all()  # this thread's own connection


def _execute_parallel(pushes: list[InventoryPush]) -> dict[int, Outcome | BaseException]:
    """Run claimed pushes side by side (issue 15: one sale's pushes to nine stores), each thread on its own
    database connection; every push holds its own level's lease, and each store's calls still draw on that
    store's cost budget in Redis. Inside a transaction (threads would not see its rows) they run one by one."""
    if len(pushes) == 1 or connection.in_atomic_block:
        results: dict[int, Outcome | BaseException] = {}
        for push in pushes:
            try:
                results[push.pk] = _execute(push)
            except Exception as exc:  # the row's outcome, as above
                results[push.pk] = exc
        return results
    with ThreadPoolExecutor(max_workers=min(len(pushes), _parallel()), thread_name_prefix="push") as pool:
        futures = {push.pk: pool.submit(_execute_in_thread, push) for push in pushes}
    return {pk: future.result() for pk, future in futures.items()}


INVENTORY_PUSH = OutboxKind(
    name=INVENTORY_PUSH_KIND, model=InventoryPush, execute=_execute, lane=INVENTORY_QUEUE, label="inventory pushes",
    scope=_not_sync_sets, execute_batch=_execute_parallel, batch_size=_parallel, claim_related=("store", "variant"),
    waiting=_WAITING, retry_status=InventoryPush.Status.RETRY, running=InventoryPush.Status.RUNNING,
    dead=InventoryPush.Status.DEAD, replayable=(InventoryPush.Status.DEAD,), key=("store", "variant", "location", "kind"),
    order_by=_PUSH_ORDER, by_id_only_when_due=True, result_field=None, started_field="started_at",
    lease_seconds=_lease_seconds, claimable=_claimable, admit=_admit, replay=_push_replay_as_set,
)


def _remember_quantity(level_id: int, quantity: int | None, *, baseline: int | None = None) -> None:
    """Note what our push left in Shopify (its inventory_levels/update echo is then recognised)."""
    with transaction.atomic():
        level = ShopifyLevel.objects.select_for_update().get(pk=level_id)
        echoes = list(level.expected_echoes or [])
        if quantity is not None:
            echoes = (echoes + [quantity])[-MAX_EXPECTED_ECHOES:]
        update: dict[str, Any] = {"expected_echoes": echoes, "synced_at": clock_now()}
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


def _run_delta(push: InventoryPush, level: ShopifyLevel) -> Outcome:
    if level.baseline_version is None:
        with transaction.atomic():
            set_id = _push_record(kind=InventoryPush.Kind.SET, store_id=push.store_id, variant_id=push.variant_id,
                                  location_id=push.location_id, version=push.max_version)
            inventory_pushes_dispatch_on_commit(push_ids=[set_id])
            _push_finish(push, InventoryPush.Status.SUPERSEDED, f"level never set in Shopify: absolute set #{set_id}")
        return Outcome(InventoryPush.Status.SUPERSEDED)
    if push.max_version <= level.baseline_version:
        _push_finish(push, InventoryPush.Status.SUPERSEDED, "already included in an absolute set")
        return Outcome(InventoryPush.Status.SUPERSEDED)
    target = _level_target(push.store, push.variant_id, push.location_id)
    if target is None:
        _push_finish(push, InventoryPush.Status.SKIPPED, "variant or location no longer mapped in this store")
        logger.warning("push %s skipped: variant %s / location %s unmapped in %s", push.pk, push.variant_id,
                       push.location_id, push.store.name)
        return Outcome(InventoryPush.Status.SKIPPED)
    if push.delta == 0:
        _push_finish(push, InventoryPush.Status.DONE, "changes cancel out: nothing to send")
        return Outcome(InventoryPush.Status.DONE)
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
    return Outcome(InventoryPush.Status.DONE, f"{push.delta:+d}")


def _run_sets(store: Store, batch: list[tuple[InventoryPush, ShopifyLevel]]) -> dict[int, Outcome | NotRun]:
    """Set Shopify to the PIM's quantity for the batch's levels (compare-and-set, re-read when stale).

    A level the set would raise while Shopify's number may include a sale the PIM has not booked yet is left for
    later (``NotRun``: no attempt used), see ``_sale_in_doubt``. Raises ShopifyStaleQuantity when Shopify kept
    changing for STALE_ROUNDS rounds.
    """
    outcomes: dict[int, Outcome | NotRun] = {}
    targets: dict[int, tuple[str, str]] = {}
    for push, _ in batch:
        target = _level_target(store, push.variant_id, push.location_id)
        if target is None:
            _push_finish(push, InventoryPush.Status.SKIPPED, "variant or location not mapped in this store")
            outcomes[push.pk] = Outcome(InventoryPush.Status.SKIPPED)
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
        read_at = clock_now()
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
                ).update(status=InventoryPush.Status.SUPERSEDED, finished_at=clock_now(),
                         result=f"included in absolute set #{push.pk}")
        quantities, plan = [], []
        for push, level in live:
            item, location = targets[push.pk]
            row = shopify.get((item, location)) or {}
            available, version = pim[push.pk]
            if not row.get("exists") or not row.get("stocked"):
                if row.get("exists") and activate:
                    detail = _activate_level(client, push, level, item, location, available, version)
                    outcomes[push.pk] = Outcome(InventoryPush.Status.DONE, detail)
                    continue
                why = "inventory item unknown in Shopify" if not row.get("exists") else "not stocked at the location"
                _mark_not_stocked(level, location)
                why += ": recorded, not retried until the mapping or Shopify's stocking changes"
                _push_finish(push, InventoryPush.Status.SKIPPED, why)
                outcomes[push.pk] = Outcome(InventoryPush.Status.SKIPPED, why)
                continue
            current = (row.get("quantities") or {}).get("available")
            doubt = _sale_in_doubt(push, row, current, available, read_at)
            if doubt is not None:
                outcomes[push.pk] = doubt
                continue
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
            outcomes[push.pk] = Outcome(InventoryPush.Status.DONE, detail)
        return outcomes
    raise ShopifyStaleQuantity(f"Shopify kept changing during {STALE_ROUNDS} compare-and-set rounds",
                               shop_domain=store.shop_domain)


def _sale_in_doubt(push: InventoryPush, row: dict, current: int | None, available: int, read_at) -> NotRun | None:
    """A set raising Shopify's level while a sale may be in flight: the read includes the sale, the PIM does not yet,
    and the set would put the sold units back in that shop for good (the PIM never pushes a booked sale to the
    order's own store). Return the ``NotRun`` that leaves the level for later, or None to set it now.

    A set lowering Shopify cannot undo a sale, so only raises wait; after INVENTORY_CHECK_MAX_WAIT_SECONDS since the
    push was queued the set goes ahead anyway (logged), as a check concludes then.
    """
    if current is None or current >= available:
        return None
    why, wait = level_sale_in_flight(shop_domain=push.store.shop_domain, row=row, read_at=read_at)
    if not why:
        return None
    if level_wait_is_over(push=push, now=read_at):
        logger.warning("set %s: Shopify %s < PIM %s but %s; waited long enough, setting anyway", push.pk, current,
                       available, why)
        return None
    logger.info("set %s: Shopify %s < PIM %s but %s: left for later", push.pk, current, available, why)
    return NotRun(f"Shopify {current} < PIM {available} but {why}", retry_after=max(1.0, wait))


def _mark_not_stocked(level: ShopifyLevel, location_gid_: str) -> None:
    """Remember that the variant has no level at this Shopify location (the sweeper then leaves it alone)."""
    ShopifyLevel.objects.filter(pk=level.pk).update(not_stocked_at=clock_now(),
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
