"""Admin of assignment rules (issue 19): saving a rule applies it to the catalog (through the service)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from simple_history.admin import SimpleHistoryAdmin

from pim.categories_admin import CategoryPathChoiceField
from pim.models import Category

from .assignment_rules import assignment_rule_save
from .models import AssignmentRule


class AssignmentRuleForm(forms.ModelForm):
    category = CategoryPathChoiceField(queryset=Category.objects.all(), required=False)

    class Meta:
        model = AssignmentRule
        fields = ("store", "kind", "value", "category", "is_active")

    def clean(self):
        data = super().clean()
        if data.get("kind") == AssignmentRule.Kind.CATEGORY and not data.get("category"):
            self.add_error("category", "Choose the category.")
        if data.get("kind") and data["kind"] != AssignmentRule.Kind.CATEGORY and not (data.get("value") or "").strip():
            self.add_error("value", "Give the tag, vendor or product type.")
        return data


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(SimpleHistoryAdmin):
    form = AssignmentRuleForm
    list_display = ("store", "kind", "value", "category", "is_active")
    list_filter = ("store", "kind", "is_active")
    list_select_related = ("store", "category")

    def save_model(self, request, obj, form, change):
        try:
            assignment_rule_save(rule=obj, actor=request.user)
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
