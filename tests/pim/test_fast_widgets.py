"""The variant table's direct-rendering widgets produce the same HTML as Django's template-rendered ones."""

from decimal import Decimal

import pytest
from django import forms
from django.contrib.admin import widgets as admin_widgets

from pim.fast_widgets import fast_widget


@pytest.mark.parametrize("widget, value", [
    (admin_widgets.AdminTextInputWidget(attrs={"maxlength": 255}), 'TEE-S <"quoted">'),
    (admin_widgets.AdminTextInputWidget(), None),
    (forms.NumberInput(attrs={"step": "0.01"}), Decimal("12.50")),
    (admin_widgets.AdminIntegerFieldWidget(), 3),
    (forms.CheckboxInput(), True),
    (forms.CheckboxInput(), False),
    (forms.Select(choices=[("GRAMS", "g"), ("KILOGRAMS", "kg"), ("A&B", "<b>")]), "KILOGRAMS"),
    (forms.Select(choices=[("", "---------"), ("x", "X")]), None),
])
def test_same_html_as_django(widget, value):
    attrs = {"id": "id_variants-0-field", "required": True}
    expected = widget.render("variants-0-field", value, attrs=dict(attrs))
    got = fast_widget(widget).render("variants-0-field", value, attrs=dict(attrs))
    assert type(fast_widget(widget)) is not type(widget)
    assert _normal(got) == _normal(expected)


def _normal(html: str) -> str:
    """Compare as a browser would: attribute order and whitespace between tags do not matter."""
    from html.parser import HTMLParser

    events = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            events.append((tag, tuple(sorted(attrs))))

        def handle_data(self, data):
            if data.strip():
                events.append(("text", data.strip()))

    P().feed(html)
    return repr(events)


def test_other_widgets_keep_their_own_rendering():
    radio = forms.RadioSelect(choices=[("a", "A")])
    assert fast_widget(radio) is radio
    multiple = forms.SelectMultiple(choices=[("a", "A")])
    assert fast_widget(multiple) is multiple
