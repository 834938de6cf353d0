"""Which app handles which Shopify webhook topic: the inbox (``inventory`` for now) looks handlers up here.

The endpoint stores every verified delivery; processing a stored event calls the handler registered for its
topic, ``handler(event=, payload=) -> a result note``, inside the event's transaction (no network there). Each app
registers the topics it handles in ``AppConfig.ready()``: ``inventory`` the order, stock and uninstall topics,
``conflicts`` ``products/update`` and ``products/delete``. A topic nobody registered is recorded and ignored.
"""

from __future__ import annotations

from collections.abc import Callable

TopicHandler = Callable[..., str]
_handlers: dict[str, TopicHandler] = {}


def webhook_topic_register(*, topic: str, handler: TopicHandler) -> None:
    """Route stored webhook events of ``topic`` (``orders/create``...) to ``handler``."""
    _handlers[topic] = handler


def webhook_topic_handler(topic: str) -> TopicHandler | None:
    """Return the handler registered for ``topic``, or None (the event is then ignored with a reason)."""
    return _handlers.get(topic)
