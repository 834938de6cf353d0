"""Small helpers: global IDs, timestamps, handles, cursors."""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
import unicodedata
from datetime import UTC, datetime
from typing import Any

GID_RE = re.compile(r"^gid://shopify/([A-Za-z]+)/(\d+)(?:\?.*)?$")


class IdAllocator:
    """Process-wide increasing numeric ids (Shopify-like 13-digit numbers), unique across shops and types."""

    def __init__(self, start: int = 7_000_000_000_001) -> None:
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            return next(self._counter)


def gid(kind: str, num: int | str) -> str:
    return f"gid://shopify/{kind}/{num}"


def parse_gid(value: Any, kind: str | None = None) -> int | None:
    """Return the numeric id of ``gid://shopify/Kind/123`` (or of a bare number); None if it doesn't parse
    or names another kind."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    s = str(value).strip()
    if s.isdigit():
        return int(s)
    m = GID_RE.match(s)
    if not m:
        return None
    if kind is not None and m.group(1) != kind:
        return None
    return int(m.group(2))


def gid_kind(value: Any) -> str | None:
    m = GID_RE.match(str(value or ""))
    return m.group(1) if m else None


def now() -> float:
    return time.time()


def iso(ts: float | None) -> str | None:
    """GraphQL DateTime as Shopify renders it: ``2026-11-23T17:59:03Z``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_rest(ts: float | None) -> str | None:
    """REST/webhook timestamp: ``2026-11-23T17:59:03+00:00``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def iso_precise(ts: float) -> str:
    """``X-Shopify-Triggered-At`` style timestamp with sub-second precision."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> float | None:
    """Parse the date/time forms used in search queries (``2024-01-01``, ISO 8601 with Z or offset)."""
    s = value.strip().strip("'\"")
    if not s:
        return None
    if s.lower() == "now":
        return time.time()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def slugify(text: str) -> str:
    """Shopify-style handle: lowercase, other characters collapsed to single hyphens.

    Letters and digits of every script are kept, as Shopify does since 2017 ("Shopify will support a full UTF-8
    character set for these properties": a product titled 日本 gets the handle 日本,
    https://shopify.dev/changelog/certain-properties-are-changing-to-support-a-full-utf-8-character-set);
    accents on Latin letters are dropped (é -> e), as before.
    """
    kept: list[str] = []
    for ch in unicodedata.normalize("NFKD", text or ""):
        if unicodedata.combining(ch) and kept and kept[-1].isascii():
            continue  # an accent on a Latin letter; marks of other scripts (e.g. Japanese dakuten) stay
        kept.append(ch)
    text = unicodedata.normalize("NFC", "".join(kept))
    text = re.sub(r"[\W_]+", "-", text.lower()).strip("-")
    return text[:255]


def encode_cursor(num: int, value: Any = None) -> str:
    payload = {"last_id": num, "last_value": value}
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> dict[str, Any] | None:
    try:
        data = json.loads(base64.b64decode(cursor.encode(), validate=True).decode())
    except Exception:
        return None
    if not isinstance(data, dict) or "last_id" not in data:
        return None
    return data


def money(value: Any) -> str | None:
    """Normalise a Money/Decimal input ("10", 10, "10.5") to Shopify's "10.50"-style string."""
    if value is None:
        return None
    try:
        return f"{float(value):.2f}"
    except (TypeError, ValueError):
        return str(value)


def strip_html(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html or "")).strip()
