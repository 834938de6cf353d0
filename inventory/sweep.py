"""Absolute sets for levels never set in their store (e.g. variants published after the full sync): the
``inventory`` periodic task of ``outbox_sweeper``. Lost or stuck pushes are the outbox sweep's (issue 14).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from channels.models import Store, VariantBinding

from . import selectors
from .models import (
    InventoryPush,
    ShopifyLevel,
    StoreLocation,
)
from .pushes import _push_record, inventory_pushes_dispatch_on_commit


def inventory_missing_sets_request(*, limit: int = 500) -> int:
    """Queue absolute sets for managed levels never set in their store; return how many were queued.

    Only stores that push inventory and had their initial full sync; a level recorded as not stocked in Shopify
    or with a set already waiting or running is left alone. Safe to run any number of times.
    """
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
