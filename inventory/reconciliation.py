"""Scheduled inventory reconciliation (issue 18): per store, daily or weekly, compare every mapped level with
Shopify and correct what drifted.

Switching on
    A store's schedule (*off* by default) can only be switched on after an applied full inventory sync whose result
    a manager confirmed (``inventory_sync_run_confirm``: they checked available-to-sell in Shopify).

When
    Daily, or weekly on a weekday, at an hour of the schedule's timezone (an IANA name, default UTC). The slot is
    the latest such moment at or before ``now``; every sweeper loop (``sync_sweeper --loop``, a periodic task
    ``InventoryConfig.ready()`` registers) creates the slot's ``ReconciliationRun`` if it does not exist yet. A
    unique (store, slot) row makes two sweepers create one run; a missed slot (sweepers down) is run once, late.

Which side wins
    The PIM is the master of stock: a normal difference sets Shopify to the PIM's quantity. Shopify's sales reach
    the PIM through order webhooks, so a difference that may be a sale the PIM has not booked yet is never
    overwritten: a level is skipped (and the report says why) while an order webhook of the shop that touches its
    variant is unprocessed or failed, while a push or check of the level is waiting, while a drift of it awaits
    review, and when Shopify changed it less than ``RECONCILIATION_SETTLE_SECONDS`` ago (its webhook may still be
    on the way). A difference above ``RECONCILIATION_HOLD_UNITS`` / ``RECONCILIATION_HOLD_PERCENT`` is held as an
    ``InventoryDrift`` (accept into the PIM or overwrite Shopify, in the admin) instead of applied.

Compare-and-set
    A correction is ``inventorySetQuantities`` with ``changeFromQuantity`` = the quantity this run read. When
    Shopify changed since (``CHANGE_FROM_QUANTITY_STALE``) the level is reported *stale* and left alone: the next
    run compares it again. The existing push's set re-reads and sets right away, which would overwrite such a
    change, so the run sends its own set through the Shopify client (as the push does: idempotency key from the
    run's id, our echo noted on ``ShopifyLevel``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from channels.clients import client_for_store
from channels.models import Store
from channels.shopify.exceptions import ShopifyError, ShopifyStaleQuantity, ShopifyUserError
from outbox.kinds import OutboxKind, Outcome
from outbox.services import outbox_dispatch, outbox_dispatch_on_commit, outbox_execute
from pim.clock import clock_now

from . import selectors
from .models import (
    InventoryDrift,
    InventoryPush,
    InventorySyncRun,
    ShopifyLevel,
    StockLevel,
)
from .reconciliation_events import order_event_blocks
from .reconciliation_models import FullSyncConfirmation, ReconciliationRun, ReconciliationSchedule

logger = logging.getLogger(__name__)

QUEUE = "inventory"
BATCH = 100  # quantities per inventorySetQuantities
CAS_ROUNDS = 3
MAX_ECHOES = 50
REPORT_LIMIT = 5000
LEASE_SECONDS = 1800
WAITING_PUSH = (InventoryPush.Status.PENDING, InventoryPush.Status.RUNNING, InventoryPush.Status.RETRY)


class ReconciliationError(ValueError):
    """Bad input for a schedule or a confirmation (the message says what to fix)."""


class ReconciliationRefused(ReconciliationError):
    """The store may not be reconciled (no confirmed full sync, does not push inventory)."""


# --- confirming a full sync ---------------------------------------------------------------------------------------


def _label(actor: AbstractBaseUser | None, fallback: str) -> str:
    return f"user {actor.get_username()}" if actor is not None else fallback


def inventory_sync_run_confirm(*, run: InventorySyncRun, actor: AbstractBaseUser | None = None,
                               note: str = "") -> FullSyncConfirmation:
    """Record that a manager checked the result of an applied full sync (available-to-sell in Shopify).

    Confirming a confirmed run returns its confirmation. Raises ReconciliationError for a dry run, a run that has
    not finished or one that ended with an error.
    """
    if not run.applied:
        raise ReconciliationError("Only an applied full sync can be confirmed (this one was a dry run).")
    if run.finished_at is None:
        raise ReconciliationError("This full sync has not finished yet.")
    if run.error:
        raise ReconciliationError(f"This full sync ended with an error ({run.error[:200]}): run it again first.")
    try:
        with transaction.atomic():
            return FullSyncConfirmation.objects.create(
                run=run, store_id=run.store_id, confirmed_by=actor, confirmed_by_label=_label(actor, "system")[:255],
                note=note[:500])
    except IntegrityError:
        return FullSyncConfirmation.objects.get(run=run)


def confirmed_full_sync(*, store: Store) -> FullSyncConfirmation | None:
    """Return the store's newest confirmation of an applied, error-free full sync, or None."""
    return (FullSyncConfirmation.objects.filter(store=store, run__applied=True, run__finished_at__isnull=False,
                                                run__error="")
            .select_related("run").order_by("-run__started_at").first())


def reconciliation_refusal(*, store: Store) -> str:
    """Return why the store's reconciliation may not run or be switched on ('' when it may)."""
    if not store.is_active or not store.inventory_push_enabled:
        return f"{store.name} does not push inventory."
    if confirmed_full_sync(store=store) is None:
        return (f"{store.name} has no confirmed full inventory sync: run one (inventory_sync --full --apply), check "
                "available-to-sell in Shopify, then confirm it (Inventory sync runs › Confirm the result).")
    return ""


# --- the schedule -------------------------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReconciliationError(f"Unknown timezone {name!r}: give an IANA name such as Europe/Berlin or UTC.")


def reconciliation_schedule_check(*, store: Store, frequency: str, hour: int = 3, weekday: int = 0,
                                  timezone_name: str = "UTC") -> None:
    """Validate a schedule for ``store`` without saving it.

    Raises ReconciliationError for an unknown frequency, an hour outside 0-23, a weekday outside 0-6 (Monday = 0)
    or an unknown timezone, and ReconciliationRefused when switching on a store without a confirmed full sync.
    """
    if frequency not in ReconciliationSchedule.Frequency.values:
        raise ReconciliationError(f"Unknown frequency {frequency!r}: off, daily or weekly.")
    if not 0 <= int(hour) <= 23:
        raise ReconciliationError("The hour must be between 0 and 23.")
    if not 0 <= int(weekday) <= 6:
        raise ReconciliationError("The weekday must be between 0 (Monday) and 6 (Sunday).")
    _zone(timezone_name)
    if frequency != ReconciliationSchedule.Frequency.OFF:
        refusal = reconciliation_refusal(store=store)
        if refusal:
            raise ReconciliationRefused(refusal)


def reconciliation_schedule_set(*, store: Store, frequency: str, hour: int = 3, weekday: int = 0,
                                timezone_name: str = "UTC", actor: AbstractBaseUser | None = None,
                                now: datetime | None = None) -> ReconciliationSchedule:
    """Set the store's reconciliation schedule; it takes effect from the next slot after ``now``.

    Raises the errors of ``reconciliation_schedule_check`` (switching on needs a confirmed full sync).
    """
    reconciliation_schedule_check(store=store, frequency=frequency, hour=hour, weekday=weekday,
                                  timezone_name=timezone_name)
    confirmation = confirmed_full_sync(store=store) if frequency != ReconciliationSchedule.Frequency.OFF else None
    with transaction.atomic():
        schedule, _ = ReconciliationSchedule.objects.select_for_update().get_or_create(store=store)
        changed = (schedule.frequency, schedule.hour, schedule.weekday, schedule.timezone) != (
            frequency, int(hour), int(weekday), timezone_name)
        schedule.frequency, schedule.hour, schedule.weekday = frequency, int(hour), int(weekday)
        schedule.timezone = timezone_name
        if changed or schedule.effective_from is None:
            schedule.effective_from = now or clock_now()
        if confirmation is not None:
            schedule.confirmation = confirmation
        schedule.updated_by = _label(actor, "system")[:255]
        schedule.save()
    return schedule


def reconciliation_slot(*, schedule: ReconciliationSchedule, now: datetime) -> datetime | None:
    """Return the latest scheduled moment (UTC) at or before ``now``, or None when the schedule is off.

    The hour is read in the schedule's timezone, so a daily 03:00 in Europe/Berlin stays 03:00 local across
    daylight-saving changes (a non-existent local hour falls one hour later, as the timezone database says).
    """
    if schedule.frequency == ReconciliationSchedule.Frequency.OFF:
        return None
    zone = _zone(schedule.timezone)
    today = now.astimezone(zone).date()
    for back in range(8):
        day = today - timedelta(days=back)
        if schedule.frequency == ReconciliationSchedule.Frequency.WEEKLY and day.weekday() != schedule.weekday:
            continue
        slot = datetime.combine(day, time(schedule.hour), tzinfo=zone).astimezone(ZoneInfo("UTC"))
        if slot <= now:
            return slot
    return None


def reconciliation_due_slot(*, schedule: ReconciliationSchedule, now: datetime) -> datetime | None:
    """Return the slot the store should have a run for at ``now`` (None: off, or its slot predates the change)."""
    slot = reconciliation_slot(schedule=schedule, now=now)
    if slot is None or (schedule.effective_from is not None and slot < schedule.effective_from):
        return None
    return slot


def reconciliation_next_slot(*, schedule: ReconciliationSchedule, now: datetime) -> datetime | None:
    """Return the next scheduled moment after ``now`` (for the admin), or None when off."""
    if schedule.frequency == ReconciliationSchedule.Frequency.OFF:
        return None
    start = max(now, schedule.effective_from or now)
    for hours in range(1, 8 * 24 + 2):
        slot = reconciliation_slot(schedule=schedule, now=start + timedelta(hours=hours))
        if slot is not None and slot > start:
            return slot
    return None


# --- runs: creation, dispatch, sweeping ---------------------------------------------------------------------------


def reconciliation_run_request(*, store: Store, actor: AbstractBaseUser | None = None, now: datetime | None = None,
                               dispatch: bool = True) -> ReconciliationRun:
    """Queue a reconciliation of ``store`` now (by hand); sent to a worker after commit unless ``dispatch`` is off
    (the caller runs it itself).

    Raises ReconciliationRefused when the store may not be reconciled.
    """
    refusal = reconciliation_refusal(store=store)
    if refusal:
        raise ReconciliationRefused(refusal)
    with transaction.atomic():
        run = ReconciliationRun.objects.create(store=store, slot=now or clock_now(),
                                               trigger=ReconciliationRun.Trigger.MANUAL,
                                               actor_label=_label(actor, "command")[:255])
        if dispatch:
            outbox_dispatch_on_commit(kind=RECONCILIATION_RUN, ids=[run.pk])
    return run


def reconciliation_sweep(*, now: datetime | None = None) -> int:
    """Create each switched-on store's run for its due slot (once, whichever sweeper comes first) and hand it to
    the ``inventory`` lane; return how many runs were created. Safe on any number of sweepers."""
    now = now or clock_now()
    created = []
    schedules = ReconciliationSchedule.objects.exclude(frequency=ReconciliationSchedule.Frequency.OFF)
    for schedule in schedules.select_related("store"):
        slot = reconciliation_due_slot(schedule=schedule, now=now)
        if slot is None or not schedule.store.is_active:
            continue
        try:
            with transaction.atomic():
                run, made = ReconciliationRun.objects.get_or_create(
                    store=schedule.store, slot=slot, trigger=ReconciliationRun.Trigger.SCHEDULE,
                    defaults={"actor_label": "schedule", "next_attempt_at": now})
        except IntegrityError:  # another sweeper created it between our read and our insert
            continue
        if made:
            created.append(run.pk)
    outbox_dispatch(kind=RECONCILIATION_RUN, ids=created)  # runs a worker lost: the outbox sweep
    return len(created)


def reconciliation_sweep_task() -> int:
    """The periodic task every ``sync_sweeper --loop`` pass runs (registered in ``InventoryConfig.ready()``); a
    failure is logged, never raised, so the sweeper's other work goes on."""
    try:
        return reconciliation_sweep()
    except Exception:
        logger.exception("inventory reconciliation sweep failed")
        return 0


# --- running one ------------------------------------------------------------------------------------------------


def reconciliation_run_execute(*, run_id: int, worker: str | None = None) -> ReconciliationRun:
    """Run reconciliation ``run_id`` now if it is waiting and due, and return it (idempotent: a run claimed
    elsewhere, not due or finished is returned unchanged); never raises for Shopify. A retryable error puts the
    run back with the outbox's backoff until ``RECONCILIATION_MAX_ATTEMPTS``; other errors fail it."""
    outbox_execute(kind=RECONCILIATION_RUN, row_id=run_id, worker=worker)
    return ReconciliationRun.objects.get(pk=run_id)


def _execute(run: ReconciliationRun) -> Outcome:
    store = run.store
    refusal = reconciliation_refusal(store=store)
    if not refusal and run.trigger == ReconciliationRun.Trigger.SCHEDULE:
        schedule = ReconciliationSchedule.objects.filter(store=store).first()
        if schedule is None or schedule.frequency == ReconciliationSchedule.Frequency.OFF:
            refusal = "the schedule was switched off"
    if refusal:
        return Outcome(ReconciliationRun.Status.SKIPPED, fields={"last_error": refusal})
    result = _reconcile(run=run, store=store, client=client_for_store(store), now=clock_now())
    logger.info("reconciliation of %s: %s", store.name, result.counts())
    return Outcome(ReconciliationRun.Status.DONE, fields={**result.counts(), "report": result.entries[:REPORT_LIMIT]})


def _retryable(exc: BaseException) -> bool:
    """Shopify says (throttled, server, network errors retry); the database hiccuping retries; a bug fails."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, ShopifyError) and exc.retryable


RECONCILIATION_RUN = OutboxKind(
    name="reconciliation_run", model=ReconciliationRun, execute=_execute, lane=QUEUE, label="reconciliation runs",
    waiting=(ReconciliationRun.Status.QUEUED, ReconciliationRun.Status.RETRY),
    retry_status=ReconciliationRun.Status.RETRY, dead=ReconciliationRun.Status.FAILED,
    replayable=(ReconciliationRun.Status.FAILED,), order_by=("next_attempt_at", "id"), by_id_only_when_due=True,
    result_field=None, started_field="started_at", lease_seconds=lambda: float(LEASE_SECONDS),
    max_attempts=lambda run: int(settings.RECONCILIATION_MAX_ATTEMPTS), retryable=_retryable,
)


# --- comparing and correcting ----------------------------------------------------------------------------------


@dataclass
class _Level:
    variant_id: int
    location_id: int
    sku: str
    location: str
    item: str
    shopify_location: str
    pim: int = 0
    versions: tuple = ()
    shopify: int | None = None


@dataclass
class _Result:
    checked: int = 0
    matched: int = 0
    entries: list[dict] = field(default_factory=list)

    def add(self, level: _Level, outcome: str, detail: str, **extra) -> None:
        self.entries.append({"sku": level.sku, "location": level.location, "pim": level.pim,
                             "shopify": level.shopify, "outcome": outcome, "detail": detail, **extra})

    def counts(self) -> dict:
        tally = {name: sum(1 for e in self.entries if e["outcome"] == name)
                 for name in ("corrected", "skipped", "held", "stale")}
        return {"levels_checked": self.checked, "matched": self.matched, **tally}


def _reconcile(*, run: ReconciliationRun, store: Store, client, now: datetime) -> _Result:
    """Read Shopify (paged and cost-aware: the full sync's reader), then the shop's waiting order webhooks, then the
    PIM (in that order, so a sale booked meanwhile is either in the PIM figure or still waiting), and act per level."""
    targets = selectors.store_level_targets(store=store)
    result = _Result(checked=len(targets))
    if not targets:
        return result
    rows = client.inventory_levels(inventory_item_ids=[t.inventory_item_gid for t in targets],
                                   location_ids=[t.location_gid for t in targets], names=("available",))
    shopify = {(r["inventoryItemId"], r["locationId"]): r for r in rows}
    blocked, block_all = order_event_blocks(store=store)
    levels = [_Level(t.variant_id, t.location_id, t.sku, t.location_name, t.inventory_item_gid, t.location_gid)
              for t in targets]
    _read_pim(store, levels)
    waiting = set(InventoryPush.objects.filter(store=store, status__in=WAITING_PUSH)
                  .values_list("variant_id", "location_id"))
    drifts = {(d.variant_id, d.location_id): d.pk for d in InventoryDrift.objects.filter(
        store=store, resolved_at__isnull=True).only("pk", "variant_id", "location_id")}
    settle = timedelta(seconds=settings.RECONCILIATION_SETTLE_SECONDS)
    to_correct: list[_Level] = []
    for level in levels:
        row = shopify.get((level.item, level.shopify_location)) or {}
        if not row.get("exists"):
            result.add(level, "skipped", "inventory item unknown in Shopify")
            continue
        if not row.get("stocked"):
            result.add(level, "skipped", "not stocked at this Shopify location (left alone, as pushes do)")
            continue
        level.shopify = (row.get("quantities") or {}).get("available")
        if level.shopify == level.pim:
            result.matched += 1
            continue
        key = (level.variant_id, level.location_id)
        changed_at = parse_datetime(row.get("updatedAt") or "")
        if block_all or level.variant_id in blocked:
            result.add(level, "skipped", block_all or blocked[level.variant_id])
        elif key in waiting:
            result.add(level, "skipped", "a push or check of this level is still waiting: the PIM's change is not "
                                         "in Shopify yet")
        elif key in drifts:
            result.add(level, "skipped", f"held: inventory drift #{drifts[key]} awaits review", drift=drifts[key])
        elif changed_at is not None and now - changed_at < settle:
            ago = max(0, int((now - changed_at).total_seconds()))
            result.add(level, "skipped", f"changed in Shopify {ago}s ago: its webhook may still be on its way")
        elif _is_large(level.pim, level.shopify):
            drift = InventoryDrift.objects.create(
                store=store, variant_id=level.variant_id, location_id=level.location_id,
                shopify_available=level.shopify, pim_available=level.pim, action=InventoryDrift.Action.HELD)
            result.add(level, "held", f"difference {level.shopify - level.pim:+d} is above the threshold: held for "
                                      f"review as inventory drift #{drift.pk}", drift=drift.pk)
        else:
            to_correct.append(level)
    for start in range(0, len(to_correct), BATCH):
        _correct(run=run, store=store, client=client, batch=to_correct[start:start + BATCH], result=result,
                 number=start // BATCH)
    return result


def _is_large(pim: int, shopify: int) -> bool:
    difference = abs(shopify - pim)
    units, percent = settings.RECONCILIATION_HOLD_UNITS, settings.RECONCILIATION_HOLD_PERCENT
    return bool((units and difference > units) or (percent and difference * 100 > percent * max(abs(pim), 1)))


def _read_pim(store: Store, levels: list[_Level]) -> None:
    """Fill each level's PIM quantity (the default mapping's level also shows unmapped locations' stock) and the
    versions of the stock levels it is made of."""
    extra = {loc: selectors.store_unmapped_location_ids(store_id=store.pk, location_id=loc)
             for loc in {lv.location_id for lv in levels}}
    figures = _stock_figures(store, levels, extra)
    for level in levels:
        parts = [level.location_id, *extra[level.location_id]]
        level.pim = sum(figures.get((level.variant_id, loc), (0, 0))[0] for loc in parts)
        level.versions = tuple(figures.get((level.variant_id, loc), (0, 0))[1] for loc in parts)


def _stock_figures(store: Store, levels: list[_Level], extra: dict) -> dict:
    locations = {loc for lv in levels for loc in (lv.location_id, *extra[lv.location_id])}
    rows = StockLevel.objects.filter(variant_id__in={lv.variant_id for lv in levels}, location_id__in=locations)
    return {(r[0], r[1]): (r[2], r[3]) for r in rows.values_list("variant_id", "location_id", "available", "version")}


def _correct(*, run: ReconciliationRun, store: Store, client, batch: list[_Level], result: _Result,
             number: int) -> None:
    """Set Shopify to the PIM for ``batch`` with compare-and-set against what this run read."""
    # The PIM may have moved since it was read (a sale booked, a receipt): that change queues its own push.
    before = {(lv.variant_id, lv.location_id): lv.versions for lv in batch}
    fresh = list(batch)
    _read_pim(store, fresh)
    now_waiting = set(InventoryPush.objects.filter(store=store, status__in=WAITING_PUSH).values_list(
        "variant_id", "location_id"))
    live = []
    for level in fresh:
        key = (level.variant_id, level.location_id)
        if level.versions != before[key] or key in now_waiting:
            result.add(level, "skipped", "the PIM's stock moved while comparing: the next run compares again")
        else:
            live.append(level)
    for round_ in range(CAS_ROUNDS):
        if not live:
            return
        key = f"pim-recon-{run.pk}-a{run.attempts}-b{number}-r{round_}"
        quantities = [{"inventoryItemId": lv.item, "locationId": lv.shopify_location, "quantity": lv.pim,
                       "changeFromQuantity": lv.shopify} for lv in live]
        try:
            client.inventory_set_quantities(name="available", reason="correction", quantities=quantities,
                                            idempotency_key=key,
                                            reference_document_uri=f"gid://pim/InventoryReconciliation/{run.pk}")
        except ShopifyStaleQuantity as exc:
            live = _after_stale(client, store, live, exc, result)
            continue
        except ShopifyUserError as exc:
            if exc.retryable:
                raise
            for level in live:
                result.add(level, "skipped", f"Shopify refused the set: {exc.message[:300]}")
            return
        for level in live:
            _note_our_set(store, level)
            result.add(level, "corrected", f"Shopify set from {level.shopify} to the PIM's {level.pim} "
                                           "(compare-and-set)")
        return
    for level in live:
        result.add(level, "stale", "Shopify kept changing while correcting: the next run compares again")


def _after_stale(client, store: Store, live: list[_Level], exc: ShopifyStaleQuantity, result: _Result) -> list[_Level]:
    """Sort a batch refused as stale: levels Shopify changed since our read are left for the next run, levels
    already at the PIM's quantity are done, the rest are sent again (Shopify may refuse the whole batch)."""
    flagged = set()
    for error in exc.user_errors:
        path = [str(p) for p in (error.get("field") or [])]
        if "quantities" in path and len(path) > path.index("quantities") + 1:
            index = path[path.index("quantities") + 1]
            if index.isdigit():
                flagged.add(int(index))
    rows = client.inventory_levels(inventory_item_ids=[lv.item for lv in live],
                                   location_ids=[lv.shopify_location for lv in live], names=("available",))
    now = {(r["inventoryItemId"], r["locationId"]): (r.get("quantities") or {}).get("available") for r in rows}
    again = []
    for index, level in enumerate(live):
        current = now.get((level.item, level.shopify_location))
        if current == level.pim:
            if index in flagged:
                result.matched += 1  # someone else brought it to the PIM's quantity meanwhile
            else:
                _note_our_set(store, level)
                result.add(level, "corrected", f"Shopify set from {level.shopify} to the PIM's {level.pim}")
        elif current != level.shopify:
            result.add(level, "stale", f"Shopify changed since it was read ({level.shopify} → {current}): not "
                                       "overwritten; the next run compares again")
        elif index in flagged:
            result.add(level, "stale", "Shopify refused the compare-and-set: not overwritten; the next run compares "
                                       "again")
        else:
            again.append(level)
    return again


def _note_our_set(store: Store, level: _Level) -> None:
    """Remember the quantity our set left in Shopify, so its inventory_levels/update echo is recognised as ours,
    and the PIM version it included (deltas it covers are not sent again)."""
    ShopifyLevel.objects.bulk_create([ShopifyLevel(store=store, variant_id=level.variant_id,
                                                   location_id=level.location_id)], ignore_conflicts=True)
    with transaction.atomic():
        row = ShopifyLevel.objects.select_for_update().get(store=store, variant_id=level.variant_id,
                                                            location_id=level.location_id)
        update = {"expected_echoes": (list(row.expected_echoes or []) + [level.pim])[-MAX_ECHOES:],
                  "last_known_available": level.pim, "synced_at": timezone.now()}
        own_version = level.versions[0] if level.versions else 0
        if row.baseline_version is None or own_version > row.baseline_version:
            update["baseline_version"] = own_version
        ShopifyLevel.objects.filter(pk=row.pk).update(**update)


def reconciliation_health_lines(store: Store) -> list:
    """The store's reconciliation schedule and last run, for the sync health page and ``sync_status`` (a channels
    health provider registered in ``InventoryConfig.ready()``)."""
    from django.urls import reverse

    from channels.health import HealthLine

    schedule = ReconciliationSchedule.objects.filter(store=store).first()
    if schedule is None or schedule.frequency == ReconciliationSchedule.Frequency.OFF:
        return [HealthLine("Inventory reconciliation", "off")]
    value = str(schedule).split(": ", 1)[-1]
    run = ReconciliationRun.objects.filter(store=store).order_by("-slot", "-pk").first()
    if run is None:
        return [HealthLine("Inventory reconciliation", f"{value}; no run yet")]
    value += (f"; last run {run.slot:%Y-%m-%d %H:%M} UTC {run.get_status_display().lower()}: {run.corrected} "
              f"corrected, {run.skipped} skipped, {run.held} held, {run.stale} stale")
    if run.last_error:
        value += f" ({run.last_error[:200]})"
    return [HealthLine("Inventory reconciliation", value, problem=run.status == ReconciliationRun.Status.FAILED,
                       link=reverse("admin:inventory_reconciliationrun_change", args=[run.pk]))]
