"""Shopify's documented limits on product data, as the simulator enforces them in productSet and metafieldsSet.

Sources (shopify.dev): ProductSetInput / ProductInput (title and handle up to 255 characters), the tag limit
changelog ("Product tags now have a limit of 250 per product"; a tag is up to 255 characters),
ProductSetInput.productOptions ("maximum of 3 per product"), the product variant limit (2048 per product in
2026-07), MetafieldsSetInput (key "2-64 characters long", namespace "3-255 characters long", "alphanumeric,
hyphen, and underscore characters").
"""

from __future__ import annotations

import re
from typing import Any

TITLE_MAX = 255
HANDLE_MAX = 255
TAGS_MAX = 250
TAG_MAX_LENGTH = 255
OPTIONS_MAX = 3
OPTION_NAME_MAX = 255
OPTION_VALUE_MAX = 255
VARIANTS_MAX = 2048
METAFIELD_KEY_MIN, METAFIELD_KEY_MAX = 2, 64
METAFIELD_NAMESPACE_MIN, METAFIELD_NAMESPACE_MAX = 3, 255
_METAFIELD_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")


def metafield_identity_errors(namespace: str | None, key: str | None) -> list[tuple[str, str, str]]:
    """Return ``(field, message, code)`` for a metafield namespace/key that breaks Shopify's rules.

    Codes are metafieldsSet's (TOO_SHORT, TOO_LONG, INVALID); a None namespace is the app-reserved one.
    """
    errors = []
    for name, value, low, high in (("key", key, METAFIELD_KEY_MIN, METAFIELD_KEY_MAX),
                                   ("namespace", namespace, METAFIELD_NAMESPACE_MIN, METAFIELD_NAMESPACE_MAX)):
        if value is None and name == "namespace":
            continue
        value = value or ""
        if value.startswith("$app"):
            continue  # app-reserved namespace
        if len(value) < low:
            errors.append((name, f"is too short (minimum is {low} characters)", "TOO_SHORT"))
        elif len(value) > high:
            errors.append((name, f"is too long (maximum is {high} characters)", "TOO_LONG"))
        elif not _METAFIELD_CHARS.match(value):
            errors.append((name, "contains one or more invalid characters: use letters, digits, '-' and '_'",
                           "INVALID"))
    return errors


def product_input_errors(inp: dict[str, Any]) -> list[tuple[list[str], str, str]]:
    """Return productSet user errors ``(field path, message, code)`` for limits ``inp`` breaks."""
    errors: list[tuple[list[str], str, str]] = []
    title = inp.get("title")
    if isinstance(title, str) and len(title) > TITLE_MAX:
        errors.append((["input", "title"], f"Title is too long (maximum is {TITLE_MAX} characters)", "INVALID_INPUT"))
    handle = inp.get("handle")
    if isinstance(handle, str) and len(handle) > HANDLE_MAX:
        errors.append((["input", "handle"], f"Handle is too long (maximum is {HANDLE_MAX} characters)",
                       "INVALID_INPUT"))
    tags = inp.get("tags")
    if isinstance(tags, list):
        if len(tags) > TAGS_MAX:
            errors.append((["input", "tags"], f"Exceeded the maximum number of tags ({TAGS_MAX}).", "INVALID_INPUT"))
        for i, tag in enumerate(tags):
            if isinstance(tag, str) and len(tag.strip()) > TAG_MAX_LENGTH:
                errors.append((["input", "tags", str(i)],
                               f"Tag is too long (maximum is {TAG_MAX_LENGTH} characters)", "INVALID_INPUT"))
    for i, opt in enumerate(inp.get("productOptions") or []):
        if len(opt.get("name") or "") > OPTION_NAME_MAX:
            errors.append((["input", "productOptions", str(i), "name"],
                           f"Option name is too long (maximum is {OPTION_NAME_MAX} characters)", "INVALID_INPUT"))
        for j, val in enumerate(opt.get("values") or []):
            if len(val.get("name") or "") > OPTION_VALUE_MAX:
                errors.append((["input", "productOptions", str(i), "values", str(j), "name"],
                               f"Option value is too long (maximum is {OPTION_VALUE_MAX} characters)",
                               "INVALID_INPUT"))
    for i, mf in enumerate(inp.get("metafields") or []):
        for fld, message, _ in metafield_identity_errors(mf.get("namespace"), mf.get("key")):
            errors.append((["input", "metafields", str(i), fld], f"{fld.capitalize()} {message}", "INVALID_METAFIELD"))
    return errors
