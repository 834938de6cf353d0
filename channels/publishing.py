"""A publish of one product to one store, as a straight line of stages owned by ``channels``::

    plan     = publish_plan_build(assignment)        # pure, from the field registry (channels.payloads)
    live     = product_live_read(client, plan)       # one Shopify read sized to what we compare
    result   = stages.compare(last, plan, live)      # conflicts, pure: the drifts per field
    decision = stages.record(store, result)          # conflicts: proceed / hold, conflict rows recorded
    note     = product_write(client, plan)           # productSet, metafieldsSet, sales channels
    bind_*(...)                                      # channels.binder: the only writer of ids and snapshots

``stages`` is the slot ``conflicts`` fills in its ``AppConfig.ready()`` (``channels.hooks``); ``channels`` never
imports ``conflicts``. The sync-job machinery (claim, retry, dead letter) calls ``product_publish`` and
``product_unpublish`` and knows nothing of the stages.
"""

from __future__ import annotations

from contextlib import nullcontext

from django.db import transaction

from outbox.kinds import Outcome
from pim.models import Product

from .binder import (
    ONBOARDING_MARK,
    bind_forget_product,
    bind_forget_variants,
    bind_hold,
    bind_product_ids,
    bind_snapshot_as_live,
    bind_unpublished,
    bind_written,
    bindings_for,
    snapshot_keys_by_shopify_id,
)
from .clients import client_for_store
from .hooks import drift_hooks
from .mapping import nodes_of
from .media import image_bindings_for, media_bind_after_write, media_summary, media_wait_processed
from .models import ChannelAssignment, SyncJob
from .payloads import PublishPlan, changed_sections, product_input_for_sections, publish_plan_build
from .publications import publications_remove_all, publications_sync
from .shopify.exceptions import ShopifyError
from .shopify.ids import to_gid


class PublishConflict(ShopifyError):
    """A product with our handle exists in Shopify but is not ours (its SKUs differ): onboarding needed."""

    retryable = False


ExecutionResult = Outcome  # what a publish gives the sync job's outbox row: its status and a note


def product_live_read(*, client, assignment: ChannelAssignment, plan: PublishPlan) -> dict | None:
    """Read the live product with connections sized to what is compared (one cheap query); None if it is gone.

    Sized by what we last wrote, or by the plan for a product onboarding bound (never written by us). Raises the
    client's ShopifyError.
    """
    last = assignment.published_snapshot or {}
    like = plan.snapshot if last.get(ONBOARDING_MARK) else last
    return client.product_get_for_drift(
        product_id=to_gid("Product", assignment.shopify_product_id),
        variant_count=len(like.get("variants") or {}),
        media_count=len(like.get("images") or []),
        metafield_keys=sorted(like.get("metafields") or {}),
    )


def product_compare(*, assignment: ChannelAssignment, plan: PublishPlan, live_node: dict | None):
    """The compare stage (pure, in ``conflicts``) for a bound product: its ``CompareResult``."""
    return drift_hooks().compare(
        last=assignment.published_snapshot or {}, plan_snapshot=plan.snapshot, live_node=live_node,
        keys_by_shopify_id=snapshot_keys_by_shopify_id(store=assignment.store, product_id=assignment.product_id))


def product_publish(*, job: SyncJob | None, assignment: ChannelAssignment, product: Product,
                    bindings: dict | None = None, images: dict | None = None, plan: PublishPlan | None = None,
                    handles_found: dict[str, str] | None = None, batch=None, client=None) -> ExecutionResult:
    """Publish ``product`` to its assignment's store through the stages; return the job's outcome.

    Skips an unchanged product without a call; creates it (or adopts one with our handle and SKUs) when unbound;
    otherwise reads it live, compares, applies the store's policy (hold: nothing is written), writes the changed
    sections and binds the result. Raises the client's ShopifyError (the job machinery retries or dead-letters)
    and PublishConflict when our handle belongs to another product.

    A batch of jobs (``channels.publish_batch``) passes what it loaded for many products at once: the variant and
    image ``bindings``/``images``, the ``plan``, the handles it found in Shopify (``handles_found``: no look-up of
    its own) and a ``batch`` sink that sends the metafields with other products' and finishes the write after them
    (the product is then done only once the batch flushed its metafields), and waits for new media with theirs.
    """
    store = assignment.store
    assignment.product = product  # the assignment was loaded without the product's prefetches
    bindings = bindings_for(store=store, product=product) if bindings is None else bindings
    images = image_bindings_for(store_id=store.pk, product=product) if images is None else images
    plan = plan or publish_plan_build(assignment=assignment, bindings=bindings, image_bindings=images)
    if assignment.shopify_product_id and plan.hash == assignment.published_hash:
        return ExecutionResult(SyncJob.Status.SKIPPED, "unchanged since last publish")
    client = client or client_for_store(store)  # a batch shares one client (its learned costs) per store
    if not assignment.shopify_product_id and (handles_found is None or plan.snapshot["handle"] in handles_found):
        product_adopt_existing(client=client, assignment=assignment, plan=plan, bindings=bindings)
        if assignment.shopify_product_id:
            # Adopted: the plan was built before the variant ids were known. productSet creates a new variant
            # for every input without an id and deletes the unlisted ones, so rebuild it with the ids.
            plan = publish_plan_build(assignment=assignment, bindings=bindings, image_bindings=images)
    compared = bool(assignment.shopify_product_id and assignment.published_snapshot)
    if compared:
        live_node = product_live_read(client=client, assignment=assignment, plan=plan)
        result = product_compare(assignment=assignment, plan=plan, live_node=live_node)
        if result.drifts:
            decision = drift_hooks().record(store=store, product=product,
                                            shopify_product_id=assignment.shopify_product_id, result=result, job=job)
            if decision == "hold":
                bind_hold(assignment=assignment, held=True)
                return ExecutionResult(SyncJob.Status.HELD, "held: Shopify-side edit under the hold policy")
            if result.deleted:
                bind_forget_product(assignment=assignment)
            else:
                # Overwrite: the write must cover every drifted field even if the PIM did not change it.
                bind_snapshot_as_live(assignment=assignment, snapshot=result.last_with_live)
                bind_forget_variants(assignment=assignment, keys=result.gone_variant_keys)
            bindings = bindings_for(store=store, product=product)
            images = image_bindings_for(store_id=store.pk, product=product) if assignment.shopify_product_id else {}
            plan = publish_plan_build(assignment=assignment, bindings=bindings, image_bindings=images)
    note = product_write(client=client, assignment=assignment, plan=plan, bindings=bindings, image_bindings=images,
                         # Only a compared publish can have overwritten conflicts (a first publish has none).
                         batch=batch, after=(lambda: drift_hooks().after_write(job=job)) if compared else None)
    return ExecutionResult(SyncJob.Status.DONE, f"published; {note}" if note else "published")


def product_adopt_existing(*, client, assignment: ChannelAssignment, plan: PublishPlan, bindings: dict) -> None:
    """Bind to a Shopify product that already has our handle and our SKUs instead of creating a duplicate.

    This covers a worker that died after Shopify created the product but before the ids were stored.
    Raises PublishConflict when the handle belongs to a different product.
    """
    handle = plan.snapshot["handle"]
    existing = client.product_ids_by_handle(handle=handle, variant_count=len(plan.snapshot.get("variants") or {}))
    if not existing:
        return
    their_skus = {v.get("sku") for v in nodes_of(existing.get("variants"))}
    our_skus = {v.sku for v in assignment.product.variants.all()}
    if our_skus - their_skus:
        raise PublishConflict(
            f"A different Shopify product already uses the handle '{handle}' (its SKUs do not match). "
            "Run 'manage.py reconcile_store' to match existing products, or set a per-store handle.",
            shop_domain=assignment.store.shop_domain,
        )
    bind_product_ids(assignment=assignment, product_node=existing, bindings=bindings)


def publish_writes(*, assignment: ChannelAssignment, plan: PublishPlan) -> dict:
    """What a publish of ``plan`` sends given what was last written (pure): ``{"product_input": ... or None,
    "metafields": [...]}``. Shared by the write stage and the preview, so a preview predicts the real writes."""
    bound = bool(assignment.shopify_product_id)
    if bound:
        sections = changed_sections(assignment.published_snapshot or {}, plan.snapshot)
    else:
        sections = {"core", "variants", "images", "metafields"}
    product_input = None
    if not bound or sections & {"core", "variants", "images", "handle"}:
        product_input = product_input_for_sections(plan.product_input, sections, creating=not bound)
    metafields = plan.metafields if "metafields" in sections and plan.metafields else []
    if not bound and metafields:
        # A product's first create carries its metafields in productSet: 0.4 points each there, while a
        # metafieldsSet costs 10 + 4 per product owner since 2026-09-15. Only on create: productSet's list fields
        # replace, and a brand-new product has no other app's metafields to lose. Updates keep metafieldsSet.
        product_input = {**product_input, "metafields": [dict(m) for m in metafields]}
        metafields = []
    return {"sections": sections, "product_input": product_input, "metafields": metafields}


def product_write(*, client, assignment: ChannelAssignment, plan: PublishPlan, bindings: dict,
                  image_bindings: dict, batch=None, after=None) -> str:
    """The write stage: the plan's changed sections (productSet, metafieldsSet, sales channels); return a note.

    The snapshot, hash and handle are bound only after Shopify accepted the writes, so a refused handle change
    (e.g. HANDLE_NOT_UNIQUE) leaves the PIM's record of what Shopify has untouched. With a ``batch`` sink the new
    media are waited for with the batch's, the metafields go to the sink, and the sales channels, the binding and
    ``after`` run when the sink has sent them; otherwise all is done here and ``after`` runs last.
    """
    writes = publish_writes(assignment=assignment, plan=plan)
    if not assignment.shopify_product_id:
        assignment.publication_ids = []
    product_node: dict | None = None
    note = ""
    if writes["product_input"] is not None:
        bound = bool(assignment.shopify_product_id)
        identifier = {"id": to_gid("Product", assignment.shopify_product_id)} if bound else None
        product_node = client.product_set(input=writes["product_input"], identifier=identifier)
        # After the call, never around it: one commit for the ids and media bindings (each commit is a WAL flush).
        with transaction.atomic():
            bind_product_ids(assignment=assignment, product_node=product_node, bindings=bindings, created=not bound)
            created = media_bind_after_write(
                assignment=assignment, product_input=writes["product_input"],
                media_nodes=product_node.get("media") or [], bindings=image_bindings,
            )
        if created and batch is not None:
            batch.add_media(created=created)  # one status poll for the whole batch; the note comes from it
        elif created:
            failed, pending = media_wait_processed(client=client, created=created)
            note = media_summary(failed=failed, pending=pending)

    def finish() -> None:
        publication_ids = None
        if plan.publications or assignment.publication_ids:
            # Publishes/unpublishes only where the recorded channels differ (ids are cached: usually no request);
            # the set is recorded with the snapshot below, in one update. The product is written: this call waits
            # for the budget as long as it must, even inside a batch's short limit (ShopifyBudgetWait means unsent).
            with _full_budget_wait(client):
                publication_ids = publications_sync(client=client, assignment=assignment, titles=plan.publications,
                                                    record=False)
        bind_written(assignment=assignment, snapshot=plan.snapshot, snapshot_hash=plan.hash, product_node=product_node,
                     publication_ids=publication_ids)
        if after is not None:
            after()

    owner_id = to_gid("Product", assignment.shopify_product_id)
    if writes["metafields"] and batch is not None:
        batch.add(owner_id=owner_id, metafields=writes["metafields"], finish=finish)
        return note
    if writes["metafields"]:
        client.metafields_set(owner_id=owner_id, metafields=writes["metafields"])
    finish()
    return note


def _full_budget_wait(client):
    """The client's normal budget wait for the block (a test double without budget limits: nothing)."""
    limit = getattr(client, "budget_wait_limit", None)
    return limit(client.max_budget_wait) if limit is not None else nullcontext()


def product_unpublish(*, job: SyncJob, assignment: ChannelAssignment | None) -> ExecutionResult:
    """Take the product off every sales channel and set it to the store's unpublish status (never deleted)."""
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
        bind_unpublished(assignment=assignment)
    return ExecutionResult(SyncJob.Status.DONE, f"set to {store.unpublish_action.lower()} in Shopify")
