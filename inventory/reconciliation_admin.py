"""Admin of the scheduled inventory reconciliation: confirming a full sync's result (an action on inventory sync
runs), each store's schedule (with *Reconcile now*) and the runs' reports. Imported by ``inventory.admin``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from pim.admin_base import ReadOnlyAdmin, action_confirm

from . import reconciliation as recon
from .models import InventorySyncRun
from .reconciliation_models import ReconciliationRun, ReconciliationSchedule


class ConfirmSyncForm(forms.Form):
    available_checked = forms.BooleanField(
        label="I compared available-to-sell in Shopify with the PIM for these stores and the result is right")
    note = forms.CharField(required=False, max_length=500, label="Note (what was checked)")


class SyncRunConfirmMixin:
    """Added to the inventory sync run admin: who confirmed a run, and the action that confirms it."""

    @admin.display(description="confirmed")
    def confirmed(self, obj: InventorySyncRun) -> str:
        confirmation = getattr(obj, "confirmation", None)
        if confirmation is None:
            return "—"
        return f"{confirmation.confirmed_by_label}, {timezone.localtime(confirmation.confirmed_at):%Y-%m-%d %H:%M}"

    def has_confirm_permission(self, request) -> bool:
        return request.user.has_perm("inventory.confirm_inventorysyncrun")

    @admin.action(description="Confirm the result (available-to-sell checked in Shopify)", permissions=["confirm"])
    def confirm_result(self, request, queryset):
        eligible = queryset.filter(applied=True, finished_at__isnull=False, error="",
                                   confirmation__isnull=True).select_related("store")
        form = ConfirmSyncForm(request.POST if request.POST.get("confirmed") == "yes" else None)
        page = action_confirm(self, request, eligible, action="confirm_result", title="Confirm these full syncs?",
                              intro="Confirm only after checking, in Shopify's admin, that available-to-sell matches "
                                    "the PIM for these stores. A confirmed full sync lets the store's scheduled "
                                    "reconciliation be switched on. Dry runs, unfinished runs, runs with an error "
                                    "and confirmed runs are not listed.", form=form)
        if page is not None:
            return page
        for run in eligible:
            recon.inventory_sync_run_confirm(run=run, actor=request.user, note=form.cleaned_data.get("note", ""))
        self.message_user(request, f"{len(eligible)} full sync(s) confirmed.", messages.SUCCESS)
        return None


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = ReconciliationSchedule
        fields = ("store", "frequency", "weekday", "hour", "timezone")

    def clean(self):
        data = super().clean()
        store = data.get("store") or getattr(self.instance, "store", None)
        if store is not None and data.get("frequency") and data.get("hour") is not None:
            try:
                recon.reconciliation_schedule_check(store=store, frequency=data["frequency"], hour=data["hour"],
                                                    weekday=data.get("weekday") or 0,
                                                    timezone_name=data.get("timezone") or "UTC")
            except recon.ReconciliationError as exc:
                raise ValidationError(str(exc))
        return data


@admin.register(ReconciliationSchedule)
class ReconciliationScheduleAdmin(admin.ModelAdmin):
    """Per store: off (default), daily or weekly at an hour of the shop's timezone; switching on needs a confirmed
    full sync."""

    form = ScheduleForm
    list_display = ("store", "frequency", "when", "next_run", "last_run", "updated_by", "updated_at")
    list_select_related = ("store",)
    actions = ("reconcile_now",)

    def get_readonly_fields(self, request, obj=None):
        return ("store",) if obj is not None else ()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="when")
    def when(self, obj: ReconciliationSchedule) -> str:
        return str(obj).split(": ", 1)[-1]

    @admin.display(description="next run (UTC)")
    def next_run(self, obj: ReconciliationSchedule) -> str:
        slot = recon.reconciliation_next_slot(schedule=obj, now=timezone.now())
        return f"{slot:%Y-%m-%d %H:%M}" if slot else "—"

    @admin.display(description="last run")
    def last_run(self, obj: ReconciliationSchedule) -> str:
        run = ReconciliationRun.objects.filter(store_id=obj.store_id).order_by("-slot", "-pk").first()
        if run is None:
            return "—"
        url = reverse("admin:inventory_reconciliationrun_change", args=[run.pk])
        return format_html('<a href="{}">{} — {} corrected, {} skipped, {} held</a>', url, run.get_status_display(),
                           run.corrected, run.skipped, run.held)

    def save_model(self, request, obj, form, change):
        saved = recon.reconciliation_schedule_set(
            store=obj.store, frequency=obj.frequency, hour=obj.hour, weekday=obj.weekday, timezone_name=obj.timezone,
            actor=request.user)
        obj.pk = saved.pk

    @admin.action(description="Reconcile now (compare with Shopify and correct)", permissions=["change"])
    def reconcile_now(self, request, queryset):
        page = action_confirm(self, request, queryset.select_related("store"), action="reconcile_now",
                              title="Reconcile these stores now?",
                              intro="A worker compares every mapped level with Shopify, sets Shopify to the PIM "
                                    "where they differ (compare-and-set), skips levels with sales or pushes still on "
                                    "their way and holds large differences for review. See the runs' reports.")
        if page is not None:
            return page
        for schedule in queryset.select_related("store"):
            try:
                recon.reconciliation_run_request(store=schedule.store, actor=request.user)
            except recon.ReconciliationRefused as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(request, f"{schedule.store}: reconciliation queued.", messages.SUCCESS)
        return None


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ("slot", "store", "trigger", "status", "levels_checked", "matched", "corrected", "skipped",
                    "held", "stale", "finished_at")
    list_filter = ("status", "trigger", "store")
    list_select_related = ("store",)
    fields = ("store", "slot", "trigger", "actor_label", "status", "attempts", "started_at", "finished_at",
              "levels_checked", "matched", "corrected", "skipped", "held", "stale", "last_error", "report_table")
    readonly_fields = fields

    @admin.display(description="report (levels that differed or were not compared)")
    def report_table(self, obj: ReconciliationRun) -> str:
        if not obj.report:
            return "—"
        drift_url = reverse("admin:inventory_inventorydrift_changelist")
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            ((e.get("sku"), e.get("location"), e.get("pim"), e.get("shopify"), e.get("outcome"), e.get("detail"),
              format_html(' <a href="{}?id={}">review</a>', drift_url, e["drift"]) if e.get("drift") else "")
             for e in obj.report))
        return format_html("<table><thead><tr><th>SKU</th><th>location</th><th>PIM</th><th>Shopify</th>"
                           "<th>outcome</th><th>why</th></tr></thead><tbody>{}</tbody></table>", rows)
