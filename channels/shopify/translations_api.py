"""Shop locales and translations through the GraphQL Admin API (2026-07) (issue 19).

``translationsRegister`` needs, per key, the digest of the content being translated, read with
``translatableResourcesByIds`` just before (https://shopify.dev/docs/api/admin-graphql/2026-07/mutations/
translationsRegister). Documents are validated against 2026-07 by ``tests/shopify_client/test_translations_api.py``.
"""

from __future__ import annotations

from typing import Any

SHOP_LOCALES = """
query ShopLocales {
  shopLocales { locale name primary published }
}
"""

PRODUCT_OPTION_IDS = """
query ProductOptionIds($id: ID!) {
  product(id: $id) { id options { id name optionValues { id name } } }
}
"""

TRANSLATABLE_RESOURCES = """
query TranslatableResources($ids: [ID!]!, $first: Int!) {
  translatableResourcesByIds(resourceIds: $ids, first: $first) {
    nodes { resourceId translatableContent { key value digest locale } }
  }
}
"""

TRANSLATIONS_REGISTER = """
mutation TranslationsRegister($resourceId: ID!, $translations: [TranslationInput!]!) {
  translationsRegister(resourceId: $resourceId, translations: $translations) {
    translations { key locale value }
    userErrors { field message code }
  }
}
"""


def shop_locales(client: Any) -> list[dict]:
    """Return the shop's locales ``{locale, name, primary, published}``. Raises the errors of ``execute``."""
    return client.execute(SHOP_LOCALES)["shopLocales"]


def product_options(client: Any, *, product_id: str) -> list[dict] | None:
    """Return the product's options with their value ids, or None if the product doesn't exist."""
    product = client.execute(PRODUCT_OPTION_IDS, {"id": product_id}).get("product")
    return None if product is None else product["options"]


def translatable_content(client: Any, *, resource_ids: list[str]) -> dict[str, dict[str, dict]]:
    """Return ``{resource id: {key: {value, digest}}}`` for up to 250 resources. Raises the errors of ``execute``."""
    data = client.execute(TRANSLATABLE_RESOURCES, {"ids": resource_ids, "first": len(resource_ids)})
    return {node["resourceId"]: {c["key"]: c for c in node["translatableContent"]}
            for node in data["translatableResourcesByIds"]["nodes"]}


def translations_register(client: Any, *, resource_id: str, translations: list[dict]) -> list[dict]:
    """Register translations ``{key, locale, value, translatableContentDigest}`` of one resource.

    Raises ShopifyUserError (e.g. INVALID_TRANSLATABLE_CONTENT when the content changed since it was read,
    INVALID_LOCALE_FOR_SHOP) and the errors of ``execute``.
    """
    data = client.execute(TRANSLATIONS_REGISTER, {"resourceId": resource_id, "translations": translations})
    return data["translationsRegister"]["translations"] or []


TRANSLATIONS_READ = """
query TranslationsRead($ids: [ID!]!, $first: Int!, $locale: String!) {
  translatableResourcesByIds(resourceIds: $ids, first: $first) {
    nodes { resourceId translations(locale: $locale) { key value outdated } }
  }
}
"""


def translations_read(client: Any, *, resource_ids: list[str], locale: str) -> dict[str, dict[str, str]]:
    """Return ``{resource id: {key: value}}`` of the translations in ``locale`` (up to 250 resources)."""
    data = client.execute(TRANSLATIONS_READ, {"ids": resource_ids, "first": len(resource_ids), "locale": locale})
    return {node["resourceId"]: {t["key"]: t["value"] for t in node["translations"] if t.get("value")}
            for node in data["translatableResourcesByIds"]["nodes"]}
