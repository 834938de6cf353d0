"""RQ tasks of the publishing pipeline: each takes ids, reloads, and calls one service.

Sync, collection and translation jobs have no task of their own: the outbox's drain (``outbox.tasks``) runs them.
"""

from __future__ import annotations


def store_collections_refresh(store_id: int) -> int:
    """Read a store's collections from Shopify (the admin's *Refresh collections* action enqueues this)."""
    from .collections import store_collections_refresh as refresh
    from .models import Store

    return refresh(store=Store.objects.get(pk=store_id))


def taxonomy_import(store_id: int) -> int:
    """Read Shopify's product taxonomy from a store's shop (the store admin's action enqueues this)."""
    from .models import Store
    from .taxonomy import taxonomy_import as run

    return run(store=Store.objects.get(pk=store_id))


def store_locales_refresh(store_id: int) -> int:
    """Read a store's locales from Shopify (the store admin's action enqueues this)."""
    from .models import Store
    from .translations import store_locales_refresh as refresh

    return len(refresh(store=Store.objects.get(pk=store_id)))


def bulk_publish_step_run(run_id: int) -> str:
    """Advance bulk publish run ``run_id`` by one step (issue 17); a step that is not due does nothing."""
    from .bulk_publish import bulk_publish_step

    return bulk_publish_step(run_id=run_id)
