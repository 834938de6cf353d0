"""What the publishing pipeline asks the layers above it, through slots they fill in ``AppConfig.ready()``.

A publish (``channels.publishing``) runs its compare and policy stages through these: ``compare`` (pure: what
differs between what we last wrote, what Shopify has and what we will write), ``decide`` (pure: what the store's
policy would do with those drifts, for the preview), ``record`` (the conflict rows; proceed or hold) and
``after_write`` (what the conflicts this publish overwrote now read in Shopify). ``channels`` may not import
``conflicts``, so ``conflicts`` registers them here; they never write channel rows (``channels.binder`` does). The slots are required: a missing registration is a system check error at start-up
(``channels.E002``) and an ``ImproperlyConfigured`` at the first publish. (Periodic tasks, such as the nightly
drift sweep, are registered with ``outbox.periodic``.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class DriftHooks:
    # (*, last, plan_snapshot, live_node, keys_by_shopify_id) -> CompareResult (drifts, deleted, last_with_live)
    compare: Callable[..., Any]
    # (*, store, shopify_product_id, drifts) -> [(drift, policy, holds)]; reads only
    decide: Callable[..., list]
    # (*, store, product, shopify_product_id, result, job) -> "proceed" | "hold"; records the conflict rows
    record: Callable[..., Literal["proceed", "hold"]]
    after_write: Callable[..., None]  # (*, job)
    # (*, mapping, added: set[str], removed: set[str]) -> product ids to leave as the merchant set them
    collection_membership: Callable[..., set[str]]


_drift: DriftHooks | None = None


def drift_hooks_register(*, hooks: DriftHooks) -> None:
    """Register the compare and policy stages a publish runs."""
    global _drift
    _drift = hooks


def drift_hooks() -> DriftHooks:
    """Return the registered drift hooks. Raises ImproperlyConfigured when none are."""
    if _drift is None:
        raise ImproperlyConfigured("No drift check is registered: is 'conflicts' in INSTALLED_APPS?")
    return _drift


@checks.register()
def drift_hooks_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if _drift is None:
        return [checks.Error("No drift check is registered: publishes would overwrite Shopify-side edits unseen.",
                             hint="Add 'conflicts' to INSTALLED_APPS (it registers one in its AppConfig.ready()).",
                             id="channels.E002")]
    return []
