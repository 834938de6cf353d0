"""Validation rules of the catalog that both model forms and services apply."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

# Shopify's limits (shopify.dev, 2026-07), the same numbers shopify_sim/limits.py enforces; a test keeps them equal.
TITLE_MAX_LENGTH = 255
HANDLE_MAX_LENGTH = 255
HANDLE_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_IMAGES_PER_PRODUCT = 250
MAX_OPTIONS = 3
MAX_VARIANTS = 2048
MAX_TAGS = 250
TAG_MAX_LENGTH = 255
OPTION_VALUE_MAX_LENGTH = 255

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


def validate_tags(value: str | list[str]) -> None:
    """Refuse more than 250 tags or a tag longer than 255 characters (Shopify's product tag limits)."""
    from .models import split_tags

    tags = split_tags(value) if isinstance(value, str) else [str(t).strip() for t in value or [] if str(t).strip()]
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"A product can have at most {MAX_TAGS} tags in Shopify ({len(tags)} given).",
                              code="tags_count")
    long = [t for t in tags if len(t) > TAG_MAX_LENGTH]
    if long:
        raise ValidationError(
            f"A tag can have at most {TAG_MAX_LENGTH} characters in Shopify: '{long[0][:40]}…' has {len(long[0])}.",
            code="tag_length",
        )


def validate_variant_count(count: int) -> None:
    """Refuse more variants than Shopify allows on one product (2,048 in 2026-07)."""
    if count > MAX_VARIANTS:
        raise ValidationError(f"A product can have at most {MAX_VARIANTS} variants in Shopify ({count} given).",
                              code="variant_count")


def validate_metafield_namespace(value: str) -> None:
    """Refuse a namespace Shopify rejects: 3-255 letters, digits, '-' or '_'."""
    if not METAFIELD_NAMESPACE_RE.match(value or ""):
        raise ValidationError(
            "A metafield namespace must be 3 to 255 characters of letters, digits, '-' and '_' "
            f"('{(value or '')[:40]}' is not).", code="metafield_namespace",
        )


def validate_metafield_key(value: str) -> None:
    """Refuse a key Shopify rejects: 2-64 letters, digits, '-' or '_'."""
    if not METAFIELD_KEY_RE.match(value or ""):
        raise ValidationError(
            f"A metafield key must be 2 to 64 characters of letters, digits, '-' and '_' ('{(value or '')[:40]}' is not).",
            code="metafield_key",
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
