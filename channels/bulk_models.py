"""Models of the bulk-mutation publish (issue 17): a run per store, its bulk operations, and one row per line.

Imported by ``channels.models`` so Django registers them with the channels app.
"""

from __future__ import annotations

from django.db import models


class BulkPublishRun(models.Model):
    """One bulk publish of a store's pending first publishes: JSONL files, bulk operations, result mapping."""

    class Status(models.TextChoices):
        PREPARING = "preparing", "Preparing files"
        RUNNING = "running", "Running in Shopify"
        FOLLOW_UP = "follow_up", "Metafields and sales channels"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    store = models.ForeignKey("channels.Store", related_name="bulk_runs", on_delete=models.CASCADE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PREPARING, db_index=True)
    total_lines = models.PositiveIntegerField(default=0, help_text="Products in the run.")
    lines_done = models.PositiveIntegerField(default=0, help_text="Products Shopify has processed.")
    failed_lines = models.PositiveIntegerField(default=0)
    next_step_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # The bulk query of the shop's handles run before the first file (empty: not started yet).
    handles_operation_id = models.CharField(max_length=120, blank=True)
    handles_checked = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"bulk publish {self.pk} to {self.store_id} ({self.status})"

    @property
    def progress(self) -> str:
        return f"{self.lines_done} / {self.total_lines}"


class BulkPublishOperation(models.Model):
    """One bulk mutation of a run: its file's lines, its Shopify operation and how far its results are mapped."""

    class Kind(models.TextChoices):
        PRODUCT_SET = "product_set", "productSet"
        METAFIELDS = "metafields", "metafieldsSet"
        PUBLICATIONS = "publications", "publishablePublish"

    run = models.ForeignKey(BulkPublishRun, related_name="operations", on_delete=models.CASCADE)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PRODUCT_SET)
    index = models.PositiveIntegerField()
    line_count = models.PositiveIntegerField(default=0)
    file_bytes = models.PositiveBigIntegerField(default=0)
    shopify_operation_id = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=16, blank=True, help_text="Shopify's BulkOperationStatus.")
    lines_done = models.PositiveIntegerField(default=0)
    mapped = models.BooleanField(default=False)
    # Follow-up operations: the BulkPublishLine id of each line of the file (index = __lineNumber).
    line_map = models.JSONField(default=list, blank=True)
    points = models.FloatField(default=0, help_text="API points the PIM spent on this operation's calls.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "kind", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "kind", "index"], name="one_bulk_op_per_index")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.index} of run {self.run_id} ({self.status or 'not started'})"


class BulkPublishLine(models.Model):
    """One product of a run: the job it finishes, what was sent (snapshot, hash) and the line's outcome."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        WRITTEN = "written", "Product written"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(BulkPublishRun, related_name="lines", on_delete=models.CASCADE)
    operation = models.ForeignKey(BulkPublishOperation, related_name="lines", null=True, blank=True,
                                  on_delete=models.SET_NULL)
    line_number = models.PositiveIntegerField(null=True, blank=True)
    job = models.ForeignKey("channels.SyncJob", related_name="bulk_lines", on_delete=models.CASCADE)
    assignment = models.ForeignKey("channels.ChannelAssignment", related_name="bulk_lines",
                                   on_delete=models.CASCADE)
    plan_hash = models.CharField(max_length=64, blank=True)
    snapshot = models.JSONField(default=dict, blank=True)
    metafields = models.JSONField(default=list, blank=True)
    files = models.JSONField(default=list, blank=True, help_text="The productSet files sent (media binding).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "id"]
        indexes = [models.Index(fields=["operation", "line_number"])]

    def __str__(self) -> str:
        return f"line {self.line_number} of run {self.run_id} ({self.status})"
