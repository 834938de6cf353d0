"""The drift hook the publishing pipeline calls before it overwrites a product in a store."""

from __future__ import annotations

from typing import Literal


def drift_check_before_publish(*, job, assignment, plan, client) -> Literal["proceed", "hold"]:
    """Compare the live Shopify values with what the PIM last wrote and apply the store's policy.

    Returns "hold" when the product must pause in this store, "proceed" otherwise.
    """
    from . import services

    return services.drift_check_before_publish(job=job, assignment=assignment, plan=plan, client=client)


def drift_after_publish(*, job, assignment, plan) -> None:
    """Record the Shopify values after a publish on the conflicts it overwrote."""
    from . import services

    services.drift_after_publish(job=job, assignment=assignment, plan=plan)


def collection_drift_check(*, mapping, added: set[str], removed: set[str]) -> set[str]:
    """Record merchant membership changes of a PIM-managed collection; return the product ids to leave alone."""
    from .collection_drift import collection_drift_check as check

    return check(mapping=mapping, added=added, removed=removed)
