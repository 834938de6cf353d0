"""Webhook subscription documents: list, create and delete the app's subscriptions.
"""

from __future__ import annotations

from .fragments import _PAGE_INFO

# --- Webhook subscriptions ------------------------------------------------------------------------------------

_WEBHOOK_FIELDS = "id topic uri format filter includeFields apiVersion { handle } createdAt updatedAt"

WEBHOOK_SUBSCRIPTIONS = (
    """
query WebhookSubscriptions($first: Int!, $after: String) {
  webhookSubscriptions(first: $first, after: $after) {
    nodes { """
    + _WEBHOOK_FIELDS
    + """ }
    """
    + _PAGE_INFO
    + """
  }
}
"""
)

WEBHOOK_SUBSCRIPTION_CREATE = (
    """
mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $subscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $subscription) {
    webhookSubscription { """
    + _WEBHOOK_FIELDS
    + """ }
    userErrors { field message }
  }
}
"""
)

WEBHOOK_SUBSCRIPTION_DELETE = """
mutation WebhookSubscriptionDelete($id: ID!) {
  webhookSubscriptionDelete(id: $id) {
    deletedWebhookSubscriptionId
    userErrors { field message }
  }
}
"""
