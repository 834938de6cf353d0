"""The webhook topics this app handles (registered in ``channels.webhook_topics`` by ``InventoryConfig.ready()``),
and the network reads done before a topic's transaction (``TOPIC_PREFETCH``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .drift import _handle_inventory_level_update
from .models import WebhookEvent
from .orders import ORDER_TOPICS, handle_order_event, order_event_prefetch


def _handle_app_uninstalled(*, event: WebhookEvent, payload: dict) -> str:
    from channels.services import store_disable

    if event.store is None:
        return "store deleted: ignored"
    # Only the shop the payload names is disabled, and only if it is the shop the delivery came for.
    named = str(payload.get("myshopify_domain") or "").strip().lower()
    if not named or named != event.shop_domain or named != event.store.shop_domain:
        return f"ignored: payload names shop {named[:255]!r}, delivered for {event.shop_domain!r}"
    store_disable(store=event.store, reason=f"app/uninstalled webhook {event.webhook_id}")
    return f"store {event.store.name} disabled"


# This app's topics; registered in channels.webhook_topics by InventoryConfig.ready().
TOPIC_HANDLERS: dict[str, Callable[..., str]] = {
    "inventory_levels/update": _handle_inventory_level_update,
    "inventory_levels/connect": _handle_inventory_level_update,
    "app/uninstalled": _handle_app_uninstalled,
}

TOPIC_HANDLERS.update(dict.fromkeys(ORDER_TOPICS, handle_order_event))

TOPIC_PREFETCH: dict[str, Callable[..., Any]] = dict.fromkeys(ORDER_TOPICS, order_event_prefetch)
