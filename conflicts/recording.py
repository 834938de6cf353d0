"""Recording drift: the store's policy per field, and the one open conflict per drifted field.

``conflicts_record`` creates or updates the conflicts of a list of drifts and says whether the product is held;
``policy_decide``, ``publish_policy_record`` and ``drift_after_publish`` are the publish's policy stage (called
through ``channels.hooks``).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.utils import timezone

from channels.models import ConflictPolicy, Store, SyncJob
from pim.models import Product

from .alerts import drift_alert_check
from .compare import CompareResult, Drift
from .models import Conflict, FieldPolicy


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def field_policy(*, store: Store, field: str, policies: dict[str, str] | None = None) -> str:
    """Return the policy for ``field`` on ``store``: its per-field policy, else the store's default."""
    if policies is None:
        policies = dict(FieldPolicy.objects.filter(store=store).values_list("field", "policy"))
    key = "metafields" if field.startswith("metafield:") else field
    return policies.get(key) or store.default_conflict_policy


def policy_decide(*, store: Store, shopify_product_id: str, drifts: list[Drift], source: str = "publish",
                  existing: dict | None = None) -> list[tuple[Drift, str, bool]]:
    """Return, per drift, the store's policy for its field and whether it holds the product. Reads only.

    A drift whose open conflict a manager released for exactly this Shopify value does not hold again; the sweep
    never holds. ``existing`` (if given) is filled with the open conflicts by (Shopify variant id, field).
    """
    policies = dict(FieldPolicy.objects.filter(store=store).values_list("field", "policy"))
    found = {
        (c.shopify_variant_id, c.field): c
        for c in Conflict.objects.filter(
            store=store, shopify_product_id=shopify_product_id, status__in=Conflict.OPEN_STATUSES
        )
    }
    if existing is not None:
        existing.update(found)
    decisions = []
    for drift in drifts:
        policy = field_policy(store=store, field=drift.field, policies=policies)
        conflict = found.get((drift.shopify_variant_id, drift.field))
        released = bool(conflict and conflict.release_approved and conflict.shopify_before == _text(drift.live))
        decisions.append((drift, policy, policy == ConflictPolicy.HOLD and not released
                          and source != Conflict.Source.SWEEP))
    return decisions


def conflicts_record(
    *,
    store: Store,
    product: Product | None,
    shopify_product_id: str,
    drifts: list[Drift],
    source: str,
    job: SyncJob | None = None,
) -> tuple[list[Conflict], bool]:
    """Create or update one open conflict per drift and apply the store's policies.

    Returns the conflicts and whether the product must be held on this store. A drift whose open conflict
    a manager released for exactly this Shopify value is overwritten without holding again.
    """
    now = timezone.now()
    existing: dict = {}
    decisions = policy_decide(store=store, shopify_product_id=shopify_product_id, drifts=drifts, source=source,
                              existing=existing)
    hold = False
    records = []
    for drift, policy, holds in decisions:
        conflict = existing.get((drift.shopify_variant_id, drift.field))
        hold = hold or holds
        values = {
            "product": product,
            "sku": drift.sku,
            "pim_value": _text(drift.pim),
            "last_written_value": _text(drift.last_written),
            "shopify_before": _text(drift.live),
            "source": source,
            "policy_applied": policy,
            "sync_job": job,
            "synced_at": now if job else None,
        }
        if conflict is None:
            try:
                with transaction.atomic():
                    conflict = Conflict.objects.create(
                        store=store, shopify_product_id=shopify_product_id,
                        shopify_variant_id=drift.shopify_variant_id, field=drift.field,
                        status=Conflict.Status.HELD if holds else Conflict.Status.OPEN, **values,
                    )
                records.append(conflict)
                continue
            except IntegrityError:  # recorded concurrently (webhook and publish at once): update that one
                conflict = Conflict.objects.get(
                    store=store, shopify_product_id=shopify_product_id, shopify_variant_id=drift.shopify_variant_id,
                    field=drift.field, status__in=Conflict.OPEN_STATUSES,
                )
        # A repeated edit (or the same edit seen again) updates the one open conflict.
        for name, value in values.items():
            setattr(conflict, name, value)
        if holds:
            conflict.status = Conflict.Status.HELD
        conflict.occurrences += 1
        conflict.save()
        records.append(conflict)
    if records:
        drift_alert_check(store=store)
    return records, hold


def publish_policy_record(*, store: Store, product: Product, shopify_product_id: str, result: CompareResult,
                          job: SyncJob | None) -> Literal["proceed", "hold"]:
    """The policy stage of a publish: record each drift of ``result`` as a conflict and return proceed or hold.

    Writes conflict rows only; what follows for the channel rows (hold flag, forgotten ids, the snapshot with the
    live values) is the publish's to bind.
    """
    source = Conflict.Source.ONBOARDING if result.source == "onboarding" else Conflict.Source.PUBLISH
    _, hold = conflicts_record(store=store, product=product, shopify_product_id=shopify_product_id,
                               drifts=result.drifts, source=source, job=job)
    return "hold" if hold else "proceed"


def drift_after_publish(*, job) -> None:
    """Fill in "Shopify value after the sync" for the conflicts this publish overwrote."""
    if job is None:
        return
    for conflict in Conflict.objects.filter(sync_job=job, status=Conflict.Status.OPEN):
        conflict.shopify_after = conflict.pim_value
        conflict.synced_at = timezone.now()
        conflict.save(update_fields=["shopify_after", "synced_at", "updated_at"])
