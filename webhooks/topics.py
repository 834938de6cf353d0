"""Which app handles which Shopify webhook topic: the inbox (``webhooks.inbox``) looks handlers up here.

The endpoint stores every verified delivery; processing a stored event calls the handler registered for its
topic, ``handler(event=, payload=[, fetched=]) -> a result note``, inside the event's transaction (no network
there). A topic may also register a ``prefetch(event=, payload=)`` that reads what the handler needs from Shopify
first, outside any transaction; its result reaches the handler as ``fetched``. Each app registers the topics it
handles in ``AppConfig.ready()``: ``inventory`` the order and stock topics (the order topics *urgent*: the order
lane), ``conflicts`` ``products/update`` and ``products/delete``, ``webhooks`` itself ``app/uninstalled``. A topic
nobody registered is recorded and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TopicHandler = Callable[..., str]
_handlers: dict[str, TopicHandler] = {}
_prefetch: dict[str, Callable[..., Any]] = {}
_urgent: set[str] = set()


def webhook_topic_register(*, topic: str, handler: TopicHandler, prefetch: Callable[..., Any] | None = None,
                           urgent: bool = False) -> None:
    """Route stored webhook events of ``topic`` (``orders/create``...) to ``handler`` (after ``prefetch``).

    An ``urgent`` topic (orders, refunds, cancellations, edits: they move stock other stores sell; the stock level
    topics) is processed on the ``webhooks`` lane, ahead of every other lane; the others (product echoes, the app's
    lifecycle) on the ``default`` lane, behind the stock pushes.
    """
    _handlers[topic] = handler
    if prefetch is not None:
        _prefetch[topic] = prefetch
    else:
        _prefetch.pop(topic, None)
    if urgent:
        _urgent.add(topic)
    else:
        _urgent.discard(topic)


def webhook_topic_urgent(topic: str) -> bool:
    """Return whether events of ``topic`` go to the order lane (``webhooks``)."""
    return topic in _urgent


def webhook_urgent_topics() -> list[str]:
    """Return the topics processed on the order lane, sorted."""
    return sorted(_urgent)


def webhook_topic_handler(topic: str) -> TopicHandler | None:
    """Return the handler registered for ``topic``, or None (the event is then ignored with a reason)."""
    return _handlers.get(topic)


def webhook_topic_prefetch(topic: str) -> Callable[..., Any] | None:
    """Return the network read registered for ``topic`` (run outside the transaction), or None."""
    return _prefetch.get(topic)


def webhook_topics() -> list[str]:
    """Return every topic some app handles, sorted."""
    return sorted(_handlers)
