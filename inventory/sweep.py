"""The inventory sweep: reclaim expired leases, re-send due pushes, request missing sets (webhook events: the
outbox sweep; this one runs as the ``inventory`` periodic task of ``outbox_sweeper``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from channels.models import Store, VariantBinding
from pim.clock import clock_now

from . import selectors
from .models import (
    InventoryPush,
    ShopifyLevel,
    StoreLocation,
)
from .pushes import _push_record, inventory_pushes_dispatch, inventory_pushes_dispatch_on_commit
from .queueing import _setting


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
    now = now or clock_now()
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
