"""Assignment rules (issue 19): a store takes every product that matches a tag, category, vendor or product type.

Kept in step as products change: ``sync_jobs_record_for_products`` asks ``assignment_rules_apply`` first (every
catalog change passes there), and a category change asks it through the ``pim.categories`` hook. A product that
starts matching is assigned (publish on) and gets its publish job; one that stops matching is unpublished
(publish off: Shopify sets it to draft or archived per the store). Only assignments the rules made are undone:
``RuleAssignment`` marks them (and keeps marking them while unpublished, so a product that matches again comes
back), so a manual assignment beside the rules stays as the manager set it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from pim.categories import category_descendant_ids
from pim.models import Product, ProductCategory, split_tags

from .models import AssignmentRule, ChannelAssignment, RuleAssignment, Store


def _matcher(rules: list[AssignmentRule]):
    tags = {r.value.strip().lower() for r in rules if r.kind == AssignmentRule.Kind.TAG}
    vendors = {r.value.strip().lower() for r in rules if r.kind == AssignmentRule.Kind.VENDOR}
    types = {r.value.strip().lower() for r in rules if r.kind == AssignmentRule.Kind.PRODUCT_TYPE}
    cat_roots = [r.category_id for r in rules if r.kind == AssignmentRule.Kind.CATEGORY and r.category_id]
    cats = category_descendant_ids(category_ids=cat_roots) if cat_roots else set()

    def matches(row: tuple, product_cats: set[int]) -> bool:
        _, raw_tags, vendor, product_type = row
        return bool(
            (tags and tags & {t.lower() for t in split_tags(raw_tags)})
            or (vendor and vendor.strip().lower() in vendors)
            or (product_type and product_type.strip().lower() in types)
            or (cats & product_cats)
        )

    return matches


def assignment_rules_apply(*, product_ids: Iterable[int] | None = None, store: Store | None = None,
                           actor=None) -> set[int]:
    """Assign the products that match a store's active rules and unpublish rule-made ones that no longer match.

    ``product_ids`` limits the check to those products (None: every product). Runs in the caller's transaction
    and records history; returns the ids of the products whose assignment changed (the caller records their
    sync jobs). Stores without active rules are skipped.
    """
    rules_by_store: dict[int, list[AssignmentRule]] = {}
    rules = AssignmentRule.objects.filter(is_active=True, store__is_active=True)
    if store is not None:
        rules = rules.filter(store=store)
    for rule in rules:
        rules_by_store.setdefault(rule.store_id, []).append(rule)
    marked_stores = set(RuleAssignment.objects.values_list("store_id", flat=True).distinct())
    store_ids = set(rules_by_store) | ({store.pk} if store is not None else marked_stores)
    store_ids &= set(Store.objects.filter(is_active=True).values_list("pk", flat=True))
    if not store_ids:
        return set()
    products = Product.objects.all()
    if product_ids is not None:
        products = products.filter(pk__in=list(product_ids))
    rows = list(products.values_list("pk", "tags", "vendor", "product_type"))
    if not rows:
        return set()
    ids = [r[0] for r in rows]
    cats: dict[int, set[int]] = {}
    for pid, cid in ProductCategory.objects.filter(product_id__in=ids).values_list("product_id", "category_id"):
        cats.setdefault(pid, set()).add(cid)
    changed: set[int] = set()
    with transaction.atomic():
        for store_id in sorted(store_ids):
            matches = _matcher(rules_by_store.get(store_id, []))
            wanted = {r[0] for r in rows if matches(r, cats.get(r[0], set()))}
            assignments = {a.product_id: a for a in ChannelAssignment.objects.filter(store_id=store_id,
                                                                                      product_id__in=ids)}
            by_rule = set(RuleAssignment.objects.filter(store_id=store_id, product_id__in=ids)
                          .values_list("product_id", flat=True))
            new = [ChannelAssignment(store_id=store_id, product_id=pid, publish=True)
                   for pid in sorted(wanted) if pid not in assignments]
            revive = [a for pid, a in assignments.items() if pid in wanted and pid in by_rule and not a.publish]
            drop = [a for pid, a in assignments.items() if pid not in wanted and pid in by_rule and a.publish]
            bulk_create_with_history(new, ChannelAssignment, batch_size=1000, default_user=actor,
                                     default_change_reason="Assignment rule: matches")
            for a in revive:
                a.publish = True
            for a in drop:
                a.publish = False
            if revive:
                bulk_update_with_history(revive, ChannelAssignment, ["publish"], batch_size=1000, default_user=actor,
                                         default_change_reason="Assignment rule: matches again")
            if drop:
                bulk_update_with_history(drop, ChannelAssignment, ["publish"], batch_size=1000, default_user=actor,
                                         default_change_reason="Assignment rule: no longer matches")
            RuleAssignment.objects.bulk_create([RuleAssignment(store_id=store_id, product_id=a.product_id)
                                                for a in new], ignore_conflicts=True)
            changed |= {a.product_id for a in new} | {a.product_id for a in revive} | {a.product_id for a in drop}
    return changed


def assignment_rules_on_category_changes(*, product_ids: list[int], category_ids: list[int]) -> None:
    """``pim.categories`` hook: products whose categories changed may start or stop matching a category rule."""
    from .services import sync_jobs_record_for_products

    if not product_ids and category_ids:  # a category moved: every product below it may change
        product_ids = list(ProductCategory.objects.filter(
            category_id__in=category_descendant_ids(category_ids=category_ids)).values_list("product_id",
                                                                                              flat=True))
    if product_ids:
        # Only products whose assignment the rules changed need a publish job (a bulk category edit of 10,000
        # products must not queue 10,000 publishes).
        changed = assignment_rules_apply(product_ids=product_ids)
        sync_jobs_record_for_products(product_ids=changed)


@transaction.atomic
def assignment_rule_save(*, rule: AssignmentRule, actor=None) -> AssignmentRule:
    """Validate and save a rule, then apply the store's rules to the whole catalog and record the sync jobs.

    Raises ValidationError (a category rule without a category, another rule without a value).
    """
    from django.core.exceptions import ValidationError

    from .services import sync_jobs_record_for_products

    if rule.kind == AssignmentRule.Kind.CATEGORY and rule.category_id is None:
        raise ValidationError({"category": "Choose the category."})
    if rule.kind != AssignmentRule.Kind.CATEGORY and not rule.value.strip():
        raise ValidationError({"value": "Give the tag, vendor or product type."})
    rule.full_clean()
    if actor is not None and getattr(actor, "pk", None):
        rule._history_user = actor
    rule.save()
    changed = assignment_rules_apply(store=rule.store, actor=actor)
    sync_jobs_record_for_products(product_ids=changed)
    return rule
