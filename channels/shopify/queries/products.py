"""Product documents: productSet, status, delete, the full and paged reads, the drift read, the
handle look-up, metafieldsSet and media status.
"""

from __future__ import annotations

from .fragments import (
    _MEDIA_FIELDS,
    _METAFIELD_FIELDS,
    _PAGE_INFO,
    _PRODUCT_FIELDS,
    _PRODUCT_SUMMARY_FIELDS,
    _VARIANT_FIELDS,
)

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
