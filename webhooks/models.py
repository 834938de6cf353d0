"""The webhook inbox: every verified Shopify delivery, stored before it is answered, and the cross-shop replay guard.

Both tables were the inventory app's until issue 14; they keep their names (``Meta.db_table``) and rows.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from channels.models import Store
from outbox.models import OutboxRow


class WebhookEvent(OutboxRow):
    """The inbox: one verified Shopify webhook delivery, stored before it is answered."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSING = "processing", "Processing"
        RETRY = "retry", "Waiting to retry"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (topic not handled)"
        FAILED = "failed", "Failed (needs review)"

    store = models.ForeignKey(Store, related_name="webhook_events", null=True, blank=True, on_delete=models.SET_NULL)
    # No index of its own: (shop_domain, status) and the event-id constraint lead with it (an index less per intake
    # INSERT, issue 15).
    shop_domain = models.CharField(max_length=255)
    topic = models.CharField(max_length=100)
    webhook_id = models.CharField(max_length=255, unique=True, help_text="X-Shopify-Webhook-Id (per delivery).")
    event_id = models.CharField(max_length=255, blank=True, help_text="X-Shopify-Event-Id (per event).")
    triggered_at = models.DateTimeField(null=True, blank=True)
    api_version = models.CharField(max_length=16, blank=True)
    headers = models.JSONField(default=dict)
    raw_body = models.BinaryField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    duplicates = models.PositiveIntegerField(default=0, help_text="Repeated deliveries answered without processing.")
    result = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "inventory_webhookevent"  # moved from the inventory app with its table and rows (issue 14)
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shop_domain", "topic", "event_id"],
                condition=~Q(event_id=""),
                name="webhook_event_unique_event_per_topic",
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["shop_domain", "status"]),
        ]
        permissions = [("reprocess_webhookevent", "Can reprocess failed webhook events")]

    def __str__(self) -> str:
        return f"{self.topic} from {self.shop_domain} ({self.status})"


class WebhookBodyClaim(models.Model):
    """The first shop a signed webhook body arrived for (cross-shop replay guard).

    Shopify signs every shop's deliveries of one app with the same secret, so a body captured from one shop
    verifies under another shop's name too. Real bodies carry globally unique ids (orders, refunds, inventory
    items), so the same bytes of a topic never legitimately arrive for two shops: the second is refused.
    """

    topic = models.CharField(max_length=100)
    body_sha256 = models.CharField(max_length=64)
    shop_domain = models.CharField(max_length=255)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "inventory_webhookbodyclaim"  # moved from the inventory app with its table (issue 14)
        constraints = [models.UniqueConstraint(fields=["topic", "body_sha256"], name="webhook_body_claim_unique")]

    def __str__(self) -> str:
        return f"{self.topic} {self.body_sha256[:12]} @ {self.shop_domain}"
