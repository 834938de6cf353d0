"""Admin of bulk publishes (issue 17): each run's progress (lines done / total), its operations and its failures.

Read-only: runs are started by ``publish --all`` / the product list's publish and advance on their own; a failed
product's sync job is replayed from *Sync jobs* (it then publishes per call).
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .bulk_models import BulkPublishLine, BulkPublishOperation, BulkPublishRun


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OperationInline(admin.TabularInline):
    model = BulkPublishOperation
    fields = ("kind", "index", "status", "lines_done", "line_count", "file_bytes", "shopify_operation_id",
              "mapped", "started_at", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class FailedLineInline(admin.TabularInline):
    model = BulkPublishLine
    verbose_name_plural = "failures"
    fields = ("product", "sync_job", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0

    def get_queryset(self, request):
        return (super().get_queryset(request).filter(status=BulkPublishLine.Status.FAILED)
                .select_related("job", "assignment__product"))

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="product")
    def product(self, obj):
        return obj.assignment.product.title

    @admin.display(description="sync job")
    def sync_job(self, obj):
        url = reverse("admin:channels_syncjob_change", args=[obj.job_id])
        return format_html('<a href="{}">#{}</a>', url, obj.job_id)


@admin.register(BulkPublishRun)
class BulkPublishRunAdmin(_ReadOnly):
    list_display = ("id", "store", "status", "progress", "failed_lines", "created_at", "finished_at")
    list_filter = ("status", "store")
    list_select_related = ("store",)
    fields = ("store", "status", "progress", "total_lines", "lines_done", "failed_lines", "error", "created_at",
              "finished_at")
    readonly_fields = fields
    inlines = (OperationInline, FailedLineInline)

    @admin.display(description="progress (lines done / total)")
    def progress(self, obj):
        return obj.progress
