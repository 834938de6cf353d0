"""Conflict review: filters, side-by-side values with a readable diff, and resolve actions with confirmation."""

from __future__ import annotations

import difflib
import json
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from . import review
from .models import Conflict, DriftAlert, FieldPolicy


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return (("1d", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("older", "Older than 30 days"))

    def queryset(self, request, queryset):
        now = timezone.now()
        spans = {"1d": 1, "7d": 7, "30d": 30}
        if self.value() in spans:
            return queryset.filter(detected_at__gte=now - timedelta(days=spans[self.value()]))
        if self.value() == "older":
            return queryset.filter(detected_at__lt=now - timedelta(days=30))
        return queryset


def _pretty(value: str) -> str:
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return value or ""
    if isinstance(parsed, (list, dict)):
        return json.dumps(parsed, indent=1, ensure_ascii=False)
    return str(parsed)


MONEY_FIELDS = ("variant.price", "variant.compare_at_price", "price", "compare_at_price")


def _shown(field: str, value: str | None) -> str:
    """A stored value as a person reads it: prices as money (two decimals), JSON pretty-printed."""
    text = _pretty(value or "")
    if field in MONEY_FIELDS and text:
        try:
            return f"{Decimal(text):,.2f}"
        except (InvalidOperation, ValueError):
            return text
    return text


def _lines(value: str) -> list[str]:
    text = _pretty(value)
    # Break HTML after tags so a long description diffs line by line.
    return text.replace("><", ">\n<").splitlines() or [""]


class ResolveActionsMixin:
    """Accept / overwrite / hold / release, each behind a confirmation page and the resolve permission."""

    def has_resolve_permission(self, request):
        return request.user.has_perm("conflicts.resolve_conflict")

    def _confirm_or_run(self, request, queryset, *, action: str, title: str, intro: str, service, done: str,
                        qualifies=None, outcome: str = ""):
        """Show what each qualifying conflict's action will do; run the service once confirmed.

        ``qualifies`` narrows the selection (e.g. only held conflicts can be released). From a conflict's own page
        (``_next`` posted), the next open conflict opens afterwards so a manager can work through the queue.
        """
        candidates = (qualifies or (lambda qs: qs.filter(status__in=Conflict.OPEN_STATUSES)))(queryset)
        candidates = candidates.select_related("store", "product")
        if request.POST.get("confirmed") != "yes":
            rows = [{"conflict": c, "pim": _shown(c.field, c.pim_value),
                     "shopify": _shown(c.field, c.shopify_before)} for c in candidates]
            return TemplateResponse(
                request,
                "admin/conflicts/confirm_resolve.html",
                {**self.admin_site.each_context(request), "title": title, "intro": intro, "rows": rows,
                 "outcome": outcome, "action": action, "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                 "opts": self.model._meta, "next": request.POST.get("_next", "")},
            )
        ok, done_ids = 0, []
        for conflict in candidates:
            try:
                service(conflict=conflict, actor=request.user)
                ok += 1
                done_ids.append(conflict.pk)
            except ValidationError as exc:
                self.message_user(request, f"{conflict}: {' '.join(exc.messages)}", messages.ERROR)
        if ok:
            self.message_user(request, f"{ok} conflict(s) {done}. Shopify is updated by the workers.", messages.SUCCESS)
        if request.POST.get("_next"):
            following = (Conflict.objects.filter(status=Conflict.Status.OPEN).exclude(pk__in=done_ids)
                         .order_by("-detected_at", "-id").first())
            if following is not None:
                return redirect(reverse("admin:conflicts_conflict_change", args=[following.pk]))
            self.message_user(request, "No open conflict left to review.", messages.INFO)
            return redirect(reverse("admin:conflicts_conflict_changelist"))
        return None

    @admin.action(description="Accept Shopify value into PIM", permissions=["resolve"])
    def accept(self, request, queryset):
        """Take the Shopify value into the PIM master; it then publishes to every store carrying the product."""
        return self._confirm_or_run(
            request, queryset, action="accept", title="Accept the Shopify values into the PIM?",
            intro="The PIM takes each Shopify value (history records you and the store) and publishes it to "
                  "every store that carries the product.",
            service=review.conflict_accept, done="accepted",
            outcome="The Shopify value becomes the PIM value.")

    @admin.action(description="Overwrite Shopify with PIM", permissions=["resolve"])
    def overwrite(self, request, queryset):
        """Keep the PIM value and queue a publish that overwrites the Shopify edit."""
        return self._confirm_or_run(
            request, queryset, action="overwrite", title="Overwrite Shopify with the PIM values?",
            intro="The Shopify-side edits are replaced by the PIM values on the next publish (queued now).",
            service=review.conflict_overwrite, done="resolved with the PIM value",
            outcome="The PIM value replaces the Shopify value.")

    @admin.action(description="Hold (pause the product on that store)", permissions=["resolve"])
    def hold(self, request, queryset):
        """Pause publishing the product to that store until the conflict is resolved."""
        return self._confirm_or_run(
            request, queryset, action="hold", title="Hold these products on their stores?",
            intro="Publishing pauses for these products on these stores; other products and stores go on.",
            service=review.conflict_hold, done="held",
            qualifies=lambda qs: qs.filter(status=Conflict.Status.OPEN),
            outcome="Publishing of the product to this store pauses; both values stay as they are.")

    @admin.action(description="Release (resume publishing)", permissions=["resolve"])
    def release(self, request, queryset):
        """Resume publishing a held product; the conflict stays open for review."""
        return self._confirm_or_run(
            request, queryset, action="release", title="Release these held products?",
            intro="Publishing resumes and the PIM values go out; the conflicts stay open for review.",
            service=review.conflict_release, done="released",
            qualifies=lambda qs: qs.filter(status=Conflict.Status.HELD),
            outcome="The PIM value goes out; the conflict stays open for review.")

    @admin.action(description="Acknowledge onboarding differences", permissions=["resolve"])
    def acknowledge(self, request, queryset):
        """Close onboarding differences whose PIM value the first publish already wrote to Shopify."""
        return self._confirm_or_run(
            request, queryset, action="acknowledge", title="Acknowledge these onboarding differences?",
            intro="At onboarding the first publish wrote the PIM values over what the store had; these records "
                  "say what it replaced. Acknowledging closes them; nothing is sent to Shopify.",
            service=review.conflict_acknowledge, done="acknowledged",
            qualifies=lambda qs: qs.filter(status=Conflict.Status.OPEN, source=Conflict.Source.ONBOARDING,
                                           synced_at__isnull=False),
            outcome="Closed; the PIM value is already live.")


@admin.register(Conflict)
class ConflictAdmin(ResolveActionsMixin, admin.ModelAdmin):
    list_display = ("detected_at", "store", "product_link", "sku", "field", "short_pim", "short_shopify", "status",
                    "policy_applied", "source_badge")
    list_filter = ("status", "store", "field", AgeFilter, "product__vendor", "policy_applied", "source")
    list_select_related = ("store", "product")
    search_fields = ("=sku", "product__handle", "product__title", "shopify_product_id")
    actions = ("accept", "overwrite", "hold", "release", "acknowledge")
    readonly_fields = ("store", "product", "shopify_product_id", "shopify_variant_id", "sku", "field", "source",
                       "policy_applied", "status", "occurrences", "detected_at", "synced_at", "resolved_by",
                       "resolved_at", "sync_job", "side_by_side")
    fieldsets = (
        (None, {"fields": ("store", "product", "sku", "field", "status", "policy_applied")}),
        ("PIM and Shopify, side by side", {"fields": ("side_by_side",)}),
        ("Details", {"fields": ("shopify_product_id", "shopify_variant_id", "source", "occurrences", "detected_at",
                                "synced_at", "resolved_by", "resolved_at", "sync_job")}),
    )
    change_form_template = "admin/conflicts/conflict/change_form.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # The change page is a read-only review page; changes happen through the actions.
        return False

    @admin.display(description="product")
    def product_link(self, obj: Conflict):
        return obj.product.title if obj.product else f"Shopify #{obj.shopify_product_id}"

    @admin.display(description="PIM value")
    def short_pim(self, obj: Conflict) -> str:
        return (_shown(obj.field, obj.pim_value) or "–")[:60]

    @admin.display(description="Shopify before the sync")
    def short_shopify(self, obj: Conflict) -> str:
        return (_shown(obj.field, obj.shopify_before) or "–")[:60]

    @admin.display(description="source", ordering="source")
    def source_badge(self, obj: Conflict):
        if obj.source == Conflict.Source.ONBOARDING:
            return format_html('<strong title="{}">onboarding</strong>', "A difference found when the store was "
                               "adopted; the first publish wrote the PIM value. Acknowledge it in bulk.")
        return obj.get_source_display()

    @admin.display(description="values")
    def side_by_side(self, obj: Conflict):
        columns = (
            ("PIM value", _shown(obj.field, obj.pim_value)),
            ("PIM last wrote", _shown(obj.field, obj.last_written_value)),
            ("Shopify before the sync", _shown(obj.field, obj.shopify_before)),
            ("Shopify after the sync",
             _shown(obj.field, obj.shopify_after) if obj.shopify_after is not None else "(not synced yet)"),
        )
        cells = "".join(
            format_html('<td style="vertical-align:top"><strong>{}</strong><pre style="white-space:pre-wrap">{}</pre></td>',
                        label, value)
            for label, value in columns
        )
        table = f'<table class="conflict-values"><tr>{cells}</tr></table>'
        diff = difflib.HtmlDiff(wrapcolumn=70).make_table(
            _lines(obj.last_written_value), _lines(obj.shopify_before), "PIM last wrote", "Shopify before the sync",
            context=True, numlines=2,
        )
        return mark_safe(f"{table}<h3>Changes made in Shopify</h3>{diff}")  # noqa: S308 - escaped above / by difflib

    @staticmethod
    def _page_actions(object_id) -> list[tuple[str, str]]:
        """The resolve buttons that apply to this conflict's state (Release only for a held one)."""
        conflict = Conflict.objects.filter(pk=object_id).only("status", "source", "synced_at").first()
        if conflict is None:
            return []
        if conflict.status == Conflict.Status.HELD:
            return [("accept", "Accept Shopify value into PIM"), ("overwrite", "Overwrite Shopify with PIM"),
                    ("release", "Release")]
        actions = [("accept", "Accept Shopify value into PIM"), ("overwrite", "Overwrite Shopify with PIM"),
                   ("hold", "Hold")]
        if conflict.source == Conflict.Source.ONBOARDING and conflict.synced_at:
            actions.append(("acknowledge", "Acknowledge"))
        return actions

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_resolve": self.has_resolve_permission(request),
            "conflict_actions": self._page_actions(object_id),
        }
        return super().changeform_view(request, object_id, form_url, extra_context)


@admin.register(FieldPolicy)
class FieldPolicyAdmin(admin.ModelAdmin):
    list_display = ("store", "field", "policy")
    list_filter = ("store", "policy")
    list_select_related = ("store",)


@admin.register(DriftAlert)
class DriftAlertAdmin(admin.ModelAdmin):
    list_display = ("store", "window_start", "conflicts", "sent_at")
    list_select_related = ("store",)

    def has_add_permission(self, request):
        return False


class OpenConflictsFilter(admin.SimpleListFilter):
    """For the product list: products with (or without) open conflicts in any store."""

    title = "open conflicts"
    parameter_name = "conflicts"

    def lookups(self, request, model_admin):
        return (("yes", "With open conflicts"), ("no", "Without"))

    def queryset(self, request, queryset):
        from django.db.models import Exists, OuterRef

        open_ones = Exists(Conflict.objects.filter(product=OuterRef("pk"), status__in=Conflict.OPEN_STATUSES))
        if self.value() == "yes":
            return queryset.filter(open_ones)
        if self.value() == "no":
            return queryset.exclude(open_ones)
        return queryset
