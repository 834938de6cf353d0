"""``SimControl``: a small client for the simulator's ``/_sim/`` control API (tests, demos, benchmarks)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests


class SimControlError(RuntimeError):
    def __init__(self, status: int, payload: Any):
        super().__init__(f"simulator control API answered {status}: {payload}")
        self.status = status
        self.payload = payload


def _ref(value: Any) -> str:
    """Path segment for an id: numeric ids pass through, gids are URL-encoded."""
    return quote(str(value), safe="")


class SimControl:
    """Wraps the control API of a running simulator at ``url`` (e.g. ``http://127.0.0.1:8765``)."""

    def __init__(self, url: str, timeout: float = 30.0, session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()

    # -- plumbing ---------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None,
              ok: tuple[int, ...] = (200,)) -> Any:
        resp = self.session.request(method, f"{self.url}/_sim/{path.lstrip('/')}", json=json, params=params,
                                    timeout=self.timeout)
        try:
            payload = resp.json()
        except ValueError:
            payload = resp.text
        if resp.status_code not in ok:
            raise SimControlError(resp.status_code, payload)
        return payload

    def _shop(self, shop: str, path: str = "") -> str:
        return f"shops/{_ref(shop)}" + (f"/{path}" if path else "")

    # -- simulator --------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")

    def shops(self) -> list[dict[str, Any]]:
        return self._call("GET", "shops")["shops"]

    def reset(self, shops: list[str] | None = None, keep_config: bool = False) -> None:
        body: dict[str, Any] = {"keep_config": keep_config}
        if shops is not None:
            body["shops"] = shops
        self._call("POST", "reset", json=body)

    def sim_config(self, **values: Any) -> dict[str, Any]:
        """Read (no args) or update global settings, e.g. ``webhook_time_scale=0.001``."""
        return self._call("POST" if values else "GET", "config", json=values or None)

    def wait_webhooks(self, timeout: float = 10.0) -> bool:
        """Block until every queued webhook delivery (including retries) has finished."""
        return self._call("POST", "webhooks/wait", json={"timeout": timeout}, ok=(200, 504))["idle"]

    def deliveries(self, shop: str | None = None, topic: str | None = None, limit: int | None = None,
                   payload: bool = True) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"shop": shop, "topic": topic, "limit": limit}.items() if v is not None}
        params["payload"] = "1" if payload else "0"
        return self._call("GET", "webhooks/deliveries", params=params)["deliveries"]

    # -- one shop ---------------------------------------------------------------------------------------
    def shop(self, shop: str) -> dict[str, Any]:
        """Credentials, base URL, plan and bucket numbers, scopes, locations."""
        return self._call("GET", self._shop(shop))

    def reset_shop(self, shop: str, keep_config: bool = False) -> None:
        self._call("POST", self._shop(shop, "reset"), json={"keep_config": keep_config})

    def state(self, shop: str) -> dict[str, Any]:
        return self._call("GET", self._shop(shop, "state"))

    def config(self, shop: str, **values: Any) -> dict[str, Any]:
        """Read or update a shop's settings (plan, bucket_size, restore_rate, scopes, token_ttl, ...)."""
        if values:
            return self._call("PATCH", self._shop(shop, "config"), json=values)
        return self._call("GET", self._shop(shop, "config"))

    def stats(self, shop: str) -> dict[str, Any]:
        return self._call("GET", self._shop(shop, "stats"))

    def requests(self, shop: str, operation: str | None = None, status: str | None = None,
                 limit: int | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"operation": operation, "status": status, "limit": limit}.items()
                  if v is not None}
        return self._call("GET", self._shop(shop, "requests"), params=params)["requests"]

    def clear_requests(self, shop: str) -> None:
        self._call("DELETE", self._shop(shop, "requests"))

    # faults ----------------------------------------------------------------------------------------------
    def faults(self, shop: str, **faults: Any) -> dict[str, Any]:
        """Merge faults: outage_seconds, error_rate, error_statuses, error_applied_share, latency_ms, latency_jitter_ms,
        webhook_drop_rate, webhook_duplicate_rate, webhook_jitter_ms, invalid_token, missing_scopes."""
        if faults:
            return self._call("POST", self._shop(shop, "faults"), json=faults)
        return self._call("GET", self._shop(shop, "faults"))

    def clear_faults(self, shop: str) -> None:
        self._call("DELETE", self._shop(shop, "faults"))

    def outage(self, shop: str, seconds: float) -> dict[str, Any]:
        return self.faults(shop, outage_seconds=seconds)

    def error_rate(self, shop: str, rate: float, statuses: list[int] | None = None,
                   applied_share: float | None = None) -> dict[str, Any]:
        """Answer ``rate`` of the requests with a random 5xx; ``applied_share`` of the 500/502/504 ones after
        running the request (the mutation applied, the answer lost)."""
        extra: dict[str, Any] = {"error_statuses": statuses} if statuses else {}
        if applied_share is not None:
            extra["error_applied_share"] = applied_share
        return self.faults(shop, error_rate=rate, **extra)

    def latency(self, shop: str, ms: float, jitter_ms: float = 0) -> dict[str, Any]:
        return self.faults(shop, latency_ms=ms, latency_jitter_ms=jitter_ms)

    def invalid_token(self, shop: str, on: bool = True) -> dict[str, Any]:
        return self.faults(shop, invalid_token=on)

    def missing_scopes(self, shop: str, scopes: list[str]) -> dict[str, Any]:
        return self.faults(shop, missing_scopes=scopes)

    def drop_webhooks(self, shop: str, rate: float = 1.0) -> dict[str, Any]:
        return self.faults(shop, webhook_drop_rate=rate)

    def duplicate_webhooks(self, shop: str, rate: float = 1.0) -> dict[str, Any]:
        return self.faults(shop, webhook_duplicate_rate=rate)

    def set_bucket(self, shop: str, available: float | None = None, size: float | None = None,
                   rate: float | None = None) -> dict[str, Any]:
        return self._call("POST", self._shop(shop, "bucket"), json={"available": available, "size": size,
                                                                     "rate": rate})

    def expire_tokens(self, shop: str) -> int:
        return self._call("POST", self._shop(shop, "tokens/expire"))["expired"]

    def uninstall(self, shop: str) -> None:
        self._call("POST", self._shop(shop, "uninstall"))

    def install(self, shop: str) -> None:
        self._call("POST", self._shop(shop, "install"))

    # data ------------------------------------------------------------------------------------------------
    def seed(self, shop: str, products: list[dict[str, Any]] | None = None, **generate: Any) -> list[dict[str, Any]]:
        """Create products directly (no webhooks, no throttling). ``products``: list of specs
        ``{title, handle?, vendor?, productType?, status?, tags?, descriptionHtml?, options?: [{name, values}],
        variants?: [{sku, price, compareAtPrice?, barcode?, options?: [...], inventory: int | {location: qty},
        tracked?: true}], metafields?: [{namespace, key, type, value}], images?: [url]}``; or
        ``generate=N, variants_per_product=1, inventory=10, prefix="SEED"``."""
        body: dict[str, Any] = dict(generate)
        if products is not None:
            body["products"] = products
        return self._call("POST", self._shop(shop, "seed"), json=body)["products"]

    def products(self, shop: str) -> list[dict[str, Any]]:
        return self._call("GET", self._shop(shop, "products"))["products"]

    def product(self, shop: str, ref: Any) -> dict[str, Any]:
        """A product by gid, numeric id or handle (simulator export shape)."""
        return self._call("GET", self._shop(shop, f"products/{_ref(ref)}"))

    def edit_product(self, shop: str, ref: Any, **changes: Any) -> dict[str, Any]:
        """Merchant edit: title, descriptionHtml, vendor, productType, tags, status, seo, handle,
        variants=[{id|sku, price, compareAtPrice, sku (needs id or match_sku), barcode}],
        metafields=[{namespace, key, value, type?, delete?}]. Fires products/update."""
        return self._call("PATCH", self._shop(shop, f"products/{_ref(ref)}"), json=changes)

    def collections(self, shop: str) -> list[dict[str, Any]]:
        """Every collection with its product ids (a smart one's as its rules select them)."""
        return self._call("GET", self._shop(shop, "collections"))["collections"]

    def create_collection(self, shop: str, **values: Any) -> dict[str, Any]:
        """Merchant creates a collection: title, handle?, descriptionHtml?, sortOrder?, ruleSet? (smart)."""
        return self._call("POST", self._shop(shop, "collections"), json=values)

    def collection_add(self, shop: str, collection: Any, product_ids: list[str]) -> dict[str, Any]:
        """Merchant adds products to a custom collection in the Shopify admin."""
        return self._call("POST", self._shop(shop, f"collections/{_ref(collection)}/add"),
                          json={"productIds": product_ids})

    def collection_remove(self, shop: str, collection: Any, product_ids: list[str]) -> dict[str, Any]:
        """Merchant removes products from a custom collection in the Shopify admin."""
        return self._call("POST", self._shop(shop, f"collections/{_ref(collection)}/remove"),
                          json={"productIds": product_ids})

    def translations(self, shop: str) -> dict[str, Any]:
        """The shop's locales and every registered translation ``{resourceId, locale, key, value}``."""
        return self._call("GET", self._shop(shop, "translations"))

    def set_locales(self, shop: str, locales: list[dict[str, Any]]) -> dict[str, Any]:
        """Merchant enables / publishes locales: ``[{locale, name, primary, published}]``."""
        return self._call("POST", self._shop(shop, "locales"), json={"locales": locales})

    def delete_product(self, shop: str, ref: Any) -> str:
        return self._call("DELETE", self._shop(shop, f"products/{_ref(ref)}"))["deletedProductId"]

    def inventory(self, shop: str, *, sku: str | None = None, variant_id: str | None = None,
                  inventory_item_id: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in {"sku": sku, "variant_id": variant_id,
                                    "inventory_item_id": inventory_item_id}.items() if v is not None}
        return self._call("GET", self._shop(shop, "inventory"), params=params)

    def adjust_inventory(self, shop: str, *, sku: str | None = None, variant_id: str | None = None,
                         inventory_item_id: str | None = None, location_id: Any = None, delta: int | None = None,
                         set: int | None = None, name: str = "available") -> dict[str, Any]:
        """Merchant stock change at a location (default: the first). ``delta`` or absolute ``set``.
        Fires inventory_levels/update (and products/update)."""
        body: dict[str, Any] = {"sku": sku, "variant_id": variant_id, "inventory_item_id": inventory_item_id,
                                "location_id": location_id, "name": name}
        if set is not None:
            body["set"] = set
        else:
            body["delta"] = delta or 0
        return self._call("POST", self._shop(shop, "inventory"), json={k: v for k, v in body.items()
                                                                        if v is not None})

    def place_order(self, shop: str, line_items: list[dict[str, Any]], location_id: Any = None,
                    **extra: Any) -> dict[str, Any]:
        """Line items: ``{variant_id | sku, quantity, location_id?, price?}``. Moves stock available ->
        committed; fires orders/create, orders/paid, inventory_levels/update, products/update.
        Returns the order (REST/webhook shape)."""
        body = {"line_items": line_items, **extra}
        if location_id is not None:
            body["location_id"] = location_id
        return self._call("POST", self._shop(shop, "orders"), json=body)

    def place_orders(self, shop: str, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._call("POST", self._shop(shop, "orders"), json={"orders": orders})["orders"]

    def order(self, shop: str, order_id: Any) -> dict[str, Any]:
        return self._call("GET", self._shop(shop, f"orders/{_ref(order_id)}"))

    def cancel_order(self, shop: str, order_id: Any, restock: bool = True, reason: str = "customer",
                     refund: bool = False) -> dict[str, Any]:
        """``orderCancel``; with ``refund`` the cancellation also refunds the unfulfilled lines (refunds/create)."""
        return self._call("POST", self._shop(shop, f"orders/{_ref(order_id)}/cancel"),
                          json={"restock": restock, "reason": reason, "refund": refund})

    def refund(self, shop: str, order_id: Any, line_items: list[dict[str, Any]] | None = None,
               restock: bool = True, note: str | None = None) -> dict[str, Any]:
        """Line items: ``{line_item_id | variant_id | sku, quantity, location_id?}`` (default: everything).
        Fires refunds/create. Returns the refund (webhook shape)."""
        body: dict[str, Any] = {"restock": restock, "note": note}
        if line_items is not None:
            body["line_items"] = line_items
        return self._call("POST", self._shop(shop, f"orders/{_ref(order_id)}/refunds"), json=body)

    def edit_order(self, shop: str, order_id: Any, *, set_quantity: list[dict[str, Any]] | None = None,
                   add: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Commit an order edit: ``set_quantity=[{line_item_id, quantity, restock?}]``, ``add=[{variant_id | sku,
        quantity}]``. Fires orders/edited and orders/updated; returns the orders/edited payload."""
        return self._call("POST", self._shop(shop, f"orders/{_ref(order_id)}/edit"),
                          json={"set_quantity": set_quantity or [], "add": add or []})

    def move_fulfillment_order(self, shop: str, fulfillment_order_id: Any, location_id: Any) -> dict[str, Any]:
        """``fulfillmentOrderMove``: fires fulfillment_orders/moved; returns its payload."""
        return self._call("POST", self._shop(shop, f"fulfillment_orders/{_ref(fulfillment_order_id)}/move"),
                          json={"location_id": location_id})

    def fulfill(self, shop: str, order_id: Any) -> dict[str, Any]:
        return self._call("POST", self._shop(shop, f"orders/{_ref(order_id)}/fulfill"))

    def trigger_webhooks(self, shop: str, topic: str, count: int = 1, payload: dict[str, Any] | None = None,
                         product_id: str | None = None) -> int:
        """Emit ``count`` synthetic events of ``topic`` to its subscribers (benchmarks)."""
        body = {"topic": topic, "count": count, "payload": payload, "product_id": product_id}
        return self._call("POST", self._shop(shop, "webhooks/trigger"), json=body)["deliveries"]

    def webhook_subscriptions(self, shop: str) -> list[dict[str, Any]]:
        return self._call("GET", self._shop(shop, "webhooks"))["subscriptions"]

    # -- Admin API convenience --------------------------------------------------------------------------
    def graphql(self, shop: str, query: str, variables: dict[str, Any] | None = None, version: str = "2026-07",
                token: str | None = None) -> requests.Response:
        """POST a GraphQL document to the shop with its static token (or ``token``); returns the response."""
        info = self.shop(shop)
        return self.session.post(
            f"{info['base_url']}/admin/api/{version}/graphql.json",
            json={"query": query, "variables": variables or {}},
            headers={"X-Shopify-Access-Token": token or info["access_token"]},
            timeout=self.timeout,
        )
