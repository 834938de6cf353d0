"""What the catalog tells the layers above it, through slots they fill in ``AppConfig.ready()``.

A catalog edit must become sync jobs, but ``pim`` may not import ``channels``. So ``channels`` registers its
handler here at start-up. The slot is required: a missing registration is a system check error at start-up
(``pim.E001``) and an ``ImproperlyConfigured`` at the first edit, never a silent no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

CatalogChangedHandler = Callable[..., object]  # (*, product_ids: list[int], deleted: bool) -> object
_catalog_changed: CatalogChangedHandler | None = None


def catalog_changed_register(*, handler: CatalogChangedHandler) -> None:
    """Register the handler told about every catalog change (inside the change's transaction)."""
    global _catalog_changed
    _catalog_changed = handler


def catalog_changed_notify(*, product_ids: Iterable[int], deleted: bool = False) -> None:
    """Tell the registered handler that ``product_ids`` changed. Raises ImproperlyConfigured without one."""
    if _catalog_changed is None:
        raise ImproperlyConfigured("No catalog-change handler is registered: is 'channels' in INSTALLED_APPS?")
    _catalog_changed(product_ids=list(product_ids), deleted=deleted)


@checks.register()
def catalog_changed_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if _catalog_changed is None:
        return [checks.Error("No catalog-change handler is registered: catalog edits would never be published.",
                             hint="Add 'channels' to INSTALLED_APPS (it registers one in its AppConfig.ready()).",
                             id="pim.E001")]
    return []
