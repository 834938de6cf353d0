"""Products through the client: productSet, status, delete, the full and drift reads, metafields, media.

``ProductsApiMixin`` is the part of ``ShopifyClient`` for products; reads follow nested connections page
by page so that no single query exceeds Shopify's cost limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from . import queries
from .exceptions import ShopifyError
from .metafields_api import metafields_set_owner_cost
from .transport import ShopifyTransport

# Page sizes of the drift read (about 5 points per variant, 2 per media, 1 per metafield: ~800 points).
DRIFT_VARIANTS_PAGE = 100
DRIFT_MEDIA_PAGE = 100
DRIFT_METAFIELDS_PAGE = 100

PRODUCT_STATUSES = frozenset({"ACTIVE", "DRAFT", "ARCHIVED", "UNLISTED"})


def estimate_product_set_cost(product_input: dict) -> float:
    """Return productSet's input-dependent cost (Shopify's 2025-10+ formula, API-NOTES §2, minus the base).

    0.2 per variant, 0.6 per variant file, 0.4 per variant metafield, 0.4 per product metafield and 1.9 per
    product file; the fixed part and the selection's cost are learned from Shopify's answers.
    """
    variants = product_input.get("variants") or []
    cost = 0.2 * len(variants)
    for variant in variants:
        if isinstance(variant, dict):
            cost += 0.6 * (1 if variant.get("file") else 0)
            cost += 0.4 * len(variant.get("metafields") or [])
    cost += 0.4 * len(product_input.get("metafields") or [])
    cost += 1.9 * len(product_input.get("files") or [])
    return cost



class ProductsApiMixin(ShopifyTransport):
    """Products of ``ShopifyClient``."""

    def product_set(self, *, input: dict, identifier: dict | None = None) -> dict:  # noqa: A002 (Shopify's name)
        """Create or update a whole product with ``productSet`` (synchronous) and return it.

        ``input`` is a ``ProductSetInput`` and ``identifier`` a ``ProductSetIdentifiers`` (exactly one of
        ``id``, ``handle``, ``customId``; omit it to create). List fields given in ``input`` replace
        Shopify's (variants, metafields, files). The returned product has ``variants`` as a plain list of
        ``{id, sku, position, selectedOptions, inventoryItem{id}}`` (all pages). Raises ShopifyUserError
        (``user_errors`` with codes such as HANDLE_NOT_UNIQUE), ShopifyNotFoundUserError if the identified
        product doesn't exist, and the errors of ``execute``.
        """
        variables: dict[str, Any] = {
            "input": input,
            "variants": max(1, min(100, len(input.get("variants") or []) + 5)),
            "media": max(1, min(50, len(input.get("files") or []) + 5)),
        }
        if identifier is not None:
            variables["identifier"] = identifier
        selection = 3 * variables["variants"] + variables["media"]
        data = self._execute(queries.PRODUCT_SET, variables,
                             cost_base=estimate_product_set_cost(input) + selection)
        product = (data.get("productSet") or {}).get("product")
        if not product:
            raise ShopifyError(
                "productSet returned no product", shop_domain=self.shop_domain, operation_name="ProductSet"
            )
        connection = product.get("variants") or {}
        variants = list(connection.get("nodes") or [])
        page = connection.get("pageInfo") or {}
        if page.get("hasNextPage"):
            variants.extend(self._page_nested(product["id"], "variant_ids", page.get("endCursor")))
        product["variants"] = variants
        media = product.get("media") or {}
        items = list(media.get("nodes") or [])
        page = media.get("pageInfo") or {}
        if page.get("hasNextPage"):
            items.extend(self._page_nested(product["id"], "media", page.get("endCursor")))
        product["media"] = items
        return product

    def media_status(self, *, media_ids: Iterable[str]) -> dict[str, dict]:
        """Return ``{media id: {status, errors: [message]}}`` for the given media (unknown ids are absent).

        ``status`` is Shopify's MediaStatus: UPLOADED, PROCESSING, READY or FAILED. Raises the errors of
        ``execute``.
        """
        ids = list(dict.fromkeys(media_ids))
        result: dict[str, dict] = {}
        for start in range(0, len(ids), 100):
            data = self.execute(queries.MEDIA_STATUS, {"ids": ids[start : start + 100]})
            for node in data.get("nodes") or []:
                if node and node.get("id"):
                    result[node["id"]] = {
                        "status": node.get("status"),
                        "errors": [
                            f"{e.get('code')}: {e.get('message') or e.get('details') or ''}".strip()
                            for e in node.get("mediaErrors") or []
                        ],
                    }
        return result

    def product_update_status(self, *, product_id: str, status: str) -> dict:
        """Set a product's status (ACTIVE, DRAFT, ARCHIVED or UNLISTED) and return ``{id, status, updatedAt}``.

        Raises ValueError for an unknown status, ShopifyNotFoundUserError if the product doesn't exist, and
        the errors of ``execute``.
        """
        status = status.upper()
        if status not in PRODUCT_STATUSES:
            raise ValueError(f"unknown product status {status!r}")
        data = self.execute(queries.PRODUCT_UPDATE_STATUS, {"id": product_id, "status": status})
        return (data.get("productUpdate") or {}).get("product") or {}

    def product_delete(self, *, product_id: str) -> str | None:
        """Delete a product and return its deleted id.

        Raises ShopifyNotFoundUserError (a ShopifyNotFound) if it doesn't exist — callers that want
        idempotent deletes catch ShopifyNotFound — and the errors of ``execute``.
        """
        data = self.execute(queries.PRODUCT_DELETE, {"id": product_id})
        return (data.get("productDelete") or {}).get("deletedProductId")

    def product_get(self, *, product_id: str) -> dict | None:
        """Return the product with every field drift detection compares, or None if it doesn't exist.

        ``variants``, ``metafields`` and ``media`` are plain lists holding all pages. Raises the errors of
        ``execute``.
        """
        data = self.execute(queries.PRODUCT_BY_ID, {"id": product_id})
        product = data.get("product")
        return self._complete_product(product) if product else None

    def product_get_by_handle(self, *, handle: str) -> dict | None:
        """Return the product with this handle (same shape as ``product_get``), or None if there is none.

        Raises the errors of ``execute``.
        """
        data = self.execute(queries.PRODUCT_BY_HANDLE, {"handle": handle})
        product = data.get("productByIdentifier")
        return self._complete_product(product) if product else None

    def product_get_for_drift(
        self, *, product_id: str, variant_count: int, media_count: int, metafield_keys: list[str]
    ) -> dict | None:
        """Return the product's drift-relevant fields with connections sized to what the PIM wrote, or None.

        ``variants`` (all pages, with inventory item weight), ``metafields`` (only ``metafield_keys``, as
        "namespace.key") and ``media`` come back as plain lists. Raises the errors of ``execute``.
        """
        variables = {
            "id": product_id,
            "variants": max(1, min(DRIFT_VARIANTS_PAGE, variant_count + 5)),
            "media": max(1, min(DRIFT_MEDIA_PAGE, media_count + 5)),
            "metafields": max(1, min(DRIFT_METAFIELDS_PAGE, len(metafield_keys) or 1)),
            "keys": list(metafield_keys) or None,
        }
        # The connection sizes vary per product: pass them as the input-dependent part of the estimate so the
        # learned fixed part stays stable and a big product never reserves less than it will be charged.
        base = 5 * variables["variants"] + variables["metafields"] + 3 * variables["media"]
        data = self._execute(queries.PRODUCT_DRIFT, variables, cost_base=base)
        product = data.get("product")
        if not product:
            return None
        variants = product.get("variants") or {}
        items = list(variants.get("nodes") or [])
        page = variants.get("pageInfo") or {}
        if page.get("hasNextPage"):
            items.extend(self._page_nested(product["id"], "variants", page.get("endCursor")))
        product["variants"] = items
        product["metafields"] = list((product.get("metafields") or {}).get("nodes") or [])
        media = product.get("media") or {}
        items = list(media.get("nodes") or [])
        page = media.get("pageInfo") or {}
        if page.get("hasNextPage"):
            items.extend(self._page_nested(product["id"], "media", page.get("endCursor")))
        product["media"] = items
        return product

    def product_ids_by_handle(self, *, handle: str, variant_count: int) -> dict | None:
        """Return ``{id, handle, variants: [{id, sku, inventoryItem{id}}]}`` for the product with this handle.

        A cheap query (about two points per variant) for binding checks; None when no product has the
        handle. Raises the errors of ``execute``.
        """
        first = max(1, min(250, variant_count + 5))
        data = self._execute(queries.PRODUCT_IDS_BY_HANDLE, {"handle": handle, "variants": first}, cost_base=3 * first)
        product = data.get("productByIdentifier")
        if not product:
            return None
        connection = product.get("variants") or {}
        items = list(connection.get("nodes") or [])
        page = connection.get("pageInfo") or {}
        if page.get("hasNextPage"):
            items.extend(self._page_nested(product["id"], "variant_ids", page.get("endCursor")))
        product["variants"] = items
        return product

    def metafields_set(self, *, owner_id: str, metafields: list[dict]) -> list[dict]:
        """Set the given metafields (namespace, key, type, value) on ``owner_id``, 25 per atomic call.

        Only the keys given are touched; other apps' metafields stay. Returns the metafields Shopify
        stored. Raises ShopifyUserError (with the failing element's index) and the errors of ``execute``.
        """
        stored: list[dict] = []
        for start in range(0, len(metafields), 25):
            chunk = [{**m, "ownerId": owner_id} for m in metafields[start : start + 25]]
            data = self._execute(queries.METAFIELDS_SET, {"metafields": chunk},
                                 cost_base=metafields_set_owner_cost(chunk))
            stored.extend((data.get("metafieldsSet") or {}).get("metafields") or [])
        return stored

    _NESTED_PAGES = {
        "variants": (queries.PRODUCT_VARIANTS_PAGE, 150),
        "variant_ids": (queries.PRODUCT_VARIANT_IDS_PAGE, 250),
        "metafields": (queries.PRODUCT_METAFIELDS_PAGE, 200),
        "media": (queries.PRODUCT_MEDIA_PAGE, 100),
    }

    def _complete_product(self, product: dict) -> dict:
        for key in self._NESTED_PAGES:
            connection = product.get(key)
            if not isinstance(connection, dict):
                continue
            items = list(connection.get("nodes") or [])
            page = connection.get("pageInfo") or {}
            if page.get("hasNextPage"):
                items.extend(self._page_nested(product["id"], key, page.get("endCursor")))
            product[key] = items
        return product

    def _page_nested(self, product_id: str, key: str, after: str | None) -> Iterator[dict]:
        document, first = self._NESTED_PAGES[key]
        field_name = "variants" if key == "variant_ids" else key
        while True:
            data = self.execute(document, {"id": product_id, "first": first, "after": after})
            connection = ((data.get("product") or {}).get(field_name)) or {}
            yield from connection.get("nodes") or []
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return
            after = page.get("endCursor")

    def iter_products(self, *, query: str | None = None, page_size: int = 50) -> Iterator[dict]:
        """Yield product summaries page by page (cursor pagination), without accumulating them.

        ``query`` is Shopify's search syntax (e.g. ``updated_at:>'2026-01-01T00:00:00Z'``). Each item has id,
        legacyResourceId, title, handle, status, vendor, productType, tags, createdAt, updatedAt and
        variantsCount; use ``product_get`` or ``bulk_export_products`` for full products. Raises the
        errors of ``execute``.
        """
        first = max(1, min(250, int(page_size)))
        after = None
        while True:
            data = self.execute(queries.PRODUCTS_PAGE, {"first": first, "after": after, "query": query})
            connection = data.get("products") or {}
            yield from connection.get("nodes") or []
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage") or not page.get("endCursor"):
                return
            after = page["endCursor"]
