"""The inventory lane's name and the app's tuning knobs (pushes are an outbox kind: ``inventory.push_runs``)."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings

INVENTORY_QUEUE = "inventory"


def _setting(name: str, default: Any) -> Any:
    """Read a tuning knob from Django settings, else from the environment (workers), else ``default``."""
    value = getattr(settings, name, None)
    if value is not None:
        return value
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return type(default)(raw)
    except ValueError:
        return default
