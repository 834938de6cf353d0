"""HTTP front end: Admin API routes per shop, the ``/_sim/`` control API and bulk result files."""

from __future__ import annotations

import json
import re
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .app import Response, Simulator, _json
from .store import ShopState, SimError

_GRAPHQL_RE = re.compile(r"^admin/api/([^/]+)/graphql\.json$")


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, addr: tuple[str, int], sim: Simulator):
        self.sim = sim
        super().__init__(addr, SimRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quieter than the default
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class SimRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ShopifySim/1.0"
    disable_nagle_algorithm = True
    server: SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sim.config.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, resp: Response) -> None:
        status, headers, body = resp
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _dispatch(self, method: str) -> None:
        try:
            body = self._read_body()
            resp = route(self.server.sim, method, self.path, dict(self.headers.items()), body)
        except SimError as exc:
            resp = _json(exc.status, {"error": exc.message})
        except (ValueError, KeyError, TypeError) as exc:
            resp = _json(400, {"error": f"{type(exc).__name__}: {exc}"})
        except Exception as exc:  # pragma: no cover
            traceback.print_exc()
            resp = _json(500, {"error": f"shopify_sim internal error: {type(exc).__name__}: {exc}"})
        try:
            self._send(resp)
        except (ConnectionError, TimeoutError):
            pass


def _header(headers: dict[str, str], name: str) -> str | None:
    lname = name.lower()
    for k, v in headers.items():
        if k.lower() == lname:
            return v
    return None


def route(sim: Simulator, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
    parts = urlsplit(raw_path)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    segments = [unquote(s) for s in parts.path.strip("/").split("/") if s != ""]
    if segments and segments[0] == "_sim":
        return control(sim, method, segments[1:], query, headers, body)
    # /{shop}/admin/...  or  /admin/... with Host: {shop}.myshopify.com
    shop: ShopState | None = None
    if segments and segments[0] != "admin":
        shop = sim.shop(segments[0])
        if shop is None:
            return _json(404, {"errors": "Not Found"})
        segments = segments[1:]
    else:
        shop = sim.shop(_header(headers, "Host") or "")
        if shop is None:
            return _json(404, {"errors": "Not Found"})
    rest = "/".join(segments)
    m = _GRAPHQL_RE.match(rest)
    if m:
        if method != "POST":
            return _json(405, {"errors": "Method Not Allowed"}, {"Allow": "POST"})
        token = _header(headers, "X-Shopify-Access-Token")
        return sim.handle_graphql(shop, m.group(1), token, body)
    if rest == "admin/oauth/access_token":
        if method != "POST":
            return _json(405, {"errors": "Method Not Allowed"}, {"Allow": "POST"})
        return sim.handle_token(shop, body, _header(headers, "Content-Type") or "")
    return _json(404, {"errors": "Not Found"})


def _body_json(body: bytes) -> Any:
    if not body or not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError as exc:
        raise SimError(f"invalid JSON body: {exc}", 400) from None


def _truthy(v: Any) -> bool:
    return str(v).lower() in ("1", "true", "yes", "on")


def control(sim: Simulator, method: str, seg: list[str], query: dict[str, str], headers: dict[str, str],
            body: bytes) -> Response:
    if seg[:1] == ["uploads"]:
        data: Any = {}
    else:
        data = _body_json(body) if method in ("POST", "PUT", "PATCH", "DELETE") else {}
    if not seg or seg == ["health"]:
        return _json(200, {"ok": True, "shops": list(sim.shops), "versions": sim.schemas.versions})
    head = seg[0]
    if head == "files" and len(seg) == 4 and seg[1] == "bulk" and method == "GET":
        num = int(seg[3].split(".", 1)[0])
        content = sim.bulk.file(seg[2], num)
        if content is None:
            return _json(404, {"error": "no such file"})
        return 200, {"Content-Type": "application/jsonl"}, content
    if head == "uploads" and len(seg) == 2 and method == "POST":
        status, xml = sim.bulk_mutations.receive_upload(seg[1], _header(headers, "Content-Type") or "", body)
        return status, {"Content-Type": "application/xml"}, xml
    if head == "shops" and len(seg) == 1:
        return _json(200, {"shops": [s.info() for s in sim.shops.values()]})
    if head == "reset" and method == "POST":
        names = data.get("shops") if isinstance(data, dict) else None
        sim.reset(names, keep_config=bool(data.get("keep_config")) if isinstance(data, dict) else False)
        return _json(200, {"ok": True})
    if head == "config":
        if method in ("POST", "PATCH", "PUT"):
            sim.config.update(data)
        return _json(200, sim.config.to_dict())
    if head == "webhooks":
        if len(seg) >= 2 and seg[1] == "wait" and method == "POST":
            ok = sim.webhooks.wait_idle(float(data.get("timeout", 10)))
            return _json(200 if ok else 504, {"idle": ok, "pending": sim.webhooks.pending()})
        if len(seg) >= 2 and seg[1] == "deliveries":
            return _json(200, {"deliveries": sim.webhooks.deliveries(
                query.get("shop"), query.get("topic"), int(query["limit"]) if query.get("limit") else None,
                include_payload=_truthy(query.get("payload", "1")))})
    if head == "shops" and len(seg) >= 2:
        shop = sim.shop(seg[1])
        if shop is None:
            return _json(404, {"error": f"unknown shop {seg[1]!r}"})
        return shop_control(sim, shop, method, seg[2:], query, data)
    return _json(404, {"error": f"unknown control endpoint {method} /_sim/{'/'.join(seg)}"})


def shop_control(sim: Simulator, shop: ShopState, method: str, seg: list[str], query: dict[str, str],
                 data: Any) -> Response:
    if not seg:
        return _json(200, shop.info())
    head = seg[0]
    if head == "reset" and method == "POST":
        sim.reset([shop.cfg.name], keep_config=bool(data.get("keep_config")))
        return _json(200, {"ok": True})
    if head == "state":
        with shop.lock:
            return _json(200, shop.export_state())
    if head == "config":
        if method in ("POST", "PATCH", "PUT"):
            return _json(200, sim.update_shop_config(shop, data))
        return _json(200, shop.cfg.to_dict())
    if head == "stats":
        return _json(200, sim.stats(shop))
    if head == "bulk_operations" and method == "GET":
        # Bulk operations with the simulator's own accounting: requested-cost points of the lines run, lines.
        with shop.lock:
            ops = [{**{k: v for k, v in op.items() if not k.startswith("_")}, "points": op.get("_points", 0),
                    "lines": op.get("_lines")} for op in shop.bulk_ops.values()]
        return _json(200, {"bulkOperations": ops})
    if head == "requests":
        if method == "DELETE":
            shop.request_log.clear()
            return _json(200, {"ok": True})
        entries = list(shop.request_log)
        if query.get("operation"):
            entries = [e for e in entries if e["operation_name"] == query["operation"]
                       or query["operation"] in e["root_fields"]]
        if query.get("status"):
            entries = [e for e in entries if e["status"] == query["status"]]
        if query.get("limit"):
            entries = entries[-int(query["limit"]):]
        return _json(200, {"requests": entries})
    if head == "faults":
        if method == "DELETE":
            return _json(200, sim.clear_faults(shop))
        if method in ("POST", "PATCH", "PUT"):
            return _json(200, sim.set_faults(shop, data, replace=method == "PUT"))
        return _json(200, sim.faults_info(shop))
    if head == "bucket":
        if method in ("POST", "PATCH", "PUT"):
            shop.bucket.set(available=data.get("available"), size=data.get("size"), rate=data.get("rate"))
        return _json(200, shop.bucket.status())
    if head == "tokens":
        if len(seg) > 1 and seg[1] == "expire" and method == "POST":
            with shop.lock:
                n = len(shop.issued_tokens)
                shop.issued_tokens = dict.fromkeys(shop.issued_tokens, 0.0)
            return _json(200, {"expired": n})
        with shop.lock:
            return _json(200, {"tokens": [{"token": t, "expires_at": e} for t, e in shop.issued_tokens.items()]})
    if head == "uninstall" and method == "POST":
        sim.mutate(shop, shop.uninstall)
        return _json(200, {"installed": False})
    if head == "install" and method == "POST":
        with shop.lock:
            shop.installed = True
        return _json(200, {"installed": True})
    if head == "seed" and method == "POST":
        with shop.lock:
            created = shop.seed(data if isinstance(data, dict) else {"products": data})
        return _json(200, {"products": created, "count": len(created)})
    if head == "products":
        if len(seg) == 1:
            with shop.lock:
                if method == "GET":
                    return _json(200, {"products": [shop.export_product(p) for p in shop.products.values()]})
            raise SimError("use POST /_sim/shops/{shop}/seed to create products", 405)
        ref = seg[1]
        if method == "GET":
            with shop.lock:
                p = shop.product(ref) or (shop.products.get(shop.handles.get(ref, -1)))
                if p is None:
                    return _json(404, {"error": f"product not found: {ref!r}"})
                return _json(200, shop.export_product(p))
        if method == "DELETE":
            pid = sim.mutate(shop, shop.merchant_delete_product, ref)
            return _json(200, {"deletedProductId": pid})
        if method in ("POST", "PATCH", "PUT"):
            p = sim.mutate(shop, shop.merchant_edit_product, ref, data)
            with shop.lock:
                return _json(200, shop.export_product(p))
    if head == "inventory":
        if method == "GET":
            with shop.lock:
                v = shop._resolve_variant(query)
                levels = shop.item_levels.get(v["_item"], {})
                return _json(200, {"variant_id": v["id"], "sku": v["sku"],
                                   "inventory_item_id": shop.items[v["_item"]]["id"],
                                   "levels": [shop.level_state(lvl) for lvl in levels.values()]})
        if method == "POST":
            return _json(200, sim.mutate(shop, shop.merchant_adjust_inventory, data))
    if head == "orders":
        if len(seg) == 1 and method == "POST":
            specs = data.get("orders") if isinstance(data, dict) and "orders" in data else [data]
            out = []
            for spec in specs:
                order = sim.mutate(shop, shop.place_order, spec)
                out.append(_order_out(sim, shop, order))
            return _json(200, out[0] if not (isinstance(data, dict) and "orders" in data) else {"orders": out})
        if len(seg) == 1 and method == "GET":
            with shop.lock:
                return _json(200, {"orders": [_order_out(sim, shop, o) for o in shop.orders.values()]})
        ref = seg[1]
        action = seg[2] if len(seg) > 2 else None
        if action is None and method == "GET":
            with shop.lock:
                return _json(200, _order_out(sim, shop, shop.order(ref)))
        if action == "cancel" and method == "POST":
            order = sim.mutate(shop, shop.cancel_order, ref, bool(data.get("restock", True)),
                               data.get("reason", "customer"), bool(data.get("refund", False)))
            return _json(200, _order_out(sim, shop, order))
        if action in ("refund", "refunds") and method == "POST":
            refund = sim.mutate(shop, shop.refund_order, ref, data)
            with shop.lock:
                from . import webhooks as wh

                return _json(200, wh.refund_payload(shop, shop.order(ref), refund))
        if action == "fulfill" and method == "POST":
            order = sim.mutate(shop, shop.fulfill_order, ref)
            return _json(200, _order_out(sim, shop, order))
        if action == "edit" and method == "POST":
            from . import orders as orders_mod

            return _json(200, sim.mutate(shop, orders_mod.edit_order, shop, ref, data))
    if head == "fulfillment_orders" and len(seg) > 2 and seg[2] == "move" and method == "POST":
        from . import orders as orders_mod

        return _json(200, sim.mutate(shop, orders_mod.move_fulfillment_order, shop, seg[1], data.get("location_id")))
    if head == "collections":  # issue 19: list/create collections, merchant membership edits
        from .collections import control as collections_control

        return _json(*collections_control(shop, method, seg[1:], data))
    if head in ("locales", "translations"):  # issue 19: shop locales and registered translations
        from .translations import control as translations_control

        with shop.lock:
            return _json(*translations_control(shop, method, data))
    if head == "webhooks":
        if len(seg) > 1 and seg[1] == "trigger" and method == "POST":
            n = sim.trigger(shop, data["topic"], int(data.get("count", 1)), data.get("payload"),
                            data.get("product_id"))
            return _json(200, {"deliveries": n})
        if len(seg) > 1 and seg[1] == "deliveries":
            return _json(200, {"deliveries": sim.webhooks.deliveries(
                shop.cfg.name, query.get("topic"), int(query["limit"]) if query.get("limit") else None,
                include_payload=_truthy(query.get("payload", "1")))})
        with shop.lock:
            return _json(200, {"subscriptions": shop.export_state()["webhookSubscriptions"]})
    return _json(404, {"error": f"unknown control endpoint {method} /_sim/shops/{shop.cfg.name}/{'/'.join(seg)}"})


def _order_out(sim: Simulator, shop: ShopState, order: dict[str, Any]) -> dict[str, Any]:
    from . import webhooks as wh

    with shop.lock:
        out = wh.order_payload(shop, order)
        # not part of Shopify's payload: the simulator's fulfillment orders, for tests and the demo
        out["_sim_fulfillment_orders"] = [
            {"id": f"gid://shopify/FulfillmentOrder/{fo['_n']}", "status": fo["status"],
             "location_id": fo["_loc"], "line_item_ids": [fl["line"]["_n"] for fl in fo["lines"]]}
            for fo in order.get("fulfillment_orders", [])]
        return out


def start_server(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> tuple[SimHTTPServer, threading.Thread]:
    """Bind and serve in a daemon thread; sets ``sim.url``."""
    httpd = SimHTTPServer((host, port), sim)
    real_port = httpd.server_address[1]
    sim.url = f"http://{host}:{real_port}"
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                         name="shopify-sim-http")
    t.start()
    return httpd, t
