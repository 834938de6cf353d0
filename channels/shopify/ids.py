"""Convert between Shopify GIDs (``gid://shopify/Product/123``) and numeric ids.

GraphQL speaks GIDs; webhook payloads are REST-shaped with numeric ids (plus ``admin_graphql_api_id``).
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import parse_qsl

_GID_RE = re.compile(
    r"^gid://(?P<namespace>[^/]+)/(?P<resource>[A-Za-z0-9_]+)/(?P<id>[^?#/]+)(?:\?(?P<qs>[^#]*))?$"
)


class ParsedGid(NamedTuple):
    namespace: str
    resource: str
    id: str
    params: dict[str, str]


def parse_gid(gid: str) -> ParsedGid:
    """Split a GID into namespace, resource type, id and query parameters; raise ValueError if malformed."""
    match = _GID_RE.match(gid or "")
    if not match:
        raise ValueError(f"not a Shopify GID: {gid!r}")
    params = dict(parse_qsl(match["qs"] or "", keep_blank_values=True))
    return ParsedGid(match["namespace"], match["resource"], match["id"], params)


def is_gid(value: object) -> bool:
    """Tell whether a value looks like a GID."""
    return isinstance(value, str) and bool(_GID_RE.match(value))


def gid_to_id(gid: str, *, resource: str | None = None) -> int:
    """Return the numeric id of a GID; raise ValueError if it isn't numeric or not of ``resource``."""
    parsed = parse_gid(gid)
    if resource is not None and parsed.resource != resource:
        raise ValueError(f"expected a {resource} GID, got {gid!r}")
    if not parsed.id.isdigit():
        raise ValueError(f"GID has no numeric id: {gid!r}")
    return int(parsed.id)


def gid_resource(gid: str) -> str:
    """Return the resource type of a GID, e.g. ``ProductVariant``."""
    return parse_gid(gid).resource


def to_gid(resource: str, value: int | str) -> str:
    """Build ``gid://shopify/{resource}/{id}`` from a numeric id (a GID passes through unchanged)."""
    if isinstance(value, str) and value.startswith("gid://"):
        parsed = parse_gid(value)
        if parsed.resource != resource:
            raise ValueError(f"expected a {resource} GID, got {value!r}")
        return value
    text = str(value).strip()
    if not text.isdigit():
        raise ValueError(f"not a numeric id: {value!r}")
    return f"gid://shopify/{resource}/{int(text)}"


def product_gid(value: int | str) -> str:
    return to_gid("Product", value)


def variant_gid(value: int | str) -> str:
    return to_gid("ProductVariant", value)


def inventory_item_gid(value: int | str) -> str:
    return to_gid("InventoryItem", value)


def location_gid(value: int | str) -> str:
    return to_gid("Location", value)


def inventory_level_ids(gid: str) -> tuple[int, int]:
    """Return ``(location_id, inventory_item_id)`` from an InventoryLevel GID
    (``gid://shopify/InventoryLevel/<location>?inventory_item_id=<item>``)."""
    parsed = parse_gid(gid)
    if parsed.resource != "InventoryLevel" or "inventory_item_id" not in parsed.params:
        raise ValueError(f"not an InventoryLevel GID: {gid!r}")
    return int(parsed.id), int(parsed.params["inventory_item_id"])
