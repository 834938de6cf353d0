"""Extension points of the catalog admin, filled by the apps built on the catalog.

The product page is where a catalog manager works, so it must show each store's sync state, stock and conflicts,
yet ``pim`` may not import ``channels``, ``inventory`` or ``conflicts``. Instead those apps register a
``ProductAdminExtension`` in their ``AppConfig.ready()``: inlines, list columns and filters, a queryset hook that
annotates or prefetches what their columns need (one query per page, never one per row), bulk actions, a panel on
the change page, and counters for the admin index. The variant page takes a ``VariantAdminExtension`` the same way
(inlines, read-only panels). Nothing is patched at import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest


@dataclass(frozen=True)
class ProductAdminExtension:
    name: str
    inlines: tuple = ()
    list_columns: tuple[Callable[[Any], Any], ...] = ()  # admin.display-decorated functions of a product
    list_filters: tuple = ()
    list_queryset: Callable[[QuerySet], QuerySet] | None = None  # annotations / prefetches the columns read
    actions: tuple[Callable, ...] = ()  # admin actions: (modeladmin, request, queryset)
    panel: Callable[[HttpRequest, Any], str] | None = None  # HTML shown on the product's change page
    search: Callable[[QuerySet, str], QuerySet] | None = None  # extra matches for the changelist search
    saved: Callable[[HttpRequest, Any], str | None] | None = None  # a line for the save message (what was queued)
    # Buttons above the product list: (label, url(), allowed(request)).
    list_tools: tuple[tuple[str, Callable[[], str], Callable[[HttpRequest], bool]], ...] = ()
    variant_columns: tuple[Callable[[Any], Any], ...] = ()  # read-only columns of the variant table
    variant_queryset: Callable[[QuerySet], QuerySet] | None = None  # prefetches those columns read
    # Permission checks the extension's actions name: {"publish": check(modeladmin, request) -> bool}.
    permissions: dict[str, Callable[[Any, HttpRequest], bool]] = field(default_factory=dict)


@dataclass(frozen=True)
class VariantAdminExtension:
    """What an app adds to the variant's change page: inlines and read-only panels."""

    name: str
    inlines: tuple = ()
    readonly_fields: tuple[Callable[[Any], Any], ...] = ()  # admin.display-decorated functions of a variant


@dataclass(frozen=True)
class DashboardCounter:
    """A number on the admin index (open conflicts, dead letters, ...), linked to where it is worked on."""

    label: str
    count: Callable[[HttpRequest], int | None]  # None: the user may not see it
    url: Callable[[], str]
    order: int = 100
    problem_when_nonzero: bool = True


@dataclass
class _Registry:
    products: dict[str, ProductAdminExtension] = field(default_factory=dict)
    variants: dict[str, VariantAdminExtension] = field(default_factory=dict)
    counters: dict[str, DashboardCounter] = field(default_factory=dict)


_registry = _Registry()


def product_admin_extend(*, extension: ProductAdminExtension) -> None:
    """Register (or replace) an extension of the product admin; call from ``AppConfig.ready()``."""
    _registry.products[extension.name] = extension


def product_admin_extensions() -> list[ProductAdminExtension]:
    """Return the registered product admin extensions in registration order."""
    return list(_registry.products.values())


def variant_admin_extend(*, extension: VariantAdminExtension) -> None:
    """Register (or replace) an extension of the variant admin; call from ``AppConfig.ready()``."""
    _registry.variants[extension.name] = extension


def variant_admin_extensions() -> list[VariantAdminExtension]:
    """Return the registered variant admin extensions in registration order."""
    return list(_registry.variants.values())


def dashboard_counter_register(*, key: str, counter: DashboardCounter) -> None:
    """Register (or replace) a counter of the admin index; call from ``AppConfig.ready()``."""
    _registry.counters[key] = counter


def dashboard_counters() -> list[DashboardCounter]:
    """Return the registered counters, ordered for display."""
    return sorted(_registry.counters.values(), key=lambda c: c.order)
