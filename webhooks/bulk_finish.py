"""``bulk_operations/finish``: a bulk operation ended, so the bulk publish run that started it takes its next step
now instead of at its next poll (``BULK_PUBLISH_POLL_SECONDS``). The poll stays: a lost webhook delays, never
stops, a run."""

from __future__ import annotations

from channels.bulk_publish import bulk_publish_wake

from .models import WebhookEvent


def bulk_operations_finish_handle(*, event: WebhookEvent, payload: dict) -> str:
    """Wake the store's bulk publish run whose operation the payload names; return a note."""
    if event.store is None:
        return "store deleted: ignored"
    return bulk_publish_wake(store=event.store, operation_id=str(payload.get("admin_graphql_api_id") or ""))
