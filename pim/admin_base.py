"""Small admin building blocks every app uses: read-only audit admins and the one confirmation page of actions."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.template.response import TemplateResponse


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services (audit trails): viewable, never added, edited or deleted by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def action_confirm(modeladmin, request, queryset, *, action: str, title: str, intro: str,
                   form: forms.Form | None = None, listed: int = 200):
    """Render the confirmation page of an admin action, or return None once the user confirmed (and ``form``, if
    the action asks for a choice such as a store, is valid).

    Lists the first ``listed`` selected objects and carries every selected id on to the confirming POST.
    """
    if request.POST.get("confirmed") == "yes" and (form is None or form.is_valid()):
        return None
    return TemplateResponse(request, "admin/confirm_action.html", {
        **modeladmin.admin_site.each_context(request), "title": title, "intro": intro,
        "objects": queryset[:listed], "count": queryset.count(), "ids": list(queryset.values_list("pk", flat=True)),
        "form": form, "action": action, "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "opts": modeladmin.model._meta,
    })
