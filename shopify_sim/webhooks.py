"""Webhook payloads (REST-shaped, after Shopify's documentation samples) and the delivery machinery.

Delivery: one background worker pool per simulator. Each (event, subscription) becomes one delivery with its own
``X-Shopify-Webhook-Id`` (kept across retries); all deliveries of one event share ``X-Shopify-Event-Id``.
Non-2xx answers, connection errors and timeouts are retried on Shopify's schedule (8 retries over ~4 h),
compressed by ``SimConfig.webhook_time_scale``.
"""

from __future__ import annotations

import base64
import collections
import copy
import hashlib
import heapq
import hmac
import http.client
import itertools
import json
import random
import ssl
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .util import gid, iso_precise, iso_rest, now

if TYPE_CHECKING:  # pragma: no cover
    from .app import Simulator
    from .store import ShopState

_SAMPLES = Path(__file__).resolve().parent / "samples"
_templates: dict[str, Any] = {}
_templates_lock = threading.Lock()


def _template(name: str) -> dict[str, Any]:
    t = _templates.get(name)
    if t is None:
        with _templates_lock:
            t = _templates.get(name)
            if t is None:
                with open(_SAMPLES / f"webhook_{name}.json", encoding="utf-8") as fh:
                    t = json.load(fh)
                _templates[name] = t
    return copy.deepcopy(t)


# -- topics ------------------------------------------------------------------------------------------------
def topic_from_enum(value: str) -> str:
    """``INVENTORY_LEVELS_UPDATE`` -> ``inventory_levels/update``; ``APP_UNINSTALLED`` -> ``app/uninstalled``."""
    words = value.lower().split("_")
    for i, w in enumerate(words[:-1]):
        if w.endswith("s"):
            return "_".join(words[: i + 1]) + "/" + "_".join(words[i + 1:])
    return words[0] + "/" + "_".join(words[1:])


def topic_to_enum(topic: str) -> str:
    return topic.replace("/", "_").upper()


# -- payloads ----------------------------------------------------------------------------------------------
def _money_set(amount: str, currency: str) -> dict[str, Any]:
    return {"shop_money": {"amount": amount, "currency_code": currency},
            "presentment_money": {"amount": amount, "currency_code": currency}}


def product_payload(shop: ShopState, p: dict[str, Any]) -> dict[str, Any]:
    options = shop.option_list(p)
    variants = shop.variant_list(p)
    media = [shop.media[n] for n in p["_media"] if n in shop.media]
    images = []
    for pos, m in enumerate(media, start=1):
        images.append({
            "id": m["_n"], "alt": m["alt"], "position": pos, "product_id": p["_n"],
            "created_at": iso_rest(m["_created"]), "updated_at": iso_rest(m["_updated"]),
            "admin_graphql_api_id": gid("ProductImage", m["_n"]), "width": m["image"]["width"],
            "height": m["image"]["height"], "src": m["image"]["url"],
            "variant_ids": [v["_n"] for v in variants if m["_n"] in v["_media"]],
        })
    rest_variants = []
    for v in variants[:100]:
        opts = list(v["_opts"]) + [None, None, None]
        qty = shop.variant_inventory_quantity(v)
        rest_variants.append({
            "admin_graphql_api_id": v["id"], "barcode": v["barcode"], "compare_at_price": v["compareAtPrice"],
            "created_at": iso_rest(v["_created"]), "id": v["_n"], "inventory_policy": v["inventoryPolicy"].lower(),
            "position": v["position"], "price": v["price"], "product_id": p["_n"], "sku": v["sku"],
            "taxable": v["taxable"], "title": v["title"], "updated_at": iso_rest(v["_updated"]),
            "option1": opts[0], "option2": opts[1], "option3": opts[2],
            "image_id": v["_media"][0] if v["_media"] else None, "inventory_item_id": v["_item"],
            "inventory_quantity": qty, "old_inventory_quantity": qty,
        })
    variant_gids = [{"admin_graphql_api_id": v["id"], "updated_at": iso_precise(v["_updated"])}
                    for v in sorted(variants, key=lambda v: v["_updated"], reverse=True)]
    return {
        "admin_graphql_api_id": p["id"],
        "body_html": p["descriptionHtml"],
        "created_at": iso_rest(p["_created"]),
        "handle": p["handle"],
        "id": p["_n"],
        "product_type": p["productType"],
        "published_at": p["publishedAt"] and p["publishedAt"].replace("Z", "+00:00"),
        "template_suffix": p["templateSuffix"],
        "title": p["title"],
        "updated_at": iso_rest(p["_updated"]),
        "vendor": p["vendor"],
        "status": p["status"].lower(),
        "published_scope": "global",
        "tags": ", ".join(p["tags"]),
        "variants": rest_variants,
        "options": [{"name": o["name"], "id": o["_n"], "product_id": p["_n"], "position": o["position"],
                     "values": [x["name"] for x in o["_values"]]} for o in options],
        "images": images,
        "image": images[0] if images else None,
        "media": [{"id": m["_n"], "product_id": p["_n"], "position": pos, "created_at": iso_rest(m["_created"]),
                   "updated_at": iso_rest(m["_updated"]), "alt": m["alt"], "status": "ready",
                   "media_content_type": "IMAGE",
                   "preview_image": {"width": m["image"]["width"], "height": m["image"]["height"],
                                     "src": m["image"]["url"], "status": "ready"},
                   "variant_ids": [v["_n"] for v in variants if m["_n"] in v["_media"]],
                   "admin_graphql_api_id": m["id"]} for pos, m in enumerate(media, start=1)],
        "variant_gids": variant_gids,
        "has_variants_that_requires_components": False,
        "category": None,
    }


def level_payload(shop: ShopState, lvl: dict[str, Any]) -> dict[str, Any]:
    return {
        "inventory_item_id": lvl["_item"],
        "location_id": lvl["_loc"],
        "available": lvl["_q"]["available"],
        "updated_at": iso_rest(lvl["_updated"]),
        "admin_graphql_api_id": lvl["id"],
    }


def _line_item_json(shop: ShopState, li: dict[str, Any], currency: str) -> dict[str, Any]:
    current = li["quantity"] - li.get("removed_by_edit", 0) - li["refunded"]
    return {
        "id": li["_n"],
        "admin_graphql_api_id": gid("LineItem", li["_n"]),
        "attributed_staffs": [],
        "current_quantity": current,
        "fulfillable_quantity": max(li["quantity"] - li["fulfilled"] - li["removed"], 0),
        "fulfillment_service": "manual",
        "fulfillment_status": "fulfilled" if li["fulfilled"] >= li["quantity"] else None,
        "gift_card": False,
        "grams": 0,
        "name": li["title"] + (f" - {li['variant_title']}" if li["variant_title"] else ""),
        "price": li["price"],
        "price_set": _money_set(li["price"], currency),
        "product_exists": li["product"] in shop.products,
        "product_id": li["product"],
        "properties": [],
        "quantity": li.get("_orig", li["quantity"]),
        "requires_shipping": True,
        "sales_line_item_group_id": None,
        "sku": li["sku"],
        "taxable": True,
        "title": li["title"],
        "total_discount": "0.00",
        "total_discount_set": _money_set("0.00", currency),
        "variant_id": li["variant"],
        "variant_inventory_management": "shopify" if li["tracked"] else None,
        "variant_title": li["variant_title"],
        "vendor": li["vendor"],
        "tax_lines": [],
        "duties": [],
        "discount_allocations": [],
    }


def order_payload(shop: ShopState, order: dict[str, Any]) -> dict[str, Any]:
    currency = shop.cfg.currency
    t = _template("orders_create")
    lines = [_line_item_json(shop, li, currency) for li in order["line_items"]]
    subtotal = sum(float(li["price"]) * li["quantity"] for li in order["line_items"])
    current = sum(float(li["price"]) * (li["quantity"] - li["refunded"]) for li in order["line_items"])
    sub_s, cur_s = f"{subtotal:.2f}", f"{current:.2f}"
    t.update({
        "id": order["_n"],
        "admin_graphql_api_id": order["id"],
        "app_id": None,
        "cancel_reason": order["cancel_reason"],
        "cancelled_at": iso_rest(order["_cancelled"]),
        "closed_at": None,
        "confirmation_number": f"SIM{order['_n'] % 1000000:06d}",
        "confirmed": True,
        "contact_email": order["email"],
        "email": order["email"],
        "created_at": iso_rest(order["_created"]),
        "processed_at": iso_rest(order["_created"]),
        "updated_at": iso_rest(order["_updated"]),
        "currency": currency,
        "presentment_currency": currency,
        "financial_status": order["financial_status"],
        "fulfillment_status": order["fulfillment_status"],
        "location_id": order["_loc"],
        "name": order["name"],
        "number": order["number"],
        "order_number": order["order_number"],
        "note": order["note"],
        "tags": order["tags"],
        "test": True,
        "token": hashlib.md5(str(order["_n"]).encode(), usedforsecurity=False).hexdigest(),
        "order_status_url": f"https://{shop.domain}/{shop.shop_num}/orders/{order['_n']}/authenticate",
        "line_items": lines,
        "subtotal_price": sub_s,
        "subtotal_price_set": _money_set(sub_s, currency),
        "total_line_items_price": sub_s,
        "total_line_items_price_set": _money_set(sub_s, currency),
        "total_price": sub_s,
        "total_price_set": _money_set(sub_s, currency),
        "total_outstanding": "0.00" if order["financial_status"] in ("paid", "refunded") else sub_s,
        "current_subtotal_price": cur_s,
        "current_subtotal_price_set": _money_set(cur_s, currency),
        "current_total_price": cur_s,
        "current_total_price_set": _money_set(cur_s, currency),
        "total_discounts": "0.00",
        "total_discounts_set": _money_set("0.00", currency),
        "current_total_discounts": "0.00",
        "current_total_discounts_set": _money_set("0.00", currency),
        "total_tax": "0.00",
        "total_tax_set": _money_set("0.00", currency),
        "current_total_tax": "0.00",
        "current_total_tax_set": _money_set("0.00", currency),
        "total_shipping_price_set": _money_set("0.00", currency),
        "discount_codes": [],
        "discount_applications": [],
        "shipping_lines": [],
        "fulfillments": [_fulfillment_json(shop, order, f, currency) for f in order.get("fulfillments", [])],
        "source_name": order.get("source_name", "web"),
        "refunds": [_refund_core(shop, order, r) for r in order["refunds"]],
        "line_item_groups": [],
        "returns": [],
    })
    return t


def _fulfillment_json(shop: ShopState, order: dict[str, Any], f: dict[str, Any], currency: str) -> dict[str, Any]:
    lines = []
    for li, qty in f["lines"]:
        line = _line_item_json(shop, li, currency)
        line["quantity"] = qty
        lines.append(line)
    return {
        "id": f["_n"], "admin_graphql_api_id": gid("Fulfillment", f["_n"]), "order_id": order["_n"],
        "location_id": f["_loc"], "status": "success", "created_at": iso_rest(f["_created"]),
        "updated_at": iso_rest(f["_created"]), "name": f"{order['name']}.{order['fulfillments'].index(f) + 1}",
        "service": "manual", "shipment_status": None, "tracking_company": None, "tracking_number": None,
        "tracking_numbers": [], "tracking_url": None, "tracking_urls": [], "receipt": {}, "line_items": lines,
    }


def _refund_core(shop: ShopState, order: dict[str, Any], refund: dict[str, Any]) -> dict[str, Any]:
    currency = shop.cfg.currency
    rlines = []
    for rl in refund["lines"]:
        li = rl["line"]
        sub = f"{float(li['price']) * rl['quantity']:.2f}"
        rlines.append({
            "id": rl["_n"],
            "quantity": rl["quantity"],
            "line_item_id": li["_n"],
            "location_id": rl["_loc"],
            "restock_type": rl["restock_type"],
            "subtotal": float(sub),
            "total_tax": 0,
            "subtotal_set": _money_set(sub, currency),
            "total_tax_set": _money_set("0.00", currency),
            "line_item": {k: v for k, v in _line_item_json(shop, li, currency).items()
                          if k not in ("attributed_staffs", "current_quantity", "sales_line_item_group_id")},
        })
    return {
        "id": refund["_n"],
        "order_id": order["_n"],
        "created_at": iso_rest(refund["_created"]),
        "note": refund["note"],
        "user_id": None,
        "processed_at": iso_rest(refund["_created"]),
        "restock": refund["restock"],
        "admin_graphql_api_id": gid("Refund", refund["_n"]),
        "refund_line_items": rlines,
    }


def refund_payload(shop: ShopState, order: dict[str, Any], refund: dict[str, Any]) -> dict[str, Any]:
    currency = shop.cfg.currency
    t = _template("refunds_create")
    core = _refund_core(shop, order, refund)
    total = sum(float(rl["subtotal_set"]["shop_money"]["amount"]) for rl in core["refund_line_items"])
    t.update(core)
    t.update({
        "duties": [],
        "total_duties_set": _money_set("0.00", currency),
        "return": None,
        "refund_shipping_lines": [],
        "order_adjustments": [],
        "transactions": [{
            "id": refund["_n"] + 1, "order_id": order["_n"], "kind": "refund", "gateway": "bogus",
            "status": "success", "message": None, "created_at": core["created_at"], "test": True,
            "authorization": None, "location_id": None, "user_id": None, "parent_id": None,
            "processed_at": core["created_at"], "device_id": None, "error_code": None, "source_name": "web",
            "receipt": {}, "amount": f"{total:.2f}", "currency": currency, "payment_id": order["name"],
            "manual_payment_gateway": False, "amount_rounding": None,
            "admin_graphql_api_id": gid("OrderTransaction", refund["_n"] + 1),
        }],
    })
    return t


def shop_payload(shop: ShopState) -> dict[str, Any]:
    t = _template("app_uninstalled")
    t.update({
        "id": shop.shop_num,
        "name": shop.cfg.shop_name,
        "email": shop.cfg.email,
        "customer_email": shop.cfg.email,
        "domain": shop.domain,
        "myshopify_domain": shop.domain,
        "currency": shop.cfg.currency,
        "enabled_presentment_currencies": [shop.cfg.currency],
        "plan_name": shop.cfg.plan,
        "plan_display_name": shop.info()["plan_display_name"],
        "primary_location_id": shop.primary_location["_n"],
        "created_at": iso_rest(shop.created_at),
        "updated_at": iso_rest(shop.created_at),
        "iana_timezone": "UTC",
        "timezone": "(GMT+00:00) UTC",
    })
    return t


def bulk_finish_payload(op: dict[str, Any]) -> dict[str, Any]:
    return {
        "admin_graphql_api_id": op["id"],
        "completed_at": op["completedAt"] and op["completedAt"].replace("Z", "+00:00"),
        "created_at": op["createdAt"].replace("Z", "+00:00"),
        "error_code": op["errorCode"].lower() if op["errorCode"] else None,
        "status": op["status"].lower(),
        "type": op["type"].lower(),
    }


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# -- delivery ----------------------------------------------------------------------------------------------
class Delivery:
    __slots__ = ("shop_name", "topic", "url", "body", "headers", "attempt", "sub_id", "log", "generation")

    def __init__(self, shop_name: str, topic: str, url: str, body: bytes, headers: dict[str, str], sub_id: int,
                 log: dict[str, Any], generation: int):
        self.shop_name = shop_name
        self.topic = topic
        self.url = url
        self.body = body
        self.headers = headers
        self.attempt = 0
        self.sub_id = sub_id
        self.log = log
        self.generation = generation


class WebhookDispatcher:
    def __init__(self, sim: Simulator):
        self.sim = sim
        self.cfg = sim.config
        self._queue: collections.deque[Delivery] = collections.deque()
        self._cv = threading.Condition()
        self._timers: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._pending = 0
        self._idle_cv = threading.Condition()
        self.log: collections.deque[dict[str, Any]] = collections.deque(maxlen=self.cfg.delivery_log_size)
        self._threads: list[threading.Thread] = []
        self._stopped = False
        self.generation = 0
        self._local = threading.local()
        self._started = False
        self._start_lock = threading.Lock()

    # -- public ----------------------------------------------------------------------------------------
    def dispatch(self, shop: ShopState, events: list[tuple[str, dict[str, Any], list[dict[str, Any]]]]) -> None:
        """Turn events (topic, payload, subscriptions snapshot) into deliveries. Call without the shop lock."""
        if not events:
            return
        self._ensure_started()
        faults = shop.faults
        drop_rate = float(faults.get("webhook_drop_rate") or 0)
        dup_rate = float(faults.get("webhook_duplicate_rate") or 0)
        secret = shop.cfg.client_secret
        version = shop.cfg.webhook_api_version
        new: list[Delivery] = []
        for topic, payload, subs in events:
            event_id = str(uuid.uuid4())
            triggered = iso_precise(now())
            body_full: bytes | None = None
            for sub in subs:
                uri = sub["uri"]
                include = sub.get("includeFields") or []
                if include:
                    body = json.dumps({k: v for k, v in payload.items() if k in include}).encode()
                else:
                    if body_full is None:
                        body_full = json.dumps(payload).encode()
                    body = body_full
                webhook_id = str(uuid.uuid4())
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "Shopify-Captain-Hook",
                    "X-Shopify-Topic": topic,
                    "X-Shopify-Hmac-Sha256": sign(secret, body),
                    "X-Shopify-Shop-Domain": shop.domain,
                    "X-Shopify-API-Version": version,
                    "X-Shopify-Webhook-Id": webhook_id,
                    "X-Shopify-Event-Id": event_id,
                    "X-Shopify-Triggered-At": triggered,
                }
                if sub.get("name"):
                    headers["X-Shopify-Name"] = sub["name"]
                log = {
                    "webhook_id": webhook_id, "event_id": event_id, "topic": topic, "shop": shop.cfg.name,
                    "url": uri, "subscription_id": gid("WebhookSubscription", sub["_n"]), "status": "pending",
                    "attempts": 0, "response_status": None, "error": None, "triggered_at": triggered,
                    "delivered_at": None, "duplicate": False, "payload": payload, "headers": headers,
                }
                if not uri.startswith(("http://", "https://")):
                    log["status"] = "not_http"
                    self.log.append(log)
                    continue
                if drop_rate and random.random() < drop_rate:
                    log["status"] = "dropped"
                    self.log.append(log)
                    continue
                self.log.append(log)
                new.append(Delivery(shop.cfg.name, topic, uri, body, headers, sub["_n"], log, self.generation))
                if dup_rate and random.random() < dup_rate:
                    dlog = dict(log, duplicate=True)
                    self.log.append(dlog)
                    new.append(Delivery(shop.cfg.name, topic, uri, body, headers, sub["_n"], dlog, self.generation))
        if not new:
            return
        with self._idle_cv:
            self._pending += len(new)
        jitter = float(faults.get("webhook_jitter_ms") or 0) / 1000.0
        if jitter:
            for d in new:
                self._schedule(d, random.random() * jitter)
        else:
            with self._cv:
                self._queue.extend(new)
                self._cv.notify(len(new))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no delivery is queued, in flight or waiting for a retry. Returns False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle_cv:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle_cv.wait(left)
        return True

    def pending(self) -> int:
        return self._pending

    def reset(self) -> None:
        """Forget queued deliveries and retries (the workers drop deliveries of older generations)."""
        self.generation += 1
        with self._cv:
            dropped = len(self._queue) + len(self._timers)
            self._queue.clear()
            self._timers.clear()
        with self._idle_cv:
            self._pending = max(0, self._pending - dropped)
            if self._pending == 0:
                self._idle_cv.notify_all()
        self.log.clear()

    def stop(self) -> None:
        self._stopped = True
        with self._cv:
            self._cv.notify_all()

    def deliveries(self, shop: str | None = None, topic: str | None = None, limit: int | None = None,
                   include_payload: bool = True) -> list[dict[str, Any]]:
        out = []
        for entry in list(self.log):
            if shop and entry["shop"] != shop:
                continue
            if topic and entry["topic"] != topic:
                continue
            out.append(entry if include_payload else {k: v for k, v in entry.items() if k != "payload"})
        if limit:
            out = out[-limit:]
        return out

    # -- internals -------------------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        if self._started:
            return
        with self._start_lock:
            if self._started:
                return
            for i in range(max(1, int(self.cfg.webhook_workers))):
                t = threading.Thread(target=self._worker, name=f"shopify-sim-webhook-{i}", daemon=True)
                t.start()
                self._threads.append(t)
            t = threading.Thread(target=self._timer_loop, name="shopify-sim-webhook-timer", daemon=True)
            t.start()
            self._threads.append(t)
            self._started = True

    def _schedule(self, d: Delivery, delay: float) -> None:
        with self._cv:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), d))
            self._cv.notify_all()

    def _timer_loop(self) -> None:
        while not self._stopped:
            with self._cv:
                if not self._timers:
                    self._cv.wait(0.5)
                    continue
                due = self._timers[0][0]
                delay = due - time.monotonic()
                if delay > 0:
                    self._cv.wait(min(delay, 0.5))
                    continue
                _, _, d = heapq.heappop(self._timers)
                self._queue.append(d)
                self._cv.notify()

    def _worker(self) -> None:
        while not self._stopped:
            with self._cv:
                while not self._queue and not self._stopped:
                    self._cv.wait(0.5)
                if self._stopped:
                    return
                d = self._queue.popleft()
            if d.generation != self.generation:
                self._done()
                continue
            try:
                self._attempt(d)
            except Exception as exc:  # pragma: no cover - never let a worker die
                d.log["status"] = "failed"
                d.log["error"] = f"simulator error: {type(exc).__name__}: {exc}"
                self._done()

    def _done(self) -> None:
        with self._idle_cv:
            self._pending -= 1
            if self._pending <= 0:
                self._pending = 0
                self._idle_cv.notify_all()

    def _attempt(self, d: Delivery) -> None:
        d.attempt += 1
        d.log["attempts"] = d.attempt
        d.log["status"] = "in_flight"
        status, error = self._post(d)
        d.log["response_status"] = status
        d.log["error"] = error
        if status is not None and 200 <= status < 300:
            d.log["status"] = "delivered"
            d.log["delivered_at"] = iso_precise(now())
            self.sim.on_delivery_result(d, True)
            self._done()
            return
        delays = self.cfg.webhook_retry_delays
        if d.attempt <= len(delays) and d.generation == self.generation:
            d.log["status"] = "retrying"
            self._schedule(d, float(delays[d.attempt - 1]) * float(self.cfg.webhook_time_scale))
            return
        d.log["status"] = "failed"
        self.sim.on_delivery_result(d, False)
        self._done()

    def _conn(self, scheme: str, netloc: str, fresh: bool = False) -> http.client.HTTPConnection:
        cache = getattr(self._local, "conns", None)
        if cache is None:
            cache = self._local.conns = {}
        key = (scheme, netloc)
        conn = cache.get(key)
        if conn is not None and fresh:
            conn.close()
            conn = None
        if conn is None:
            timeout = float(self.cfg.webhook_timeout)
            if scheme == "https":
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                conn = http.client.HTTPSConnection(netloc, timeout=timeout, context=ctx)
            else:
                conn = http.client.HTTPConnection(netloc, timeout=timeout)
            cache[key] = conn
        return conn

    def _post(self, d: Delivery) -> tuple[int | None, str | None]:
        parts = urlsplit(d.url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        for attempt in range(2):
            conn = self._conn(parts.scheme, parts.netloc, fresh=attempt > 0)
            reused = getattr(conn, "sock", None) is not None
            try:
                conn.request("POST", path, body=d.body, headers=d.headers)
                resp = conn.getresponse()
                resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                return resp.status, None
            except Exception as exc:  # connection errors, timeouts, blocked network in tests, ...
                conn.close()
                if reused and attempt == 0 and isinstance(exc, (ConnectionError, http.client.HTTPException)):
                    continue  # stale keep-alive connection: retry once on a fresh one
                return None, f"{type(exc).__name__}: {exc}"
        return None, "unreachable"
