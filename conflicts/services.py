"""Write services of drift detection and conflict review."""

from __future__ import annotations

from typing import Literal


def drift_check_before_publish(*, job, assignment, plan, client) -> Literal["proceed", "hold"]:
    """Check for Shopify-side edits before a publish; until drift detection lands, always proceed."""
    return "proceed"
