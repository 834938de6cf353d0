"""What the publishing pipeline asks the layers above it, through slots they fill in ``AppConfig.ready()``.

Before overwriting a product, a publish asks the drift check (``conflicts``) whether to proceed or hold; after
writing, it lets it record what Shopify now holds. ``channels`` may not import ``conflicts``, so ``conflicts``
registers both here. The slots are required: a missing registration is a system check error at start-up
(``channels.E002``) and an ``ImproperlyConfigured`` at the first publish.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class DriftHooks:
    before_publish: Callable[..., Literal["proceed", "hold"]]  # (*, job, assignment, plan, client)
    after_publish: Callable[..., None]  # (*, job, assignment, plan)
    # (*, mapping, added: set[str], removed: set[str]) -> product ids to leave as the merchant set them
    collection_membership: Callable[..., set[str]]


_drift: DriftHooks | None = None


def drift_hooks_register(*, hooks: DriftHooks) -> None:
    """Register the drift check the publish runs before and after writing a product."""
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
