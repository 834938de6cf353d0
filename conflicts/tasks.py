"""RQ tasks of drift detection: take ids, reload, call one service."""

from __future__ import annotations

from channels.models import Store

from . import services, sweep


def drift_check_product(store_id: int, shopify_product_id: str) -> int:
    """Check one product for Shopify-side edits (idempotent: a second run finds the same open conflicts)."""
    return len(services.drift_check_for_product(store_id=store_id, shopify_product_id=shopify_product_id))


def drift_sweep_all() -> str:
    """The nightly sweep over every active store; records only."""
    reports = []
    for store in Store.objects.filter(is_active=True):
        report = sweep.drift_sweep(store=store)
        reports.append(f"{store.name}: {report.conflicts} conflicts")
    return "; ".join(reports)
