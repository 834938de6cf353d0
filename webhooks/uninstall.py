"""``app/uninstalled``: the shop removed the app, so its connection is disabled (no job goes to it any more)."""

from __future__ import annotations

from channels.services import store_disable

from .models import WebhookEvent


def app_uninstalled_handle(*, event: WebhookEvent, payload: dict) -> str:
    """Disable the store the delivery came for, only if the payload names that same shop; return a note."""
    if event.store is None:
        return "store deleted: ignored"
    # Only the shop the payload names is disabled, and only if it is the shop the delivery came for.
    named = str(payload.get("myshopify_domain") or "").strip().lower()
    if not named or named != event.shop_domain or named != event.store.shop_domain:
        return f"ignored: payload names shop {named[:255]!r}, delivered for {event.shop_domain!r}"
    store_disable(store=event.store, reason=f"app/uninstalled webhook {event.webhook_id}")
    return f"store {event.store.name} disabled"
