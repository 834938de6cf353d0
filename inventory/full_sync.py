"""The full inventory sync of a store: compare every managed level with Shopify and, applied, set Shopify to the PIM.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from channels.clients import client_for_store
from channels.models import Store
from channels.shopify.exceptions import ShopifyError
from outbox.kinds import NotRun
from outbox.services import outbox_claim, outbox_dispatch, outbox_fail, outbox_release, worker_name

from . import selectors
from .errors import InventorySyncRefused
from .levels import _shopify_level
from .models import (
    InventoryPush,
    InventorySyncRun,
    ShopifyLevel,
    StockLevel,
)
from .push_runs import _run_sets, inventory_push_release
from .pushes import _push_record
from .sync_sets import INVENTORY_SYNC_SET

# Sets per call when the caller runs the sync itself (the command, the demo): no order lane waits on this process,
# so fewer, larger calls; on the workers a batch is INVENTORY_SYNC_BATCH_SIZE (short, it yields to the order lane).
SET_BATCH_SIZE = 100


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

    Runs to its end in the caller (the ``inventory_sync`` command, the demo; the admin queues
    ``inventory_full_sync_start`` instead). The dry run only reports. Applying sets each level with
    compare-and-set in batches (re-reading on a stale compare), records the PIM version each set included, and
    completes the store's initial full sync (delta pushes are refused before). Raises InventorySyncRefused when
    the store may not push inventory or order webhooks of its shop are still unprocessed, and the Shopify
    client's errors.
    """
    run, push_ids = _full_sync_prepare(store=store, apply=apply, actor_label=actor_label, client=client)
    if run.finished_at is not None:
        return run
    try:
        _full_sync_sets(run=run, store=store, push_ids=push_ids, wait_seconds=wait_seconds)
    except Exception as exc:
        run.error = f"{type(exc).__name__}: {exc}"[:4000]
        raise
    finally:
        run.finished_at = timezone.now()
        run.save()
    return run


def inventory_full_sync_start(*, store: Store, actor_label: str = "") -> InventorySyncRun:
    """Start an applied full sync of ``store`` on the workers: queue a set per level, return the open run.

    No Shopify read here (issue 15: this job does not yield; reading every level first held a worker for
    seconds): each batch's own read is the compare. The sets run in batches on the ``default`` lane
    (``inventory.sync_sets``: each batch short, yielding to the order lane), and the batch that ends the last one
    finishes the run, filling its differences and report from what the sets found (the sweeper does, if that
    batch's worker died). Raises InventorySyncRefused as ``inventory_full_sync`` does.
    """
    run, push_ids = _full_sync_prepare(store=store, apply=True, actor_label=actor_label, client=None, compare=False)
    if push_ids:
        outbox_dispatch(kind=INVENTORY_SYNC_SET, ids=push_ids)
    return run


def _full_sync_prepare(*, store: Store, apply: bool, actor_label: str, client,
                       compare: bool = True) -> tuple[InventorySyncRun, list[int]]:
    """Refuse or compare (``compare``: read Shopify now); record an applied run's sets (not dispatched). A run with
    nothing to set is finished."""
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
    # An applied run counts as in progress from now on: changes made meanwhile are recorded for this store.
    run = InventorySyncRun.objects.create(store=store, applied=apply, actor_label=actor_label[:255])
    push_ids: list[int] = []
    try:
        if compare:
            targets = _full_sync_compare(run=run, store=store, client=client or client_for_store(store))
        else:
            targets = selectors.store_level_targets(store=store)
            run.levels_checked = len(targets)
        if apply and targets:
            with transaction.atomic():
                push_ids = [
                    _push_record(kind=InventoryPush.Kind.SET, store_id=store.pk, variant_id=t.variant_id,
                                 location_id=t.location_id, sync_run_id=run.pk)
                    for t in targets
                ]
                run.sets_queued = len(push_ids)
                run.save()
    except Exception as exc:
        run.error = f"{type(exc).__name__}: {exc}"[:4000]
        raise
    finally:
        if not push_ids:
            run.finished_at = timezone.now()
            run.save()
    return run, push_ids


def _full_sync_compare(*, run: InventorySyncRun, store: Store, client) -> list:
    """Read every managed level of ``store`` from Shopify, fill the run's report; return the level targets."""
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
    return targets


def _full_sync_sets(*, run: InventorySyncRun, store: Store, push_ids: list[int], wait_seconds: float) -> None:
    """Run the recorded sets of ``run`` in this process, in batches; hand the ones still busy to the workers."""
    deadline = time.monotonic() + wait_seconds  # real time: this loop waits for levels leased by workers
    remaining = list(push_ids)
    worker = worker_name()
    while remaining:
        batch: list[tuple[InventoryPush, ShopifyLevel]] = []
        for pk in remaining[:SET_BATCH_SIZE]:
            push = outbox_claim(kind=INVENTORY_SYNC_SET, worker=worker, row_id=pk)
            if push is not None:
                batch.append((push, _shopify_level(push.store_id, push.variant_id, push.location_id)))
        try:
            if batch:
                # A set a sale may still be in flight for comes back unrun: waiting again, picked up below when due.
                waiting = {pk: r for pk, r in _run_sets(store, batch).items() if isinstance(r, NotRun)}
                outbox_release(kind=INVENTORY_SYNC_SET, rows=[p for p, _ in batch if p.pk in waiting],
                               delays={pk: r.retry_after for pk, r in waiting.items()})
        except ShopifyError as exc:
            for push, _ in batch:
                outbox_fail(kind=INVENTORY_SYNC_SET, row=push, exc=exc, retryable=exc.retryable)
            run.error = f"{type(exc).__name__}: {exc}"[:4000]
        finally:
            for push, level in batch:
                inventory_push_release(push=push, level=level)
        still = set(
            InventoryPush.objects.filter(pk__in=remaining, status__in=[InventoryPush.Status.PENDING,
                                                                        InventoryPush.Status.RETRY,
                                                                        InventoryPush.Status.RUNNING])
            .values_list("pk", flat=True)
        )
        remaining = [pk for pk in remaining if pk in still]
        if run.error or time.monotonic() > deadline:
            break
        if remaining and not batch:
            time.sleep(0.2)  # levels leased by running pushes: wait for them
    done = InventoryPush.objects.filter(pk__in=push_ids)
    run.levels_set = done.filter(status=InventoryPush.Status.DONE, quantity_sent__isnull=False,
                                 change_from__isnull=False).exclude(quantity_sent=F("change_from")).count()
    run.skipped = done.filter(status=InventoryPush.Status.SKIPPED).count()
    if remaining and not run.error:
        run.error = f"{len(remaining)} level(s) still busy; their sets stay queued for the workers"
        outbox_dispatch(kind=INVENTORY_SYNC_SET, ids=remaining)
