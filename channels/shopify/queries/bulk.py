"""Bulk query documents: start, status and cancel a bulk operation, and the inner product export query.
"""

from __future__ import annotations

# --- Bulk operations -------------------------------------------------------------------------------------

# groupObjects must be true: in 2026-07 it defaults to false, and only grouped output guarantees that
# children (lines with __parentId) follow directly after their parent, which the streaming reader needs.
BULK_RUN_QUERY = """
mutation BulkRunQuery($query: String!, $groupObjects: Boolean!) {
  bulkOperationRunQuery(query: $query, groupObjects: $groupObjects) {
    bulkOperation { id status type createdAt }
    userErrors { field message code }
  }
}
"""

BULK_OPERATION_STATUS = """
query BulkOperationStatus($id: ID!) {
  bulkOperation(id: $id) {
    id
    status
    type
    errorCode
    objectCount
    rootObjectCount
    fileSize
    url
    partialDataUrl
    createdAt
    completedAt
  }
}
"""

BULK_OPERATION_CANCEL = """
mutation BulkOperationCancel($id: ID!) {
  bulkOperationCancel(id: $id) {
    bulkOperation { id status }
    userErrors { field message }
  }
}
"""

# Inner query of the full product export (same fields as ProductFields; connections without `first`,
# as bulk operations page them internally). 4 connections, nesting depth 2: within Shopify's limits.
BULK_PRODUCTS_QUERY = """
{
  products {
    edges {
      node {
        id
        legacyResourceId
        title
        handle
        descriptionHtml
        vendor
        productType
        tags
        status
        templateSuffix
        createdAt
        updatedAt
        seo { title description }
        options { id name position values optionValues { id name hasVariants } }
        variants {
          edges {
            node {
              id
              legacyResourceId
              title
              sku
              barcode
              price
              compareAtPrice
              position
              inventoryPolicy
              taxable
              selectedOptions { name value }
              inventoryItem { id tracked measurement { weight { value unit } } }
            }
          }
        }
        metafields {
          edges { node { id namespace key type value compareDigest } }
        }
        media {
          edges {
            node {
              id
              alt
              mediaContentType
              status
              ... on MediaImage { image { url altText width height } }
            }
          }
        }
      }
    }
  }
}
"""

# Documents sent as the `query` argument of bulkOperationRunQuery (anonymous on purpose).
BULK_INNER_QUERIES = ("BULK_PRODUCTS_QUERY", "ORDERS_REPLAY_BULK")
