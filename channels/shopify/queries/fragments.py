"""Private fragments of the product documents and the page-info selection (only valid inside a
document).
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
# transport.INITIAL_COST_ESTIMATES, which test_queries.py checks against the simulator's cost model.
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
