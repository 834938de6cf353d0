"""The binder: the one writer of what the PIM knows about a product in a store.

Shopify's ids (the assignment's product id, each variant's variant and inventory item ids), the snapshot and hash
of what the PIM last wrote, the sales channels it is on, and the *held* flag are written here and nowhere else in
the publish; ``conflicts`` asks the binder when a review changes them (hold, release, a Shopify value accepted as
"last written"). Every function takes the assignment (or its store and Shopify product id), writes with
``update()`` (no model ``save()`` logic, no history rows: this is pipeline state), and keeps the passed
instance in step.

The bulk publish (issue 17) records a whole batch of result lines at once with ``bind_written_many`` (the same
rules as ``bind_product_ids`` + ``media_bind_after_write`` + ``bind_written``, in a handful of statements), then
``bind_publications_many`` for the sales channels, or ``bind_forget_written_many`` when a follow-up failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from pim.models import Product

from .bulk_rows import rows_update
from .mapping import nodes_of
from .models import ChannelAssignment, ImageBinding, Store, VariantBinding
from .shopify.ids import gid_to_id

# Set as the whole ChannelAssignment.published_snapshot by onboarding: bound, never written by the PIM yet.
ONBOARDING_MARK = "_onboarding"


def bindings_for(*, store: Store, product: Product) -> dict[int, VariantBinding]:
    """The product's variant bindings in ``store``, by PIM variant id."""
    return {b.variant_id: b for b in VariantBinding.objects.filter(store=store, variant__product=product)}


def snapshot_keys_by_shopify_id(*, store: Store, product_id: int) -> dict[str, str]:
    """Shopify variant id -> snapshot key (the PIM variant id) for one product's bound variants in ``store``."""
    return {sid: str(vid) for vid, sid in VariantBinding.objects.filter(
        store=store, variant__product_id=product_id).values_list("variant_id", "shopify_variant_id")}


def bind_product_ids(*, assignment: ChannelAssignment, product_node: dict,
                     bindings: dict[int, VariantBinding], created: bool = False) -> None:
    """Record the Shopify product id and each variant's variant and inventory item ids from a product node.

    A variant is matched by the id it was sent with (its binding), else by a SKU found on exactly one of the
    product's variants; variants adopted from a store without a SKU or with a shared one keep the bindings
    onboarding wrote from their Shopify ids (issue 20). ``bindings`` (variant id -> binding) is updated in place.
    ``created``: the node is a product Shopify has just created, so no binding can hold its new variant ids yet.
    """
    product_id = str(gid_to_id(product_node["id"]))
    if assignment.shopify_product_id != product_id:
        assignment.shopify_product_id = product_id
        ChannelAssignment.objects.filter(pk=assignment.pk).update(shopify_product_id=product_id)
    variants = list(assignment.product.variants.all())
    sku_counts = Counter(v.sku for v in variants)
    by_sku = {v.sku: v for v in variants if v.sku and sku_counts[v.sku] == 1}
    by_id = {b.shopify_variant_id: b.variant_id for b in bindings.values()}
    by_pk = {v.pk: v for v in variants}
    wanted: dict[str, tuple[Any, str]] = {}  # Shopify variant id -> (PIM variant, inventory item id)
    for node in nodes_of(product_node.get("variants")):
        variant_id = str(gid_to_id(node["id"]))
        variant = by_pk.get(by_id.get(variant_id)) or by_sku.get(node.get("sku"))
        if variant is None:
            continue
        item_id = str(gid_to_id(node["inventoryItem"]["id"])) if (node.get("inventoryItem") or {}).get("id") else ""
        current = bindings.get(variant.pk)
        if current and current.shopify_variant_id == variant_id and current.shopify_inventory_item_id == item_id:
            continue
        wanted[variant_id] = (variant, item_id)
    if not wanted:
        return
    # Issue 15: a few queries per product, not a few per variant. A Shopify variant id still bound to another PIM
    # variant (a stale binding) is released first, then every binding is written in one upsert.
    stale = [] if created else [pk for pk, variant_pk, sid in VariantBinding.objects.filter(
        store=assignment.store, shopify_variant_id__in=list(wanted)).values_list("pk", "variant_id", "shopify_variant_id")
        if variant_pk != wanted[sid][0].pk]
    if stale:
        VariantBinding.objects.filter(pk__in=stale).delete()
    written = VariantBinding.objects.bulk_create(
        [VariantBinding(store=assignment.store, variant=variant, shopify_variant_id=sid, shopify_inventory_item_id=item)
         for sid, (variant, item) in wanted.items()],
        update_conflicts=True, unique_fields=["store", "variant"],
        update_fields=["shopify_variant_id", "shopify_inventory_item_id"],
    )
    for binding in written:
        bindings[binding.variant_id] = binding


def bind_written(*, assignment: ChannelAssignment, snapshot: dict[str, Any], snapshot_hash: str,
                 product_node: dict | None = None, publication_ids: list[str] | None = None) -> None:
    """Record what the PIM wrote (snapshot and hash), when, and Shopify's ``updatedAt`` after it (our echo).

    ``publication_ids``: the sales channels the write left it on, recorded in the same update (one statement).
    """
    now = timezone.now()
    updated = parse_datetime(product_node["updatedAt"]) if product_node and product_node.get("updatedAt") else None
    extra: dict[str, Any] = {"shopify_updated_at": updated} if updated else {}
    if publication_ids is not None:
        extra["publication_ids"] = publication_ids
        assignment.publication_ids = publication_ids
    with transaction.atomic():  # one commit (a WAL flush) for both statements, not one each
        ChannelAssignment.objects.filter(pk=assignment.pk).update(
            published_hash=snapshot_hash, published_snapshot=snapshot, published_at=now, unpublished_at=None, **extra,
        )
        Product.objects.filter(pk=assignment.product_id, first_published_at__isnull=True).update(
            first_published_at=now)
    assignment.published_snapshot, assignment.published_hash = snapshot, snapshot_hash


def bind_publish_result(*, assignment: ChannelAssignment, plan, product_node: dict,
                        bindings: dict[int, VariantBinding] | None = None) -> None:
    """Both steps at once for a product whose whole plan Shopify accepted (the bulk publish's result lines)."""
    bind_product_ids(assignment=assignment, product_node=product_node, bindings=bindings if bindings is not None
                     else bindings_for(store=assignment.store, product=assignment.product))
    bind_written(assignment=assignment, snapshot=plan.snapshot, snapshot_hash=plan.hash, product_node=product_node)


def bind_publications(*, assignment: ChannelAssignment, publication_ids: list[str]) -> None:
    """Record the sales channels (publication ids) the product is on in Shopify after our last write."""
    ChannelAssignment.objects.filter(pk=assignment.pk).update(publication_ids=publication_ids)
    assignment.publication_ids = publication_ids


def bind_unpublished(*, assignment: ChannelAssignment) -> None:
    """The product was set to draft/archived in Shopify: forget what was written (the next publish writes all)."""
    ChannelAssignment.objects.filter(pk=assignment.pk).update(
        unpublished_at=timezone.now(), published_hash="", published_snapshot={})
    assignment.published_hash, assignment.published_snapshot = "", {}


def bind_forget_product(*, assignment: ChannelAssignment) -> None:
    """The product is gone from Shopify: drop its ids, variant bindings and snapshot so a publish creates it."""
    VariantBinding.objects.filter(store=assignment.store, variant__product_id=assignment.product_id).delete()
    ChannelAssignment.objects.filter(pk=assignment.pk).update(shopify_product_id="", published_hash="",
                                                              published_snapshot={}, publication_ids=[])
    assignment.shopify_product_id, assignment.published_snapshot = "", {}
    assignment.published_hash, assignment.publication_ids = "", []


def bind_forget_variants(*, assignment: ChannelAssignment, keys: Iterable[str]) -> None:
    """Variants deleted in Shopify (snapshot keys): drop their bindings, so the publish creates them again."""
    variant_ids = [int(k) for k in keys if str(k).isdigit()]
    if variant_ids:
        VariantBinding.objects.filter(store=assignment.store, variant__product_id=assignment.product_id,
                                      variant_id__in=variant_ids).delete()


def bind_snapshot_as_live(*, assignment: ChannelAssignment, snapshot: dict[str, Any]) -> None:
    """Take ``snapshot`` (what we wrote with Shopify's drifted values in) as the last write and clear the hash, so
    the next publish writes every drifted field even when the PIM did not change."""
    ChannelAssignment.objects.filter(pk=assignment.pk).update(published_snapshot=snapshot, published_hash="")
    assignment.published_snapshot, assignment.published_hash = snapshot, ""


def bind_hold(*, held: bool, assignment: ChannelAssignment | None = None, store: Store | None = None,
              shopify_product_id: str = "") -> int:
    """Pause (or resume) publishing one product to one store: by assignment, or by store and Shopify product id."""
    if assignment is not None:
        assignment.held = held
        return ChannelAssignment.objects.filter(pk=assignment.pk).update(held=held)
    return ChannelAssignment.objects.filter(store=store, shopify_product_id=shopify_product_id).update(held=held)



def bind_adopted(*, store: Store, bound: list[tuple[int, str]], new_assignments: list[ChannelAssignment],
                 new_bindings: list[VariantBinding], release_shopify_variant_ids: list[str],
                 replace_variant_ids: list[int]) -> None:
    """Onboarding's bindings of a store's existing products (nothing written by the PIM yet: the snapshot is the
    onboarding mark). ``bound`` are existing assignments (id, Shopify product id); ``new_assignments`` carry the
    mark already; bindings of Shopify variants now bound elsewhere and of re-bound PIM variants are replaced."""
    now = timezone.now()
    for assignment_id, shopify_product_id in bound:
        ChannelAssignment.objects.filter(pk=assignment_id).update(
            shopify_product_id=shopify_product_id, published_snapshot={ONBOARDING_MARK: True}, published_hash="",
            updated_at=now)
    if release_shopify_variant_ids:
        VariantBinding.objects.filter(store=store, shopify_variant_id__in=release_shopify_variant_ids).delete()
    if replace_variant_ids:
        VariantBinding.objects.filter(store=store, variant_id__in=replace_variant_ids).delete()
    ChannelAssignment.objects.bulk_create(new_assignments, batch_size=1000)
    VariantBinding.objects.bulk_create(new_bindings, batch_size=2000)


# --- batches (the bulk publish) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WrittenProduct:
    """One product Shopify accepted in a batch: its assignment (with ``product.variants`` and ``product.images``
    loaded), the product node Shopify returned, the snapshot and hash written, and the ``files`` sent."""

    assignment: ChannelAssignment
    product_node: dict
    snapshot: dict[str, Any]
    snapshot_hash: str
    files: list[dict]


def bind_written_many(*, store: Store, written: Sequence[WrittenProduct]) -> None:
    """Record a batch of first publishes as ``bind_product_ids``, ``media_bind_after_write`` and ``bind_written``
    record one: the product id; each variant's ids (a SKU on exactly one of the product's variants identifies it;
    bindings of the same Shopify variant elsewhere are dropped); each new upload's media id (media in the order of
    ``files``; bindings of images not sent are removed); the snapshot, hash, times and Shopify's ``updatedAt``.
    The product is on no sales channel yet (``bind_publications_many`` records them). One transaction, a few
    statements per batch. Raises the database's errors.
    """
    if not written:
        return
    now = timezone.now()
    variant_rows: dict[int, VariantBinding] = {}
    image_rows: list[ImageBinding] = []
    kept_images: dict[int, set[int]] = {}
    assignments: list[ChannelAssignment] = []
    for item in written:
        a, node = item.assignment, item.product_node
        variants = list(a.product.variants.all())
        counts = Counter(v.sku for v in variants)
        by_sku = {v.sku: v for v in variants if v.sku and counts[v.sku] == 1}
        for vnode in nodes_of(node.get("variants")):
            variant = by_sku.get(vnode.get("sku"))
            if variant is None:
                continue
            item_id = (vnode.get("inventoryItem") or {}).get("id")
            variant_rows[variant.pk] = VariantBinding(
                store=store, variant=variant, shopify_variant_id=str(gid_to_id(vnode["id"])),
                shopify_inventory_item_id=str(gid_to_id(item_id)) if item_id else "")
        images = sorted(a.product.images.all(), key=lambda i: (i.position, i.id))
        kept = kept_images.setdefault(a.product_id, set())
        for image, sent, mnode in zip(images, item.files, nodes_of(node.get("media")), strict=False):
            kept.add(image.id)
            if not sent.get("id"):
                image_rows.append(ImageBinding(store=store, image=image, shopify_media_id=mnode["id"],
                                               source=image.src, status=mnode.get("status") or "UPLOADED", error=""))
        a.shopify_product_id = str(gid_to_id(node["id"]))
        a.published_hash, a.published_snapshot, a.published_at = item.snapshot_hash, item.snapshot, now
        a.unpublished_at, a.publication_ids = None, []
        if node.get("updatedAt"):
            a.shopify_updated_at = parse_datetime(node["updatedAt"])
        assignments.append(a)
    with transaction.atomic():
        VariantBinding.objects.filter(
            store=store, shopify_variant_id__in=[b.shopify_variant_id for b in variant_rows.values()]
        ).exclude(variant_id__in=list(variant_rows)).delete()
        VariantBinding.objects.bulk_create(
            list(variant_rows.values()), update_conflicts=True, unique_fields=["store", "variant"],
            update_fields=["shopify_variant_id", "shopify_inventory_item_id"])
        kept_ids = set().union(*kept_images.values())
        stale = [pk for pk, image_id in ImageBinding.objects.filter(
            store=store, image__product_id__in=list(kept_images)).values_list("pk", "image_id")
            if image_id not in kept_ids]
        if stale:
            ImageBinding.objects.filter(pk__in=stale).delete()
        ImageBinding.objects.bulk_create(
            image_rows, update_conflicts=True, unique_fields=["store", "image"],
            update_fields=["shopify_media_id", "source", "status", "error"])
        rows_update(model=ChannelAssignment, objs=assignments, fields=[
            "shopify_product_id", "published_hash", "published_snapshot", "published_at", "unpublished_at",
            "publication_ids", "shopify_updated_at"])
        Product.objects.filter(pk__in=[a.product_id for a in assignments], first_published_at__isnull=True).update(
            first_published_at=now)


def bind_publications_many(*, assignment_ids: Iterable[int], publication_ids: list[str]) -> int:
    """Record the sales channels (publication ids) of many products after a bulk publish; return how many."""
    return ChannelAssignment.objects.filter(pk__in=list(assignment_ids)).update(publication_ids=publication_ids)


def bind_forget_written_many(*, assignment_ids: Iterable[int]) -> int:
    """A bulk follow-up (metafields, sales channels) failed for these products: clear the recorded hash so the
    next publish (Replay) writes them again per call; the ids stay. Return how many."""
    return ChannelAssignment.objects.filter(pk__in=list(assignment_ids)).update(published_hash="")
