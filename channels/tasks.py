"""RQ tasks of the publishing pipeline: each takes ids, reloads, and calls one service."""

from __future__ import annotations

from . import services


def sync_job_run(job_id: int) -> str:
    """Execute sync job ``job_id``; running it twice changes nothing (a finished job is not claimed again)."""
    return services.sync_job_execute(job_id=job_id).status


def sync_jobs_sweep() -> str:
    """Reclaim expired jobs and dispatch due ones (scheduled periodically)."""
    report = services.sync_jobs_sweep()
    return f"reclaimed={report.reclaimed} dispatched={report.dispatched}"


def collection_job_run(job_id: int) -> str:
    """Bring one mapped collection's membership in step (issue 19); a finished job is not claimed again."""
    from .collections import collection_job_execute

    return collection_job_execute(job_id=job_id).status


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


def translation_job_run(job_id: int) -> str:
    """Register one product's translations in one store (issue 19); a finished job is not claimed again."""
    from .translations import translation_job_execute

    return translation_job_execute(job_id=job_id)


def store_locales_refresh(store_id: int) -> int:
    """Read a store's locales from Shopify (the store admin's action enqueues this)."""
    from .models import Store
    from .translations import store_locales_refresh as refresh

    return len(refresh(store=Store.objects.get(pk=store_id)))


def bulk_publish_step_run(run_id: int) -> str:
    """Advance bulk publish run ``run_id`` by one step (issue 17); a step that is not due does nothing."""
    from .bulk_publish import bulk_publish_step

    return bulk_publish_step(run_id=run_id)
