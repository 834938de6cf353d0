"""The simulator: shops, request handling (auth, faults, validation, cost, execution) and control operations.

Transport-independent: :mod:`shopify_sim.server` maps HTTP requests onto these methods.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
import uuid
from collections.abc import Iterable
from typing import Any

from graphql import GraphQLError, execute
from graphql.execution.values import get_variable_values

from .bulk import BulkRunner
from .bulk_mutations import BulkMutationRunner
from .config import ShopConfig, SimConfig
from .cost import CostError, _unwrap, _Walker, actual_cost, requested_cost
from .resolvers import RequestContext, field_resolver, type_resolver
from .schema import (
    PreparedDocument,
    SchemaRegistry,
    VersionSchema,
    format_variable_error,
    invalid_id_variables,
)
from .store import ShopState, SimError
from .util import IdAllocator, iso_precise, now
from .webhooks import WebhookDispatcher

Response = tuple[int, dict[str, str], bytes]

INVALID_TOKEN_BODY = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"


DEPRECATED_REASON_URL = "https://shopify.dev/api/usage/versioning#deprecation-practices"


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    h = {"Content-Type": "application/json; charset=utf-8"}
    if headers:
        h.update(headers)
    return status, h, body


_ERROR_TEXT = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
               429: "Too Many Requests"}


def _injected_error(status: int) -> Response:
    headers = {"Retry-After": "1"} if status in (429, 503) else None
    return _json(status, {"errors": _ERROR_TEXT.get(status, "Error")}, headers)


@dataclasses.dataclass(frozen=True)
class _InjectedAfter:
    """An injected 5xx to answer after running the request (the ``error_applied_share`` fault)."""

    status: int


class Simulator:
    def __init__(self, shops: Iterable[str | ShopConfig] = ("shop-a",), config: SimConfig | None = None,
                 shop_overrides: dict[str, dict[str, Any]] | None = None):
        self.config = config or SimConfig()
        self._initial_sim_config = self.config.to_dict()
        self.schemas = SchemaRegistry(self.config.schema_dir, preload=self.config.default_api_version)
        self.ids = IdAllocator()
        self.url: str | None = None
        self.webhooks = WebhookDispatcher(self)
        self.bulk = BulkRunner(self)
        self.bulk_mutations = BulkMutationRunner(self)
        self.shops: dict[str, ShopState] = {}
        self._by_domain: dict[str, ShopState] = {}
        self._initial_configs: dict[str, dict[str, Any]] = {}
        overrides = shop_overrides or {}
        for s in shops:
            cfg = s if isinstance(s, ShopConfig) else ShopConfig(name=s, **overrides.get(s, {}))
            self.add_shop(cfg)
        for name in overrides:
            if name not in self.shops:
                self.add_shop(ShopConfig(name=name, **overrides[name]))

    # ------------------------------------------------------------------------------------------------
    # shops
    # ------------------------------------------------------------------------------------------------
    def add_shop(self, cfg: ShopConfig) -> ShopState:
        if cfg.name in self.shops:
            raise ValueError(f"duplicate shop {cfg.name!r}")
        shop = ShopState(self, cfg, len(self.shops))
        self.shops[cfg.name] = shop
        self._by_domain[cfg.domain] = shop
        self._initial_configs[cfg.name] = dataclasses.asdict(cfg)
        return shop

    def shop(self, key: str) -> ShopState | None:
        """Find a shop by name (``a``), domain (``a.myshopify.com``) or domain with a port."""
        if not key:
            return None
        key = key.split(":", 1)[0].lower()
        return self.shops.get(key) or self._by_domain.get(key)

    def base_url(self, name: str) -> str:
        shop = self.shops[name]
        return f"{self.url}/{shop.domain}"

    # ------------------------------------------------------------------------------------------------
    # GraphQL
    # ------------------------------------------------------------------------------------------------
    def handle_graphql(self, shop: ShopState, version: str, token: str | None, body: bytes) -> Response:
        started = time.perf_counter()
        log: dict[str, Any] = {
            "id": str(uuid.uuid4()), "at": iso_precise(now()), "shop": shop.cfg.name, "requested_version": version,
            "version": None, "operation_name": None, "operation_type": None, "root_fields": [], "query": None,
            "variables": None, "requested_cost": None, "actual_cost": None, "status": None, "http_status": None,
            "errors": [], "user_errors": [],
        }
        try:
            resp = self._graphql(shop, version, token, body, log)
            if isinstance(resp, _InjectedAfter):  # run the request, then lose its answer
                status = resp.status
                self._graphql_unfaulted(shop, version, token, body, log)
                log["status"] = "injected_error_after_apply"
                resp = _injected_error(status)
        except Exception as exc:  # pragma: no cover - a simulator bug must not kill the server thread
            log["status"] = "simulator_error"
            resp = _json(500, {"errors": [{"message": f"shopify_sim internal error: {type(exc).__name__}: {exc}"}]})
            import traceback

            traceback.print_exc()
        # Shopify answers every request with X-Request-Id (401, 429 and 503 included).
        resp[1].setdefault("X-Request-Id", log["id"])
        log["http_status"] = resp[0]
        log["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        shop.request_log.append(log)
        return resp

    def _graphql_unfaulted(self, shop: ShopState, version: str, token: str | None, body: bytes,
                           log: dict[str, Any]) -> Response:
        return self._graphql(shop, version, token, body, log, inject=False)

    def _count(self, shop: ShopState, key: str, n: int = 1) -> None:
        with shop.stats_lock:
            shop.stats[key] = shop.stats.get(key, 0) + n

    def _graphql(self, shop: ShopState, version: str, token: str | None, body: bytes, log: dict[str, Any],
                 inject: bool = True) -> Response:
        if inject:
            self._count(shop, "requests")
        faults = shop.faults
        # ---- injected faults (before anything else, like an edge proxy would)
        if shop.outage_until > now():
            self._count(shop, "outage_503")
            log["status"] = "outage"
            retry = max(1, math.ceil(shop.outage_until - now()))
            return _json(503, {"errors": "Service Unavailable"}, {"Retry-After": str(retry)})
        rate = float(faults.get("error_rate") or 0) if inject else 0.0
        if rate and random.random() < rate:
            self._count(shop, "injected_errors")
            status = random.choice(faults.get("error_statuses") or [500, 502, 503, 504])
            # Unconfirmed, the stricter reading: a 500/502/504 may come after the request ran (a gateway timing
            # out on a slow mutation, an error while answering), so the mutation is applied and only the answer is
            # lost. ``error_applied_share`` of those errors are sent after running the request; 503/429 shed load
            # before it.
            if status not in (429, 503) and random.random() < float(faults.get("error_applied_share") or 0):
                self._count(shop, "injected_errors_after_apply")
                return _InjectedAfter(status)
            log["status"] = "injected_error"
            return _injected_error(status)
        # Shop states (https://shopify.dev/docs/api/usage/response-codes): 402 = frozen (unpaid bill),
        # 423 = locked. The whole shop refuses, whatever the request, until the merchant resolves it.
        if faults.get("frozen"):
            self._count(shop, "shop_frozen")
            log["status"] = "frozen"
            return _json(402, {"errors": "Unavailable Shop"})
        if faults.get("locked"):
            self._count(shop, "shop_locked")
            log["status"] = "locked"
            return _json(423, {"errors": "This shop is unavailable"})
        latency = float(faults.get("latency_ms") or 0) + random.random() * float(faults.get("latency_jitter_ms") or 0)
        if latency:
            time.sleep(latency / 1000.0)
        # ---- auth
        if not shop.installed or faults.get("invalid_token"):
            self._count(shop, "unauthorized")
            log["status"] = "unauthorized"
            return _json(401, INVALID_TOKEN_BODY)
        with shop.lock:
            ok_token = shop.token_valid(token)
        if not ok_token:
            self._count(shop, "unauthorized")
            log["status"] = "unauthorized"
            return _json(401, INVALID_TOKEN_BODY)
        # ---- version
        served = self.schemas.resolve_version(version, self.config.unknown_version)
        if served is None:
            log["status"] = "not_found"
            return _json(404, {"errors": "Not Found"})
        log["version"] = served
        headers = {"X-Shopify-API-Version": served, "X-Request-Id": log["id"]}
        # ---- body
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            log["status"] = "bad_request"
            return _json(400, {"errors": {"query": "Required parameter missing or invalid"}}, headers)
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str) or not payload["query"].strip():
            log["status"] = "bad_request"
            return _json(400, {"errors": {"query": "Required parameter missing or invalid"}}, headers)
        query: str = payload["query"]
        variables = payload.get("variables") or {}
        if isinstance(variables, str):
            try:
                variables = json.loads(variables) if variables.strip() else {}
            except ValueError:
                variables = None
        if not isinstance(variables, dict):
            log["status"] = "bad_request"
            return _json(400, {"errors": {"variables": "must be a JSON object"}}, headers)
        op_name = payload.get("operationName") or None
        log["query"], log["variables"], log["operation_name"] = query, variables, op_name
        vschema = self.schemas.get(served)

        def fail(errors: list[dict[str, Any]], status: str, requested: int | None = 0) -> Response:
            self._count(shop, "invalid" if status == "invalid" else status)
            log["status"] = status
            log["errors"] = [e.get("message") for e in errors]
            cost = {"requestedQueryCost": requested, "actualQueryCost": 0 if requested == 0 else None,
                    "throttleStatus": shop.bucket.status()}
            return _json(200, {"errors": errors, "extensions": {"cost": cost}}, headers)

        doc = self.schemas.prepare(served, query)
        if doc.errors:
            return fail(doc.errors, "invalid")
        op, err = doc.operation(op_name)
        if op is None:
            return fail([{"message": err}], "invalid")
        log["operation_type"] = op.operation.value
        if op.name and not op_name:
            log["operation_name"] = op.name.value
        log["root_fields"] = [s.name.value for s in op.selection_set.selections if hasattr(s, "name")]
        if op.operation.value == "subscription":
            return fail([{"message": "Subscriptions are not supported by the Admin API"}], "invalid")
        coerced = get_variable_values(vschema.schema, op.variable_definitions or (), variables)
        if isinstance(coerced, list):
            var_types = {v.variable.name.value: _type_str(v.type) for v in op.variable_definitions or ()}
            return fail([format_variable_error(e, var_types) for e in coerced], "invalid")
        id_errors = invalid_id_variables(vschema.schema, op, coerced, variables)
        if id_errors:
            return fail(id_errors, "invalid")
        if self.schemas.uses_deprecated(served, query):
            # Shopify's signal that a request used deprecated fields, arguments or enum values.
            headers["X-Shopify-API-Deprecated-Reason"] = DEPRECATED_REASON_URL
            self._count(shop, "deprecated_requests")
        # ---- cost
        try:
            requested = requested_cost(vschema.schema, op, doc.fragments, coerced)
        except CostError as exc:
            return fail([exc.to_dict()], "invalid")
        log["requested_cost"] = requested
        max_cost = int(shop.cfg.max_query_cost)
        if requested > max_cost:
            msg = (f"Query cost is {requested}, which exceeds the single query max cost limit ({max_cost}).\n\n"
                   "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
                   "cost of a query is calculated.\n\n"
                   "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
                   "See https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n")
            return fail([{"message": msg, "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                                                         "maxCost": max_cost, "documentation": RATE_LIMIT_DOCS}}],
                        "max_cost_exceeded", requested)
        ok, _avail = shop.bucket.try_take(requested)
        if not ok:
            return fail([{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS}}],
                        "throttled", requested)
        # ---- execute
        with shop.lock:
            shop.process_media()
            ctx = RequestContext(self, shop, served, vschema)
            ctx.denied = self.scope_denials(shop, vschema, doc, op)
            result = execute(vschema.schema, doc.document, root_value={}, context_value=ctx,
                             variable_values=variables, operation_name=op_name, field_resolver=field_resolver,
                             type_resolver=type_resolver)
            events = shop.take_outbox()
        actual = actual_cost(vschema.schema, op, doc.fragments, coerced, result.data, requested)
        # Shopify holds the requested cost while the query runs and refunds the difference afterwards; the
        # simulator runs in microseconds, so it models the run time (outside the shop lock) before the refund.
        hold = requested * float(self.config.cost_hold_ms_per_point) / 1000.0
        if hold > 0:
            time.sleep(hold)
        shop.bucket.refund(requested - actual)
        out: dict[str, Any] = {}
        if result.errors:
            out["errors"] = [_format_exec_error(e) for e in result.errors]
            log["errors"] = [e["message"] for e in out["errors"]]
            if ctx.denied and any((e.get("extensions") or {}).get("code") == "ACCESS_DENIED" for e in out["errors"]):
                self._count(shop, "access_denied")
        out["data"] = result.data
        out["extensions"] = {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                                      "throttleStatus": shop.bucket.status()}}
        log["actual_cost"] = actual
        log["status"] = "ok" if not result.errors else "errors"
        if result.data:
            for key, val in result.data.items():
                if isinstance(val, dict) and val.get("userErrors"):
                    log["user_errors"].append({"field": key, "errors": val["userErrors"]})
        with shop.stats_lock:
            st = shop.stats
            st["ok"] += 1
            st["cost_requested"] += requested
            st["cost_actual"] += actual
            ops = st["operations"]
            for f in log["root_fields"]:
                ops[f] = ops.get(f, 0) + 1
        if events:
            self.webhooks.dispatch(shop, events)
        return _json(200, out, headers)

    def scope_denials(self, shop: ShopState, vschema: VersionSchema, doc: PreparedDocument,
                      op: Any) -> dict[str, dict[str, Any]]:
        reqs = self._scope_requirements(vschema, doc, op)
        if not reqs:
            return {}
        granted = set(shop.granted_scopes())
        granted |= {"read_" + s[len("write_"):] for s in granted if s.startswith("write_")}
        denied: dict[str, dict[str, Any]] = {}
        for key, items in reqs.items():
            for label, scopes, text in items:
                if not any(s in granted for s in scopes):
                    required = text or " or ".join(f"`{s}`" for s in scopes) + " access scope."
                    denied[key] = {
                        "message": f"Access denied for {label} field. Required access: {required}",
                        "extensions": {"code": "ACCESS_DENIED",
                                       "documentation": "https://shopify.dev/api/usage/access-scopes",
                                       "requiredAccess": required},
                    }
                    break
        return denied

    def _scope_requirements(self, vschema: VersionSchema, doc: PreparedDocument,
                            op: Any) -> dict[str, list[tuple[str, list[str], str]]]:
        ck = ("scopes", vschema.version, op.name.value if op.name else None)
        cached = doc.cache.get(ck)
        if cached is not None:
            return cached
        schema = vschema.schema
        w = _Walker(schema, doc.fragments, {})
        root = schema.mutation_type if op.operation.value == "mutation" else schema.query_type
        out: dict[str, list[tuple[str, list[str], str]]] = {}
        for key, nodes in w.collect(op.selection_set, root.name).items():
            name = nodes[0].name.value
            if name.startswith("__"):
                continue
            reqs: list[tuple[str, list[str], str]] = []
            seen: set[tuple[str, tuple[str, ...]]] = set()

            def add(label: str, entry: tuple[list[str], str] | None, reqs=reqs, seen=seen) -> None:
                if entry is None:
                    return
                k = (label, tuple(entry[0]))
                if k not in seen:
                    seen.add(k)
                    reqs.append((label, entry[0], entry[1]))

            def visit(parent: Any, fnodes: list[Any], depth: int, add=add) -> None:
                fname = fnodes[0].name.value
                add(fname, vschema.field_scopes.get((parent.name, fname)))
                fdef = (getattr(parent, "fields", None) or {}).get(fname)
                if fdef is None or depth > 12:
                    return
                t, _ = _unwrap(fdef.type)
                if not hasattr(t, "fields"):
                    return
                sel = w.merged_selection(fnodes)
                types = [t] + [schema.get_type(c) for c in w.type_conditions(sel)]
                for tt in types:
                    if not (tt.name.endswith(("Connection", "Edge", "Payload")) or tt.name == "PageInfo"):
                        add(fname, vschema.type_scopes.get(tt.name))
                for _k, child in w.collect(sel).items():
                    cname = child[0].name.value
                    if cname.startswith("__"):
                        continue
                    owner = next((tt for tt in types if cname in (getattr(tt, "fields", None) or {})), None)
                    if owner is not None:
                        visit(owner, child, depth + 1)

            visit(root, nodes, 0)
            if reqs:
                out[key] = reqs
        doc.cache[ck] = out
        return out

    # ------------------------------------------------------------------------------------------------
    # OAuth client credentials
    # ------------------------------------------------------------------------------------------------
    def handle_token(self, shop: ShopState, body: bytes, content_type: str) -> Response:
        self._count(shop, "token_requests")
        params: dict[str, Any] = {}
        text = body.decode("utf-8", "replace") if body else ""
        if "json" in (content_type or "") or text.strip().startswith("{"):
            try:
                params = json.loads(text or "{}")
            except ValueError:
                return _json(400, {"error": "invalid_request", "error_description": "Malformed JSON body"})
        else:
            from urllib.parse import parse_qs

            params = {k: v[0] for k, v in parse_qs(text).items()}
        if shop.outage_until > now():
            return _json(503, {"errors": "Service Unavailable"},
                         {"Retry-After": str(max(1, math.ceil(shop.outage_until - now())))})
        grant = params.get("grant_type")
        if grant != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type",
                               "error_description": f"Unsupported grant type: {grant!r}"})
        cid, secret = params.get("client_id"), params.get("client_secret")
        if cid != shop.cfg.client_id or secret != shop.cfg.client_secret or not shop.installed:
            return _json(400, {"error": "invalid_client",
                               "error_description": "Client authentication failed (unknown client or wrong secret)"})
        with shop.lock:
            token, ttl = shop.issue_token()
            scope = ",".join(shop.granted_scopes())
        return _json(200, {"access_token": token, "scope": scope, "expires_in": int(ttl)})

    # ------------------------------------------------------------------------------------------------
    # webhooks
    # ------------------------------------------------------------------------------------------------
    def on_delivery_result(self, d: Any, ok: bool) -> None:
        shop = self.shops.get(d.shop_name)
        if shop is None:
            return
        with shop.lock:
            sub = shop.subscriptions.get(d.sub_id)
            if sub is None:
                return
            if ok:
                sub["_failures"] = 0
                return
            sub["_failures"] = sub.get("_failures", 0) + 1
            if self.config.webhook_delete_after_failures:
                shop.subscriptions.pop(d.sub_id, None)
                d.log["subscription_deleted"] = True

    def flush(self, shop: ShopState) -> None:
        """Dispatch whatever the shop queued (call without holding the shop lock)."""
        with shop.lock:
            events = shop.take_outbox()
        if events:
            self.webhooks.dispatch(shop, events)

    # ------------------------------------------------------------------------------------------------
    # control operations
    # ------------------------------------------------------------------------------------------------
    def reset(self, names: Iterable[str] | None = None, keep_config: bool = False) -> None:
        targets = [self.shops[n] for n in (names or self.shops.keys())]
        if names is None:
            self.webhooks.reset()
            if not keep_config:
                self.config.update(self._initial_sim_config)
        for shop in targets:
            with shop.lock:
                if not keep_config:
                    init = dict(self._initial_configs[shop.cfg.name])
                    init.pop("name", None)
                    shop.cfg.update(init)
                shop.reset()
            self.bulk.reset_shop(shop.cfg.name)
            self.bulk_mutations.reset_shop(shop.cfg.name)
        self._by_domain = {s.cfg.domain: s for s in self.shops.values()}

    def update_shop_config(self, shop: ShopState, values: dict[str, Any]) -> dict[str, Any]:
        with shop.lock:
            shop.cfg.update(values)
            if {"plan", "bucket_size", "restore_rate"} & set(values):
                shop.bucket.set(size=shop.cfg.effective_bucket_size, rate=shop.cfg.effective_restore_rate,
                                available=shop.cfg.effective_bucket_size if "plan" in values else None)
            if "domain" in values:
                self._by_domain = {s.cfg.domain: s for s in self.shops.values()}
        return shop.info()

    def set_faults(self, shop: ShopState, values: dict[str, Any], replace: bool = False) -> dict[str, Any]:
        known = {"outage_seconds", "error_rate", "error_statuses", "error_applied_share", "latency_ms", "latency_jitter_ms",
                 "webhook_drop_rate", "webhook_duplicate_rate", "webhook_jitter_ms", "invalid_token",
                 "missing_scopes", "frozen", "locked", "unreachable_media"}
        unknown = set(values) - known
        if unknown:
            raise SimError(f"unknown faults: {sorted(unknown)}; known: {sorted(known)}", 400)
        with shop.lock:
            if replace:
                shop.faults = {}
                shop.outage_until = 0.0
            vals = dict(values)
            if "outage_seconds" in vals:
                secs = float(vals.pop("outage_seconds") or 0)
                shop.outage_until = now() + secs if secs > 0 else 0.0
            if "missing_scopes" in vals:
                missing = list(vals["missing_scopes"] or [])
                for s in list(missing):
                    if s.startswith("read_"):
                        missing.append("write_" + s[len("read_"):])
                vals["missing_scopes"] = sorted(set(missing))
            shop.faults.update(vals)
            return self.faults_info(shop)

    def faults_info(self, shop: ShopState) -> dict[str, Any]:
        out = dict(shop.faults)
        left = shop.outage_until - now()
        out["outage_remaining_seconds"] = round(left, 3) if left > 0 else 0
        return out

    def clear_faults(self, shop: ShopState) -> dict[str, Any]:
        with shop.lock:
            shop.faults = {}
            shop.outage_until = 0.0
        return {}

    def mutate(self, shop: ShopState, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a merchant operation under the shop lock, then dispatch its webhooks."""
        with shop.lock:
            result = fn(*args, **kwargs)
            events = shop.take_outbox()
        if events:
            self.webhooks.dispatch(shop, events)
        return result

    def trigger(self, shop: ShopState, topic: str, count: int = 1, payload: dict[str, Any] | None = None,
                product_id: str | None = None) -> int:
        """Emit ``count`` events of ``topic`` (benchmarks). products/* topics use a real product's payload."""
        from . import webhooks as wh

        with shop.lock:
            events = []
            subs = shop.subscribers(topic)
            if not subs:
                return 0
            base = payload
            if base is None:
                if topic.startswith("products/"):
                    p = shop.product(product_id) if product_id else next(iter(shop.products.values()), None)
                    if p is None:
                        raise SimError("no product to build a payload from", 422)
                    base = wh.product_payload(shop, p) if topic != "products/delete" else {"id": p["_n"]}
                elif topic == "inventory_levels/update":
                    lvl = next(iter(shop.levels.values()), None)
                    if lvl is None:
                        raise SimError("no inventory level to build a payload from", 422)
                    base = wh.level_payload(shop, lvl)
                elif topic == "app/uninstalled":
                    base = wh.shop_payload(shop)
                else:
                    base = {}
            for _ in range(int(count)):
                events.append((topic, base, subs))
        self.webhooks.dispatch(shop, events)
        return len(events) * len(subs)

    def stats(self, shop: ShopState) -> dict[str, Any]:
        with shop.stats_lock:
            st = json.loads(json.dumps(shop.stats))
        st["bucket"] = shop.bucket.status()
        deliveries = self.webhooks.deliveries(shop.cfg.name, include_payload=False)
        by_status: dict[str, int] = {}
        for d in deliveries:
            by_status[d["status"]] = by_status.get(d["status"], 0) + 1
        st["webhook_deliveries"] = by_status
        st["webhooks_pending"] = self.webhooks.pending()
        return st

    def stop(self) -> None:
        self.webhooks.stop()


def _type_str(t: Any) -> str:
    kind = t.kind
    if kind == "non_null_type":
        return _type_str(t.type) + "!"
    if kind == "list_type":
        return "[" + _type_str(t.type) + "]"
    return t.name.value


def _format_exec_error(e: GraphQLError) -> dict[str, Any]:
    out = e.formatted
    if "extensions" in out and not out["extensions"]:
        out.pop("extensions")
    return out
