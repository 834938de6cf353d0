"""Locations and inventory through the client: read levels, set and adjust quantities (idempotent).

``InventoryApiMixin`` is the part of ``ShopifyClient`` for locations and inventory quantities; every write
carries the caller's idempotency key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import queries
from .transport import ShopifyTransport

DEFAULT_INVENTORY_NAMES: tuple[str, ...] = ("available", "on_hand", "committed")


class InventoryApiMixin(ShopifyTransport):
    """Locations and inventory of ``ShopifyClient``."""

    def locations(self) -> list[dict]:
        """Return the shop's active locations (id, legacyResourceId, name, isActive, fulfillsOnlineOrders,
        shipsInventory, hasActiveInventory). Raises the errors of ``execute``."""
        result: list[dict] = []
        after = None
        while True:
            data = self.execute(queries.LOCATIONS, {"first": 100, "after": after})
            connection = data.get("locations") or {}
            result.extend(connection.get("nodes") or [])
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return result
            after = page.get("endCursor")

    def inventory_levels(
        self,
        *,
        inventory_item_ids: Iterable[str],
        location_ids: Iterable[str],
        names: Iterable[str] = DEFAULT_INVENTORY_NAMES,
        chunk_size: int = 50,
    ) -> list[dict]:
        """Return the quantities of each inventory item at each location, one row per (item, location).

        A row is ``{inventoryItemId, locationId, exists, tracked, stocked, quantities: {name: int},
        updatedAt}``; ``exists`` is False for an unknown item, ``stocked`` False when the item has no level
        at that location. Raises the errors of ``execute``.
        """
        items = list(dict.fromkeys(inventory_item_ids))
        names = list(names)
        rows: list[dict] = []
        for location_id in dict.fromkeys(location_ids):
            for start in range(0, len(items), chunk_size):
                chunk = items[start : start + chunk_size]
                data = self.execute(
                    queries.INVENTORY_LEVELS,
                    {"inventoryItemIds": chunk, "locationId": location_id, "names": names},
                )
                nodes = data.get("nodes") or []
                for item_id, node in zip(
                    chunk, list(nodes) + [None] * (len(chunk) - len(nodes)), strict=False
                ):
                    level = (node or {}).get("inventoryLevel")
                    rows.append(
                        {
                            "inventoryItemId": item_id,
                            "locationId": location_id,
                            "exists": node is not None,
                            "tracked": (node or {}).get("tracked"),
                            "stocked": level is not None,
                            "quantities": {
                                q["name"]: q["quantity"] for q in ((level or {}).get("quantities") or [])
                            },
                            "updatedAt": (level or {}).get("updatedAt"),
                        }
                    )
        return rows

    def inventory_set_quantities(
        self,
        *,
        name: str = "available",
        reason: str,
        quantities: list[dict],
        idempotency_key: str,
        reference_document_uri: str | None = None,
    ) -> dict | None:
        """Set absolute inventory quantities with compare-and-set, applied once per idempotency key.

        Each quantity is ``{inventoryItemId, locationId, quantity, changeFromQuantity}``;
        ``changeFromQuantity`` must be present (the quantity you last read, or None to skip the check).
        ``idempotency_key`` must be derived from the caller's own movement/job id so that a retried call is
        applied once. Returns the ``inventoryAdjustmentGroup`` (None if nothing changed). Raises ValueError
        for malformed input, ShopifyStaleQuantity when a ``changeFromQuantity`` no longer matches (re-read
        and retry with a new key), ShopifyIdempotencyInFlight (retryable), ShopifyUserError for other
        rejections, and the errors of ``execute``.
        """
        _require_key(idempotency_key)
        prepared = []
        for entry in quantities:
            missing = {"inventoryItemId", "locationId", "quantity", "changeFromQuantity"} - set(entry)
            if missing:
                raise ValueError(
                    f"inventory quantity lacks {sorted(missing)}: changeFromQuantity must be explicit"
                )
            prepared.append(
                {
                    "inventoryItemId": entry["inventoryItemId"],
                    "locationId": entry["locationId"],
                    "quantity": int(entry["quantity"]),
                    "changeFromQuantity": (
                        None if entry["changeFromQuantity"] is None else int(entry["changeFromQuantity"])
                    ),
                }
            )
        if not prepared:
            raise ValueError("no quantities given")
        payload: dict[str, Any] = {"name": name, "reason": reason, "quantities": prepared}
        if reference_document_uri:
            payload["referenceDocumentUri"] = reference_document_uri
        data = self.execute(
            queries.INVENTORY_SET_QUANTITIES, {"input": payload, "idempotencyKey": idempotency_key}
        )
        return (data.get("inventorySetQuantities") or {}).get("inventoryAdjustmentGroup")

    def inventory_adjust_quantities(
        self,
        *,
        name: str = "available",
        reason: str,
        changes: list[dict],
        idempotency_key: str,
        reference_document_uri: str | None = None,
    ) -> dict | None:
        """Apply inventory deltas, applied once per idempotency key.

        Each change is ``{inventoryItemId, locationId, delta}`` plus optional ``changeFromQuantity`` (sent
        as null when absent, i.e. no compare-and-set) and ``ledgerDocumentUri`` (required by Shopify for
        names other than ``available``). Returns the ``inventoryAdjustmentGroup``. Raises ValueError for
        malformed input, ShopifyStaleQuantity, ShopifyIdempotencyInFlight, ShopifyUserError and the errors
        of ``execute``.
        """
        _require_key(idempotency_key)
        prepared = []
        for entry in changes:
            missing = {"inventoryItemId", "locationId", "delta"} - set(entry)
            if missing:
                raise ValueError(f"inventory change lacks {sorted(missing)}")
            change: dict[str, Any] = {
                "inventoryItemId": entry["inventoryItemId"],
                "locationId": entry["locationId"],
                "delta": int(entry["delta"]),
                "changeFromQuantity": (
                    None if entry.get("changeFromQuantity") is None else int(entry["changeFromQuantity"])
                ),
            }
            if entry.get("ledgerDocumentUri"):
                change["ledgerDocumentUri"] = entry["ledgerDocumentUri"]
            prepared.append(change)
        if not prepared:
            raise ValueError("no changes given")
        payload: dict[str, Any] = {"name": name, "reason": reason, "changes": prepared}
        if reference_document_uri:
            payload["referenceDocumentUri"] = reference_document_uri
        data = self.execute(
            queries.INVENTORY_ADJUST_QUANTITIES, {"input": payload, "idempotencyKey": idempotency_key}
        )
        return (data.get("inventoryAdjustQuantities") or {}).get("inventoryAdjustmentGroup")


def _require_key(idempotency_key: str) -> None:
    if not isinstance(idempotency_key, str) or not idempotency_key.strip():
        raise ValueError("idempotency_key is required (derive it from your movement/job id)")
    if len(idempotency_key) > 255:
        raise ValueError("idempotency_key is too long (max 255 characters)")
