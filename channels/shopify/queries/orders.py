"""Order documents for inventory writeback: where an order's stock was committed, and gap replay.
"""

from __future__ import annotations

# --- Orders: what an order line's stock depends on (inventory writeback) -----------------------------------
# Line identities (variant, SKU, quantities) and the fulfillment orders' assigned locations: an online order's
# location_id is null in its webhooks, the stock is committed where order routing assigned each line.

_ORDER_ROUTING_FIELDS = """
    id
    cancelledAt
    fulfillmentOrders(first: 3) {
      nodes {
        status
        assignedLocation { location { id } }
        lineItems(first: 25) { nodes { totalQuantity lineItem { id } } }
      }
    }
"""

# Where order routing assigned each line (requested cost ~170; actual ~15 for a one-location order).
ORDER_LOCATIONS = (
    """
query OrderLocations($id: ID!) {
  order(id: $id) {"""
    + _ORDER_ROUTING_FIELDS
    + """  }
}
"""
)

# The same plus each line's variant and SKU (orders/edited names added lines by id only).
ORDER_FOR_STOCK = (
    """
query OrderForStock($id: ID!) {
  order(id: $id) {"""
    + _ORDER_ROUTING_FIELDS
    + """    lineItems(first: 50) { nodes { id sku name variant { id } } }
  }
}
"""
)

# fulfillment_orders/* webhooks name the fulfillment order only: read its order's routing.
FULFILLMENT_ORDER_FOR_STOCK = (
    """
query FulfillmentOrderForStock($id: ID!) {
  fulfillmentOrder(id: $id) {
    id
    order {"""
    + _ORDER_ROUTING_FIELDS
    + """    }
  }
}
"""
)


# Gap replay (issue 18): the orders updated since a moment, oldest update first (ids only; cost ~102 per page).
ORDERS_UPDATED_SINCE = """
query OrdersUpdatedSince($query: String!, $after: String) {
  orders(first: 100, after: $after, query: $query, sortKey: UPDATED_AT) {
    nodes { id updatedAt }
    pageInfo { hasNextPage endCursor }
  }
}
"""

# One order's lines and sales agreements: the units at creation (OrderAgreement) and each committed edit
# (OrderEditAgreement). Requested cost ~230 (the actual cost of a small order is ~20).
ORDER_REPLAY_LINES = """
query OrderReplayLines($id: ID!) {
  order(id: $id) {
    id
    name
    createdAt
    updatedAt
    cancelledAt
    retailLocation { id }
    lineItems(first: 30) { nodes { id sku name quantity variant { id } } pageInfo { hasNextPage } }
    agreements(first: 5) {
      nodes {
        __typename
        id
        ... on OrderAgreement { sales(first: 15) { nodes { quantity actionType ... on ProductSale { lineItem { id } } } pageInfo { hasNextPage } } }
        ... on OrderEditAgreement { sales(first: 15) { nodes { quantity actionType ... on ProductSale { lineItem { id } } } pageInfo { hasNextPage } } }
      }
      pageInfo { hasNextPage }
    }
  }
}
"""

# The same order's refunds (restock type and location per refund line), fulfillments and routing.
# Requested cost ~410.
ORDER_REPLAY_STOCK = (
    """
query OrderReplayStock($id: ID!) {
  order(id: $id) {"""
    + _ORDER_ROUTING_FIELDS
    + """    refunds(first: 3) {
      id
      refundLineItems(first: 15) {
        nodes { id quantity restockType location { id } lineItem { id } }
        pageInfo { hasNextPage }
      }
    }
    fulfillments(first: 3) {
      status
      location { id }
      fulfillmentLineItems(first: 15) { nodes { quantity lineItem { id } } pageInfo { hasNextPage } }
    }
  }
}
"""
)

# Gap replay by bulk operation (issue 18, when the gap holds ORDER_CATCHUP_BULK_MIN_ORDERS orders or more): every
# order updated since a moment with what a plain sale needs. Bulk rules (shopify.dev bulk-operations/queries,
# "Operation restrictions"): at most 5 connections, nested 2 deep, no connection inside a list field - so refunds
# and fulfillments come as ids only (their line items are connections inside lists), agreements without their
# sales and fulfillment orders without their lines (3 deep). Orders that need those are read the per-order way.
# Format with ``search`` (an orders search string, already escaped for a GraphQL string literal).
ORDERS_REPLAY_BULK = """
{
  orders(query: "%(search)s", sortKey: UPDATED_AT) {
    edges { node {
      id name createdAt updatedAt cancelledAt
      retailLocation { id }
      refunds { id }
      fulfillments { id }
      lineItems { edges { node { id sku name quantity currentQuantity variant { id } } } }
      agreements { edges { node { __typename id } } }
      fulfillmentOrders { edges { node { id status assignedLocation { location { id } } } } }
    } }
  }
}
"""
