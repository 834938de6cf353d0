"""Categories → Shopify collections: mappings, and keeping each mapped collection's membership in step (issue 19).

A ``CollectionMapping`` ties a PIM category to one custom collection of one store: an existing one, or one the
PIM creates (title, handle, description, image, sort order). A product is *wanted* in the collection when it is in
the category (or, by default, one below it) and is published to that store (assigned, publishing, bound to a
Shopify product, not unpublished). The PIM adds and removes the difference with ``collectionAddProductsV2`` /
``collectionRemoveProducts`` in batches of 250 through the store's shared cost budget.

Why an outbox of its own (``CollectionSyncJob``) rather than a new ``SyncJob`` kind: a SyncJob is keyed by
(store, product) and its executor is the product publish; membership work is keyed by the collection (one
coalescing row per mapping turns 10,000 category edits into one diff and ~40 calls). The row has the same life
(pending → running under a lease → done / retried with backoff / dead): it is an ``outbox`` kind
(``COLLECTION_JOB``) on the same ``publish`` lane and workers.

When it runs: after a category change (``pim.categories`` hook), after a product's publish or unpublish job
finished (hook in ``channels.services``), when a mapping is saved, and from the sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from outbox.kinds import OutboxKind, Outcome
from outbox.services import (
    outbox_dispatch,
    outbox_dispatch_on_commit,
    outbox_execute,
    outbox_record,
    outbox_sweep_kind,
)
from pim.categories import category_ancestor_ids, category_product_ids

from .clients import client_for_store
from .models import (
    ChannelAssignment,
    CollectionMapping,
    CollectionMember,
    CollectionSyncJob,
    Store,
    StoreCollection,
)
from .shopify import collections_api as api
from .shopify.exceptions import ShopifyError
from .shopify.ids import gid_to_id, to_gid

logger = logging.getLogger(__name__)

QUEUE = "publish"
PIM_CATEGORY_NAMESPACE, PIM_CATEGORY_KEY = "pim", "category_id"


def _id(gid: str) -> str:
    """The numeric part of a gid as text, the form bindings are stored in."""
    return str(gid_to_id(gid))


class CollectionMappingError(ShopifyError):
    """The mapping cannot be carried out as set up (e.g. its handle belongs to a collection the PIM didn't make)."""

    retryable = False


# --- recording and dispatching ------------------------------------------------------------------------


def collection_jobs_record(*, mapping_ids: Iterable[int], check_drift: bool = False) -> list[int]:
    """Upsert one pending job per mapping (coalescing) and dispatch them after commit; return the job ids.

    ``check_drift`` makes the job read the live membership even if nothing changed in the PIM (a merchant's
    change is found then); without it an unchanged mapping costs no call. Runs in the caller's transaction.
    Mappings of inactive stores get no job.
    """
    ids = sorted(set(mapping_ids))
    if not ids:
        return []
    mappings = CollectionMapping.objects.filter(pk__in=ids, store__is_active=True).values_list("pk", "store_id")
    job_ids = [
        outbox_record(kind=COLLECTION_JOB, values={"store_id": store_id, "mapping_id": mapping_id,
                                                   "check_drift": check_drift},
                      on_conflict={"check_drift": "{table}.check_drift OR EXCLUDED.check_drift"})
        for mapping_id, store_id in mappings
    ]
    outbox_dispatch_on_commit(kind=COLLECTION_JOB, ids=job_ids)
    return job_ids


def collection_jobs_dispatch(*, job_ids: Iterable[int], delay: float | None = None) -> int:
    """Hand pending jobs to the publish lane; a Redis failure is logged (the sweep sends them later)."""
    return outbox_dispatch(kind=COLLECTION_JOB, ids=job_ids, delay=delay)


def collection_mappings_for(*, product_ids: Iterable[int] = (), category_ids: Iterable[int] = (),
                            store_ids: Iterable[int] | None = None) -> list[int]:
    """Return the ids of the mappings whose membership may change with these products or categories."""
    from pim.models import ProductCategory

    cats = set(category_ids)
    cats |= set(ProductCategory.objects.filter(product_id__in=list(product_ids)).values_list("category_id",
                                                                                              flat=True))
    if not cats:
        return []
    above = category_ancestor_ids(category_ids=cats)
    mappings = CollectionMapping.objects.filter(
        Q(category_id__in=cats) | Q(category_id__in=above - cats, include_subcategories=True))
    if store_ids is not None:
        mappings = mappings.filter(store_id__in=list(store_ids))
    return list(mappings.values_list("pk", flat=True))


def collections_on_category_changes(*, product_ids: list[int], category_ids: list[int]) -> None:
    """``pim.categories`` hook: record membership jobs for every mapping the change can affect."""
    collection_jobs_record(mapping_ids=collection_mappings_for(product_ids=product_ids, category_ids=category_ids))


def collections_after_product_job(*, store_id: int, product_id: int | None, status: str) -> None:
    """Publish-pipeline hook: a product's publish/unpublish finished in a store; update its collections there
    and record its translation jobs.

    Skipped jobs change nothing in Shopify, so they record nothing. Runs in the worker, outside any transaction.
    """
    if product_id is None or status != "done":
        return
    collections_after_product_jobs(store_id=store_id, product_ids=[product_id])


def collections_after_product_jobs(*, store_id: int, product_ids: list[int]) -> None:
    """``collections_after_product_job`` for several products whose publish finished (done) in one store."""
    if not product_ids:
        return
    mapping_ids = collection_mappings_for(product_ids=product_ids, store_ids=[store_id])
    with transaction.atomic():
        if mapping_ids:
            collection_jobs_record(mapping_ids=mapping_ids)
        # Translations are registered after the product is live (its content digests exist then).
        from .translations import translations_on_change

        translations_on_change(product_ids=product_ids, store_ids=[store_id])


# --- executing a job ----------------------------------------------------------------------------------


def MembershipResult(status: str, detail: str = "", calls: int = 0, added: int = 0, removed: int = 0) -> Outcome:
    """The outcome of a membership run, with the calls it made and the products it added and removed."""
    return Outcome(status, detail, {"calls": calls, "added": added, "removed": removed})


def _admit(job: CollectionSyncJob, now) -> float | None:
    """One writer per collection: come back shortly while another worker has this mapping."""
    busy = CollectionSyncJob.objects.filter(mapping_id=job.mapping_id, status=CollectionSyncJob.Status.RUNNING,
                                            lease_until__gt=now).exclude(pk=job.pk).exists()
    return 1.0 if busy else None


def _execute(job: CollectionSyncJob) -> Outcome:
    mapping = CollectionMapping.objects.select_related("store", "category", "existing").get(pk=job.mapping_id)
    return collection_membership_sync(mapping=mapping, check_drift=job.check_drift)


def collection_job_execute(*, job_id: int, worker: str | None = None) -> Outcome:
    """Run one membership job: claim it, bring the collection in step, record the outcome. Never raises for
    Shopify errors: retryable ones go back to pending with backoff, others dead-letter the job."""
    return outbox_execute(kind=COLLECTION_JOB, row_id=job_id, worker=worker)


def _ensure_collection(*, client, mapping: CollectionMapping) -> str:
    """Return the gid of the mapping's collection, creating it (once) for a CREATE mapping.

    A collection the PIM created carries the metafield ``pim.category_id``; after a lost answer the retry finds it
    by handle and adopts it instead of creating a second one. Raises CollectionMappingError when the handle is
    taken by a collection the PIM did not make, or the mapped collection is smart or gone.
    """
    if mapping.shopify_collection_id:
        return to_gid("Collection", mapping.shopify_collection_id)
    if mapping.mode == CollectionMapping.Mode.EXISTING:
        if mapping.existing is None or mapping.existing.store_id != mapping.store_id:
            raise CollectionMappingError("choose the store's collection for this mapping")
        if mapping.existing.is_smart:
            raise CollectionMappingError("a smart collection's rules decide its products; map a tag instead")
        collection_id = to_gid("Collection", mapping.existing.shopify_collection_id)
    else:
        handle = mapping.handle or mapping.category.handle
        found = api.collection_get_by_handle(client, handle=handle)
        if found is not None:
            if (found.get("pimCategory") or {}).get("value") != str(mapping.category_id):
                raise CollectionMappingError(
                    f"the store already has a collection with the handle {handle!r} that the PIM did not create: "
                    "map it as an existing collection, or give this mapping another handle")
            collection_id = found["id"]
        else:
            data = {"title": mapping.title or mapping.category.name, "handle": handle,
                    "descriptionHtml": mapping.description_html or mapping.category.description_html,
                    "sortOrder": mapping.sort_order,
                    "metafields": [{"namespace": PIM_CATEGORY_NAMESPACE, "key": PIM_CATEGORY_KEY,
                                    "type": "single_line_text_field", "value": str(mapping.category_id)}]}
            if mapping.image_url:
                data["image"] = {"src": mapping.image_url, "altText": mapping.title or mapping.category.name}
            collection_id = api.collection_create(client, input=data)["id"]
    CollectionMapping.objects.filter(pk=mapping.pk).update(shopify_collection_id=_id(collection_id))
    mapping.shopify_collection_id = _id(collection_id)
    return collection_id


def collection_wanted(*, mapping: CollectionMapping) -> dict[str, int]:
    """Return {shopify product id: PIM product id} of the products that belong in the mapping's collection."""
    product_ids = category_product_ids(category_id=mapping.category_id,
                                       include_subcategories=mapping.include_subcategories)
    rows = ChannelAssignment.objects.filter(
        store_id=mapping.store_id, product_id__in=product_ids, publish=True, unpublished_at__isnull=True,
    ).exclude(shopify_product_id="").values_list("shopify_product_id", "product_id")
    return dict(rows)


def collection_membership_sync(*, mapping: CollectionMapping, check_drift: bool = True) -> Outcome:
    """Bring one mapped collection in step with the PIM: create it if needed, then add and remove the difference.

    When the PIM's wanted membership equals what it last wrote and ``check_drift`` is off, nothing is sent.
    Otherwise reads the live membership first so a merchant's change is seen (drift): under the store's *hold*
    policy the products a merchant added or removed are left as they are and the job is HELD; under *overwrite*
    the PIM's membership is written back. Raises CollectionMappingError, ShopifyError.
    """
    store: Store = mapping.store
    if mapping.shopify_collection_id and not check_drift:
        unchanged = set(collection_wanted(mapping=mapping)) == set(
            CollectionMember.objects.filter(mapping=mapping).values_list("shopify_product_id", flat=True))
        if unchanged:
            return MembershipResult(CollectionSyncJob.Status.SKIPPED, "membership unchanged in the PIM", 0)
    client = client_for_store(store)
    collection_id = _ensure_collection(client=client, mapping=mapping)
    live = api.collection_product_ids(client, collection_id=collection_id)
    if live is None:
        CollectionMapping.objects.filter(pk=mapping.pk).update(shopify_collection_id="")
        raise CollectionMappingError("the collection was deleted in Shopify; the next run creates or needs a "
                                     "new one" if mapping.mode == "create" else "the mapped collection was deleted")
    live_ids = {_id(g) for g in live}
    wanted = collection_wanted(mapping=mapping)
    written = set(CollectionMember.objects.filter(mapping=mapping).values_list("shopify_product_id", flat=True))
    # Products the PIM doesn't publish to this store are the merchant's own: never touched, never drift.
    known = set(ChannelAssignment.objects.filter(store=store, shopify_product_id__in=live_ids)
                .values_list("shopify_product_id", flat=True))
    merchant_added = (live_ids & known) - written - set(wanted)
    merchant_removed = (written & set(wanted)) - live_ids
    from .hooks import drift_hooks

    # Under the hold policy, what the merchant changed stays as it is until a manager decides.
    leave = drift_hooks().collection_membership(mapping=mapping, added=merchant_added, removed=merchant_removed)
    hold = bool(leave)
    to_add = [pid for pid in wanted if pid not in live_ids and pid not in leave]
    to_remove = sorted(((live_ids - set(wanted)) & (written | merchant_added)) - leave)
    calls = 0
    if to_add:
        calls += api.collection_products_add(client, collection_id=collection_id,
                                             product_ids=[to_gid("Product", p) for p in to_add])
    if to_remove:
        calls += api.collection_products_remove(client, collection_id=collection_id,
                                                product_ids=[to_gid("Product", p) for p in to_remove])
    with transaction.atomic():
        CollectionMember.objects.filter(mapping=mapping).exclude(shopify_product_id__in=list(wanted)).delete()
        CollectionMember.objects.bulk_create(
            [CollectionMember(mapping=mapping, shopify_product_id=pid, product_id=wanted[pid])
             for pid in wanted if pid not in written and (pid in live_ids or pid in to_add)],
            ignore_conflicts=True)
    if hold:
        return MembershipResult(CollectionSyncJob.Status.HELD, "held: merchant changed the collection", calls,
                                len(to_add), len(to_remove))
    if not calls:
        return MembershipResult(CollectionSyncJob.Status.SKIPPED, "membership already in step", 0)
    return MembershipResult(CollectionSyncJob.Status.DONE, f"added {len(to_add)}, removed {len(to_remove)}",
                            calls, len(to_add), len(to_remove))


# --- the store's collections --------------------------------------------------------------------------


def store_collections_refresh(*, store: Store) -> int:
    """Read every collection of the store from Shopify into ``StoreCollection`` (custom and smart); return how many.

    Network: call from a worker (the admin enqueues it). Collections gone from Shopify are dropped.
    """
    client = client_for_store(store)
    now = timezone.now()
    seen = []
    for node in api.collections_iter(client):
        rules = (node.get("ruleSet") or {}).get("rules") or []
        StoreCollection.objects.update_or_create(
            store=store, shopify_collection_id=_id(node["id"]),
            defaults={"title": node["title"][:255], "handle": node["handle"][:255], "is_smart": bool(node["ruleSet"]),
                      "rules": rules, "products_count": (node.get("productsCount") or {}).get("count"),
                      "fetched_at": now})
        seen.append(_id(node["id"]))
    StoreCollection.objects.filter(store=store).exclude(shopify_collection_id__in=seen).delete()
    return len(seen)


@transaction.atomic
def collection_mapping_save(*, mapping: CollectionMapping, actor=None) -> CollectionMapping:
    """Validate and save a mapping, then record its membership job. Raises ValidationError (a smart collection,
    a collection of another store, or an existing-mode mapping without a collection)."""
    from django.core.exceptions import ValidationError

    if mapping.mode == CollectionMapping.Mode.EXISTING:
        if mapping.existing is None:
            raise ValidationError({"existing": "Choose one of the store's collections."})
        if mapping.existing.store_id != mapping.store_id:
            raise ValidationError({"existing": "This collection belongs to another store."})
        if mapping.existing.is_smart:
            raise ValidationError({"existing": "A smart collection is filled by Shopify from its rules (for "
                                               "example a tag): it cannot be filled from a category. Give the "
                                               "category's products that tag instead."})
        if mapping.pk:
            before = CollectionMapping.objects.filter(pk=mapping.pk).values_list("existing_id", flat=True).first()
            if before != mapping.existing_id:
                mapping.shopify_collection_id = ""
                CollectionMember.objects.filter(mapping=mapping).delete()
        mapping.shopify_collection_id = mapping.shopify_collection_id or mapping.existing.shopify_collection_id
    mapping.full_clean()
    if actor is not None and getattr(actor, "pk", None):
        mapping._history_user = actor
    mapping.save()
    collection_jobs_record(mapping_ids=[mapping.pk])
    return mapping


def collection_drift_check_request(*, store: Store | None = None) -> list[int]:
    """Record a drift-checking membership job for every mapping (of one store). Not scheduled yet: call it from
    the nightly drift sweep once its cost is acceptable (bench: ~1 point per membership read)."""
    mappings = CollectionMapping.objects.filter(store__is_active=True)
    if store is not None:
        mappings = mappings.filter(store=store)
    with transaction.atomic():
        return collection_jobs_record(mapping_ids=list(mappings.values_list("pk", flat=True)), check_drift=True)


def _claimable(rows, now):
    from .services import _claimable as store_claimable

    return store_claimable(rows, now)


COLLECTION_JOB = OutboxKind(
    name="collection_job", model=CollectionSyncJob, execute=_execute, lane=QUEUE, label="collection jobs",
    key=("mapping",), folded=CollectionSyncJob.Status.DONE, claimable=_claimable, admit=_admit,
)


def collection_jobs_sweep(*, now=None) -> int:
    """Reclaim expired running jobs and re-dispatch due pending ones; return how many were dispatched."""
    return outbox_sweep_kind(kind=COLLECTION_JOB, now=now).dispatched
