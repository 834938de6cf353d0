"""Errors of the inventory services, and the payload checks that raise ``PayloadError``.
"""

from __future__ import annotations

from typing import Any

from channels.shopify.ids import gid_to_id


class StockError(ValueError):
    """A stock movement that cannot be made (untracked variant, negative result, bad quantity)."""


class PayloadError(ValueError):
    """A webhook body that is valid JSON but not the shape its topic needs; the event fails for review."""


class InventorySyncRefused(RuntimeError):
    """A full inventory sync that must not run now (webhooks pending, store not allowed to push)."""


def _rest_id(value: Any, what: str) -> str:
    if isinstance(value, bool) or value is None:
        raise PayloadError(f"{what} is missing")
    text = str(value).strip()
    if text.startswith("gid://"):
        text = str(gid_to_id(text))
    if not text.isdigit():
        raise PayloadError(f"{what} is not a Shopify id: {value!r}")
    return text


def _quantity(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PayloadError(f"{what} is not a quantity: {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise PayloadError(f"{what} is not a quantity: {value!r}")
    if number < 0:
        raise PayloadError(f"{what} is negative")
    return number
