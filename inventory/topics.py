"""The webhook topics this app handles (registered in ``webhooks.topics`` by ``InventoryConfig.ready()``),
and the network reads done before a topic's transaction (``TOPIC_PREFETCH``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .drift import _handle_inventory_level_update
from .orders import ORDER_TOPICS, handle_order_event, order_event_prefetch

# This app's topics; registered in webhooks.topics by InventoryConfig.ready().
TOPIC_HANDLERS: dict[str, Callable[..., str]] = {
    "inventory_levels/update": _handle_inventory_level_update,
    "inventory_levels/connect": _handle_inventory_level_update,
}

TOPIC_HANDLERS.update(dict.fromkeys(ORDER_TOPICS, handle_order_event))

TOPIC_PREFETCH: dict[str, Callable[..., Any]] = dict.fromkeys(ORDER_TOPICS, order_event_prefetch)
