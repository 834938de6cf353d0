"""A lease on a row that is not an outbox row (a stock level a push holds, a store's owed order replay, a bulk
run's next step): one conditional UPDATE, so two takers never both win, on the services' clock.

Outbox rows have their own lease (``outbox.services.outbox_claim``); this is for the other rows that need one.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q, QuerySet

from pim.clock import clock_now


def lease_take(*, rows: QuerySet, field: str, seconds: float, owner_field: str | None = None, owner: str = "",
               now=None) -> bool:
    """Set the datetime column ``field`` of ``rows`` to now + ``seconds`` where the lease is free (null or
    expired) or already held by ``owner`` (with ``owner_field``); return whether any row was leased."""
    now = now or clock_now()
    free = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lte": now})
    update = {field: now + timedelta(seconds=seconds)}
    if owner_field:
        free |= Q(**{owner_field: owner})
        update[owner_field] = owner
    return bool(rows.filter(free).update(**update))


def lease_release(*, rows: QuerySet, field: str, owner_field: str | None = None, owner: str = "") -> None:
    """Free the lease ``field`` of ``rows`` (only where ``owner`` holds it, with ``owner_field``)."""
    if owner_field:
        rows = rows.filter(**{owner_field: owner})
    update = {field: None}
    if owner_field:
        update[owner_field] = ""
    rows.update(**update)
