"""Batched writes and look-ups for the per-call publish (issue 15): fewer points per product.

Functions take a ``ShopifyClient`` so every call goes through its transport, shared cost budget, retries and
typed errors. ``metafieldsSet`` takes metafields of any owners, "a maximum of 25 metafields ... at a time" and
"this operation is atomic" (https://shopify.dev/docs/api/admin-graphql/2026-07/mutations/metafieldsSet): one
call carries several products' metafields, and a refused element refuses the whole call, so
``metafields_set_batch`` reports which element was refused and the caller sends the others again. Since
2026-09-15 a call costs 10 + 4 per distinct product owner (2 per variant, see ``metafields_set_owner_cost``), so
sharing a call saves only the base 10 per product, not the 4
(https://shopify.dev/changelog/dynamic-complexity-cost-for-metafieldsset-mutation).
``products_by_handles`` asks whether products with given handles exist in one query (one aliased
``productByIdentifier`` per handle: consistent right after a create, unlike the search index behind
``products(query:)``).
"""

from __future__ import annotations

from .exceptions import ShopifyUserError

MAX_METAFIELDS_PER_CALL = 25
MAX_HANDLES_PER_QUERY = 50

METAFIELDS_SET_BATCH = """
mutation MetafieldsSetBatch($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { id namespace key }
    userErrors { field message code elementIndex }
  }
}
"""


# Shopify's weights per distinct owner type (changelog above); the weight-2 type's name is lost in the stored page
# text: ProductVariant is assumed, as in the simulator. Other owner types weigh 0.
_OWNER_WEIGHTS = {"Order": 10, "Product": 4, "ProductVariant": 2, "Collection": 1, "Customer": 1, "Shop": 1}


def metafields_set_owner_cost(metafields: list[dict]) -> float:
    """Return the input-dependent part of one ``metafieldsSet`` call's cost: each distinct owner's weight once."""
    owners = {m.get("ownerId") or "" for m in metafields}
    return float(sum(_OWNER_WEIGHTS.get(owner.split("/")[3] if owner.count("/") >= 4 else "", 0)
                     for owner in owners))


def metafields_set_batch(client, *, metafields: list[dict]) -> list[dict]:
    """Set up to 25 metafields (each with its ``ownerId``) in one atomic ``metafieldsSet``; return them.

    Raises ValueError for more than 25, ShopifyUserError when Shopify refused an element (nothing was set;
    ``refused_indexes(exc)`` names the elements) and the errors of ``client.execute``.
    """
    if len(metafields) > MAX_METAFIELDS_PER_CALL:
        raise ValueError(f"metafieldsSet takes at most {MAX_METAFIELDS_PER_CALL} metafields, got {len(metafields)}")
    if not metafields:
        return []
    # The base is learned from Shopify's answers; the owners' part varies per call (never reserve too little).
    data = client._execute(METAFIELDS_SET_BATCH, {"metafields": metafields},
                           cost_base=metafields_set_owner_cost(metafields))
    return list((data.get("metafieldsSet") or {}).get("metafields") or [])


def refused_indexes(exc: ShopifyUserError) -> set[int]:
    """The input positions a ``metafieldsSet`` user error names (``elementIndex``, else the field path)."""
    found: set[int] = set()
    errors = ((exc.data or {}).get("metafieldsSet") or {}).get("userErrors") or exc.user_errors
    for err in errors:
        index = err.get("elementIndex")
        if index is None:
            path = err.get("field") or []
            if len(path) > 1 and path[0] == "metafields" and str(path[1]).isdigit():
                index = int(path[1])
        if index is not None:
            found.add(int(index))
    return found


def _handles_document(count: int) -> str:
    params = ", ".join(f"$h{i}: String!" for i in range(count))
    fields = "\n".join(f"  p{i}: productByIdentifier(identifier: {{ handle: $h{i} }}) {{ id handle }}"
                       for i in range(count))
    return f"query ProductsByHandles({params}) {{\n{fields}\n}}\n"


def products_by_handles(client, *, handles: list[str]) -> dict[str, str]:
    """Return ``{handle: product gid}`` for those of ``handles`` that a Shopify product has (50 per query).

    About one point per handle. Raises the errors of ``client.execute``.
    """
    found: dict[str, str] = {}
    unique = list(dict.fromkeys(handles))
    for start in range(0, len(unique), MAX_HANDLES_PER_QUERY):
        chunk = unique[start:start + MAX_HANDLES_PER_QUERY]
        data = client._execute(_handles_document(len(chunk)), {f"h{i}": h for i, h in enumerate(chunk)},
                               cost_base=len(chunk))
        for i, handle in enumerate(chunk):
            node = data.get(f"p{i}")
            if node:
                found[handle] = node["id"]
    return found
