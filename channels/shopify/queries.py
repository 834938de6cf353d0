"""Every GraphQL document the PIM sends to Shopify's Admin API (version 2026-07).

Rules: each public UPPER_CASE string constant is one complete document with exactly one *named* operation
(except the inner bulk queries listed in ``BULK_INNER_QUERIES``, which are sent as a string argument of
``bulkOperationRunQuery`` and stay anonymous like Shopify's examples). Values travel only in variables;
documents are built by concatenating the private fragment constants below, never by formatting values in.
``tests/shopify_client/test_queries.py`` validates every public constant against Shopify's 2026-07 schema.
"""

from __future__ import annotations

# --- Fragments (private: only valid as part of a document) -----------------------------------------

# The variant fields drift detection compares; also used to map SKUs to variant / inventory item ids.
_VARIANT_FIELDS = """
fragment VariantFields on ProductVariant {
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
"""

_MEDIA_FIELDS = """
fragment MediaFields on Media {
  id
  alt
  mediaContentType
  status
  ... on MediaImage { image { url altText width height } }
}
"""

_METAFIELD_FIELDS = """
fragment MetafieldFields on Metafield {
  id
  namespace
  key
  type
  value
  compareDigest
}
"""

_PAGE_INFO = "pageInfo { hasNextPage endCursor }"

# Everything drift detection compares. Nested connections are paged: the client follows
# PRODUCT_VARIANTS_PAGE / PRODUCT_METAFIELDS_PAGE / PRODUCT_MEDIA_PAGE when hasNextPage is true.
# Requested cost ~660 (variants 2 + 100x5, metafields 2 + 50, media 2 + 50x2, rest ~4); see
# client.INITIAL_COST_ESTIMATES, which test_queries.py checks against the simulator's cost model.
_PRODUCT_FIELDS = (
    """
fragment ProductFields on Product {
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
  variants(first: 100) { nodes { ...VariantFields } """
    + _PAGE_INFO
    + """ }
  metafields(first: 50) { nodes { ...MetafieldFields } """
    + _PAGE_INFO
    + """ }
  media(first: 50) { nodes { ...MediaFields } """
    + _PAGE_INFO
    + """ }
}
"""
    + _VARIANT_FIELDS
    + _METAFIELD_FIELDS
    + _MEDIA_FIELDS
)

_PRODUCT_SUMMARY_FIELDS = """
fragment ProductSummaryFields on Product {
  id
  legacyResourceId
  title
  handle
  status
  vendor
  productType
  tags
  createdAt
  updatedAt
  variantsCount { count }
}
"""

# --- Shop / connection test --------------------------------------------------------------------------

SHOP_INFO = """
query ShopInfo {
  shop {
    id
    name
    email
    myshopifyDomain
    currencyCode
    ianaTimezone
    plan { publicDisplayName partnerDevelopment shopifyPlus }
  }
  currentAppInstallation {
    id
    accessScopes { handle }
  }
}
"""

# --- Products: writes ----------------------------------------------------------------------------------

# productSet upserts a whole product (list fields given are replaced: variants, metafields, files ...).
# The returned variants map SKUs to variant and inventory item ids for later inventory pushes. The returned
# connections are sized to the input ($variants <= 100, $media <= 50; the rest is paged): the requested cost,
# which Shopify holds while the mutation runs, stays proportional to the product.
PRODUCT_SET = (
    """
mutation ProductSet($input: ProductSetInput!, $identifier: ProductSetIdentifiers, $variants: Int!, $media: Int!) {
  productSet(input: $input, identifier: $identifier, synchronous: true) {
    product {
      id
      legacyResourceId
      handle
      status
      updatedAt
      variants(first: $variants) {
        nodes { id sku position selectedOptions { name value } inventoryItem { id } }
        """
    + _PAGE_INFO
    + """
      }
      media(first: $media) { nodes { id status } """
    + _PAGE_INFO
    + """ }
    }
    userErrors { field message code }
  }
}
"""
)

PRODUCT_UPDATE_STATUS = """
mutation ProductUpdateStatus($id: ID!, $status: ProductStatus!) {
  productUpdate(product: { id: $id, status: $status }) {
    product { id status updatedAt }
    userErrors { field message }
  }
}
"""

PRODUCT_DELETE = """
mutation ProductDelete($id: ID!) {
  productDelete(input: { id: $id }, synchronous: true) {
    deletedProductId
    userErrors { field message }
  }
}
"""

# --- Products: reads -----------------------------------------------------------------------------------

PRODUCT_BY_ID = (
    """
query ProductById($id: ID!) {
  product(id: $id) { ...ProductFields }
}
"""
    + _PRODUCT_FIELDS
)

PRODUCT_BY_HANDLE = (
    """
query ProductByHandle($handle: String!) {
  productByIdentifier(identifier: { handle: $handle }) { ...ProductFields }
}
"""
    + _PRODUCT_FIELDS
)

PRODUCT_VARIANTS_PAGE = (
    """
query ProductVariantsPage($id: ID!, $first: Int!, $after: String) {
  product(id: $id) {
    id
    variants(first: $first, after: $after) { nodes { ...VariantFields } """
    + _PAGE_INFO
    + """ }
  }
}
"""
    + _VARIANT_FIELDS
)

# The lean page for binding ids (about 2 points per variant): after productSet and for the adoption check.
PRODUCT_VARIANT_IDS_PAGE = (
    """
query ProductVariantIdsPage($id: ID!, $first: Int!, $after: String) {
  product(id: $id) {
    id
    variants(first: $first, after: $after) { nodes { id sku position selectedOptions { name value } inventoryItem { id } } """
    + _PAGE_INFO
    + """ }
  }
}
"""
)

PRODUCT_METAFIELDS_PAGE = (
    """
query ProductMetafieldsPage($id: ID!, $first: Int!, $after: String) {
  product(id: $id) {
    id
    metafields(first: $first, after: $after) { nodes { ...MetafieldFields } """
    + _PAGE_INFO
    + """ }
  }
}
"""
    + _METAFIELD_FIELDS
)

PRODUCT_MEDIA_PAGE = (
    """
query ProductMediaPage($id: ID!, $first: Int!, $after: String) {
  product(id: $id) {
    id
    media(first: $first, after: $after) { nodes { ...MediaFields } """
    + _PAGE_INFO
    + """ }
  }
}
"""
    + _MEDIA_FIELDS
)

# Summary fields only (cheap: ~2 per product); use PRODUCT_BY_ID or the bulk export for full products.
PRODUCTS_PAGE = (
    """
query ProductsPage($first: Int!, $after: String, $query: String) {
  products(first: $first, after: $after, query: $query, sortKey: ID) {
    nodes { ...ProductSummaryFields }
    """
    + _PAGE_INFO
    + """
  }
}
"""
    + _PRODUCT_SUMMARY_FIELDS
)

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
BULK_INNER_QUERIES = ("BULK_PRODUCTS_QUERY",)

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

# --- Webhook subscriptions ------------------------------------------------------------------------------------

_WEBHOOK_FIELDS = "id topic uri format filter includeFields apiVersion { handle } createdAt updatedAt"

WEBHOOK_SUBSCRIPTIONS = (
    """
query WebhookSubscriptions($first: Int!, $after: String) {
  webhookSubscriptions(first: $first, after: $after) {
    nodes { """
    + _WEBHOOK_FIELDS
    + """ }
    """
    + _PAGE_INFO
    + """
  }
}
"""
)

WEBHOOK_SUBSCRIPTION_CREATE = (
    """
mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $subscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $subscription) {
    webhookSubscription { """
    + _WEBHOOK_FIELDS
    + """ }
    userErrors { field message }
  }
}
"""
)

WEBHOOK_SUBSCRIPTION_DELETE = """
mutation WebhookSubscriptionDelete($id: ID!) {
  webhookSubscriptionDelete(id: $id) {
    deletedWebhookSubscriptionId
    userErrors { field message }
  }
}
"""


# --- Drift detection: the lean read before each publish -----------------------------------------------

# Sized by variables to what the PIM wrote (variant count, image count, owned metafield keys), so the
# requested cost stays proportional to the product (~4 points per variant) instead of ProductById's ~660.
PRODUCT_DRIFT = (
    """
query ProductDrift($id: ID!, $variants: Int!, $media: Int!, $metafields: Int!, $keys: [String!]) {
  product(id: $id) {
    id
    legacyResourceId
    title
    handle
    descriptionHtml
    vendor
    productType
    tags
    status
    updatedAt
    seo { title description }
    options { id name position values }
    variants(first: $variants) {
      nodes {
        id
        sku
        barcode
        price
        compareAtPrice
        position
        selectedOptions { name value }
        inventoryItem { id tracked measurement { weight { value unit } } }
      }
      """
    + _PAGE_INFO
    + """
    }
    metafields(first: $metafields, keys: $keys) { nodes { namespace key type value } }
    media(first: $media) { nodes { ...MediaFields } """
    + _PAGE_INFO
    + """ }
  }
}
"""
    + _MEDIA_FIELDS
)

# The cheap look-up before a first publish: does a product with our handle exist, and which SKUs has it?
PRODUCT_IDS_BY_HANDLE = """
query ProductIdsByHandle($handle: String!, $variants: Int!) {
  productByIdentifier(identifier: { handle: $handle }) {
    id
    handle
    variants(first: $variants) { nodes { id sku inventoryItem { id } } pageInfo { hasNextPage endCursor } }
  }
}
"""

# --- Metafields: owned keys only (productSet's metafields list would delete other apps' keys) ----------

METAFIELDS_SET = """
mutation MetafieldsSet($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { id namespace key type value }
    userErrors { field message code elementIndex }
  }
}
"""

# Processing state of media just created (UPLOADED -> PROCESSING -> READY | FAILED, asynchronously).
MEDIA_STATUS = """
query MediaStatus($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on Media { id status mediaErrors { code details message } }
  }
}
"""

# --- Sales channels (publications) ------------------------------------------------------------------------

# Publication.name is deprecated in 2026-07 ("Use Catalog.title instead"): the channel's name is its catalog's title.
PUBLICATIONS = (
    """
query Publications($first: Int!, $after: String) {
  publications(first: $first, after: $after) {
    nodes { id autoPublish catalog { id title } }
    """
    + _PAGE_INFO
    + """
  }
}
"""
)

PUBLISHABLE_PUBLISH = """
mutation PublishablePublish($id: ID!, $input: [PublicationInput!]!) {
  publishablePublish(id: $id, input: $input) {
    userErrors { field message }
  }
}
"""

PUBLISHABLE_UNPUBLISH = """
mutation PublishableUnpublish($id: ID!, $input: [PublicationInput!]!) {
  publishableUnpublish(id: $id, input: $input) {
    userErrors { field message }
  }
}
"""


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


def all_documents() -> dict[str, str]:
    """Return every public document constant of this module by name (used by tests and tooling)."""
    return {
        name: value
        for name, value in globals().items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    }
