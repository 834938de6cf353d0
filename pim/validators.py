"""Validation rules of the catalog that both model forms and services apply."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

HANDLE_MAX_LENGTH = 255
HANDLE_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_IMAGES_PER_PRODUCT = 250
MAX_OPTIONS = 3

METAFIELD_TYPES = (
    ("single_line_text_field", "Single line text"),
    ("multi_line_text_field", "Multi-line text"),
    ("number_integer", "Integer"),
    ("number_decimal", "Decimal"),
    ("boolean", "True or false"),
    ("json", "JSON"),
)
METAFIELD_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{2,64}$")
METAFIELD_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_-]{3,255}$")


def validate_handle(value: str) -> None:
    """Refuse a handle that breaks Shopify's rules: lowercase letters, digits and single hyphens."""
    if not value:
        return
    if len(value) > HANDLE_MAX_LENGTH:
        raise ValidationError(f"A handle can have at most {HANDLE_MAX_LENGTH} characters.", code="handle_length")
    if not HANDLE_RE.match(value):
        raise ValidationError(
            "A handle may only contain lowercase letters (a-z), digits and hyphens, and cannot start or end "
            "with a hyphen or contain two hyphens in a row (for example 'classic-tee-2').",
            code="handle_format",
        )


def validate_metafield_value(*, type_name: str, value: str) -> str:
    """Return the canonical text of ``value`` for a metafield of ``type_name``.

    Raises ValidationError with a message naming the type when the value does not fit it.
    """
    text = "" if value is None else str(value)
    if type_name == "single_line_text_field":
        if "\n" in text or "\r" in text:
            raise ValidationError("A single line text value cannot contain line breaks.", code="metafield_value")
        return text
    if type_name == "multi_line_text_field":
        return text
    if type_name == "number_integer":
        stripped = text.strip()
        if not re.fullmatch(r"[+-]?\d+", stripped):
            raise ValidationError(f"'{text}' is not a whole number (number_integer).", code="metafield_value")
        number = int(stripped)
        if not -(2**63) <= number < 2**63:
            raise ValidationError("The integer is outside Shopify's 64-bit range.", code="metafield_value")
        return str(number)
    if type_name == "number_decimal":
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            raise ValidationError(f"'{text}' is not a decimal number (number_decimal).", code="metafield_value")
        if not number.is_finite():
            raise ValidationError("A decimal value must be a finite number.", code="metafield_value")
        return format(number.normalize(), "f") if number == number.to_integral() else format(number, "f")
    if type_name == "boolean":
        lowered = text.strip().lower()
        if lowered not in {"true", "false"}:
            raise ValidationError(f"'{text}' is not a boolean: use true or false.", code="metafield_value")
        return lowered
    if type_name == "json":
        try:
            parsed = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"The value is not valid JSON: {exc}.", code="metafield_value")
        return json.dumps(parsed, separators=(",", ":"), sort_keys=True)
    raise ValidationError(f"Unknown metafield type '{type_name}'.", code="metafield_type")
