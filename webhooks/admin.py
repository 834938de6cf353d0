"""The webhook inbox in the admin: every stored delivery (read-only, with its body), failed ones reprocessed."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from outbox.admin import OutboxRowAdmin

from .inbox import webhook_events_reprocess
from .models import WebhookEvent


@admin.register(WebhookEvent)
class WebhookEventAdmin(OutboxRowAdmin):
    outbox_kind = "webhook_event"
    replay_permission = "webhooks.reprocess_webhookevent"
    replay_intro = "Each failed event is processed again by a worker (stock changes apply at most once)."
    list_display = ("received_at", "topic", "shop_domain", "status", "attempts", "duplicates", "result")
    list_filter = ("status", "topic", "shop_domain")
    list_select_related = ("store",)
    search_fields = ("webhook_id", "event_id", "result", "last_error")
    exclude = ("raw_body",)
    actions = ("reprocess",)

    def get_readonly_fields(self, request, obj=None):
        return ("body",)

    @admin.display(description="body")
    def body(self, obj: WebhookEvent) -> str:
        return format_html("<pre>{}</pre>", bytes(obj.raw_body or b"").decode("utf-8", "replace")[:20000])

    def replay_rows(self, kind, ids: list[int]) -> int:
        return webhook_events_reprocess(event_ids=ids)  # each event with its lane's kind (order lane or not)

    def has_reprocess_permission(self, request) -> bool:
        return self.has_replay_permission(request)

    @admin.action(description="Reprocess selected failed events", permissions=["reprocess"])
    def reprocess(self, request, queryset):
        return self.replay_confirmed(request, queryset, action="reprocess")
