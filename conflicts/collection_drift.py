"""Membership drift of PIM-managed collections (issue 19): a merchant added or removed a product in Shopify.

Each such product becomes (or updates) the one open conflict for (store, product, ``collection:<mapping id>``),
handled by the store's policy for the ``collections`` field: *overwrite* records it and the PIM's membership is
written back; *hold* records it as held and the membership job leaves that product alone. Accepting a conflict
puts the product in the category (or takes it out) in the PIM, with history naming the manager and the store.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from channels.models import ChannelAssignment, CollectionMapping, ConflictPolicy
from pim import categories
from pim.models import ProductCategory

from .models import Conflict

FIELD_PREFIX = "collection:"
IN, OUT = "in the collection", "not in the collection"


def collection_field(*, mapping_id: int) -> str:
    return f"{FIELD_PREFIX}{mapping_id}"


def collection_drift_check(*, mapping: CollectionMapping, added: set[str], removed: set[str]) -> set[str]:
    """Record a conflict per product a merchant added to / removed from the mapping's collection.

    Returns the Shopify product ids the membership job must leave alone (the hold policy, unless a manager
    released or overwrote that very change).
    """
    from .alerts import drift_alert_check
    from .recording import field_policy

    if not added and not removed:
        return set()
    store = mapping.store
    field = collection_field(mapping_id=mapping.pk)
    policy = field_policy(store=store, field="collections")
    existing = {c.shopify_product_id: c for c in Conflict.objects.filter(
        store=store, field=field, status__in=Conflict.OPEN_STATUSES, shopify_product_id__in=added | removed)}
    products = dict(ChannelAssignment.objects.filter(store=store, shopify_product_id__in=added | removed)
                    .values_list("shopify_product_id", "product_id"))
    leave = set()
    for pid, live in [(p, IN) for p in sorted(added)] + [(p, OUT) for p in sorted(removed)]:
        pim = OUT if live == IN else IN
        conflict = existing.get(pid)
        released = bool(conflict and conflict.release_approved and conflict.shopify_before == live)
        holds = policy == ConflictPolicy.HOLD and not released
        if holds:
            leave.add(pid)
        values = {"product_id": products.get(pid), "pim_value": pim, "last_written_value": pim,
                  "shopify_before": live, "policy_applied": policy, "source": Conflict.Source.PUBLISH}
        if conflict is None:
            try:
                with transaction.atomic():
                    Conflict.objects.create(store=store, shopify_product_id=pid, shopify_variant_id="", field=field,
                                            status=Conflict.Status.HELD if holds else Conflict.Status.OPEN, **values)
                continue
            except IntegrityError:
                conflict = Conflict.objects.get(store=store, shopify_product_id=pid, shopify_variant_id="",
                                                field=field, status__in=Conflict.OPEN_STATUSES)
        for name, value in values.items():
            setattr(conflict, name, value)
        if holds:
            conflict.status = Conflict.Status.HELD
        conflict.occurrences += 1
        conflict.save()
    drift_alert_check(store=store)
    return leave


def collection_conflict_apply(conflict: Conflict, *, actor) -> None:
    """Accept a membership conflict into the PIM: the product joins (or leaves) the mapping's category.

    Leaving covers the categories below it when the mapping includes them. Raises ValidationError when the
    mapping or the product no longer exists.
    """
    mapping = CollectionMapping.objects.filter(pk=int(conflict.field[len(FIELD_PREFIX):])).first()
    if mapping is None or conflict.product_id is None:
        raise ValidationError("The category mapping or the PIM product of this conflict no longer exists.")
    if conflict.shopify_before == IN:
        categories.products_category_add(product_ids=[conflict.product_id], category=mapping.category, actor=actor)
        return
    subtree = (categories.category_descendant_ids(category_ids=[mapping.category_id])
               if mapping.include_subcategories else {mapping.category_id})
    current = set(ProductCategory.objects.filter(product_id=conflict.product_id).values_list("category_id", flat=True))
    categories.product_categories_set(product_id=conflict.product_id, category_ids=current - subtree, actor=actor,
                                      reason=f"Accepted: removed from collection in {conflict.store.name}")


def collection_conflict_requeue(conflict: Conflict) -> None:
    """After a decision, bring the collection in step again (the PIM's membership, or the accepted one)."""
    from channels.collections import collection_jobs_record

    collection_jobs_record(mapping_ids=[int(conflict.field[len(FIELD_PREFIX):])])
