"""Write services of the publishing pipeline: assignments, the sync-job outbox, workers' execution, sweeping.

The life of a change: a catalog service calls ``sync_jobs_record_for_products`` inside its transaction, which
upserts one pending job per (store, product); after commit the job ids go to the RQ ``publish`` queue. A worker
runs ``sync_job_execute``: it claims the job without blocking, builds the payload from the current PIM state,
skips the call when nothing changed, asks the drift hook, writes with ``productSet`` and stores the bindings and
the snapshot. Failures are retried with backoff, then dead-lettered; ``sync_jobs_sweep`` makes sure nothing is
lost when a worker dies or Redis forgets its queues.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from outbox.kinds import OutboxKind, Outcome
from outbox.services import (
    backoff_seconds,  # noqa: F401 (re-exported: the publish pipeline's retry delays)
    outbox_dispatch,
    outbox_execute,
    outbox_record,
    outbox_replay,
    outbox_sweep_kind,
)
from pim.models import Product
from pim.validators import validate_tags

from .clients import client_for_store
from .hooks import drift_hooks
from .media import image_bindings_for, media_bind_after_write, media_summary, media_wait_processed
from .models import (
    ChannelAssignment,
    Store,
    SyncAttempt,
    SyncJob,
    VariantBinding,
)
from .payloads import PublishPlan, changed_sections, publish_plan_build
from .publications import publications_remove_all, publications_sync
from .shopify.exceptions import (
    ShopifyError,
    ShopifyNetworkError,
    ShopifyServerError,
    ShopifyShopUnavailable,
)
from .shopify.ids import gid_to_id, to_gid

logger = logging.getLogger(__name__)

PUBLISH_QUEUE = "publish"


class PublishConflict(ShopifyError):
    """A product with our handle exists in Shopify but is not ours (its SKUs differ): onboarding needed."""

    retryable = False


# --- recording jobs (the outbox) ----------------------------------------------------------------------


def _upsert_pending_job(*, store_id: int, product_id: int | None, label: str, shopify_product_id: str) -> int:
    """Insert a pending job or coalesce into the existing one; return its id. Runs in the caller's transaction."""
    now = timezone.now()
    return outbox_record(
        kind=SYNC_JOB,
        values={"store_id": store_id, "product_id": product_id, "product_label": label[:255],
                "shopify_product_id": shopify_product_id, "kind": SyncJob.Kind.PUBLISH,
                "max_attempts": settings.SYNC_JOB_MAX_ATTEMPTS, "next_attempt_at": now, "first_edit_at": now,
                "last_edit_at": now},
        on_conflict={"last_edit_at": "EXCLUDED.last_edit_at", "updated_at": "EXCLUDED.updated_at",
                     "product_label": "EXCLUDED.product_label"},
    )


def sync_jobs_record_for_products(*, product_ids: Iterable[int], deleted: bool = False) -> list[int]:
    """Record one pending sync job per (active store, product) the products are assigned to.

    Must run inside the transaction that made the change; the job ids are dispatched to RQ after commit.
    Edits to a product that already has a pending job coalesce into it. Returns the job ids.
    """
    ids = list(product_ids)
    if not ids:
        return []
    if not deleted:  # issue 19: a product that now matches (or no longer matches) a store's rule
        from .assignment_rules import assignment_rules_apply

        assignment_rules_apply(product_ids=ids)
    assignments = ChannelAssignment.objects.filter(product_id__in=ids, store__is_active=True).select_related(
        "product"
    )
    job_ids = []
    for assignment in assignments:
        if not assignment.publish and not assignment.shopify_product_id:
            continue  # never published there and not wanted: nothing to do
        job_ids.append(
            _upsert_pending_job(
                store_id=assignment.store_id,
                product_id=None if deleted else assignment.product_id,
                label=assignment.product.title,
                shopify_product_id=assignment.shopify_product_id,
            )
        )
    sync_jobs_dispatch_on_commit(job_ids=job_ids)
    return job_ids


def sync_jobs_dispatch_on_commit(*, job_ids: list[int]) -> None:
    """Send the jobs to RQ once the surrounding transaction commits (never before: a worker must see them)."""
    if job_ids:
        transaction.on_commit(lambda: sync_jobs_dispatch(job_ids=job_ids))


def sync_jobs_dispatch(*, job_ids: Iterable[int], delay: float | None = None) -> int:
    """Hand the given pending jobs to the ``publish`` lane; return how many were sent (see ``outbox_dispatch``).

    Jobs whose store's circuit is open stay pending (the sweeper sends them when the store answers again).
    """
    return outbox_dispatch(kind=SYNC_JOB, ids=job_ids, delay=delay)


# --- assignments --------------------------------------------------------------------------------------


@transaction.atomic
def assignment_set(*, product: Product, store: Store, publish: bool = True, **overrides: Any) -> ChannelAssignment:
    """Assign ``product`` to ``store`` (or change its publish flag and overrides) and record a sync job.

    ``overrides`` may hold title_override, tags_override, status_override and handle_override. Unassigning
    (publish=False) sets the product to draft or archived in that store, per the store's setting.
    """
    allowed = {"title_override", "tags_override", "status_override", "handle_override"}
    unknown = set(overrides) - allowed
    if unknown:
        raise ValueError(f"unknown assignment fields: {', '.join(sorted(unknown))}")
    assignment, _ = ChannelAssignment.objects.get_or_create(product=product, store=store)
    assignment.publish = publish
    for name, value in overrides.items():
        setattr(assignment, name, value)
    assignment.full_clean()
    if assignment.tags_override:
        try:
            validate_tags(assignment.tags_override)
        except ValidationError as exc:
            raise ValidationError({"tags_override": exc.messages}) from None
    assignment.save()
    sync_jobs_record_for_products(product_ids=[product.pk])
    return assignment


@transaction.atomic
def assignments_bulk_set(*, store: Store, product_ids: Iterable[int], publish: bool = True,
                         actor: Any = None) -> int:
    """Assign many products to a store at once (or stop publishing them there with ``publish=False``), keep the
    assignments' history (who, when), and record their sync jobs; return how many products were given."""
    from simple_history.utils import bulk_create_with_history, bulk_update_with_history

    ids = list(product_ids)
    existing = list(ChannelAssignment.objects.filter(store=store, product_id__in=ids))
    have = {a.product_id for a in existing}
    bulk_create_with_history(
        [ChannelAssignment(store=store, product_id=pid, publish=publish) for pid in ids if pid not in have],
        ChannelAssignment, batch_size=1000, default_user=actor, default_change_reason="Bulk assignment",
    )
    changed = [a for a in existing if a.publish != publish]
    for assignment in changed:
        assignment.publish = publish
    if changed:
        bulk_update_with_history(changed, ChannelAssignment, ["publish"], batch_size=1000, default_user=actor,
                                 default_change_reason="Bulk assignment")
    sync_jobs_record_for_products(product_ids=ids)
    return len(ids)


# --- executing a job ----------------------------------------------------------------------------------


ExecutionResult = Outcome  # what sync_job_execute returns: status and detail


def _claimable(rows, now):
    """Rows of active stores whose circuit lets work through (shared by the channels kinds)."""
    return rows.filter(store__is_active=True).filter(
        Q(store__circuit_open_until__isnull=True) | Q(store__circuit_open_until__lte=now))


def _admit(job: SyncJob, now) -> float | None:
    """Claim only if no other worker has this product in this store (or the half-open store's one probe)."""
    busy = SyncJob.objects.filter(store_id=job.store_id, status=SyncJob.Status.RUNNING, lease_until__gt=now)
    if job.product_id is not None:
        same_product = busy.filter(product_id=job.product_id).exclude(pk=job.pk).exists()
    else:
        same_product = busy.filter(shopify_product_id=job.shopify_product_id).exclude(pk=job.pk).exists()
    half_open = job.store.circuit_failures >= settings.SYNC_CIRCUIT_THRESHOLD
    if same_product or (half_open and busy.exists()):
        return 1.0  # come back shortly, don't block
    return None


def sync_job_execute(*, job_id: int, worker: str | None = None) -> Outcome:
    """Run one sync job: claim it, publish or unpublish the product in its store, and record the outcome.

    Idempotent: a job that is not pending (already done, running elsewhere, dead) is left alone. Retryable
    Shopify errors and passing database errors (canceled statements, deadlocks, dropped connections) put the job
    back to pending with backoff and jitter; terminal errors and exhausted retries dead-letter it with the error.
    Never raises for Shopify errors.
    """
    return outbox_execute(kind=SYNC_JOB, row_id=job_id, worker=worker)


def _execute(job: SyncJob) -> Outcome:
    result = _run(job)
    done = result.status == SyncJob.Status.DONE
    result.fields["latency_ms"] = int((timezone.now() - job.first_edit_at).total_seconds() * 1000) if done else None
    return result


def _run(job: SyncJob) -> ExecutionResult:
    store = job.store
    product = (
        Product.objects.filter(pk=job.product_id)
        .prefetch_related("variants", "images", "attributes")
        .first()
        if job.product_id
        else None
    )
    assignment = (
        ChannelAssignment.objects.filter(store=store, product=product)
        .select_related("store", "product")
        .prefetch_related("variant_overrides", "store__metafield_mappings")
        .first()
        if product
        else None
    )
    if product is None or assignment is None or not assignment.publish:
        return _unpublish(job, assignment)
    if product.workflow_state != Product.Workflow.READY:
        return ExecutionResult(SyncJob.Status.SKIPPED, f"workflow state is {product.workflow_state}")
    if assignment.held:
        return ExecutionResult(SyncJob.Status.HELD, "held by an unresolved conflict")
    # The assignment was loaded without the product's prefetches; reuse the prefetched product.
    assignment.product = product
    bindings = _bindings_for(store=store, product=product)
    images = image_bindings_for(store_id=store.pk, product=product)
    plan = publish_plan_build(assignment=assignment, bindings=bindings, image_bindings=images)
    if assignment.shopify_product_id and plan.hash == assignment.published_hash:
        return ExecutionResult(SyncJob.Status.SKIPPED, "unchanged since last publish")
    client = client_for_store(store)
    if not assignment.shopify_product_id:
        _adopt_existing(client=client, assignment=assignment, plan=plan, bindings=bindings)
        if assignment.shopify_product_id:
            # Adopted: the plan was built before the variant ids were known. productSet creates a new variant
            # for every input without an id and deletes the unlisted ones, so rebuild it with the ids.
            plan = publish_plan_build(assignment=assignment, bindings=bindings, image_bindings=images)
    if assignment.shopify_product_id:
        decision = drift_hooks().before_publish(job=job, assignment=assignment, plan=plan, client=client)
        if decision == "hold":
            ChannelAssignment.objects.filter(pk=assignment.pk).update(held=True)
            return ExecutionResult(SyncJob.Status.HELD, "held: Shopify-side edit under the hold policy")
        # The drift check may have dropped bindings (variants or the product deleted in Shopify).
        bindings = _bindings_for(store=store, product=product)
        images = image_bindings_for(store_id=store.pk, product=product) if assignment.shopify_product_id else {}
        plan = publish_plan_build(assignment=assignment, bindings=bindings, image_bindings=images)
    note = _write(client=client, assignment=assignment, plan=plan, bindings=bindings, image_bindings=images)
    drift_hooks().after_publish(job=job, assignment=assignment, plan=plan)
    return ExecutionResult(SyncJob.Status.DONE, f"published; {note}" if note else "published")


def _bindings_for(*, store: Store, product: Product) -> dict[int, VariantBinding]:
    return {b.variant_id: b for b in VariantBinding.objects.filter(store=store, variant__product=product)}


def _adopt_existing(*, client, assignment: ChannelAssignment, plan: PublishPlan, bindings: dict) -> None:
    """Bind to a Shopify product that already has our handle and our SKUs instead of creating a duplicate.

    This covers a worker that died after Shopify created the product but before the ids were stored.
    Raises PublishConflict when the handle belongs to a different product.
    """
    handle = plan.snapshot["handle"]
    existing = client.product_ids_by_handle(handle=handle, variant_count=len(plan.snapshot.get("variants") or {}))
    if not existing:
        return
    their_skus = {v.get("sku") for v in _variant_nodes(existing)}
    our_skus = {v.sku for v in assignment.product.variants.all()}
    if our_skus - their_skus:
        raise PublishConflict(
            f"A different Shopify product already uses the handle '{handle}' (its SKUs do not match). "
            "Run 'manage.py reconcile_store' to match existing products, or set a per-store handle.",
            shop_domain=assignment.store.shop_domain,
        )
    _store_bindings(assignment=assignment, product_node=existing, bindings=bindings)


def _variant_nodes(product_node: dict) -> list[dict]:
    variants = product_node.get("variants") or {}
    if isinstance(variants, list):
        return variants
    return variants.get("nodes") or [e["node"] for e in variants.get("edges", [])]


def _write(*, client, assignment: ChannelAssignment, plan: PublishPlan, bindings: dict, image_bindings: dict) -> str:
    """Write the plan's changed sections (productSet, metafieldsSet, sales channels); return a result note.

    The snapshot, hash and handle are recorded only after Shopify accepted the writes, so a refused handle
    change (e.g. HANDLE_NOT_UNIQUE) leaves the PIM's record of what Shopify has untouched.
    """
    bound = bool(assignment.shopify_product_id)
    if bound:
        sections = changed_sections(assignment.published_snapshot or {}, plan.snapshot)
    else:
        sections = {"core", "variants", "images", "metafields"}
        assignment.publication_ids = []
    product_input = _input_for_sections(plan.product_input, sections, creating=not bound)
    product_node: dict | None = None
    note = ""
    if not bound or sections & {"core", "variants", "images", "handle"}:
        identifier = {"id": to_gid("Product", assignment.shopify_product_id)} if bound else None
        product_node = client.product_set(input=product_input, identifier=identifier)
        _store_bindings(assignment=assignment, product_node=product_node, bindings=bindings)
        created = media_bind_after_write(
            assignment=assignment, product_input=product_input, media_nodes=product_node.get("media") or [],
            bindings=image_bindings,
        )
        if created:
            failed, pending = media_wait_processed(client=client, created=created)
            note = media_summary(failed=failed, pending=pending)
    if "metafields" in sections and plan.metafields:
        client.metafields_set(
            owner_id=to_gid("Product", assignment.shopify_product_id),
            metafields=plan.metafields,
        )
    if plan.publications or assignment.publication_ids:
        # Publishes/unpublishes only where the recorded channels differ (ids are cached: usually no request).
        publications_sync(client=client, assignment=assignment, titles=plan.publications)
    now = timezone.now()
    shopify_updated_at = parse_datetime(product_node["updatedAt"]) if product_node and product_node.get("updatedAt") else None
    ChannelAssignment.objects.filter(pk=assignment.pk).update(
        published_hash=plan.hash, published_snapshot=plan.snapshot, published_at=now, unpublished_at=None,
        **({"shopify_updated_at": shopify_updated_at} if shopify_updated_at else {}),
    )
    Product.objects.filter(pk=assignment.product_id, first_published_at__isnull=True).update(first_published_at=now)
    return note


def _input_for_sections(product_input: dict, sections: set[str], *, creating: bool) -> dict:
    keys = set()
    if creating or "core" in sections:
        keys |= {"title", "descriptionHtml", "vendor", "productType", "tags", "status", "seo", "category"}
    if creating or "variants" in sections:
        keys |= {"productOptions", "variants"}
    if creating or "images" in sections:
        keys |= {"files"}
    if creating or "handle" in sections:
        keys |= {"handle"}
    result = {k: v for k, v in product_input.items() if k in keys}
    if not creating and "handle" in sections:
        # A changed handle keeps old links working: Shopify redirects the old URL to the new handle.
        result["redirectNewHandle"] = True
    return result


def _store_bindings(*, assignment: ChannelAssignment, product_node: dict, bindings: dict) -> None:
    """Write back the Shopify product id and, per SKU, the variant and inventory item ids."""
    product_id = str(gid_to_id(product_node["id"]))
    if assignment.shopify_product_id != product_id:
        assignment.shopify_product_id = product_id
        ChannelAssignment.objects.filter(pk=assignment.pk).update(shopify_product_id=product_id)
    # Only a SKU on exactly one variant identifies it: variants adopted from a store without a SKU or with a
    # shared one keep the bindings onboarding wrote from their Shopify ids (issue 20).
    variants = list(assignment.product.variants.all())
    sku_counts = Counter(v.sku for v in variants)
    by_sku = {v.sku: v for v in variants if v.sku and sku_counts[v.sku] == 1}
    for node in _variant_nodes(product_node):
        variant = by_sku.get(node.get("sku"))
        if variant is None:
            continue
        variant_id = str(gid_to_id(node["id"]))
        item_id = str(gid_to_id(node["inventoryItem"]["id"])) if (node.get("inventoryItem") or {}).get("id") else ""
        current = bindings.get(variant.pk)
        if current and current.shopify_variant_id == variant_id and current.shopify_inventory_item_id == item_id:
            continue
        VariantBinding.objects.filter(store=assignment.store, shopify_variant_id=variant_id).exclude(
            variant=variant
        ).delete()
        binding, _ = VariantBinding.objects.update_or_create(
            store=assignment.store,
            variant=variant,
            defaults={"shopify_variant_id": variant_id, "shopify_inventory_item_id": item_id},
        )
        bindings[variant.pk] = binding


def _unpublish(job: SyncJob, assignment: ChannelAssignment | None) -> ExecutionResult:
    shopify_id = (assignment.shopify_product_id if assignment else "") or job.shopify_product_id
    if not shopify_id:
        return ExecutionResult(SyncJob.Status.SKIPPED, "not published in this store")
    if assignment is not None and assignment.unpublished_at is not None:
        return ExecutionResult(SyncJob.Status.SKIPPED, "already unpublished")
    store = job.store
    client = client_for_store(store)
    if assignment is not None:
        # Off every sales channel first: it is no longer sold anywhere, whatever its status.
        publications_remove_all(client=client, assignment=assignment)
    client.product_update_status(product_id=to_gid("Product", shopify_id), status=store.unpublish_action)
    if assignment is not None:
        ChannelAssignment.objects.filter(pk=assignment.pk).update(
            unpublished_at=timezone.now(), published_hash="", published_snapshot={}
        )
    return ExecutionResult(SyncJob.Status.DONE, f"set to {store.unpublish_action.lower()} in Shopify")


def _attempt_start(job: SyncJob, worker: str) -> SyncAttempt:
    return SyncAttempt.objects.create(job=job, number=job.attempts, started_at=timezone.now(), outcome="running",
                                      worker=worker[:255])


def _attempt_finish(job: SyncJob, attempt: SyncAttempt, outcome: str, exc: BaseException | None,
                    retryable: bool) -> None:
    attempt.finished_at = timezone.now()
    attempt.outcome = outcome
    if exc is not None:
        attempt.error_type = type(exc).__name__
        attempt.error = str(exc)[:4000]
        attempt.retryable = retryable
    attempt.save()


def _after_success(job: SyncJob, result: Outcome) -> None:
    store = job.store
    if store.unavailable_reason:
        Store.objects.filter(pk=store.pk).update(unavailable_reason="")
    if store.circuit_failures or store.circuit_open_until:
        # The store answers again: close the circuit and send its backlog at once, oldest first.
        Store.objects.filter(pk=store.pk).update(circuit_failures=0, circuit_open_until=None)
        backlog = SyncJob.objects.filter(store=store, status=SyncJob.Status.PENDING)
        backlog.update(next_attempt_at=timezone.now())
        sync_jobs_dispatch(job_ids=list(backlog.order_by("first_edit_at", "id").values_list("pk", flat=True)))
    # Issue 19: once a product is live in (or gone from) a store, its mapped collections and translations there
    # follow (their own outbox rows, recorded right after this job is done).
    from .collections import collections_after_product_job

    collections_after_product_job(store_id=job.store_id, product_id=job.product_id, status=result.status)


def _circuit_after_failure(job: SyncJob, exc: BaseException) -> None:
    """Repeated server or network failures open the store's circuit: its jobs wait, other stores go on."""
    if not isinstance(exc, (ShopifyServerError, ShopifyNetworkError)):
        return
    now = timezone.now()
    store = job.store
    failures = store.circuit_failures + 1
    update: dict[str, Any] = {"circuit_failures": F("circuit_failures") + 1}
    if isinstance(exc, ShopifyShopUnavailable):
        # Frozen (402) or locked (423): the whole shop refuses, for hours or days. Pause the store at
        # once with a clear status, like an outage; its jobs wait and a probe retries later.
        failures = max(failures, settings.SYNC_CIRCUIT_THRESHOLD)
        update = {"circuit_failures": failures, "unavailable_reason": exc.reason[:255]}
    if failures >= settings.SYNC_CIRCUIT_THRESHOLD:
        open_for = min(settings.SYNC_CIRCUIT_MAX_OPEN_SECONDS, 2 ** (failures - settings.SYNC_CIRCUIT_THRESHOLD + 1))
        update["circuit_open_until"] = now + timedelta(seconds=open_for)
        logger.warning("store %s: circuit open for %ss after %s failures", store.name, open_for, failures)
        # Its waiting jobs are sent again by the sweep when the circuit lets a probe through.
        SyncJob.objects.filter(store=store, status=SyncJob.Status.PENDING).update(dispatched_at=None)
    Store.objects.filter(pk=store.pk).update(**update)


def _fold(job: SyncJob, newer: SyncJob) -> None:
    SyncJob.objects.filter(pk=newer.pk).update(first_edit_at=min(newer.first_edit_at, job.first_edit_at))


def _probe_half_open(now) -> None:
    """A half-open store gets one probe, its oldest edit whatever its own backoff says (the circuit paces the
    probes), so that when the store answers again the backlog catches up oldest first."""
    half_open = Store.objects.filter(is_active=True, circuit_failures__gte=settings.SYNC_CIRCUIT_THRESHOLD).filter(
        Q(circuit_open_until__isnull=True) | Q(circuit_open_until__lte=now))
    for store in half_open:
        if SyncJob.objects.filter(store=store, status=SyncJob.Status.RUNNING, lease_until__gt=now).exists():
            continue
        oldest = (SyncJob.objects.filter(store=store, status=SyncJob.Status.PENDING)
                  .order_by("first_edit_at", "id").values_list("pk", flat=True).first())
        if oldest is not None:
            SyncJob.objects.filter(pk=oldest, next_attempt_at__gt=now).update(next_attempt_at=now)
            SyncJob.objects.filter(pk=oldest).update(dispatched_at=None)


SYNC_JOB = OutboxKind(
    name="sync_job", model=SyncJob, execute=_execute, lane=PUBLISH_QUEUE, label="publish jobs",
    replayable=(SyncJob.Status.DEAD, SyncJob.Status.HELD), key=("store", "product", "kind"),
    folded=SyncJob.Status.SUPERSEDED, order_by=("first_edit_at", "id"), started_field="started_at",
    claimable=_claimable, admit=_admit, started=_attempt_start, finished=_attempt_finish,
    on_failure=_circuit_after_failure, on_success=_after_success, on_fold=_fold, before_sweep=_probe_half_open,
)


def sync_jobs_replay(*, job_ids: Iterable[int]) -> int:
    """Re-queue dead-lettered (or held) jobs with fresh attempts; return how many were re-queued."""
    return outbox_replay(kind=SYNC_JOB, ids=job_ids)


def sync_jobs_sweep(*, now=None):
    """Reclaim expired running jobs and (re-)dispatch due pending ones (the outbox sweep of this kind)."""
    return outbox_sweep_kind(kind=SYNC_JOB, now=now)


def publish_request(*, store: Store | None = None, product_ids: Iterable[int] | None = None) -> list[int]:
    """Record sync jobs for the given products (or all assigned ones) in one store or all stores."""
    assignments = ChannelAssignment.objects.filter(store__is_active=True)
    if store is not None:
        assignments = assignments.filter(store=store)
    if product_ids is not None:
        assignments = assignments.filter(product_id__in=list(product_ids))
    job_ids = []
    with transaction.atomic():
        for a in assignments.select_related("product").iterator(chunk_size=2000):
            if not a.publish and not a.shopify_product_id:
                continue
            job_ids.append(
                _upsert_pending_job(
                    store_id=a.store_id, product_id=a.product_id, label=a.product.title,
                    shopify_product_id=a.shopify_product_id,
                )
            )
        sync_jobs_dispatch_on_commit(job_ids=job_ids)
    return job_ids


def store_save(*, store: Store) -> Store:
    """Validate and save a store connection (credentials are encrypted by the model field).

    When the store's sales channels changed, every product published there is queued, so the publish puts it
    on (or takes it off) the channels. Raises ValidationError for invalid fields.
    """
    store.full_clean()
    before = Store.objects.filter(pk=store.pk).values_list("publications", flat=True).first() if store.pk else None
    with transaction.atomic():
        store.save()
        if before is not None and list(before or []) != list(store.publications or []):
            publish_request(store=store, product_ids=ChannelAssignment.objects.filter(
                store=store, publish=True).exclude(shopify_product_id="").values_list("product_id", flat=True))
    return store


def store_test_connection(*, store: Store):
    """Ask Shopify for the shop's name, plan and granted scopes; return the client's ConnectionReport.

    Raises ShopifyAuthError (401), ShopifyScopeError (403) or another ShopifyError.
    """
    return client_for_store(store).test_connection()


def store_disable(*, store: Store, reason: str) -> None:
    """Deactivate a store (e.g. the app was uninstalled): no job is dispatched to it until re-enabled."""
    Store.objects.filter(pk=store.pk).update(is_active=False)
    logger.warning("store %s disabled: %s", store.name, reason)
