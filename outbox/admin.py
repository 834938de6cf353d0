"""One admin base for every kind's rows: read-only (rows are the audit trail of what was sent), with *Replay*.

A kind's admin sets ``outbox_kind`` (the registered kind's name) and ``replay_permission`` (``app.codename``);
the replay action asks for confirmation, checks the permission on the server, and only re-queues rows (the work
happens on the workers).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction

from pim.admin_base import action_confirm

from .kinds import outbox_kind
from .services import outbox_replay


class OutboxRowAdmin(admin.ModelAdmin):
    outbox_kind: str = ""
    replay_permission: str = ""
    replay_intro = "They are queued again with fresh attempts and do the current work."
    actions = ("replay",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # rows (and their attempts) are the audit trail of what was sent

    def has_replay_permission(self, request):
        return request.user.has_perm(self.replay_permission)

    @admin.action(description="Replay selected dead-lettered rows", permissions=["replay"])
    def replay(self, request, queryset):
        """Re-queue the selected replayable rows after a confirmation page."""
        return self.replay_confirmed(request, queryset, action="replay")

    def replay_confirmed(self, request, queryset, *, action: str):
        kind = outbox_kind(self.outbox_kind)
        replayable = queryset.filter(status__in=kind.replayable)
        page = action_confirm(self, request, replayable, action=action,
                              title=f"Replay these {self.model._meta.verbose_name_plural}?", intro=self.replay_intro)
        if page is not None:
            return page
        with transaction.atomic():
            count = self.replay_rows(kind, list(replayable.values_list("pk", flat=True)))
        self.message_user(request, f"{count} queued again.", messages.SUCCESS)
        return None

    def replay_rows(self, kind, ids: list[int]) -> int:
        """Re-queue ``ids`` (a model split over several kinds overrides this to replay each with its own)."""
        return outbox_replay(kind=kind, ids=ids)
