"""Location and inventory documents: locations, levels, set / adjust quantities and activation.
"""

from __future__ import annotations

from .fragments import _PAGE_INFO

# --- Locations and inventory -------------------------------------------------------------------------------

LOCATIONS = (
    """
query Locations($first: Int!, $after: String) {
  locations(first: $first, after: $after, includeInactive: false) {
    nodes {
      id
      legacyResourceId
      name
      isActive
      fulfillsOnlineOrders
      shipsInventory
      hasActiveInventory
    }
    """
    + _PAGE_INFO
    + """
  }
}
"""
)

# Quantities of many inventory items at ONE location (the client loops over locations and chunks items).
# inventoryLevel is null when the item isn't stocked at the location.
INVENTORY_LEVELS = """
query InventoryLevels($inventoryItemIds: [ID!]!, $locationId: ID!, $names: [String!]!) {
  nodes(ids: $inventoryItemIds) {
    ... on InventoryItem {
      id
      tracked
      inventoryLevel(locationId: $locationId) {
        id
        updatedAt
        location { id }
        quantities(names: $names) { name quantity updatedAt }
      }
    }
  }
}
"""

_ADJUSTMENT_GROUP_FIELDS = """
    inventoryAdjustmentGroup {
      id
      createdAt
      reason
      referenceDocumentUri
      changes { name delta quantityAfterChange item { id } location { id } }
    }
    userErrors { field message code }
"""

# 2026-07: @idempotent(key:) is required and every quantity must carry changeFromQuantity (null = no CAS).
INVENTORY_SET_QUANTITIES = (
    """
mutation InventorySetQuantities($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {"""
    + _ADJUSTMENT_GROUP_FIELDS
    + """  }
}
"""
)

# Stock an inventory item at a location (inventory writeback's "activate unstocked levels" store setting).
INVENTORY_ACTIVATE = """
mutation InventoryActivate($inventoryItemId: ID!, $locationId: ID!, $available: Int, $idempotencyKey: String!) {
  inventoryActivate(inventoryItemId: $inventoryItemId, locationId: $locationId, available: $available)
    @idempotent(key: $idempotencyKey) {
    inventoryLevel { id quantities(names: ["available"]) { name quantity } }
    userErrors { field message }
  }
}
"""

INVENTORY_ADJUST_QUANTITIES = (
    """
mutation InventoryAdjustQuantities($input: InventoryAdjustQuantitiesInput!, $idempotencyKey: String!) {
  inventoryAdjustQuantities(input: $input) @idempotent(key: $idempotencyKey) {"""
    + _ADJUSTMENT_GROUP_FIELDS
    + """  }
}
"""
)
