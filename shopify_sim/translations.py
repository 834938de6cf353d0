"""Shop locales and translations (issue 19).

Sources (2026-07 schema and pages):
- ``shopLocales(published:)`` → ``ShopLocale {locale name primary published}``
  https://shopify.dev/docs/api/admin-graphql/2026-07/queries/shopLocales
- ``translatableResource(resourceId:)`` → ``translatableContent {key value digest locale type}`` and
  ``translations(locale:)``; https://shopify.dev/docs/api/admin-graphql/2026-07/queries/translatableResource
- ``translationsRegister(resourceId, translations: [TranslationInput {key locale value
  translatableContentDigest}])``: "Each translation requires a digest value from the resource's translatable
  content"; codes ``RESOURCE_NOT_FOUND``, ``INVALID_LOCALE_FOR_SHOP``, ``INVALID_KEY_FOR_MODEL``,
  ``INVALID_TRANSLATABLE_CONTENT``, ``BLANK``. https://shopify.dev/docs/api/admin-graphql/2026-07/mutations/translationsRegister
- Translations whose source changed later are reported ``outdated``.

Simplified: locales per shop are en (primary), fr, de (published) and es (not published), changeable through the
control API; the digest is the SHA-256 hex of the value (Shopify's algorithm is not documented: **unconfirmed**,
the PIM always echoes the digest it read); no markets; resources: Product, ProductOption, ProductOptionValue.
"""

from __future__ import annotations

import hashlib
from typing import Any

from graphql import GraphQLResolveInfo

from .resolvers import _shop, res
from .util import gid_kind, iso, now, parse_gid

DEFAULT_LOCALES = [("en", "English", True, True), ("fr", "French", False, True), ("de", "German", False, True),
                   ("es", "Spanish", False, False)]
PRODUCT_KEYS = {"title": ("title", "SINGLE_LINE_TEXT_FIELD"), "body_html": ("descriptionHtml", "HTML"),
                "handle": ("handle", "URI"), "product_type": ("productType", "SINGLE_LINE_TEXT_FIELD")}


def _state(shop: Any) -> dict[str, Any]:
    st = shop.__dict__.get("_translations_state")
    if st is None or st["epoch"] != shop.created_at:
        st = {"epoch": shop.created_at, "locales": [dict(zip(("locale", "name", "primary", "published"), row,
                                                               strict=True)) for row in DEFAULT_LOCALES],
              "translations": {}}
        shop.__dict__["_translations_state"] = st
    return st


def digest(value: str | None) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest() if value is not None else None


def _resource(shop: Any, ref: str) -> tuple[str, dict[str, Any]] | None:
    kind = gid_kind(ref)
    n = parse_gid(ref)
    table = {"Product": shop.products, "ProductOption": shop.options, "ProductOptionValue": shop.option_values}
    rec = table.get(kind, {}).get(n) if n is not None else None
    return (kind, rec) if rec is not None else None


def _content(kind: str, rec: dict[str, Any], primary: str) -> list[dict[str, Any]]:
    if kind == "Product":
        out = [(key, rec.get(field), typ) for key, (field, typ) in PRODUCT_KEYS.items()]
        seo = rec.get("seo") or {}
        out += [("meta_title", seo.get("title"), "SINGLE_LINE_TEXT_FIELD"),
                ("meta_description", seo.get("description"), "MULTI_LINE_TEXT_FIELD")]
    else:
        out = [("name", rec.get("name"), "SINGLE_LINE_TEXT_FIELD")]
    return [{"key": k, "value": v, "digest": digest(v), "locale": primary, "type": t} for k, v, t in out]


def _primary(shop: Any) -> str:
    return next(loc["locale"] for loc in _state(shop)["locales"] if loc["primary"])


@res("QueryRoot", "shopLocales")
def q_shop_locales(src: Any, info: GraphQLResolveInfo, published: bool = False) -> Any:
    return [{**loc, "marketWebPresences": []} for loc in _state(_shop(info))["locales"]
            if loc["published"] or not published]


@res("QueryRoot", "translatableResource")
def q_translatable_resource(src: Any, info: GraphQLResolveInfo, resourceId: str) -> Any:
    found = _resource(_shop(info), resourceId)
    return None if found is None else {"__typename": "TranslatableResource", "resourceId": resourceId,
                                       "_kind": found[0], "_rec": found[1]}


@res("TranslatableResource", "translatableContent")
def tr_content(r: dict[str, Any], info: GraphQLResolveInfo, marketId: str | None = None) -> Any:
    return _content(r["_kind"], r["_rec"], _primary(_shop(info)))


@res("TranslatableResource", "translations")
def tr_translations(r: dict[str, Any], info: GraphQLResolveInfo, locale: str, marketId: str | None = None,
                    outdated: bool | None = None) -> Any:
    shop = _shop(info)
    current = {c["key"]: c["digest"] for c in _content(r["_kind"], r["_rec"], _primary(shop))}
    out = []
    for (ref, loc, key), t in sorted(_state(shop)["translations"].items()):
        if ref != r["resourceId"] or loc != locale:
            continue
        stale = current.get(key) != t["digest"]
        if outdated is None or outdated == stale:
            out.append({"key": key, "value": t["value"], "locale": loc, "outdated": stale, "updatedAt": t["at"],
                        "market": None})
    return out


@res("Mutation", "translationsRegister")
def m_translations_register(src: Any, info: GraphQLResolveInfo, resourceId: str,
                            translations: list[dict[str, Any]]) -> Any:
    shop = _shop(info)
    with shop.lock:
        found = _resource(shop, resourceId)
        if found is None:
            return {"translations": None, "userErrors": [
                {"field": ["resourceId"], "message": f"Resource {resourceId} does not exist", "code": "RESOURCE_NOT_FOUND"}]}
        st = _state(shop)
        enabled = {loc["locale"] for loc in st["locales"] if not loc["primary"]}
        content = {c["key"]: c for c in _content(found[0], found[1], _primary(shop))}
        errors = []
        for i, t in enumerate(translations):
            field = ["translations", str(i)]
            if t["locale"] not in enabled:
                errors.append({"field": [*field, "locale"], "message": "Locale language code is invalid for shop",
                               "code": "INVALID_LOCALE_FOR_SHOP"})
            elif t["key"] not in content:
                errors.append({"field": [*field, "key"], "message": f"Key {t['key']} is not a valid translatable "
                               "field", "code": "INVALID_KEY_FOR_MODEL"})
            elif t["translatableContentDigest"] != content[t["key"]]["digest"]:
                errors.append({"field": [*field, "translatableContentDigest"], "message": "Translatable content "
                               "hash is invalid", "code": "INVALID_TRANSLATABLE_CONTENT"})
            elif not (t.get("value") or "").strip():
                errors.append({"field": [*field, "value"], "message": "Value can't be blank", "code": "BLANK"})
        if errors:
            return {"translations": None, "userErrors": errors}
        at = iso(now())
        out = []
        for t in translations:
            st["translations"][(resourceId, t["locale"], t["key"])] = {"value": t["value"],
                                                                       "digest": t["translatableContentDigest"],
                                                                       "at": at}
            out.append({"key": t["key"], "value": t["value"], "locale": t["locale"], "outdated": False,
                        "updatedAt": at, "market": None})
    return {"translations": out, "userErrors": []}


@res("QueryRoot", "translatableResourcesByIds")
def q_translatable_resources_by_ids(src: Any, info: GraphQLResolveInfo, resourceIds: list[str], **args: Any) -> Any:
    from .resolvers import connection

    shop = _shop(info)
    items = []
    for i, ref in enumerate(resourceIds):
        found = _resource(shop, ref)
        if found is not None:
            items.append({"__typename": "TranslatableResource", "resourceId": ref, "_kind": found[0],
                          "_rec": found[1], "_n": i + 1})
    return connection(info, items, args)


def control(shop: Any, method: str, data: Any) -> tuple[int, Any]:
    """``/_sim/shops/{shop}/locales``: GET the locales; POST ``{"locales": [{locale, name, primary, published}]}``
    replaces them; ``/_sim/shops/{shop}/translations`` (GET) lists every registered translation."""
    st = _state(shop)
    if method == "POST" and data.get("locales") is not None:
        st["locales"] = [{"locale": x["locale"], "name": x.get("name", x["locale"]), "primary": bool(x.get("primary")),
                          "published": bool(x.get("published", True))} for x in data["locales"]]
    return 200, {"locales": st["locales"],
                 "translations": [{"resourceId": r, "locale": loc, "key": k, "value": t["value"]}
                                  for (r, loc, k), t in sorted(st["translations"].items())]}
