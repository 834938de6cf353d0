"""The durable-work row every kind of outbox work shares (issue 14): no tables of its own, one abstract model.

A kind's model inherits ``OutboxRow`` and declares its own ``status`` field (its choices may add kind-specific
statuses: skipped, held, superseded...); the kind's registration (``outbox.kinds.OutboxKind``) says which of its
statuses mean waiting, running, done, dead. ``worker`` is the lease owner (host:pid of the claiming process).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxRow(models.Model):
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=8)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # When the row was last handed to its lane's drain (None: not yet, or the hand-off failed: the sweep sends it).
    dispatched_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)  # the lease owner (host:pid)
    last_error = models.TextField(blank=True)

    class Meta:
        abstract = True
