"""Documents for the shop (connection test) and its sales channels (publications, publish/unpublish).
"""

from __future__ import annotations

from .fragments import _PAGE_INFO

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
