"""Webhook subscriptions through the client: list, create and delete the app's subscriptions.

``WebhookSubscriptionsApiMixin`` is the part of ``ShopifyClient`` for subscriptions; verifying a
delivery's HMAC lives in ``webhooks``.
"""

from __future__ import annotations

from typing import Any

from . import queries
from .transport import ShopifyTransport


class WebhookSubscriptionsApiMixin(ShopifyTransport):
    """Webhook subscriptions of ``ShopifyClient``."""

    def webhook_subscriptions(self) -> list[dict]:
        """Return all of the app's webhook subscriptions on this shop (id, topic, uri, format, filter,
        includeFields, createdAt, updatedAt). Raises the errors of ``execute``."""
        result: list[dict] = []
        after = None
        while True:
            data = self.execute(queries.WEBHOOK_SUBSCRIPTIONS, {"first": 100, "after": after})
            connection = data.get("webhookSubscriptions") or {}
            result.extend(connection.get("nodes") or [])
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return result
            after = page.get("endCursor")

    def webhook_subscription_create(
        self,
        *,
        topic: str,
        callback_url: str,
        include_fields: list[str] | None = None,
        filter: str | None = None,  # noqa: A002 (Shopify's name)
    ) -> dict:
        """Subscribe ``callback_url`` (HTTPS) to a topic such as ``PRODUCTS_UPDATE`` and return the
        subscription. Raises ShopifyUserError (e.g. address already taken for the topic) and the errors
        of ``execute``."""
        subscription: dict[str, Any] = {"uri": callback_url, "format": "JSON"}
        if include_fields:
            subscription["includeFields"] = include_fields
        if filter:
            subscription["filter"] = filter
        data = self.execute(
            queries.WEBHOOK_SUBSCRIPTION_CREATE, {"topic": topic.upper(), "subscription": subscription}
        )
        return (data.get("webhookSubscriptionCreate") or {}).get("webhookSubscription") or {}

    def webhook_subscription_delete(self, *, subscription_id: str) -> str | None:
        """Delete a webhook subscription and return its id. Raises ShopifyNotFoundUserError if it doesn't
        exist and the errors of ``execute``."""
        data = self.execute(queries.WEBHOOK_SUBSCRIPTION_DELETE, {"id": subscription_id})
        return (data.get("webhookSubscriptionDelete") or {}).get("deletedWebhookSubscriptionId")
