"""Write services of drift detection and conflict review."""

from __future__ import annotations

from typing import Literal


def drift_check_before_publish(*, job, assignment, plan, client) -> Literal["proceed", "hold"]:
    """Check for Shopify-side edits before a publish; until drift detection lands, always proceed."""
    return "proceed"


def drift_check_for_product(*, store_id: int, shopify_product_id: str) -> None:
    """Check one product for Shopify-side edits now (called for products/update webhooks)."""
    return None
