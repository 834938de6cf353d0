"""The category tree: create, move and rename categories, put products in them, read the tree (issue 19).

The tree is a parent pointer per category; reading a subtree or a path uses PostgreSQL's recursive queries
(``WITH RECURSIVE``), so no tree library and no denormalised path column can drift. Every change is recorded in
history (who, when) like product edits.

``pim`` may not import ``channels``; what the stores do about a membership change (collection membership,
assignment rules) is told through ``category_changes_hook``: ``channels`` registers one function in its
``AppConfig.ready()`` and it is called inside the caller's transaction with the products and categories touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from slugify import slugify

from .models import Category, ProductCategory
from .validators import HANDLE_MAX_LENGTH

CategoryChangesHook = Callable[..., None]  # (*, product_ids: list[int], category_ids: list[int]) -> None
_hooks: dict[str, CategoryChangesHook] = {}


def category_changes_hook_register(*, name: str, hook: CategoryChangesHook) -> None:
    """Register (or replace) a function told about membership changes; call from ``AppConfig.ready()``."""
    _hooks[name] = hook


def categories_changed(*, product_ids: Iterable[int], category_ids: Iterable[int]) -> None:
    """Tell the registered hooks that these products' categories (or these categories) changed.

    Runs in the caller's transaction; hooks record durable work and dispatch it after commit.
    """
    pids, cids = sorted(set(product_ids)), sorted(set(category_ids))
    if not pids and not cids:
        return
    for hook in _hooks.values():
        hook(product_ids=pids, category_ids=cids)


def _stamp(instance: Any, *, actor: AbstractBaseUser | None, reason: str | None) -> None:
    if actor is not None and getattr(actor, "pk", None):
        instance._history_user = actor
    if reason:
        instance._change_reason = reason[:100]


# --- selectors ----------------------------------------------------------------------------------------


def category_descendant_ids(*, category_ids: Iterable[int], include_self: bool = True) -> set[int]:
    """Return the ids of the categories below the given ones (and the given ones with ``include_self``)."""
    ids = list(set(category_ids))
    if not ids:
        return set()
    table = Category._meta.db_table
    sql = f"""
        WITH RECURSIVE tree(id) AS (
            SELECT id FROM {table} WHERE id = ANY(%s)
            UNION SELECT c.id FROM {table} c JOIN tree t ON c.parent_id = t.id
        ) SELECT id FROM tree
    """  # noqa: S608 - table name from the model, values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])
        found = {row[0] for row in cursor.fetchall()}
    return found if include_self else found - set(ids)


def category_ancestor_ids(*, category_ids: Iterable[int], include_self: bool = True) -> set[int]:
    """Return the ids of the categories above the given ones (and the given ones with ``include_self``)."""
    ids = list(set(category_ids))
    if not ids:
        return set()
    table = Category._meta.db_table
    sql = f"""
        WITH RECURSIVE up(id, parent_id) AS (
            SELECT id, parent_id FROM {table} WHERE id = ANY(%s)
            UNION SELECT c.id, c.parent_id FROM {table} c JOIN up u ON c.id = u.parent_id
        ) SELECT id FROM up
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])
        found = {row[0] for row in cursor.fetchall()}
    return found if include_self else found - set(ids)


def category_paths() -> dict[int, str]:
    """Return every category's full path ("Clothing › Shirts › Tees") by id, in one query."""
    table = Category._meta.db_table
    sql = f"""
        WITH RECURSIVE paths(id, path) AS (
            SELECT id, name::text FROM {table} WHERE parent_id IS NULL
            UNION ALL SELECT c.id, p.path || ' › ' || c.name FROM {table} c JOIN paths p ON c.parent_id = p.id
        ) SELECT id, path FROM paths
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(cursor.fetchall())


def category_product_ids(*, category_id: int, include_subcategories: bool = True) -> set[int]:
    """Return the ids of the products in the category (and, by default, in the categories below it)."""
    ids = category_descendant_ids(category_ids=[category_id]) if include_subcategories else {category_id}
    return set(ProductCategory.objects.filter(category_id__in=ids).values_list("product_id", flat=True))


# --- services -----------------------------------------------------------------------------------------


def _check_parent(*, category: Category, parent: Category | None) -> None:
    if parent is None or category.pk is None:
        return
    if parent.pk in category_descendant_ids(category_ids=[category.pk]):
        raise ValidationError({"parent": "A category cannot be moved under itself or one of its subcategories."})


def _free_handle(*, name: str, exclude_id: int | None) -> str:
    base = slugify(name or "", max_length=HANDLE_MAX_LENGTH - 8, word_boundary=False, lowercase=True) or "category"
    taken = set(Category.objects.filter(handle__startswith=base).exclude(pk=exclude_id).values_list("handle", flat=True))
    if base not in taken:
        return base
    n = 1
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


@transaction.atomic
def category_save(*, category: Category, actor: AbstractBaseUser | None = None, reason: str = "Edited") -> Category:
    """Validate and save a new or changed category (a move included); record who did it.

    Raises ValidationError for a cycle (moved under itself or a child), a duplicate name under the same parent or
    a bad handle. A move changes the collections of the products below it, so the stores are told.
    """
    if category.pk:
        previous_parent = Category.objects.filter(pk=category.pk).values_list("parent_id", flat=True).first()
    else:
        previous_parent = None
    _check_parent(category=category, parent=category.parent)
    if not category.handle:
        category.handle = _free_handle(name=category.name, exclude_id=category.pk)
    category.full_clean()
    _stamp(category, actor=actor, reason=reason)
    moved = bool(category.pk) and previous_parent != category.parent_id
    category.save()
    if moved:
        # Every mapped category above the old and the new place gains or loses products.
        touched = category_ancestor_ids(category_ids=[category.pk]) | (
            category_ancestor_ids(category_ids=[previous_parent]) if previous_parent else set()
        )
        categories_changed(product_ids=[], category_ids=touched)
    return category


def category_create(*, name: str, parent: Category | None = None, handle: str = "", description_html: str = "",
                    position: int = 0, actor: AbstractBaseUser | None = None) -> Category:
    """Create a category under ``parent`` (top level when None); raise ValidationError on bad input."""
    category = Category(name=name, parent=parent, handle=handle, description_html=description_html,
                        position=position)
    return category_save(category=category, actor=actor, reason="Created")


@transaction.atomic
def product_categories_set(*, product_id: int, category_ids: Iterable[int], actor: AbstractBaseUser | None = None,
                           reason: str = "Categories edited") -> tuple[set[int], set[int]]:
    """Make ``category_ids`` the product's categories exactly; return (added, removed) category ids.

    Each add and remove is a history row naming ``actor``. Raises ValidationError for an unknown category.
    """
    wanted = set(category_ids)
    known = set(Category.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    if wanted - known:
        raise ValidationError(f"Unknown categories: {', '.join(map(str, sorted(wanted - known)))}.")
    links = {link.category_id: link for link in ProductCategory.objects.filter(product_id=product_id)}
    added = wanted - set(links)
    removed = set(links) - wanted
    for category_id in removed:
        link = links[category_id]
        _stamp(link, actor=actor, reason=reason)
        link.delete()
    for category_id in sorted(added):
        link = ProductCategory(product_id=product_id, category_id=category_id)
        _stamp(link, actor=actor, reason=reason)
        link.save()
    if added or removed:
        categories_changed(product_ids=[product_id], category_ids=added | removed)
    return added, removed


@transaction.atomic
def products_category_add(*, product_ids: Iterable[int], category: Category,
                          actor: AbstractBaseUser | None = None) -> int:
    """Put many products in ``category`` at once (history kept per product); return how many were added."""
    from simple_history.utils import bulk_create_with_history

    ids = set(product_ids)
    have = set(ProductCategory.objects.filter(category=category, product_id__in=ids).values_list("product_id",
                                                                                                  flat=True))
    new = [ProductCategory(product_id=pid, category=category) for pid in sorted(ids - have)]
    bulk_create_with_history(new, ProductCategory, batch_size=1000, default_user=actor,
                             default_change_reason="Bulk: added to category")
    if new:
        categories_changed(product_ids=[link.product_id for link in new], category_ids=[category.pk])
    return len(new)


@transaction.atomic
def products_category_remove(*, product_ids: Iterable[int], category: Category,
                             actor: AbstractBaseUser | None = None) -> int:
    """Take many products out of ``category`` (history kept per product); return how many were removed."""
    links = list(ProductCategory.objects.filter(category=category, product_id__in=set(product_ids)))
    for link in links:
        _stamp(link, actor=actor, reason="Bulk: removed from category")
        link.delete()
    if links:
        categories_changed(product_ids=[link.product_id for link in links], category_ids=[category.pk])
    return len(links)


@transaction.atomic
def category_delete(*, category: Category, actor: AbstractBaseUser | None = None) -> None:
    """Delete an empty-of-children category; its products leave it (history kept) and the stores are told.

    Raises ValidationError when it still has subcategories (move or delete them first).
    """
    if category.children.exists():
        raise ValidationError("This category has subcategories: move or delete them first.")
    above = category_ancestor_ids(category_ids=[category.pk])
    product_ids = list(ProductCategory.objects.filter(category=category).values_list("product_id", flat=True))
    for link in ProductCategory.objects.filter(category=category):
        _stamp(link, actor=actor, reason="Category deleted")
        link.delete()
    _stamp(category, actor=actor, reason="Deleted")
    category.delete()
    categories_changed(product_ids=product_ids, category_ids=above - {category.pk})
