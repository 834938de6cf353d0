"""The nightly drift sweep: compare every product published to a store with a bulk export; record only.

``drift_sweep`` runs it for one store; ``drift_sweep_schedule`` queues the nightly run once per day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from channels.models import ChannelAssignment, Store, VariantBinding
from channels.payloads import snapshot_from_shopify
from pim.models import Product

from .compare import Drift, drift_compare
from .models import Conflict
from .recording import conflicts_record

logger = logging.getLogger(__name__)

@dataclass
class SweepReport:
    compared: int = 0
    conflicts: int = 0
    deleted_in_shopify: int = 0
    shopify_only: int = 0


def drift_sweep(*, store: Store, client=None, progress=None) -> SweepReport:
    """Compare every product published to ``store`` with a bulk export of the store; record, never overwrite.

    Also records products deleted in Shopify and products that exist only in Shopify. Memory stays bounded
    by the number of published products' snapshots; queries are a constant per chunk plus one per conflict.
    Raises the client's ShopifyError if the bulk operation fails.
    """
    from channels.clients import client_for_store

    client = client or client_for_store(store)
    report = SweepReport()
    published = {
        pid: (aid, product_id, snapshot)
        for aid, pid, product_id, snapshot in ChannelAssignment.objects.filter(store=store)
        .exclude(shopify_product_id="")
        .values_list("pk", "shopify_product_id", "product_id", "published_snapshot")
        .iterator(chunk_size=2000)
    }
    keys: dict[int, dict[str, str]] = {}  # product id -> Shopify variant id -> snapshot key
    for product_id, variant_id, vid in VariantBinding.objects.filter(store=store).values_list(
        "variant__product_id", "variant_id", "shopify_variant_id"
    ).iterator(chunk_size=5000):
        keys.setdefault(product_id, {})[vid] = str(variant_id)
    seen: set[str] = set()
    for node in client.bulk_export_products():
        numeric = str(node.get("legacyResourceId") or node["id"].rsplit("/", 1)[-1])
        seen.add(numeric)
        entry = published.get(numeric)
        if progress:
            progress(1)
        if entry is None:
            drift = Drift("product.shopify_only", "", f"{node.get('title', '')} ({node.get('handle', '')})", "")
            conflicts_record(store=store, product=None, shopify_product_id=numeric, drifts=[drift],
                             source=Conflict.Source.SWEEP)
            report.shopify_only += 1
            continue
        _, product_id, last = entry
        report.compared += 1
        if not last:
            continue
        by_id = keys.get(product_id, {})
        live = snapshot_from_shopify(node=node, like=last, keys_by_shopify_id=by_id)
        drifts = drift_compare(last=last, live=live, pim=None, variant_ids={k: sid for sid, k in by_id.items()})
        if drifts:
            conflicts_record(store=store, product=Product(pk=product_id), shopify_product_id=numeric,
                             drifts=drifts, source=Conflict.Source.SWEEP)
            report.conflicts += len(drifts)
    for numeric, (_, product_id, _) in published.items():
        if numeric not in seen:
            drift = Drift("product.exists", "present", "deleted in Shopify", "present")
            conflicts_record(store=store, product=Product(pk=product_id), shopify_product_id=numeric,
                             drifts=[drift], source=Conflict.Source.SWEEP)
            report.deleted_in_shopify += 1
    return report


def drift_sweep_schedule(*, now=None) -> bool:
    """Queue the nightly drift sweep once per day, at or after DRIFT_SWEEP_HOUR (UTC); return True if queued.

    Called by every sweeper loop; a Redis key per day makes sure only one of them queues it.
    """
    import django_rq

    now = now or timezone.now()
    if now.hour < settings.DRIFT_SWEEP_HOUR:
        return False
    connection = django_rq.get_connection("default")
    if not connection.set(f"pim:drift-sweep:{now:%Y-%m-%d}", "queued", nx=True, ex=26 * 3600):
        return False
    from .tasks import drift_sweep_all

    django_rq.get_queue("default").enqueue(drift_sweep_all, job_timeout=6 * 3600)
    logger.info("nightly drift sweep queued")
    return True
