"""Collections: custom (manual) and smart (rule-based), membership mutations with their jobs (issue 19).

Sources (Shopify's words are in the 2026-07 schema, ``../shared/shopify/admin-graphql/admin_2026-07.graphql``):
- ``collectionCreate(collection: CollectionCreateInput)`` (``input: CollectionInput`` is deprecated but still takes
  a ``ruleSet``): "The created collection is unpublished by default". Payload errors are plain ``UserError``.
  https://shopify.dev/docs/api/admin-graphql/2026-07/mutations/collectionCreate
- ``collectionAddProductsV2(id, productIds)``: "Adds products to a Collection asynchronously and returns a Job";
  codes ``CANT_ADD_TO_SMART_COLLECTION``, ``COLLECTION_DOES_NOT_EXIST``.
  https://shopify.dev/docs/api/admin-graphql/2026-07/mutations/collectionAddProductsV2
- ``collectionRemoveProducts(id, productIds)``: "can process large product sets (up to 250 products)"; "doesn't
  validate that the products belong to the collection or whether the products exist"; returns a Job.
  https://shopify.dev/docs/api/admin-graphql/2026-07/mutations/collectionRemoveProducts
- ``job(id) { done }``: https://shopify.dev/docs/api/admin-graphql/2026-07/queries/job
- A smart collection's membership comes from ``ruleSet`` rules (tag, type, vendor, title); only Shopify fills it.

Simplified (see README): a membership job is done after ``async_operation_seconds`` (0 by default) and its
change becomes visible then; the 250-id limit of ``collectionAddProductsV2`` is assumed from the remove mutation's
(unconfirmed); ``sources`` (the 2026-07 successor of ``ruleSet``) is always empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import GraphQLResolveInfo

from . import search
from .resolvers import R, _filter, _metafield, _metafields, _shop, connection, res
from .search import Field
from .util import gid, iso, now, parse_gid, slugify, strip_html

if TYPE_CHECKING:  # pragma: no cover
    from .store import ShopState

MAX_PRODUCT_IDS = 250
SORT_ORDERS = {"ALPHA_ASC", "ALPHA_DESC", "BEST_SELLING", "CREATED", "CREATED_DESC", "MANUAL", "MOST_RELEVANT",
               "PRICE_ASC", "PRICE_DESC"}


def _state(shop: ShopState) -> dict[str, Any]:
    """The shop's collections and membership jobs (cleared with the shop: ``ShopState.reset`` drops the dict)."""
    st = shop.__dict__.get("_collections_state")
    if st is None or st["epoch"] != shop.created_at:
        st = {"epoch": shop.created_at, "collections": {}, "handles": {}, "jobs": {}}
        shop.__dict__["_collections_state"] = st
    return st


def _settle(shop: ShopState) -> None:
    """Apply the membership jobs whose time has come (Shopify applies them in the background)."""
    st = _state(shop)
    t = now()
    for job in st["jobs"].values():
        if job["done"] or job["_ready_at"] > t:
            continue
        coll = st["collections"].get(job["_collection"])
        if coll is not None:
            members = coll["_products"]
            if job["_action"] == "add":
                have = set(members)
                members.extend(n for n in job["_products"] if n not in have and n in shop.products)
            else:
                gone = set(job["_products"])
                coll["_products"] = [n for n in members if n not in gone]
            coll["_updated"] = t
            coll["updatedAt"] = iso(t)
        job["done"] = True


def _rule_matches(shop: ShopState, p: dict[str, Any], rule: dict[str, Any]) -> bool:
    column, relation, cond = rule["column"], rule["relation"], str(rule.get("condition", "")).lower()
    values = {
        "TAG": [t.lower() for t in p["tags"]],
        "TYPE": [p["productType"].lower()],
        "VENDOR": [p["vendor"].lower()],
        "TITLE": [p["title"].lower()],
    }.get(column)
    if values is None:
        return False  # columns the simulator does not evaluate match nothing (see README)
    if relation == "EQUALS":
        return cond in values
    if relation == "NOT_EQUALS":
        return cond not in values
    if relation == "CONTAINS":
        return any(cond in v for v in values)
    if relation == "NOT_CONTAINS":
        return not any(cond in v for v in values)
    if relation == "STARTS_WITH":
        return any(v.startswith(cond) for v in values)
    if relation == "ENDS_WITH":
        return any(v.endswith(cond) for v in values)
    return False


def member_numbers(shop: ShopState, coll: dict[str, Any]) -> list[int]:
    """The products in ``coll``: the manual list, or for a smart collection what its rules select."""
    _settle(shop)
    rule_set = coll.get("ruleSet")
    if rule_set:
        test = any if rule_set["appliedDisjunctively"] else all
        return [n for n, p in sorted(shop.products.items())
                if rule_set["rules"] and test(_rule_matches(shop, p, r) for r in rule_set["rules"])]
    return [n for n in coll["_products"] if n in shop.products]


def _new_collection(shop: ShopState, values: dict[str, Any], rule_set: dict[str, Any] | None) -> dict[str, Any]:
    st = _state(shop)
    ts = now()
    num = shop.next_id()
    handle = values.get("handle") or shop_unique_handle(shop, slugify(values.get("title") or "") or "collection")
    image = values.get("image")
    seo = values.get("seo") or {}
    coll = {
        "__typename": "Collection", "id": gid("Collection", num), "_n": num, "_created": ts,
        "title": values["title"], "handle": handle, "descriptionHtml": values.get("descriptionHtml") or "",
        "sortOrder": values.get("sortOrder") or "BEST_SELLING",  # default unconfirmed
        "templateSuffix": values.get("templateSuffix"),
        "seo": {"title": seo.get("title"), "description": seo.get("description")},
        "image": ({"__typename": "Image", "id": gid("CollectionImage", num), "url": image.get("src"),
                   "src": image.get("src"), "altText": image.get("altText"), "width": None, "height": None}
                  if image and image.get("src") else None),
        "ruleSet": ({"appliedDisjunctively": bool(rule_set.get("appliedDisjunctively")),
                     "rules": [{"column": r["column"], "relation": r["relation"], "condition": r["condition"],
                                "conditionObject": None} for r in rule_set.get("rules") or []]}
                    if rule_set is not None else None),
        "sources": [], "_products": [], "_mf": {}, "updatedAt": iso(ts), "_updated": ts,
    }
    st["collections"][num] = coll
    st["handles"][handle] = num
    for mf in values.get("metafields") or []:
        shop.upsert_metafield(coll, mf.get("namespace"), mf["key"], mf.get("type"), mf["value"], ts)
    return coll


def shop_unique_handle(shop: ShopState, base: str) -> str:
    handles = _state(shop)["handles"]
    cand, i = base, 0
    while cand in handles:
        i += 1
        cand = f"{base}-{i}"
    return cand


def _lookup(shop: ShopState, ref: Any) -> dict[str, Any] | None:
    n = parse_gid(ref, "Collection")
    return _state(shop)["collections"].get(n) if n is not None else None


# --- queries ------------------------------------------------------------------------------------------

search.register("collections", {
    "id": Field(lambda r: r[1]["_n"], "id"),
    "title": Field(lambda r: r[1]["title"]),
    "handle": Field(lambda r: r[1]["handle"]),
    "collection_type": Field(lambda r: "smart" if r[1]["ruleSet"] else "custom"),
    "updated_at": Field(lambda r: r[1]["_updated"], "date"),
}, lambda r: r[1]["title"])


@res("QueryRoot", "collection")
def q_collection(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _lookup(_shop(info), id)


@res("QueryRoot", "collectionByHandle")
def q_collection_by_handle(src: Any, info: GraphQLResolveInfo, handle: str) -> Any:
    st = _state(_shop(info))
    return st["collections"].get(st["handles"].get(handle, -1))


@res("QueryRoot", "collectionByIdentifier")
def q_collection_by_identifier(src: Any, info: GraphQLResolveInfo, identifier: dict[str, Any]) -> Any:
    if identifier.get("id"):
        return q_collection(src, info, identifier["id"])
    if identifier.get("handle"):
        return q_collection_by_handle(src, info, identifier["handle"])
    return None


def _listed(info: GraphQLResolveInfo, query: str | None) -> list[dict[str, Any]]:
    items = sorted(_state(_shop(info))["collections"].values(), key=lambda c: c["_n"])
    return _filter(info, "collections", items, query)


@res("QueryRoot", "collections")
def q_collections(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    return connection(info, _listed(info, args.get("query")), args)


@res("QueryRoot", "collectionsCount")
def q_collections_count(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    n = len(_listed(info, args.get("query")))
    return {"count": n, "precision": "EXACT"}


@res("QueryRoot", "job")
def q_job(src: Any, info: GraphQLResolveInfo, id: str) -> Any:
    shop = _shop(info)
    _settle(shop)
    n = parse_gid(id, "Job")
    job = _state(shop)["jobs"].get(n) if n is not None else None
    return None if job is None else {"__typename": "Job", "id": job["id"], "done": job["done"], "query": {}}


@res("Collection", "products")
def coll_products(c: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    return connection(info, [shop.products[n] for n in member_numbers(shop, c)], args)


@res("Collection", "productsCount")
def coll_products_count(c: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    return {"count": len(member_numbers(_shop(info), c)), "precision": "EXACT"}


@res("Collection", "hasProduct")
def coll_has_product(c: dict[str, Any], info: GraphQLResolveInfo, id: str) -> Any:
    return parse_gid(id, "Product") in set(member_numbers(_shop(info), c))


@res("Collection", "description")
def coll_description(c: dict[str, Any], info: GraphQLResolveInfo, truncateAt: int | None = None) -> Any:
    text = strip_html(c["descriptionHtml"])
    return text[:truncateAt] if truncateAt else text


@res("Collection", "legacyResourceId")
def coll_legacy_id(c: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return str(c["_n"])


R[("Collection", "metafield")] = _metafield
R[("Collection", "metafields")] = _metafields


@res("Product", "collections")
def product_collections(p: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    shop = _shop(info)
    items = [c for _, c in sorted(_state(shop)["collections"].items()) if p["_n"] in member_numbers(shop, c)]
    return connection(info, items, args)


@res("Product", "inCollection")
def product_in_collection(p: dict[str, Any], info: GraphQLResolveInfo, id: str) -> Any:
    c = _lookup(_shop(info), id)
    return c is not None and p["_n"] in member_numbers(_shop(info), c)


# --- mutations ----------------------------------------------------------------------------------------


def _err(field: list[str], message: str, code: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"field": field, "message": message}
    if code is not None:
        out["code"] = code
    return out


@res("Mutation", "collectionCreate")
def m_collection_create(src: Any, info: GraphQLResolveInfo, collection: dict[str, Any] | None = None,
                        input: dict[str, Any] | None = None) -> Any:  # noqa: A002 (Shopify's name)
    shop = _shop(info)
    values = collection if collection is not None else (input or {})
    key = "collection" if collection is not None else "input"
    errors = []
    if not (values.get("title") or "").strip():
        errors.append(_err([key, "title"], "Title can't be blank"))
    handle = values.get("handle")
    if handle and handle in _state(shop)["handles"]:
        errors.append(_err([key, "handle"], "Handle has already been taken"))  # unconfirmed: stricter choice
    rule_set = values.get("ruleSet") if collection is None else None
    if rule_set is not None and not rule_set.get("rules"):
        errors.append(_err([key, "ruleSet", "rules"], "Rules can't be blank"))
    if errors:
        return {"collection": None, "userErrors": errors}
    with shop.lock:
        coll = _new_collection(shop, values, rule_set)
    return {"collection": coll, "userErrors": []}


def _membership(info: GraphQLResolveInfo, id: str, product_ids: list[str], action: str) -> dict[str, Any]:
    shop = _shop(info)
    with shop.lock:
        coll = _lookup(shop, id)
        code = "COLLECTION_DOES_NOT_EXIST" if action == "add" else None
        if coll is None:
            return {"job": None, "userErrors": [_err(["id"], "Collection does not exist", code)]}
        if coll["ruleSet"]:
            if action == "add":
                return {"job": None, "userErrors": [_err(
                    ["id"], "Can't manually add products to a smart collection", "CANT_ADD_TO_SMART_COLLECTION")]}
            return {"job": None, "userErrors": [_err(
                ["id"], "Can't manually remove products from a smart collection")]}  # unconfirmed wording
        if len(product_ids) > MAX_PRODUCT_IDS:
            return {"job": None, "userErrors": [_err(
                ["productIds"], f"The maximum number of product IDs is {MAX_PRODUCT_IDS}")]}  # unconfirmed wording
        nums = [parse_gid(ref, "Product") for ref in product_ids]
        ts = now()
        num = shop.next_id()
        _state(shop)["jobs"][num] = {
            "id": gid("Job", num), "done": False, "_ready_at": ts + shop.sim.config.async_operation_seconds,
            "_collection": coll["_n"], "_action": action, "_products": [n for n in nums if n is not None],
        }
        _settle(shop)
    return {"job": {"__typename": "Job", "id": gid("Job", num), "done": False, "query": {}}, "userErrors": []}


@res("Mutation", "collectionAddProductsV2")
def m_collection_add(src: Any, info: GraphQLResolveInfo, id: str, productIds: list[str]) -> Any:
    return _membership(info, id, productIds, "add")


@res("Mutation", "collectionRemoveProducts")
def m_collection_remove(src: Any, info: GraphQLResolveInfo, id: str, productIds: list[str]) -> Any:
    return _membership(info, id, productIds, "remove")


# --- the merchant (control API) -----------------------------------------------------------------------


def export_collection(shop: ShopState, coll: dict[str, Any]) -> dict[str, Any]:
    return {"id": coll["id"], "title": coll["title"], "handle": coll["handle"],
            "descriptionHtml": coll["descriptionHtml"], "sortOrder": coll["sortOrder"], "image": coll["image"],
            "ruleSet": coll["ruleSet"], "productIds": [gid("Product", n) for n in member_numbers(shop, coll)],
            "metafields": {f"{ns}.{key}": shop.metafields[n]["value"] for (ns, key), n in coll["_mf"].items()
                           if n in shop.metafields}}


def control(shop: ShopState, method: str, seg: list[str], data: Any) -> tuple[int, Any]:
    """``/_sim/shops/{shop}/collections[...]``: list, create (smart with ``ruleSet``), merchant add/remove."""
    with shop.lock:
        st = _state(shop)
        if not seg:
            if method == "POST":
                coll = _new_collection(shop, data, data.get("ruleSet"))
                return 200, export_collection(shop, coll)
            return 200, {"collections": [export_collection(shop, c) for _, c in sorted(st["collections"].items())]}
        coll = _lookup(shop, seg[0] if seg[0].startswith("gid://") else gid("Collection", seg[0]))
        if coll is None:
            return 404, {"error": f"no collection {seg[0]}"}
        if len(seg) > 1 and seg[1] in ("add", "remove") and method == "POST":
            if coll["ruleSet"]:
                return 422, {"error": "a smart collection's products come from its rules"}
            nums = [parse_gid(ref, "Product") for ref in data.get("productIds", [])]
            t = now()
            if seg[1] == "add":
                have = set(coll["_products"])
                coll["_products"].extend(n for n in nums if n is not None and n not in have and n in shop.products)
            else:
                coll["_products"] = [n for n in coll["_products"] if n not in set(nums)]
            coll["_updated"] = t
            coll["updatedAt"] = iso(t)
        return 200, export_collection(shop, coll)

