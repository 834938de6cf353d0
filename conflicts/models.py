"""Conflict records: Shopify-side edits found before the PIM overwrote them, and how they were resolved."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from channels.mapping import POLICY_FIELDS
from channels.models import ConflictPolicy, Store, SyncJob
from pim.models import Product

# Fields a policy can be set for: the field registry's compared fields and the existence conflicts.
CONFLICT_FIELDS = POLICY_FIELDS


class Conflict(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open (awaiting review)"
        HELD = "held", "Held (product paused on this store)"
        OVERWRITTEN = "overwritten", "Resolved: PIM value kept"
        ACCEPTED = "accepted", "Resolved: Shopify value accepted into the PIM"

    class Source(models.TextChoices):
        PUBLISH = "publish", "Before a publish"
        WEBHOOK = "webhook", "products/update webhook"
        SWEEP = "sweep", "Scheduled drift sweep"
        ONBOARDING = "onboarding", "Onboarding reconcile"

    OPEN_STATUSES = (Status.OPEN, Status.HELD)

    store = models.ForeignKey(Store, related_name="conflicts", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, related_name="conflicts", null=True, blank=True, on_delete=models.SET_NULL)
    shopify_product_id = models.CharField(max_length=100)
    shopify_variant_id = models.CharField(max_length=100, blank=True)
    sku = models.CharField("SKU", max_length=255, blank=True, db_index=True)
    field = models.CharField(max_length=100, db_index=True)
    pim_value = models.TextField(blank=True)
    last_written_value = models.TextField(blank=True, help_text="What the PIM last wrote to this store.")
    shopify_before = models.TextField("Shopify value before the sync", blank=True)
    shopify_after = models.TextField("Shopify value after the sync", blank=True, null=True)  # noqa: DJ001 - None = not synced yet
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PUBLISH)
    policy_applied = models.CharField(max_length=16, choices=ConflictPolicy.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    sync_job = models.ForeignKey(SyncJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="conflicts")
    # A manager's "release" lets exactly this Shopify value be overwritten by the next publish.
    release_approved = models.BooleanField(default=False)
    occurrences = models.PositiveIntegerField(default=1)
    detected_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "shopify_product_id", "shopify_variant_id", "field"],
                condition=Q(status__in=["open", "held"]),
                name="one_open_conflict_per_field",
            )
        ]
        permissions = [("resolve_conflict", "Can resolve conflicts (accept, overwrite, hold, release)")]

    def __str__(self) -> str:
        where = f" {self.sku}" if self.sku else ""
        return f"{self.store} · {self.field}{where} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class FieldPolicy(models.Model):
    """A per-field exception to the store's default conflict policy."""

    store = models.ForeignKey(Store, related_name="field_policies", on_delete=models.CASCADE)
    field = models.CharField(max_length=100, choices=CONFLICT_FIELDS)
    policy = models.CharField(max_length=16, choices=ConflictPolicy.choices)

    class Meta:
        verbose_name_plural = "field policies"
        constraints = [models.UniqueConstraint(fields=["store", "field"], name="field_policy_unique")]

    def __str__(self) -> str:
        return f"{self.store}: {self.field} → {self.policy}"


class DriftAlert(models.Model):
    """One alert per store per window, so a burst of conflicts notifies once."""

    store = models.ForeignKey(Store, related_name="drift_alerts", on_delete=models.CASCADE)
    window_start = models.DateTimeField()
    conflicts = models.PositiveIntegerField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "window_start"], name="drift_alert_once_per_window")]

    def __str__(self) -> str:
        return f"{self.store} {self.window_start:%Y-%m-%d %H:%M}: {self.conflicts} conflicts"
