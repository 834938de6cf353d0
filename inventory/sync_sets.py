"""A full inventory sync's sets as an outbox kind of their own (issue 15): batches of levels on the ``default`` lane.

An applied full sync queued from the admin records one absolute set per level (``sync_run`` set) and returns; the
workers' drains of ``default`` claim them ``INVENTORY_SYNC_BATCH_SIZE`` at a time (each row under its level's
lease, as every push), set each batch with one read and one compare-and-set ``inventorySetQuantities``, and yield
to the lanes ahead between batches (``OUTBOX_LANE_YIELD``), so a worker is back for an order within one batch's
time instead of at the end of the whole sync. The run is finished by the batch that ends its last set, or by the
sweeper's periodic task (a run whose last set was dead-lettered, or whose worker died). Pushes without a sync
run (sales, receipts, checks) stay on the ``inventory`` lane (``inventory.push_runs.INVENTORY_PUSH``).
"""

from __future__ import annotations

import logging

from django.db.models import F
from django.utils import timezone

from outbox.kinds import OutboxKind, Outcome

from .models import InventoryPush, InventorySyncRun
from .push_runs import (
    _PUSH_ORDER,
    _WAITING,
    _admit,
    _claimable,
    _execute,
    _lease_seconds,
    _refusal,
    _run_sets,
    inventory_push_release,
)
from .pushes import _push_finish, _push_replay_as_set
from .queueing import _setting

logger = logging.getLogger(__name__)

INVENTORY_SYNC_SET_KIND = "inventory_sync_set"
SYNC_SET_LANE = "default"  # after ``inventory``: a sale's push never waits behind a full sync's batches


def sync_batch_size() -> int:
    """How many of a full sync's sets one batch runs (INVENTORY_SYNC_BATCH_SIZE, at least 1)."""
    return max(1, int(_setting("INVENTORY_SYNC_BATCH_SIZE", 10)))


def _sync_scope(rows):
    return rows.filter(sync_run__isnull=False)


def _execute_batch(rows: list[InventoryPush]) -> dict[int, Outcome | BaseException]:
    """Run claimed sets together, one compare-and-set call per store; release their levels; finish done runs."""
    results: dict[int, Outcome | BaseException] = {}
    by_store: dict[int, list[InventoryPush]] = {}
    for push in rows:
        refusal = _refusal(push)  # the store was disabled or the variant excluded since the sync started
        if refusal:
            _push_finish(push, InventoryPush.Status.SKIPPED, refusal)
            inventory_push_release(push=push, level=_level_of(push))
            results[push.pk] = Outcome(InventoryPush.Status.SKIPPED, refusal)
            continue
        by_store.setdefault(push.store_id, []).append(push)
    for pushes in by_store.values():
        batch = [(push, _level_of(push)) for push in pushes]
        try:
            results.update(_run_sets(pushes[0].store, batch))
        except Exception as exc:  # noqa: BLE001 (each row takes its error; the outbox retries or dead-letters it)
            # Sets the batch finished before the error keep their outcome; the others take the error (retry).
            finished = dict(InventoryPush.objects.filter(pk__in=[p.pk for p in pushes])
                            .exclude(status=InventoryPush.Status.RUNNING).values_list("pk", "status"))
            for push in pushes:
                results[push.pk] = Outcome(finished[push.pk]) if push.pk in finished else exc
        finally:
            for push, level in batch:
                inventory_push_release(push=push, level=level)
    for run_id in {push.sync_run_id for push in rows}:
        inventory_sync_run_finish(run_id=run_id)
    return results


def _execute_one(push: InventoryPush) -> Outcome:
    """Run one claimed set (claimed alone or by id), then finish its run if it was the last."""
    outcome = _execute(push)
    inventory_sync_run_finish(run_id=push.sync_run_id)
    return outcome


def _level_of(push: InventoryPush):
    from .levels import _shopify_level

    return _shopify_level(push.store_id, push.variant_id, push.location_id)


INVENTORY_SYNC_SET = OutboxKind(
    name=INVENTORY_SYNC_SET_KIND, model=InventoryPush, execute=_execute_one, lane=SYNC_SET_LANE,
    label="full inventory sync sets", scope=_sync_scope,
    waiting=_WAITING, retry_status=InventoryPush.Status.RETRY, running=InventoryPush.Status.RUNNING,
    dead=InventoryPush.Status.DEAD, replayable=(InventoryPush.Status.DEAD,), key=("store", "variant", "location", "kind"),
    order_by=_PUSH_ORDER, by_id_only_when_due=True, result_field=None, started_field="started_at",
    lease_seconds=_lease_seconds, claimable=_claimable, admit=_admit, replay=_push_replay_as_set,
    execute_batch=_execute_batch, batch_size=sync_batch_size,
)


def inventory_sync_run_finish(*, run_id: int) -> bool:
    """Finish applied run ``run_id`` if none of its sets is still waiting or running; return whether it did now.

    Counts the levels set and skipped and fills the differences and report from what the sets found (each batch
    read Shopify right before setting); dead-lettered sets are named in the run's error (the store's full sync is
    then not done). Only a run that recorded its sets (``sets_queued``) and is not finished yet is touched, in
    one conditional update, so two batches ending together finish it once.
    """
    pushes = InventoryPush.objects.filter(sync_run_id=run_id)
    if pushes.filter(status__in=[*_WAITING, InventoryPush.Status.RUNNING]).exists():
        return False
    dead = pushes.filter(status=InventoryPush.Status.DEAD).count()
    levels_set = pushes.filter(status=InventoryPush.Status.DONE, quantity_sent__isnull=False,
                               change_from__isnull=False).exclude(quantity_sent=F("change_from")).count()
    # Each batch read Shopify right before its set: what the sets found is the run's compare.
    report = _report_from_sets(pushes)
    update = {"finished_at": timezone.now(), "levels_set": levels_set, "differences": levels_set,
              "skipped": pushes.filter(status=InventoryPush.Status.SKIPPED).count(), "report": report}
    if dead:
        update["error"] = f"{dead} set(s) dead-lettered: replay them (inventory pushes), then run the sync again"
    return bool(InventorySyncRun.objects.filter(pk=run_id, applied=True, finished_at__isnull=True,
                                                sets_queued__isnull=False).update(**update))


def _report_from_sets(pushes) -> list[dict]:
    """The run's report rows (as the compare writes them) for the levels that differed or were not stocked."""
    rows = []
    for push in pushes.filter(status__in=[InventoryPush.Status.DONE, InventoryPush.Status.SKIPPED]).select_related(
            "variant", "location").order_by("pk"):
        stocked = push.status == InventoryPush.Status.DONE
        differs = stocked and push.change_from is not None and push.change_from != push.quantity_sent
        if differs or not stocked:
            rows.append({"sku": push.variant.sku, "location": push.location.name, "shopify": push.change_from,
                         "pim": push.quantity_sent, "stocked": stocked, "differs": differs})
        if len(rows) >= 5000:
            break
    return rows


def inventory_sync_runs_finish() -> int:
    """Finish every applied run whose sets are all over (the sweeper's periodic task); return how many."""
    open_runs = InventorySyncRun.objects.filter(applied=True, finished_at__isnull=True, sets_queued__isnull=False)
    return sum(inventory_sync_run_finish(run_id=pk) for pk in open_runs.values_list("pk", flat=True))
