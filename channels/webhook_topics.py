"""Which app handles which Shopify webhook topic: the inbox (``inventory`` for now) looks handlers up here.

The endpoint stores every verified delivery; processing a stored event calls the handler registered for its
topic, ``handler(event=, payload=) -> a result note``, inside the event's transaction (no network there). A topic
whose handling needs Shopify also registers a ``prefetch(event=, payload=)``: the inbox runs it first, outside any
transaction, and passes what it returns to the handler as ``fetched=``. Each app registers the topics it handles in
``AppConfig.ready()``: ``inventory`` the order, stock and uninstall topics, ``conflicts`` ``products/update`` and
``products/delete``. A topic nobody registered is recorded and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TopicHandler = Callable[..., str]
TopicPrefetch = Callable[..., Any]
_handlers: dict[str, TopicHandler] = {}
_prefetchers: dict[str, TopicPrefetch] = {}


def webhook_topic_register(*, topic: str, handler: TopicHandler, prefetch: TopicPrefetch | None = None) -> None:
    """Route stored webhook events of ``topic`` (``orders/create``...) to ``handler``; ``prefetch`` (optional) does
    the topic's network reads before the event's transaction."""
    _handlers[topic] = handler
    if prefetch is None:
        _prefetchers.pop(topic, None)
    else:
        _prefetchers[topic] = prefetch


def webhook_topic_handler(topic: str) -> TopicHandler | None:
    """Return the handler registered for ``topic``, or None (the event is then ignored with a reason)."""
    return _handlers.get(topic)


def webhook_topic_prefetch(topic: str) -> TopicPrefetch | None:
    """Return the prefetch registered for ``topic``, or None (the handler then gets no ``fetched``)."""
    return _prefetchers.get(topic)
