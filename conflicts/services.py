"""Write services of drift detection: check one product against Shopify now (webhooks, on demand).

A drift is a field where the live Shopify value differs from what the PIM last wrote there (and from what
the PIM is about to write). Each drift becomes, or updates, the one open conflict for its
(store, product, variant, field); the store's policy (per field or default) decides whether the publish
overwrites it or the product is held on that store until a manager resolves it.

This module holds the checks of one product (``products/update`` and ``products/delete`` webhooks);
recording and policies are in ``recording``, the nightly sweep in ``sweep``, review actions and
retention in ``review``, alerts in ``alerts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils.dateparse import parse_datetime

from channels import binder
from channels.binder import ONBOARDING_MARK as _ONBOARDING_MARK
from channels.models import ChannelAssignment
from channels.payloads import publish_plan_build
from channels.publishing import product_live_read

from .compare import PRODUCT_KEYS, VARIANT_KEYS, CompareResult, Drift, drift_compare, publish_compare  # noqa: F401
from .models import Conflict
from .recording import conflicts_record

# Set as {"_onboarding": True} in ChannelAssignment.published_snapshot by onboarding's --apply.
ONBOARDING_MARK = _ONBOARDING_MARK


def _fetch_live(client, assignment: ChannelAssignment) -> dict | None:
    """Read the live product sized to what we last wrote (the publish's own live read stage)."""
    from channels.payloads import PublishPlan

    return product_live_read(client=client, assignment=assignment,
                             plan=PublishPlan(snapshot=assignment.published_snapshot, product_input={}))


@dataclass
class LiveRead:
    """What the read phase of a drift check fetched: the assignment and Shopify's live product node."""

    assignment: ChannelAssignment
    live_node: dict


def drift_live_read(
    *, store_id: int, shopify_product_id: str, updated_at: datetime | str | None = None, client=None
) -> LiveRead | None:
    """Read phase of a drift check (network; call it outside any transaction): load the product's assignment and
    read the live product from Shopify. Returns None when there is nothing to compare (not published by us, an
    echo of our own write, deleted in Shopify). Raises the client's ShopifyError on transport errors.
    """
    from channels.clients import client_for_store

    assignment = (
        ChannelAssignment.objects.filter(store_id=store_id, shopify_product_id=str(shopify_product_id))
        .select_related("store", "product")
        .first()
    )
    if assignment is None or not assignment.published_snapshot or not assignment.publish:
        return None
    if isinstance(updated_at, str):
        updated_at = parse_datetime(updated_at)
    if updated_at and assignment.shopify_updated_at and updated_at <= assignment.shopify_updated_at:
        return None  # our own write echoing back
    client = client or client_for_store(assignment.store)
    live_node = _fetch_live(client, assignment)
    if live_node is None:
        return None  # products/delete handles deletions; the next publish records it
    return LiveRead(assignment=assignment, live_node=live_node)


def drift_live_apply(*, read: LiveRead) -> list[Conflict]:
    """Compare phase of a drift check (no network): compare the live product with the PIM and apply the store's
    policy in one transaction. Overwrite records the conflicts and queues a publish of the PIM values; hold pauses
    the product on the store. Returns the conflicts recorded."""
    from channels.services import publish_request

    assignment = read.assignment
    store = assignment.store
    last = assignment.published_snapshot
    plan = publish_plan_build(assignment=assignment,
                              bindings=binder.bindings_for(store=store, product=assignment.product))
    result = publish_compare(last=last, plan_snapshot=plan.snapshot, live_node=read.live_node,
                             keys_by_shopify_id=binder.snapshot_keys_by_shopify_id(
                                 store=store, product_id=assignment.product_id))
    if not result.drifts:
        return []
    with transaction.atomic():
        records, hold = conflicts_record(store=store, product=assignment.product,
                                         shopify_product_id=assignment.shopify_product_id, drifts=result.drifts,
                                         source=Conflict.Source.WEBHOOK)
        if hold:
            binder.bind_hold(assignment=assignment, held=True)
        else:
            binder.bind_snapshot_as_live(assignment=assignment, snapshot=result.last_with_live)
            job_ids = publish_request(store=store, product_ids=[assignment.product_id])
            Conflict.objects.filter(pk__in=[c.pk for c in records]).update(sync_job_id=job_ids[0] if job_ids else None)
    return records


def drift_check_for_product(
    *, store_id: int, shopify_product_id: str, updated_at: datetime | str | None = None, client=None
) -> list[Conflict]:
    """Check one product for Shopify-side edits now and apply the store's policy (``drift_live_read`` then
    ``drift_live_apply``; call it outside any transaction).

    ``updated_at`` is the webhook's ``updated_at``: a change not newer than Shopify's ``updatedAt`` after our
    own last write is that write echoing back, and costs no Shopify read. Returns the conflicts recorded. Raises
    the client's ShopifyError on transport errors.
    """
    read = drift_live_read(store_id=store_id, shopify_product_id=shopify_product_id, updated_at=updated_at,
                           client=client)
    return drift_live_apply(read=read) if read is not None else []


def product_deleted_in_shopify(*, store_id: int, shopify_product_id: str) -> list[Conflict]:
    """Record that a product the PIM published was deleted in Shopify, as the nightly sweep does.

    Called for the ``products/delete`` webhook, so the deletion is noticed at once. Records (or updates) the
    one open "product.exists" conflict for the product on the store; nothing is re-created until the next
    publish, which applies the store's policy (overwrite creates it again, hold pauses it). A product the PIM
    does not know on that store is ignored. Returns the conflicts recorded.
    """
    assignment = (
        ChannelAssignment.objects.filter(store_id=store_id, shopify_product_id=str(shopify_product_id))
        .select_related("store", "product")
        .first()
    )
    if assignment is None:
        return []
    drift = Drift("product.exists", "present", "deleted in Shopify", "present")
    records, hold = conflicts_record(store=assignment.store, product=assignment.product,
                                     shopify_product_id=str(shopify_product_id), drifts=[drift],
                                     source=Conflict.Source.WEBHOOK)
    if hold:  # as for products/update: the hold policy pauses the product on this store
        binder.bind_hold(assignment=assignment, held=True)
    return records


def _webhook_product_id(payload: dict) -> str:
    raw = payload.get("id")
    if isinstance(raw, bool) or not str(raw or "").isdigit():
        raise ValueError(f"product id is not a number: {raw!r}")
    return str(raw)


def product_update_webhook_prefetch(*, event, payload: dict) -> LiveRead | None:
    """Read phase of a ``products/update`` webhook, run by the inbox before the event's transaction: read the live
    product when a drift check is due (``drift_live_read``). Raises ValueError for a payload without a numeric
    product id, and the client's ShopifyError (the event is retried)."""
    if event.store_id is None:
        return None
    return drift_live_read(store_id=event.store_id, shopify_product_id=_webhook_product_id(payload),
                           updated_at=payload.get("updated_at"))


def product_update_webhook_handle(*, event, payload: dict, fetched: LiveRead | None = None) -> str:
    """Handle a ``products/update`` webhook inside the event's transaction: compare what the prefetch read
    (``fetched``) with the PIM and apply the store's policy; return a note.

    Shopify fires products/update for our own writes and for every stock change; the prefetch skips those whose
    ``updated_at`` is not newer than Shopify's updatedAt after our last write, and the compare covers content only.
    Raises ValueError for a payload without a numeric product id (the event is kept as failed).
    """
    if event.store_id is None:
        return "store deleted: ignored"
    raw = _webhook_product_id(payload)
    if fetched is not None:
        drift_live_apply(read=fetched)
    return f"drift check requested for product {raw}"


def products_delete_webhook_handle(*, event, payload: dict) -> str:
    """Handle a ``products/delete`` webhook (payload ``{"id": <numeric id>}``); return a result note.

    Raises ValueError for a payload without a numeric product id (the event is kept as failed).
    """
    if event.store_id is None:
        return "store deleted: ignored"
    raw = payload.get("id")
    text = str(raw).rsplit("/", 1)[-1].strip() if raw is not None and not isinstance(raw, bool) else ""
    if not text.isdigit():
        raise ValueError(f"products/delete without a numeric product id: {raw!r}")
    records = product_deleted_in_shopify(store_id=event.store_id, shopify_product_id=text)
    if not records:
        return f"product {text} is not published by the PIM on this store: ignored"
    return f"product {text} deleted in Shopify: conflict recorded"
