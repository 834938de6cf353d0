"""Shopify's standard product taxonomy: a small real subset, the ``taxonomy`` query, ``Product.category`` (issue 19).

The categories below are copied from Shopify's published taxonomy (github.com/Shopify/product-taxonomy,
``dist/en/categories.txt``: ``{GID} : {Ancestor name} > ... > {Category name}``). The query follows
https://shopify.dev/docs/api/admin-graphql/2026-07/objects/Taxonomy: ``categories(search:, childrenOf:,
descendantsOf:, siblingsOf:)``; "When you specify no filter arguments, you get all top-level categories".

Simplified: only this subset exists; ``search`` matches words of the full name case-insensitively; no attributes;
``productSet`` stores any category id it is given (the product part of the simulator does not validate it).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from .resolvers import connection, res

_PREFIX = "gid://shopify/TaxonomyCategory/"
SUBSET = {
    "aa": "Apparel & Accessories",
    "aa-1": "Apparel & Accessories > Clothing",
    "aa-1-4": "Apparel & Accessories > Clothing > Dresses",
    "aa-1-13": "Apparel & Accessories > Clothing > Clothing Tops",
    "aa-1-13-1": "Apparel & Accessories > Clothing > Clothing Tops > Blouses",
    "aa-1-13-2": "Apparel & Accessories > Clothing > Clothing Tops > Bodysuits",
    "aa-1-13-3": "Apparel & Accessories > Clothing > Clothing Tops > Cardigans",
    "aa-1-13-13": "Apparel & Accessories > Clothing > Clothing Tops > Hoodies",
    "aa-1-13-5": "Apparel & Accessories > Clothing > Clothing Tops > Overshirts",
    "aa-1-13-6": "Apparel & Accessories > Clothing > Clothing Tops > Polos",
    "aa-1-13-7": "Apparel & Accessories > Clothing > Clothing Tops > Shirts",
    "aa-1-13-12": "Apparel & Accessories > Clothing > Clothing Tops > Sweaters",
    "aa-1-13-14": "Apparel & Accessories > Clothing > Clothing Tops > Sweatshirts",
    "aa-1-13-8": "Apparel & Accessories > Clothing > Clothing Tops > T-Shirts",
    "aa-1-13-9": "Apparel & Accessories > Clothing > Clothing Tops > Tank Tops",
    "aa-1-13-11": "Apparel & Accessories > Clothing > Clothing Tops > Tunics",
    "ap": "Animals & Pet Supplies",
    "ap-2": "Animals & Pet Supplies > Pet Supplies",
    "ap-2-3": "Animals & Pet Supplies > Pet Supplies > Dog Supplies",
    "ap-2-3-7": "Animals & Pet Supplies > Pet Supplies > Dog Supplies > Dog Toys",
    "ap-2-3-9": "Animals & Pet Supplies > Pet Supplies > Dog Supplies > Dog Treats",
}


def _parent(key: str) -> str | None:
    return key.rsplit("-", 1)[0] if "-" in key else None


def _record(key: str, n: int) -> dict[str, Any]:
    children = [k for k in SUBSET if _parent(k) == key]
    ancestors = []
    up = _parent(key)
    while up:
        ancestors.append(_PREFIX + up)
        up = _parent(up)
    return {"__typename": "TaxonomyCategory", "_n": n, "id": _PREFIX + key, "name": SUBSET[key].rsplit(" > ", 1)[-1],
            "fullName": SUBSET[key], "isLeaf": not children, "isRoot": _parent(key) is None,
            "level": key.count("-") + 1, "parentId": _PREFIX + _parent(key) if _parent(key) else None,
            "ancestorIds": ancestors, "childrenIds": [_PREFIX + c for c in children], "isArchived": False,
            "attributes": {"edges": [], "nodes": [],
                           "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None,
                                        "endCursor": None}}}


RECORDS = {key: _record(key, i + 1) for i, key in enumerate(SUBSET)}


def category_record(ref: str | None) -> dict[str, Any] | None:
    """The taxonomy category for a gid, or a bare record for an id outside the subset."""
    if not ref:
        return None
    key = ref[len(_PREFIX):] if ref.startswith(_PREFIX) else ref
    if key in RECORDS:
        return RECORDS[key]
    return {**_record_stub(ref)}


def _record_stub(ref: str) -> dict[str, Any]:
    name = ref.rsplit("/", 1)[-1]
    return {"__typename": "TaxonomyCategory", "_n": 0, "id": ref, "name": name, "fullName": name, "isLeaf": True,
            "isRoot": False, "level": 1, "parentId": None, "ancestorIds": [], "childrenIds": [], "isArchived": False}


def _key(info_arg: str, ref: str) -> str:
    if not ref.startswith(_PREFIX) or ref[len(_PREFIX):] not in SUBSET:
        raise GraphQLError(f"Invalid {info_arg}: category {ref} not found")  # wording unconfirmed
    return ref[len(_PREFIX):]


@res("QueryRoot", "taxonomy")
def q_taxonomy(src: Any, info: GraphQLResolveInfo) -> Any:
    return {"__typename": "Taxonomy"}


@res("Taxonomy", "categories")
def taxonomy_categories(t: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    keys = list(SUBSET)
    if args.get("childrenOf"):
        parent = _key("childrenOf", args["childrenOf"])
        keys = [k for k in keys if _parent(k) == parent]
    elif args.get("descendantsOf"):
        root = _key("descendantsOf", args["descendantsOf"])
        keys = [k for k in keys if k.startswith(root + "-")]
    elif args.get("siblingsOf"):
        me = _key("siblingsOf", args["siblingsOf"])
        keys = [k for k in keys if _parent(k) == _parent(me) and k != me]
    elif args.get("search"):
        words = args["search"].lower().split()
        keys = [k for k in keys if all(w in SUBSET[k].lower() for w in words)]
    else:
        keys = [k for k in keys if _parent(k) is None]
    return connection(info, [RECORDS[k] for k in keys], args)


@res("Product", "category")
def product_category(p: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return category_record(p.get("_category"))
