"""GraphQL resolvers: documents are executed by graphql-core against Shopify's real schema.

The default field resolver reads dict keys; computed fields are registered per (GraphQL type, field) in ``R``.
Abstract types (Node, Media, ProductOperation, ...) are resolved through the records' ``__typename``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, GraphQLNonNull, GraphQLResolveInfo, value_from_ast_untyped

from . import search
from .search import Field
from .util import decode_cursor, encode_cursor, gid, gid_kind, iso, now, parse_gid, strip_html

if TYPE_CHECKING:  # pragma: no cover
    from .app import Simulator
    from .schema import VersionSchema
    from .store import ShopState

R: dict[tuple[str, str], Callable[..., Any]] = {}
_MISSING = object()


def res(type_name: str, *fields: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for f in fields:
            R[(type_name, f)] = fn
        return fn

    return deco


class RequestContext:
    def __init__(self, sim: Simulator, shop: ShopState, version: str, vschema: VersionSchema, bulk: bool = False):
        self.sim = sim
        self.shop = shop
        self.version = version
        self.vschema = vschema
        self.bulk = bulk
        self.denied: dict[str, dict[str, Any]] = {}
        self._shop_record: dict[str, Any] | None = None

    def shop_record(self) -> dict[str, Any]:
        if self._shop_record is None:
            self._shop_record = shop_record(self.shop)
        return self._shop_record


def field_resolver(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    parent = info.parent_type.name
    if info.path.prev is None:
        ctx: RequestContext = info.context
        denied = ctx.denied.get(info.path.key)
        if denied is not None:
            raise GraphQLError(denied["message"], extensions=denied["extensions"])
    fn = R.get((parent, info.field_name))
    if fn is not None:
        return fn(src, info, **args)
    if info.path.prev is None:
        _unimplemented(info, parent)
        raise GraphQLError(f"shopify_sim: {parent}.{info.field_name} is not implemented by the simulator",
                           extensions={"code": "SIMULATOR_UNIMPLEMENTED"})
    if isinstance(src, dict):
        v = src.get(info.field_name, _MISSING)
        if v is not _MISSING:
            return v
        if info.field_name == "legacyResourceId" and "_n" in src:
            return str(src["_n"])
        if info.field_name == "defaultCursor" and "_n" in src:
            return encode_cursor(src["_n"])
        if info.field_name in ("translations",):
            return []
    else:
        v = getattr(src, info.field_name, _MISSING)
        if v is not _MISSING:
            return v(info, **args) if callable(v) else v
    key = _unimplemented(info, parent)
    if isinstance(info.return_type, GraphQLNonNull):
        raise GraphQLError(
            f"shopify_sim: field {key} is not implemented by the simulator",
            extensions={"code": "SIMULATOR_UNIMPLEMENTED"},
        )
    return None


def _unimplemented(info: GraphQLResolveInfo, parent: str) -> str:
    key = f"{parent}.{info.field_name}"
    stats = info.context.shop.stats["unimplemented_fields"]
    stats[key] = stats.get(key, 0) + 1
    return key


def type_resolver(value: Any, info: GraphQLResolveInfo, abstract_type: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("__typename")
    return None


def _ctx(info: GraphQLResolveInfo) -> RequestContext:
    return info.context


def _shop(info: GraphQLResolveInfo) -> ShopState:
    return info.context.shop


# ----------------------------------------------------------------------------------------------------------
# connections
# ----------------------------------------------------------------------------------------------------------
def connection(
    info: GraphQLResolveInfo,
    items: list[dict[str, Any]],
    args: dict[str, Any],
    sort_value: Callable[[dict[str, Any]], Any] | None = None,
) -> dict[str, Any]:
    """Relay connection over ``items`` (already sorted ascending by (sort value, id))."""
    if args.get("reverse"):
        items = items[::-1]
    first = args.get("first")
    last = args.get("last")
    if _ctx(info).bulk:
        first = last = None
    start, end = 0, len(items)
    after, before = args.get("after"), args.get("before")
    if after:
        start = _cursor_index(items, after, sort_value, bool(args.get("reverse"))) + 1
    if before:
        end = _cursor_index(items, before, sort_value, bool(args.get("reverse")), before=True)
    start = max(0, min(start, len(items)))
    end = max(start, min(end, len(items)))
    if first is not None:
        end = min(end, start + max(first, 0))
    if last is not None:
        start = max(start, end - max(last, 0))
    sl = items[start:end]
    edges = [{"cursor": encode_cursor(r.get("_n", 0), sort_value(r) if sort_value else None), "node": r} for r in sl]
    return {
        "edges": edges,
        "nodes": sl,
        "pageInfo": {
            "hasNextPage": end < len(items),
            "hasPreviousPage": start > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _cursor_index(items: list[dict[str, Any]], cursor: str, sort_value: Callable[[dict[str, Any]], Any] | None,
                  reverse: bool, before: bool = False) -> int:
    data = decode_cursor(cursor)
    if data is None:
        raise GraphQLError(f"Invalid cursor: {cursor!r}", extensions={"code": "BAD_REQUEST"})
    last_id = data.get("last_id")
    for i, r in enumerate(items):
        if r.get("_n") == last_id:
            return i
    # the cursor's record is gone: position by its sort key
    key = (_norm(data.get("last_value")), last_id or 0)
    for i, r in enumerate(items):
        rk = (_norm(sort_value(r)) if sort_value else None, r.get("_n", 0))
        try:
            past = rk < key if reverse else rk > key
        except TypeError:
            past = False
        if past:
            return i if before else i - 1
    return len(items) if before else len(items) - 1


def _norm(v: Any) -> Any:
    return "" if v is None else v


def empty_connection() -> dict[str, Any]:
    return {"edges": [], "nodes": [], "pageInfo": {"hasNextPage": False, "hasPreviousPage": False,
                                                   "startCursor": None, "endCursor": None}}


def _count(n: int, limit: int | None = None) -> dict[str, Any]:
    if limit is not None and n > limit:
        return {"count": limit, "precision": "AT_LEAST"}
    return {"count": n, "precision": "EXACT"}


# ----------------------------------------------------------------------------------------------------------
# search definitions
# ----------------------------------------------------------------------------------------------------------
def _p(fn: Callable[[Any, dict[str, Any]], Any]) -> Callable[[tuple[Any, dict[str, Any]], Any], Any]:
    return lambda t: fn(t[0], t[1])


search.register("products", {
    "id": Field(_p(lambda s, p: p["_n"]), "id"),
    "product_id": Field(_p(lambda s, p: p["_n"]), "id"),
    "handle": Field(_p(lambda s, p: p["handle"])),
    "title": Field(_p(lambda s, p: p["title"])),
    "vendor": Field(_p(lambda s, p: p["vendor"])),
    "product_type": Field(_p(lambda s, p: p["productType"])),
    "status": Field(_p(lambda s, p: p["status"])),
    "tag": Field(_p(lambda s, p: p["tags"])),
    "tag_not": Field(_p(lambda s, p: None if p["tags"] else "")),
    "sku": Field(_p(lambda s, p: [v["sku"] for v in s.variant_list(p)])),
    "barcode": Field(_p(lambda s, p: [v["barcode"] for v in s.variant_list(p)])),
    "variant_id": Field(_p(lambda s, p: list(p["_variants"])), "id"),
    "updated_at": Field(_p(lambda s, p: p["_updated"]), "date"),
    "created_at": Field(_p(lambda s, p: p["_created"]), "date"),
    "published_status": Field(_p(lambda s, p: "published" if p["publishedAt"] else "unpublished")),
    "gift_card": Field(_p(lambda s, p: str(p["isGiftCard"]).lower())),
    "inventory_total": Field(_p(lambda s, p: product_total_inventory(s, p)), "number"),
    "out_of_stock_somewhere": Field(_p(lambda s, p: str(any(
        s.variant_inventory_quantity(v) <= 0 for v in s.variant_list(p))).lower())),
}, _p(lambda s, p: " ".join([p["title"], p["handle"], p["vendor"], p["productType"], *p["tags"],
                              *[v["sku"] or "" for v in s.variant_list(p)]])))

search.register("variants", {
    "id": Field(_p(lambda s, v: v["_n"]), "id"),
    "product_id": Field(_p(lambda s, v: v["_product"]), "id"),
    "sku": Field(_p(lambda s, v: v["sku"])),
    "barcode": Field(_p(lambda s, v: v["barcode"])),
    "title": Field(_p(lambda s, v: v["title"])),
    "updated_at": Field(_p(lambda s, v: v["_updated"]), "date"),
    "created_at": Field(_p(lambda s, v: v["_created"]), "date"),
    "inventory_quantity": Field(_p(lambda s, v: s.variant_inventory_quantity(v)), "number"),
    "product_status": Field(_p(lambda s, v: s.products[v["_product"]]["status"])),
    "vendor": Field(_p(lambda s, v: s.products[v["_product"]]["vendor"])),
    "product_type": Field(_p(lambda s, v: s.products[v["_product"]]["productType"])),
    "tag": Field(_p(lambda s, v: s.products[v["_product"]]["tags"])),
    "inventory_item_id": Field(_p(lambda s, v: v["_item"]), "id"),
}, _p(lambda s, v: " ".join([v["title"], v["sku"] or "", s.products[v["_product"]]["title"]])))

search.register("locations", {
    "id": Field(_p(lambda s, loc: loc["_n"]), "id"),
    "name": Field(_p(lambda s, loc: loc["name"])),
    "active": Field(_p(lambda s, loc: str(loc["isActive"]).lower())),
}, _p(lambda s, loc: loc["name"]))

search.register("inventory_items", {
    "id": Field(_p(lambda s, i: i["_n"]), "id"),
    "sku": Field(_p(lambda s, i: (s.variants.get(i["_variant"]) or {}).get("sku"))),
    "updated_at": Field(_p(lambda s, i: i["_updated"]), "date"),
    "created_at": Field(_p(lambda s, i: i["_created"]), "date"),
}, _p(lambda s, i: (s.variants.get(i["_variant"]) or {}).get("sku") or ""))

search.register("bulk_operations", {
    "status": Field(_p(lambda s, b: b["status"])),
    "operation_type": Field(_p(lambda s, b: b["type"])),
    "created_at": Field(_p(lambda s, b: b["_created"]), "date"),
    "id": Field(_p(lambda s, b: b["_n"]), "id"),
}, _p(lambda s, b: b["query"]))

search.register("generic", {
    "id": Field(_p(lambda s, r: r["_n"]), "id"),
    "updated_at": Field(_p(lambda s, r: r.get("_updated")), "date"),
    "created_at": Field(_p(lambda s, r: r.get("_created")), "date"),
}, _p(lambda s, r: ""))


def _filter(info: GraphQLResolveInfo, resource: str, items: list[dict[str, Any]], query: str | None) -> list[Any]:
    pred = search.compile_query(resource, query)
    if pred is None:
        return items
    shop = _shop(info)
    return [r for r in items if pred((shop, r))]


PRODUCT_SORT: dict[str, Callable[[ShopState, dict[str, Any]], Any]] = {
    "ID": lambda s, p: None,
    "RELEVANCE": lambda s, p: None,
    "TITLE": lambda s, p: p["title"].lower(),
    "UPDATED_AT": lambda s, p: p["_updated"],
    "CREATED_AT": lambda s, p: p["_created"],
    "VENDOR": lambda s, p: p["vendor"].lower(),
    "PRODUCT_TYPE": lambda s, p: p["productType"].lower(),
    "PUBLISHED_AT": lambda s, p: p["publishedAt"] or "",
    "INVENTORY_TOTAL": lambda s, p: product_total_inventory(s, p),
}

VARIANT_SORT: dict[str, Callable[[ShopState, dict[str, Any]], Any]] = {
    "ID": lambda s, v: None,
    "RELEVANCE": lambda s, v: None,
    "POSITION": lambda s, v: (v["_product"], v["position"]),
    "SKU": lambda s, v: v["sku"] or "",
    "TITLE": lambda s, v: v["title"].lower(),
    "NAME": lambda s, v: v["title"].lower(),
    "FULL_TITLE": lambda s, v: (s.products[v["_product"]]["title"] + " - " + v["title"]).lower(),
    "INVENTORY_QUANTITY": lambda s, v: s.variant_inventory_quantity(v),
    "INVENTORY_LEVELS_AVAILABLE": lambda s, v: s.variant_inventory_quantity(v),
    "INVENTORY_POLICY": lambda s, v: v["inventoryPolicy"],
    "INVENTORY_MANAGEMENT": lambda s, v: str(s.items[v["_item"]]["tracked"]),
    "POPULAR": lambda s, v: None,
}


def _sorted(shop: ShopState, items: list[dict[str, Any]], keyfn: Callable[[ShopState, dict[str, Any]], Any]
            ) -> tuple[list[dict[str, Any]], Callable[[dict[str, Any]], Any]]:
    def sv(r: dict[str, Any]) -> Any:
        return keyfn(shop, r)

    if not items or keyfn(shop, items[0]) is None:
        return sorted(items, key=lambda r: r["_n"]), sv
    return sorted(items, key=lambda r: (keyfn(shop, r), r["_n"])), sv


# ----------------------------------------------------------------------------------------------------------
# shop / app
# ----------------------------------------------------------------------------------------------------------
def shop_record(shop: ShopState) -> dict[str, Any]:
    from .config import PLANS

    c = shop.cfg
    plan = PLANS[c.plan]
    url = f"https://{c.domain}"
    return {
        "__typename": "Shop",
        "id": gid("Shop", shop.shop_num),
        "_n": shop.shop_num,
        "name": c.shop_name,
        "myshopifyDomain": c.domain,
        "email": c.email,
        "contactEmail": c.email,
        "shopOwnerName": "Sim Owner",
        "currencyCode": c.currency,
        "enabledPresentmentCurrencies": [c.currency],
        "ianaTimezone": "UTC",
        "timezoneAbbreviation": "UTC",
        "timezoneOffset": "+0000",
        "timezoneOffsetMinutes": 0,
        "weightUnit": "KILOGRAMS",
        "unitSystem": "METRIC_SYSTEM",
        "taxesIncluded": False,
        "taxShipping": False,
        "setupRequired": False,
        "checkoutApiSupported": True,
        "transactionalSmsDisabled": False,
        "marketingSmsConsentEnabledAtCheckout": False,
        "description": None,
        "url": url,
        "primaryDomain": {"__typename": "Domain", "id": gid("Domain", shop.shop_num), "host": c.domain,
                          "url": url, "sslEnabled": True, "localization": None, "marketWebPresence": None},
        "plan": {
            "displayName": plan["display"],
            "publicDisplayName": plan["display"],
            "partnerDevelopment": False,
            "shopifyPlus": bool(plan["plus"]),
        },
        "createdAt": iso(shop.created_at),
        "updatedAt": iso(shop.created_at),
        "orderNumberFormatPrefix": "#",
        "orderNumberFormatSuffix": "",
        "alerts": [],
        "shipsToCountries": ["CA", "US"],
        "resourceLimits": {"locationLimit": 1000, "maxProductOptions": 3, "maxProductVariants": 2048,
                           "redirectLimitReached": False},
        "customerAccounts": "OPTIONAL",
        "richTextEditorUrl": f"{url}/admin/rich_text_editor",
        "_mf": {},
    }


@res("QueryRoot", "shop")
def q_shop(src: Any, info: GraphQLResolveInfo) -> Any:
    return _ctx(info).shop_record()


@res("QueryRoot", "currentAppInstallation")
def q_app_installation(src: Any, info: GraphQLResolveInfo) -> Any:
    shop = _shop(info)
    scopes = [{"handle": s, "description": f"Simulated scope {s}"} for s in shop.granted_scopes()]
    app = {"__typename": "App", "id": gid("App", shop.app_num), "title": "PIM (simulated)",
           "apiKey": shop.cfg.client_id, "handle": "pim", "developerName": "PIM", "embedded": False,
           "webhookApiVersion": shop.cfg.webhook_api_version, "requestedAccessScopes": scopes,
           "availableAccessScopes": scopes, "optionalAccessScopes": [], "installUrl": None, "published": False,
           "previouslyInstalled": False, "shopifyDeveloped": False, "features": [], "failedRequirements": [],
           "isPostPurchaseAppInUse": False, "pricingDetailsSummary": "", "uninstallMessage": "", "screenshots": [],
           "description": None}
    return {"__typename": "AppInstallation", "id": gid("AppInstallation", shop.app_installation_num),
            "accessScopes": scopes, "app": app, "activeSubscriptions": [], "launchUrl": f"https://{shop.domain}/admin/apps/pim",
            "uninstallUrl": None, "_mf": {}}


@res("QueryRoot", "publicApiVersions")
def q_api_versions(src: Any, info: GraphQLResolveInfo) -> Any:
    versions = _ctx(info).sim.schemas.versions
    return [{"handle": v, "displayName": v + (" (Latest)" if v == "2026-07" else ""), "supported": True}
            for v in versions] + [{"handle": "unstable", "displayName": "unstable", "supported": False}]


# ----------------------------------------------------------------------------------------------------------
# products
# ----------------------------------------------------------------------------------------------------------
def product_total_inventory(shop: ShopState, p: dict[str, Any]) -> int:
    total = 0
    for v in shop.variant_list(p):
        if shop.items[v["_item"]]["tracked"]:
            total += shop.variant_inventory_quantity(v)
    return total


@res("QueryRoot", "product")
def q_product(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _shop(info).product(id) if gid_kind(id) == "Product" else None


@res("QueryRoot", "productByHandle")
def q_product_by_handle(src: Any, info: GraphQLResolveInfo, handle: str) -> Any:
    shop = _shop(info)
    n = shop.handles.get(handle)
    return shop.products.get(n) if n else None


@res("QueryRoot", "productByIdentifier")
def q_product_by_identifier(src: Any, info: GraphQLResolveInfo, identifier: dict[str, Any]) -> Any:
    shop = _shop(info)
    if identifier.get("id") is not None:
        return shop.product(identifier["id"]) if gid_kind(identifier["id"]) == "Product" else None
    if identifier.get("handle") is not None:
        n = shop.handles.get(identifier["handle"])
        return shop.products.get(n) if n else None
    cid = identifier.get("customId")
    if cid:
        ns = shop.resolve_namespace(cid.get("namespace"))
        for p in shop.products.values():
            mfn = p["_mf"].get((ns, cid["key"]))
            if mfn and shop.metafields[mfn]["value"] == cid["value"]:
                return p
    return None


@res("QueryRoot", "products")
def q_products(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = _filter(info, "products", list(shop.products.values()), args.get("query"))
    items, sv = _sorted(shop, items, PRODUCT_SORT.get(args.get("sortKey") or "ID", PRODUCT_SORT["ID"]))
    return connection(info, items, args, sv)


@res("QueryRoot", "productsCount")
def q_products_count(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = _filter(info, "products", list(shop.products.values()), args.get("query"))
    return _count(len(items), args.get("limit"))


@res("QueryRoot", "productVariant")
def q_variant(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _shop(info).variant(id) if gid_kind(id) == "ProductVariant" else None


@res("QueryRoot", "productVariants")
def q_variants(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = _filter(info, "variants", list(shop.variants.values()), args.get("query"))
    items, sv = _sorted(shop, items, VARIANT_SORT.get(args.get("sortKey") or "ID", VARIANT_SORT["ID"]))
    return connection(info, items, args, sv)


@res("QueryRoot", "productVariantsCount")
def q_variants_count(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    return _count(len(_filter(info, "variants", list(shop.variants.values()), args.get("query"))), args.get("limit"))


@res("Product", "variants")
def product_variants(p: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = shop.variant_list(p)
    key = args.get("sortKey") or "POSITION"
    if key == "POSITION":
        return connection(info, items, args, lambda v: v["position"])
    items, sv = _sorted(shop, items, VARIANT_SORT.get(key, VARIANT_SORT["ID"]))
    return connection(info, items, args, sv)


@res("Product", "variantsCount")
def product_variants_count(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _count(len(p["_variants"]))


@res("Product", "totalVariants")
def product_total_variants(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return len(p["_variants"])


@res("Product", "options")
def product_options(p: dict[str, Any], info: GraphQLResolveInfo, first: int | None = None) -> Any:
    opts = _shop(info).option_list(p)
    return opts[:first] if first is not None else opts


@res("Product", "totalInventory")
def product_total_inv(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return product_total_inventory(_shop(info), p)


@res("Product", "tracksInventory")
def product_tracks(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    shop = _shop(info)
    return any(shop.items[v["_item"]]["tracked"] for v in shop.variant_list(p))


@res("Product", "hasOnlyDefaultVariant")
def product_only_default(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    shop = _shop(info)
    vs = shop.variant_list(p)
    return len(vs) == 1 and vs[0]["_opts"] == ["Default Title"]


@res("Product", "hasOutOfStockVariants")
def product_oos(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    shop = _shop(info)
    return any(shop.items[v["_item"]]["tracked"] and shop.variant_inventory_quantity(v) <= 0
               for v in shop.variant_list(p))


@res("Product", "hasVariantsThatRequiresComponents")
def product_components(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return False


@res("Product", "description")
def product_description(p: dict[str, Any], info: GraphQLResolveInfo, truncateAt: int | None = None) -> Any:
    text = strip_html(p["descriptionHtml"])
    if truncateAt is not None and len(text) > truncateAt:
        text = text[: max(truncateAt - 3, 0)] + "..."
    return text


@res("Product", "bodyHtml")
def product_body_html(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return p["descriptionHtml"]


@res("Product", "onlineStoreUrl")
def product_online_url(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    if p["status"] == "ACTIVE" and p["publishedAt"]:
        return f"https://{_shop(info).domain}/products/{p['handle']}"
    return None


@res("Product", "onlineStorePreviewUrl")
def product_preview_url(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return f"https://{_shop(info).domain}/products/{p['handle']}?preview=1"


@res("Product", "media")
def product_media(p: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = [shop.media[n] for n in p["_media"] if n in shop.media]
    pos = {n: i for i, n in enumerate(p["_media"])}
    return connection(info, items, args, lambda m: pos.get(m["_n"]))


@res("Product", "mediaCount")
def product_media_count(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _count(len(p["_media"]))


@res("Product", "featuredMedia")
def product_featured_media(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    shop = _shop(info)
    return next((shop.media[n] for n in p["_media"] if n in shop.media), None)


@res("MediaImage", "image")
def media_image(m: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    # Shopify has no image until the media is processed (UPLOADED/PROCESSING/FAILED give null).
    return m["image"] if m.get("status") == "READY" else None


@res("Product", "featuredImage")
def product_featured_image(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    m = product_featured_media(p, info)
    return m["image"] if m else None


@res("Product", "images")
def product_images(p: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = [dict(shop.media[n]["image"], _n=n) for n in p["_media"] if n in shop.media]
    return connection(info, items, args)


@res("Product", "priceRangeV2", "priceRange")
def product_price_range(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    shop = _shop(info)
    prices = [float(v["price"]) for v in shop.variant_list(p)] or [0.0]
    cur = shop.cfg.currency

    def m(x: float) -> dict[str, Any]:
        return {"amount": f"{x:.2f}", "currencyCode": cur}

    return {"minVariantPrice": m(min(prices)), "maxVariantPrice": m(max(prices))}


@res("Product", "compareAtPriceRange")
def product_compare_range(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    shop = _shop(info)
    prices = [float(v["compareAtPrice"]) for v in shop.variant_list(p) if v["compareAtPrice"]]
    if not prices:
        return None
    cur = shop.cfg.currency
    return {"minVariantCompareAtPrice": {"amount": f"{min(prices):.2f}", "currencyCode": cur},
            "maxVariantCompareAtPrice": {"amount": f"{max(prices):.2f}", "currencyCode": cur}}


@res("Product", "collections")
def product_collections(p: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    return empty_connection()


@res("Product", "category")
def product_category(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    if not p["_category"]:
        return None
    return {"__typename": "TaxonomyCategory", "id": p["_category"], "name": p["_category"].rsplit("/", 1)[-1],
            "fullName": p["_category"], "isLeaf": True, "isRoot": False, "level": 1, "ancestorIds": [],
            "childrenIds": [], "isArchived": False, "parentId": None}


@res("Product", "publishedOnPublication")
def product_published_on(p: dict[str, Any], info: GraphQLResolveInfo, publicationId: str) -> Any:
    return parse_gid(publicationId, "Publication") in p["_published"]


@res("Product", "publishedInContext")
def product_published_ctx(p: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    return bool(p["_published"])


@res("Product", "resourcePublicationsCount", "availablePublicationsCount")
def product_publications_count(p: dict[str, Any], info: GraphQLResolveInfo, onlyPublished: bool = True) -> Any:
    return _count(len(p["_published"]) if onlyPublished else len(_shop(info).publications))


@res("Product", "resourcePublications", "resourcePublicationsV2")
def product_resource_publications(p: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = []
    for n in sorted(p["_published"]):
        pub = shop.publications.get(n)
        if pub:
            items.append({"__typename": "ResourcePublication", "_n": n, "isPublished": True, "publication": pub,
                          "publishDate": p["publishedAt"], "publishable": p, "channel": None})
    return connection(info, items, args)


@res("Product", "unpublishedPublications")
def product_unpublished(p: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    return connection(info, [pub for n, pub in shop.publications.items() if n not in p["_published"]], args)


@res("Product", "sellingPlanGroups", "productComponents", "productParents", "bundleComponents", "events")
def product_empty_conn(p: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    return empty_connection()


@res("Product", "sellingPlanGroupsCount", "productComponentsCount")
def product_zero_count(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _count(0)


@res("Product", "combinedListing", "feedback", "giftCardSettings", "bundleConsolidatedOptions", "restrictedForResource")
def product_none(p: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    return None


@res("Product", "inCollection")
def product_in_collection(p: dict[str, Any], info: GraphQLResolveInfo, id: str) -> Any:
    return id in p["_collections"]


# metafields (any owner) ------------------------------------------------------------------------------
def _metafield(owner: dict[str, Any], info: GraphQLResolveInfo, key: str, namespace: str | None = None) -> Any:
    shop = _shop(info)
    if namespace is None and "." in key:
        namespace, key = key.rsplit(".", 1)
    ns = shop.resolve_namespace(namespace)
    n = owner.get("_mf", {}).get((ns, key))
    return shop.metafields.get(n) if n else None


def _metafields(owner: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = [shop.metafields[n] for n in owner.get("_mf", {}).values() if n in shop.metafields]
    if args.get("namespace") is not None:
        ns = shop.resolve_namespace(args["namespace"])
        items = [m for m in items if m["namespace"] == ns]
    if args.get("keys"):
        wanted = set()
        for k in args["keys"]:
            ns, _, key = k.rpartition(".")
            wanted.add((shop.resolve_namespace(ns or None), key))
        items = [m for m in items if (m["namespace"], m["key"]) in wanted]
    items.sort(key=lambda m: m["_n"])
    return connection(info, items, args)


for _t in ("Product", "ProductVariant", "Location", "Shop", "AppInstallation", "Image", "MediaImage"):
    R[(_t, "metafield")] = _metafield
    R[(_t, "metafields")] = _metafields


@res("Metafield", "compareDigest")
def mf_digest(mf: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop(info).compare_digest(mf)


@res("Metafield", "jsonValue")
def mf_json(mf: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    t = mf["type"]
    v = mf["value"]
    try:
        if t.startswith("list.") or t in ("json", "rich_text_field", "dimension", "volume", "weight", "money",
                                          "rating", "link"):
            return json.loads(v)
        if t == "number_integer":
            return int(v)
        if t == "number_decimal":
            return v
        if t == "boolean":
            return v.lower() == "true"
    except (ValueError, AttributeError):
        pass
    return v


@res("Metafield", "owner")
def mf_owner(mf: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    shop = _shop(info)
    return shop.product(mf["_owner"]) or shop.variant(mf["_owner"]) or shop.location(mf["_owner"])


@res("Metafield", "sizeInBytes")
def mf_size(mf: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return len(mf["value"].encode())


@res("Metafield", "definition", "reference")
def mf_none(mf: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return None


@res("Metafield", "references")
def mf_refs(mf: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    return None


# options -----------------------------------------------------------------------------------------------
@res("ProductOption", "values")
def option_values_names(o: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return [v["name"] for v in o["_values"]]


@res("ProductOption", "optionValues")
def option_values(o: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    shop = _shop(info)
    product = next((p for p in (shop.products.get(pn) for pn in _option_products(shop, o)) if p), None)
    used: set[str] = set()
    if product is not None:
        idx = product["_options"].index(o["_n"]) if o["_n"] in product["_options"] else -1
        for v in shop.variant_list(product):
            if 0 <= idx < len(v["_opts"]):
                used.add(v["_opts"][idx])
    return [dict(v, hasVariants=v["name"] in used) for v in o["_values"]]


def _option_products(shop: ShopState, o: dict[str, Any]) -> list[int]:
    cache = o.get("_product")
    if cache and cache in shop.products:
        return [cache]
    for p in shop.products.values():
        if o["_n"] in p["_options"]:
            o["_product"] = p["_n"]
            return [p["_n"]]
    return []


# variants ----------------------------------------------------------------------------------------------
@res("ProductVariant", "product")
def variant_product(v: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop(info).products.get(v["_product"])


@res("ProductVariant", "inventoryItem")
def variant_item(v: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop(info).items.get(v["_item"])


@res("ProductVariant", "inventoryQuantity", "sellableOnlineQuantity")
def variant_qty(v: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop(info).variant_inventory_quantity(v)


@res("ProductVariant", "availableForSale")
def variant_available(v: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    shop = _shop(info)
    p = shop.products.get(v["_product"])
    if p is None or p["status"] != "ACTIVE":
        return False
    item = shop.items[v["_item"]]
    return (not item["tracked"]) or v["inventoryPolicy"] == "CONTINUE" or shop.variant_inventory_quantity(v) > 0


@res("ProductVariant", "selectedOptions")
def variant_selected(v: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    shop = _shop(info)
    p = shop.products.get(v["_product"])
    opts = shop.option_list(p) if p else []
    out = []
    for o, val in zip(opts, v["_opts"], strict=False):
        ov = next((x for x in o["_values"] if x["name"] == val), None)
        out.append({"name": o["name"], "value": val, "optionValue": dict(ov, hasVariants=True) if ov else None})
    return out


@res("ProductVariant", "displayName")
def variant_display(v: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    p = _shop(info).products.get(v["_product"])
    return f"{p['title'] if p else ''} - {v['title']}"


@res("ProductVariant", "media")
def variant_media(v: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    return connection(info, [shop.media[n] for n in v["_media"] if n in shop.media], args)


@res("ProductVariant", "image")
def variant_image(v: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    m = next((shop.media[n] for n in v["_media"] if n in shop.media), None)
    return m["image"] if m else None


@res("ProductVariant", "unitPrice", "unitPriceMeasurement", "deliveryProfile")
def variant_none(v: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return None


@res("ProductVariant", "sellingPlanGroups", "productParents", "productVariantComponents", "events")
def variant_empty(v: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    return empty_connection()


@res("ProductVariant", "sellingPlanGroupsCount")
def variant_zero(v: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _count(0)


@res("ProductVariant", "publishedOnPublication")
def variant_published(v: dict[str, Any], info: GraphQLResolveInfo, publicationId: str) -> Any:
    p = _shop(info).products.get(v["_product"])
    return bool(p) and parse_gid(publicationId, "Publication") in p["_published"]


# inventory ---------------------------------------------------------------------------------------------
@res("InventoryItem", "sku")
def item_sku(item: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    v = _shop(info).variants.get(item["_variant"])
    return v["sku"] if v else None


@res("InventoryItem", "variant")
def item_variant(item: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop(info).variants.get(item["_variant"])


@res("InventoryItem", "variants")
def item_variants(item: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    v = _shop(info).variants.get(item["_variant"])
    return connection(info, [v] if v else [], args)


@res("InventoryItem", "inventoryLevels")
def item_levels(item: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    levels = [dict(lvl, _n=loc_n) for loc_n, lvl in shop.item_levels.get(item["_n"], {}).items()]
    levels.sort(key=lambda lvl: lvl["_n"])
    return connection(info, levels, args)


@res("InventoryItem", "inventoryLevel")
def item_level(item: dict[str, Any], info: GraphQLResolveInfo, locationId: str, includeInactive: bool = False) -> Any:
    n = parse_gid(locationId, "Location")
    return _shop(info).levels.get((item["_n"], n)) if n else None


@res("InventoryItem", "locationsCount")
def item_locations_count(item: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _count(len(_shop(info).item_levels.get(item["_n"], {})))


@res("InventoryItem", "unitCost")
def item_cost(item: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    if item["_cost"] is None:
        return None
    return {"amount": item["_cost"], "currencyCode": _shop(info).cfg.currency}


@res("InventoryItem", "measurement")
def item_measurement(item: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    w = item["_weight"]
    return {"__typename": "InventoryItemMeasurement", "id": gid("InventoryItemMeasurement", item["_n"]),
            "weight": {"value": float(w.get("value") or 0), "unit": w.get("unit") or "KILOGRAMS"} if w else None}


@res("InventoryItem", "trackedEditable")
def item_tracked_editable(item: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return {"locked": False, "reason": None}


@res("InventoryItem", "duplicateSkuCount")
def item_dup_sku(item: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    shop = _shop(info)
    v = shop.variants.get(item["_variant"])
    if not v or not v["sku"]:
        return 0
    return sum(1 for x in shop.variants.values() if x["sku"] == v["sku"] and x is not v)


@res("InventoryItem", "countryHarmonizedSystemCodes")
def item_hs_codes(item: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    return empty_connection()


@res("InventoryLevel", "item")
def level_item(lvl: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop(info).items.get(lvl["_item"])


@res("InventoryLevel", "location")
def level_location(lvl: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop(info).locations.get(lvl["_loc"])


@res("InventoryLevel", "quantities")
def level_quantities(lvl: dict[str, Any], info: GraphQLResolveInfo, names: list[str]) -> Any:
    shop = _shop(info)
    from .store import ALL_QUANTITY_NAMES

    out = []
    for name in names:
        if name not in ALL_QUANTITY_NAMES:
            raise GraphQLError(f"Invalid quantity name: {name}", extensions={"code": "BAD_REQUEST"})
        ts = lvl["_qts"].get(name)
        out.append({
            "__typename": "InventoryQuantity",
            "id": f"gid://shopify/InventoryQuantity/{lvl['_loc']}?inventory_item_id={lvl['_item']}&name={name}",
            "name": name,
            "quantity": shop.qty(lvl, name),
            "updatedAt": iso(ts) if ts else None,
        })
    return out


@res("InventoryLevel", "available")
def level_available(lvl: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return lvl["_q"]["available"]


@res("Location", "inventoryLevels")
def location_levels(loc: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = [dict(lvl, _n=lvl["_item"]) for (item_n, loc_n), lvl in shop.levels.items() if loc_n == loc["_n"]]
    items.sort(key=lambda x: x["_n"])
    return connection(info, items, args)


@res("Location", "inventoryLevel")
def location_level(loc: dict[str, Any], info: GraphQLResolveInfo, inventoryItemId: str,
                   includeInactive: bool = False) -> Any:
    n = parse_gid(inventoryItemId, "InventoryItem")
    return _shop(info).levels.get((n, loc["_n"])) if n else None


@res("QueryRoot", "locations")
def q_locations(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = _filter(info, "locations", list(shop.locations.values()), args.get("query"))
    key = args.get("sortKey") or "NAME"
    if key == "NAME":
        items = sorted(items, key=lambda loc: (loc["name"].lower(), loc["_n"]))
        return connection(info, items, args, lambda loc: loc["name"].lower())
    return connection(info, sorted(items, key=lambda loc: loc["_n"]), args)


@res("QueryRoot", "locationsCount")
def q_locations_count(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    return _count(len(_shop(info).locations))


@res("QueryRoot", "location")
def q_location(src: Any, info: GraphQLResolveInfo, id: str | None = None) -> Any:
    shop = _shop(info)
    if id is None:
        return shop.primary_location
    return shop.locations.get(parse_gid(id, "Location") or -1)


@res("QueryRoot", "inventoryItem")
def q_item(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _shop(info).item(id) if gid_kind(id) == "InventoryItem" else None


@res("QueryRoot", "inventoryItems")
def q_items(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = _filter(info, "inventory_items", list(shop.items.values()), args.get("query"))
    return connection(info, sorted(items, key=lambda i: i["_n"]), args)


def _level_from_gid(shop: ShopState, ref: str) -> Any:
    if not ref.startswith("gid://shopify/InventoryLevel/"):
        return None
    try:
        loc_part, _, q = ref[len("gid://shopify/InventoryLevel/"):].partition("?")
        item_n = int(q.split("inventory_item_id=", 1)[1].split("&", 1)[0])
        return shop.levels.get((item_n, int(loc_part)))
    except (ValueError, IndexError):
        return None


@res("QueryRoot", "inventoryLevel")
def q_level(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _level_from_gid(_shop(info), id)


@res("InventoryAdjustmentGroup", "changes")
def group_changes(g: dict[str, Any], info: GraphQLResolveInfo, inventoryItemIds: list[str] | None = None,
                  locationIds: list[str] | None = None, quantityNames: list[str] | None = None) -> Any:
    out = g["_changes"]
    if inventoryItemIds:
        want = {parse_gid(x, "InventoryItem") for x in inventoryItemIds}
        out = [c for c in out if c["_item"] in want]
    if locationIds:
        want = {parse_gid(x, "Location") for x in locationIds}
        out = [c for c in out if c["_loc"] in want]
    if quantityNames:
        out = [c for c in out if c["name"] in quantityNames]
    return out


@res("InventoryAdjustmentGroup", "app")
def group_app(g: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return q_app_installation(None, info)["app"]


@res("InventoryChange", "item")
def change_item(c: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop(info).items.get(c["_item"])


@res("InventoryChange", "location")
def change_location(c: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop(info).locations.get(c["_loc"])


# webhooks / publications / bulk -------------------------------------------------------------------------
@res("WebhookSubscription", "endpoint")
def sub_endpoint(s: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    uri = s["uri"]
    if uri.startswith("pubsub://"):
        project, _, topic = uri[len("pubsub://"):].partition(":")
        return {"__typename": "WebhookPubSubEndpoint", "pubSubProject": project, "pubSubTopic": topic}
    if uri.startswith("arn:"):
        return {"__typename": "WebhookEventBridgeEndpoint", "arn": uri}
    return {"__typename": "WebhookHttpEndpoint", "callbackUrl": uri}


@res("WebhookSubscription", "callbackUrl")
def sub_callback(s: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return s["uri"]


@res("WebhookSubscription", "apiVersion")
def sub_api_version(s: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    v = _shop(info).cfg.webhook_api_version
    return {"handle": v, "displayName": v, "supported": True}


@res("QueryRoot", "webhookSubscriptions")
def q_subscriptions(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = list(shop.subscriptions.values())
    if args.get("topics"):
        items = [s for s in items if s["topic"] in args["topics"]]
    if args.get("callbackUrl"):
        items = [s for s in items if s["uri"] == args["callbackUrl"]]
    if args.get("uri"):
        items = [s for s in items if s["uri"] == args["uri"]]
    if args.get("format"):
        items = [s for s in items if s["format"] == args["format"]]
    items = _filter(info, "generic", items, args.get("query"))
    return connection(info, sorted(items, key=lambda s: s["_n"]), args)


@res("QueryRoot", "webhookSubscriptionsCount")
def q_subscriptions_count(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    return _count(len(_shop(info).subscriptions))


@res("QueryRoot", "webhookSubscription")
def q_subscription(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _shop(info).subscriptions.get(parse_gid(id, "WebhookSubscription") or -1)


@res("QueryRoot", "publications")
def q_publications(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    return connection(info, sorted(shop.publications.values(), key=lambda p: p["_n"]), args)


@res("QueryRoot", "publication")
def q_publication(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _shop(info).publications.get(parse_gid(id, "Publication") or -1)


@res("QueryRoot", "publicationsCount")
def q_publications_count(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    return _count(len(_shop(info).publications))


@res("Publication", "products", "includedProducts")
def publication_products(pub: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = [p for p in shop.products.values() if pub["_n"] in p["_published"]]
    items = _filter(info, "products", items, args.get("query"))
    return connection(info, sorted(items, key=lambda p: p["_n"]), args)


@res("Publication", "includedProductsCount")
def publication_products_count(pub: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    return _count(sum(1 for p in _shop(info).products.values() if pub["_n"] in p["_published"]))


@res("Publication", "hasCollection")
def publication_has_collection(pub: dict[str, Any], info: GraphQLResolveInfo, id: str) -> Any:
    return False


@res("Publication", "collections", "channels", "collectionPublicationsV3", "productPublicationsV3")
def publication_empty(pub: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    return empty_connection()


@res("Publication", "operation")
def publication_operation(pub: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return None


@res("QueryRoot", "bulkOperation")
def q_bulk(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _shop(info).bulk_ops.get(parse_gid(id, "BulkOperation") or -1)


@res("QueryRoot", "currentBulkOperation")
def q_current_bulk(src: Any, info: GraphQLResolveInfo, type: str = "QUERY") -> Any:
    ops = [op for op in _shop(info).bulk_ops.values() if op["type"] == type]
    return max(ops, key=lambda op: op["_n"]) if ops else None


@res("QueryRoot", "bulkOperations")
def q_bulk_ops(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = _filter(info, "bulk_operations", list(shop.bulk_ops.values()), args.get("query"))
    items.sort(key=lambda op: (op["_created"], op["_n"]))
    return connection(info, items, args, lambda op: op["_created"])


@res("QueryRoot", "productOperation")
def q_product_operation(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _shop(info).operations.get(parse_gid(id) or -1)


@res("ProductSetOperation", "status")
@res("ProductDeleteOperation", "status")
def op_status(op: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    if "status" in op:
        return op["status"]
    return "COMPLETE" if now() >= op["_ready_at"] else "ACTIVE"


@res("ProductSetOperation", "product")
@res("ProductDeleteOperation", "product")
def op_product(op: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    if "product" in op:
        return op["product"]
    if now() < op["_ready_at"] or op.get("_product") is None:
        return None
    return _shop(info).products.get(op["_product"])


@res("ProductDeleteOperation", "deletedProductId")
def op_deleted(op: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    if "_ready_at" in op and now() < op["_ready_at"]:
        return None
    return op.get("deletedProductId")


# nodes -------------------------------------------------------------------------------------------------
def lookup_node(shop: ShopState, ref: str) -> Any:
    kind = gid_kind(ref)
    if kind is None:
        return None
    if kind == "InventoryLevel":
        return _level_from_gid(shop, ref)
    n = parse_gid(ref)
    table = {
        "Product": shop.products,
        "ProductVariant": shop.variants,
        "InventoryItem": shop.items,
        "Location": shop.locations,
        "Metafield": shop.metafields,
        "MediaImage": shop.media,
        "WebhookSubscription": shop.subscriptions,
        "BulkOperation": shop.bulk_ops,
        "ProductSetOperation": shop.operations,
        "ProductDeleteOperation": shop.operations,
        "Publication": shop.publications,
        "InventoryAdjustmentGroup": shop.adjustment_groups,
        "ProductOption": shop.options,
        "ProductOptionValue": shop.option_values,
    }.get(kind)
    if kind == "Shop" and n == shop.shop_num:
        return shop_record(shop)
    if table is None or n is None:
        return None
    rec = table.get(n)
    if rec is not None and rec.get("__typename") != kind:
        return None
    return rec


@res("QueryRoot", "node")
def q_node(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return lookup_node(_shop(info), id)


@res("QueryRoot", "nodes")
def q_nodes(src: Any, info: GraphQLResolveInfo, ids: list[str]) -> Any:
    shop = _shop(info)
    if len(ids) > 250:
        raise GraphQLError("The `ids` argument of `nodes` must contain at most 250 ids.")
    return [lookup_node(shop, i) for i in ids]


# ----------------------------------------------------------------------------------------------------------
# mutations
# ----------------------------------------------------------------------------------------------------------
def _idempotency_key(info: GraphQLResolveInfo) -> str | None:
    for node in info.field_nodes:
        for d in node.directives or ():
            if d.name.value == "idempotent":
                for a in d.arguments or ():
                    if a.name.value == "key":
                        v = value_from_ast_untyped(a.value, info.variable_values)
                        return None if v is None else str(v)
    return None


def _idempotent(info: GraphQLResolveInfo, args: dict[str, Any], fn: Callable[[], dict[str, Any]],
                payload_key: str) -> dict[str, Any]:
    ctx = _ctx(info)
    shop = ctx.shop
    key = _idempotency_key(info)
    if key is None:
        if ctx.version >= "2026-04":
            raise GraphQLError(
                f"The @idempotent directive is required for {info.field_name} in API version {ctx.version}. "
                "Add `@idempotent(key: \"<unique key>\")` to the mutation field.",
                extensions={"code": "BAD_REQUEST"},
            )
        return fn()
    fingerprint = json.dumps([info.field_name, args], sort_keys=True, default=str)
    stored = shop.idempotency.get(key)
    if stored is not None:
        field_name, fp, payload = stored
        if fp != fingerprint:
            return {payload_key: None, "userErrors": [{
                "field": None, "code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                "message": "The same idempotency key cannot be used with different operation parameters."}]}
        shop.stats["idempotent_replays"] = shop.stats.get("idempotent_replays", 0) + 1
        return payload
    payload = fn()
    shop.idempotency[key] = (info.field_name, fingerprint, payload)
    return payload


@res("Mutation", "productSet")
def m_product_set(src: Any, info: GraphQLResolveInfo, input: dict[str, Any],
                  identifier: dict[str, Any] | None = None, synchronous: bool = True) -> Any:
    # "inside a bulk operation it always runs synchronously" (API-NOTES, productSet)
    sync = True if getattr(_ctx(info), "in_bulk_mutation", False) else synchronous
    return _shop(info).product_set(input, identifier, sync if sync is not None else True)


@res("Mutation", "productCreate")
def m_product_create(src: Any, info: GraphQLResolveInfo, product: dict[str, Any] | None = None,
                     input: dict[str, Any] | None = None, media: list[dict[str, Any]] | None = None) -> Any:
    values = product if product is not None else (input or {})
    out = _shop(info).product_create(values, media)
    out["shop"] = _ctx(info).shop_record()
    return out


@res("Mutation", "productUpdate")
def m_product_update(src: Any, info: GraphQLResolveInfo, product: dict[str, Any] | None = None,
                     input: dict[str, Any] | None = None, identifier: dict[str, Any] | None = None,
                     media: list[dict[str, Any]] | None = None) -> Any:
    values = product if product is not None else (input or {})
    return _shop(info).product_update(values, identifier)


@res("Mutation", "productDelete")
def m_product_delete(src: Any, info: GraphQLResolveInfo, input: dict[str, Any], synchronous: bool = True) -> Any:
    out = _shop(info).product_delete(input["id"], synchronous if synchronous is not None else True)
    out["shop"] = _ctx(info).shop_record()
    return out


@res("Mutation", "metafieldsSet")
def m_metafields_set(src: Any, info: GraphQLResolveInfo, metafields: list[dict[str, Any]]) -> Any:
    return _shop(info).metafields_set(metafields)


@res("Mutation", "inventorySetQuantities")
def m_inventory_set(src: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
    ctx = _ctx(info)
    return _idempotent(info, {"input": input}, lambda: ctx.shop.inventory_set(input, ctx.version),
                       "inventoryAdjustmentGroup")


@res("Mutation", "inventoryAdjustQuantities")
def m_inventory_adjust(src: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
    ctx = _ctx(info)
    return _idempotent(info, {"input": input}, lambda: ctx.shop.inventory_adjust(input, ctx.version),
                       "inventoryAdjustmentGroup")


@res("Mutation", "inventoryActivate")
def m_inventory_activate(src: Any, info: GraphQLResolveInfo, inventoryItemId: str, locationId: str,
                         available: int | None = None, onHand: int | None = None,
                         stockAtLegacyLocation: bool = False) -> Any:
    shop = _shop(info)

    def run() -> dict[str, Any]:
        return shop.inventory_activate(inventoryItemId, locationId, available, onHand)

    if _idempotency_key(info) is None:
        return run()
    args = {"inventoryItemId": inventoryItemId, "locationId": locationId, "available": available, "onHand": onHand}
    return _idempotent(info, args, run, "inventoryLevel")


@res("Mutation", "webhookSubscriptionCreate")
def m_sub_create(src: Any, info: GraphQLResolveInfo, topic: str, webhookSubscription: dict[str, Any]) -> Any:
    return _shop(info).subscription_create(topic, webhookSubscription)


@res("Mutation", "webhookSubscriptionUpdate")
def m_sub_update(src: Any, info: GraphQLResolveInfo, id: str, webhookSubscription: dict[str, Any]) -> Any:
    return _shop(info).subscription_update(id, webhookSubscription)


@res("Mutation", "webhookSubscriptionDelete")
def m_sub_delete(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _shop(info).subscription_delete(id)


@res("Mutation", "publishablePublish")
def m_publish(src: Any, info: GraphQLResolveInfo, id: str, input: list[dict[str, Any]]) -> Any:
    out = _shop(info).publish(id, input, True)
    out["shop"] = _ctx(info).shop_record()
    return out


@res("Mutation", "publishableUnpublish")
def m_unpublish(src: Any, info: GraphQLResolveInfo, id: str, input: list[dict[str, Any]]) -> Any:
    out = _shop(info).publish(id, input, False)
    out["shop"] = _ctx(info).shop_record()
    return out


@res("Mutation", "bulkOperationRunQuery")
def m_bulk_run(src: Any, info: GraphQLResolveInfo, query: str, groupObjects: bool = False) -> Any:
    ctx = _ctx(info)
    return ctx.sim.bulk.run_query(ctx.shop, ctx.version, query, bool(groupObjects))


@res("Mutation", "bulkOperationCancel")
def m_bulk_cancel(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    ctx = _ctx(info)
    return ctx.sim.bulk.cancel(ctx.shop, id)


@res("Mutation", "productVariantsBulkUpdate")
def m_variants_bulk_update(src: Any, info: GraphQLResolveInfo, productId: str, variants: list[dict[str, Any]],
                           allowPartialUpdates: bool = False, media: Any = None) -> Any:
    shop = _shop(info)
    p = shop.product(productId)
    if p is None:
        return {"product": None, "productVariants": None,
                "userErrors": [{"field": ["productId"], "message": "Product does not exist",
                                "code": "PRODUCT_DOES_NOT_EXIST"}]}
    ts = now()
    updated = []
    for i, v_in in enumerate(variants):
        v = shop.variant(v_in.get("id"))
        if v is None or v["_product"] != p["_n"]:
            return {"product": None, "productVariants": None,
                    "userErrors": [{"field": ["variants", str(i), "id"], "message": "Product variant does not exist",
                                    "code": "PRODUCT_VARIANT_DOES_NOT_EXIST"}]}
        updated.append((v, v_in))
    for v, v_in in updated:
        shop._apply_variant_input(v, {k: x for k, x in v_in.items() if k != "inventoryQuantities"}, ts, {})
        v["_updated"] = ts
        v["updatedAt"] = iso(ts)
    p["_updated"] = ts
    p["updatedAt"] = iso(ts)
    from . import webhooks as wh

    shop.emit("products/update", lambda: wh.product_payload(shop, p))
    return {"product": p, "productVariants": [v for v, _ in updated], "userErrors": []}

# Collections (issue 19) register their resolvers on import; they override Product.collections above.
from . import collections as _collections  # noqa: E402,F401
from . import order_resolvers as _order_resolvers  # noqa: E402,F401  (registers Order/FulfillmentOrder fields)
from . import taxonomy as _taxonomy  # noqa: E402,F401 (issue 19: taxonomy query, Product.category)
from . import translations as _translations  # noqa: E402,F401 (issue 19: shop locales, translations)
