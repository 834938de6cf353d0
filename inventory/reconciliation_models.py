"""Models of the scheduled inventory reconciliation (issue 18): a manager's confirmation of a full sync's result,
each store's schedule and one durable row per run (imported by ``inventory.models``)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from channels.models import Store
from outbox.models import OutboxRow

from .models import InventorySyncRun


class FullSyncConfirmation(models.Model):
    """A manager checked available-to-sell in Shopify after an applied full inventory sync and confirmed it."""

    run = models.OneToOneField(InventorySyncRun, related_name="confirmation", on_delete=models.CASCADE)
    store = models.ForeignKey(Store, related_name="+", on_delete=models.CASCADE)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="+", null=True, blank=True,
                                     on_delete=models.SET_NULL)
    confirmed_by_label = models.CharField(max_length=255)
    confirmed_at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-confirmed_at", "-id"]
        permissions = [("confirm_inventorysyncrun", "Can confirm a full inventory sync's result")]

    def __str__(self) -> str:
        return f"full sync #{self.run_id} of {self.store} confirmed by {self.confirmed_by_label}"


class ReconciliationSchedule(models.Model):
    """When the store's inventory is reconciled with Shopify: off (default), daily or weekly at an hour."""

    class Frequency(models.TextChoices):
        OFF = "off", "Off"
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    store = models.OneToOneField(Store, related_name="inventory_reconciliation", on_delete=models.CASCADE)
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.OFF)
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, default=Weekday.MONDAY,
                                               help_text="Weekly runs only.")
    hour = models.PositiveSmallIntegerField(default=3, validators=[MaxValueValidator(23)],
                                            help_text="Hour of the day (0-23) in the timezone below.")
    timezone = models.CharField(max_length=64, default="UTC",
                                help_text="IANA name of the shop's timezone (e.g. Europe/Berlin); default UTC.")
    # Runs start at the first slot at or after this moment (set whenever the schedule changes).
    effective_from = models.DateTimeField(null=True, blank=True, editable=False)
    confirmation = models.ForeignKey(FullSyncConfirmation, related_name="+", null=True, blank=True,
                                     on_delete=models.SET_NULL, editable=False,
                                     help_text="The confirmed full sync that allowed switching it on.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=255, blank=True, editable=False)

    class Meta:
        verbose_name = "inventory reconciliation schedule"

    def __str__(self) -> str:
        if self.frequency == self.Frequency.OFF:
            return f"{self.store}: reconciliation off"
        day = f"{self.get_weekday_display()}s" if self.frequency == self.Frequency.WEEKLY else "daily"
        return f"{self.store}: {day} at {self.hour:02d}:00 {self.timezone}"


class ReconciliationRun(OutboxRow):
    """One reconciliation of a store (one per schedule slot): what was compared, corrected, skipped and held."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "By hand"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        RETRY = "retry", "Waiting to retry"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Not run"
        FAILED = "failed", "Failed"

    store = models.ForeignKey(Store, related_name="inventory_reconciliations", on_delete=models.CASCADE)
    slot = models.DateTimeField(help_text="The scheduled moment this run stands for (UTC).")
    trigger = models.CharField(max_length=8, choices=Trigger.choices, default=Trigger.SCHEDULE)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    actor_label = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    levels_checked = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    corrected = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0)
    stale = models.PositiveIntegerField(default=0, help_text="Shopify changed after the read: left for the next run.")
    # One entry per level that differed or was not compared: {sku, location, pim, shopify, outcome, detail}.
    report = models.JSONField(default=list, blank=True)
    # ``last_error`` (the outbox row's): why the run failed, was not run, or waits to retry.

    class Meta:
        ordering = ["-slot", "-id"]
        constraints = [models.UniqueConstraint(fields=["store", "slot", "trigger"],
                                               name="reconciliation_run_one_per_slot")]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        verbose_name = "inventory reconciliation run"

    def __str__(self) -> str:
        return f"reconciliation of {self.store} for {self.slot:%Y-%m-%d %H:%M} UTC ({self.get_status_display()})"
