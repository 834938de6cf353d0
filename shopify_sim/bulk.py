"""Bulk query operations: run a query over all data in a background thread and serve the JSONL result."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

from graphql import FieldNode, GraphQLObjectType, execute

from .cost import _unwrap, _Walker, is_connection
from .util import gid, iso, now, parse_gid

if TYPE_CHECKING:  # pragma: no cover
    from .app import Simulator
    from .schema import PreparedDocument
    from .store import ShopState

ACTIVE = ("CREATED", "RUNNING", "CANCELING")



def bulk_concurrency_refusal(shop, *, kind: str, limit: int, version: str) -> tuple[str, str] | None:
    """(message, code) when another bulk operation of ``kind`` ("QUERY" or "MUTATION") may not start on ``shop``:
    from 2026-01 up to ``limit`` run at once (LIMIT_REACHED), before that one (OPERATION_IN_PROGRESS)."""
    running = [o for o in shop.bulk_ops.values() if o["type"] == kind and o["status"] in ACTIVE]
    limit = int(limit) if version >= "2026-01" else 1
    if len(running) < limit:
        return None
    noun = "queries" if kind == "QUERY" else "mutations"
    if version >= "2026-01":
        return f"A maximum of {limit} bulk {noun} can run at the same time.", "LIMIT_REACHED"
    return (f"A bulk {kind.lower()} operation for this app and shop is already in progress: {running[0]['id']}.",
            "OPERATION_IN_PROGRESS")

class BulkRunner:
    def __init__(self, sim: Simulator):
        self.sim = sim
        self.files: dict[tuple[str, int], bytes] = {}
        self._lock = threading.Lock()

    # -- mutation entry points (called with the shop lock held) ------------------------------------------
    def run_query(self, shop: ShopState, version: str, query: str, group_objects: bool) -> dict[str, Any]:
        def invalid(message: str, code: str = "INVALID") -> dict[str, Any]:
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": message, "code": code}]}

        doc = self.sim.schemas.prepare(version, query)
        if doc.errors:
            return invalid("Invalid bulk query: " + "; ".join(e["message"] for e in doc.errors))
        op, err = doc.operation(None)
        if op is None:
            return invalid(f"Invalid bulk query: {err}")
        if op.operation.value != "query":
            return invalid("Bulk queries must be query operations. Use bulkOperationRunMutation for mutations.")
        problem = self._check_structure(version, doc, op)
        if problem:
            return invalid(problem)
        refusal = bulk_concurrency_refusal(shop, kind="QUERY", limit=self.sim.config.max_concurrent_bulk_queries,
                                           version=version)
        if refusal:
            return invalid(*refusal)
        ts = now()
        num = shop.next_id()
        rec = {
            "__typename": "BulkOperation", "id": gid("BulkOperation", num), "_n": num, "status": "CREATED",
            "errorCode": None, "objectCount": "0", "rootObjectCount": "0", "fileSize": None, "url": None,
            "partialDataUrl": None, "type": "QUERY", "createdAt": iso(ts), "_created": ts, "completedAt": None,
            "query": query, "_group": group_objects,
        }
        shop.bulk_ops[num] = rec
        t = threading.Thread(target=self._run, args=(shop, rec, version, doc, op), daemon=True,
                             name=f"shopify-sim-bulk-{num}")
        t.start()
        return {"bulkOperation": rec, "userErrors": []}

    def cancel(self, shop: ShopState, ref: str) -> dict[str, Any]:
        rec = shop.bulk_ops.get(parse_gid(ref, "BulkOperation") or -1)
        if rec is None:
            return {"bulkOperation": None, "userErrors": [{"field": ["id"], "message": "Bulk operation does not exist"}]}
        if rec["status"] not in ("CREATED", "RUNNING"):
            return {"bulkOperation": rec, "userErrors": [{
                "field": None, "message": f"A bulk operation cannot be canceled when it is {rec['status'].lower()}"}]}
        rec["status"] = "CANCELING"
        return {"bulkOperation": rec, "userErrors": []}

    # -- validation ------------------------------------------------------------------------------------
    def _check_structure(self, version: str, doc: PreparedDocument, op: Any) -> str | None:
        schema = self.sim.schemas.get(version).schema
        w = _Walker(schema, doc.fragments, {})
        root = schema.query_type
        grouped = w.collect(op.selection_set, root.name)
        for _key, nodes in grouped.items():
            if nodes[0].name.value in ("node", "nodes"):
                return "Bulk queries cannot contain a top level `node` or `nodes` field."
        counts = {"connections": 0, "max_depth": 0}

        def visit(t: Any, sel: Any, depth: int, parent_has_id: bool, in_list: bool = False) -> str | None:
            for _k, fnodes in w.collect(sel).items():
                name = fnodes[0].name.value
                if name.startswith("__"):
                    continue
                fdef = _field_def(schema, w, t, sel, name)
                if fdef is None:
                    continue
                ft, is_list = _unwrap(fdef.type)
                if not isinstance(ft, GraphQLObjectType) and not hasattr(ft, "fields"):
                    continue
                msel = w.merged_selection(fnodes)
                if is_connection(ft):
                    if in_list:
                        return f"Bulk queries don't support connections nested inside list fields (`{name}`)."
                    counts["connections"] += 1
                    counts["max_depth"] = max(counts["max_depth"], depth + 1)
                    if depth >= 1 and not parent_has_id:
                        return "The parent 'node' field for a nested connection must select the 'id' field."
                    node_t, node_sel = _connection_node(w, ft, msel)
                    if node_t is not None:
                        has_id = any(n[0].name.value == "id" for n in w.collect(node_sel).values())
                        problem = visit(node_t, node_sel, depth + 1, has_id)
                        if problem:
                            return problem
                else:
                    problem = visit(ft, msel, depth, parent_has_id, in_list or is_list)
                    if problem:
                        return problem
            return None

        problem = visit(root, op.selection_set, 0, True)
        if problem:
            return problem
        if counts["connections"] == 0:
            return "Bulk queries must contain at least one connection."
        if counts["connections"] > 5:
            return "Bulk queries cannot contain more than 5 connections."
        if counts["max_depth"] > 2:
            return "Bulk queries cannot contain connections with a nesting depth greater than 2."
        return None

    # -- execution ----------------------------------------------------------------------------------------
    def _run(self, shop: ShopState, rec: dict[str, Any], version: str, doc: PreparedDocument, op: Any) -> None:
        from .resolvers import RequestContext, field_resolver, type_resolver

        started = time.monotonic()
        with shop.lock:
            if rec["status"] == "CANCELING":
                self._finish(shop, rec, "CANCELED", None, None)
                return
            rec["status"] = "RUNNING"
            vschema = self.sim.schemas.get(version)
            ctx = RequestContext(self.sim, shop, version, vschema, bulk=True)
            denied = self.sim.scope_denials(shop, vschema, doc, op)
            if denied:
                self._finish(shop, rec, "FAILED", "ACCESS_DENIED", None)
                return

        def export() -> tuple[bool, list[dict[str, Any]]]:
            result = execute(vschema.schema, doc.document, root_value={}, context_value=ctx,
                             field_resolver=field_resolver, type_resolver=type_resolver)
            lines = [] if result.errors else self._flatten(vschema.schema, doc, op, result.data or {})
            return bool(result.errors), lines

        # Export without the shop lock, as Shopify's bulk operations run beside normal traffic (a large
        # export must not block status polls or writes); if a concurrent write disturbs the iteration,
        # run it again holding the lock.
        try:
            failed, lines = export()
        except Exception:
            try:
                with shop.lock:
                    failed, lines = export()
            except Exception:  # pragma: no cover - defensive
                failed, lines = True, []
        if failed:
            with shop.lock:
                self._finish(shop, rec, "FAILED", "INTERNAL_SERVER_ERROR", None)
            return
        body = "".join(json.dumps(obj, separators=(",", ":")) + "\n" for obj in lines).encode()
        left = float(self.sim.config.bulk_min_seconds) - (time.monotonic() - started)
        while left > 0 and rec["status"] != "CANCELING":
            time.sleep(min(left, 0.05))
            left = float(self.sim.config.bulk_min_seconds) - (time.monotonic() - started)
        with shop.lock:
            if rec["status"] == "CANCELING":
                self._finish(shop, rec, "CANCELED", None, None)
                return
            rec["objectCount"] = str(len(lines))
            rec["rootObjectCount"] = str(sum(1 for line in lines if "__parentId" not in line))
            self._finish(shop, rec, "COMPLETED", None, body if lines else None)

    def _finish(self, shop: ShopState, rec: dict[str, Any], status: str, error: str | None,
                body: bytes | None) -> None:
        from . import webhooks as wh

        if shop.bulk_ops.get(rec["_n"]) is not rec:  # the shop was reset meanwhile
            return
        rec["status"] = status
        rec["errorCode"] = error
        rec["completedAt"] = iso(now())
        if body is not None:
            with self._lock:
                self.files[(shop.cfg.name, rec["_n"])] = body
            rec["fileSize"] = str(len(body))
            rec["url"] = self.url_for(shop, rec["_n"])
        shop.emit("bulk_operations/finish", lambda: wh.bulk_finish_payload(rec))
        events = shop.take_outbox()
        if events:
            threading.Thread(target=self.sim.webhooks.dispatch, args=(shop, events), daemon=True).start()

    def url_for(self, shop: ShopState, num: int) -> str:
        base = self.sim.url or "http://127.0.0.1"
        return f"{base}/_sim/files/bulk/{shop.cfg.name}/{num}.jsonl"

    def file(self, shop_name: str, num: int) -> bytes | None:
        with self._lock:
            return self.files.get((shop_name, num))

    def reset_shop(self, shop_name: str) -> None:
        with self._lock:
            for k in [k for k in self.files if k[0] == shop_name]:
                del self.files[k]

    # -- JSONL flattening -------------------------------------------------------------------------------
    def _flatten(self, schema: Any, doc: PreparedDocument, op: Any, data: dict[str, Any]) -> list[dict[str, Any]]:
        w = _Walker(schema, doc.fragments, {})
        lines: list[dict[str, Any]] = []
        root = schema.query_type

        def emit_nodes(conn_type: Any, sel: Any, value: Any, parent_id: str | None) -> None:
            if not isinstance(value, dict):
                return
            node_t, node_sel = _connection_node(w, conn_type, sel)
            nodes: list[Any] = []
            for key, fnodes in w.collect(sel).items():
                name = fnodes[0].name.value
                if name == "nodes" and isinstance(value.get(key), list):
                    nodes = value[key]
                    break
                if name == "edges" and isinstance(value.get(key), list):
                    inner = w.collect(w.merged_selection(fnodes))
                    nk = next((k for k, n in inner.items() if n[0].name.value == "node"), None)
                    nodes = [e.get(nk) for e in value[key] if isinstance(e, dict)] if nk else []
                    break
            for node in nodes:
                if node is None:
                    continue
                emit_object(node_t, node_sel, node, parent_id)

        def split(t: Any, sel: Any, value: dict[str, Any], children: list[tuple[Any, Any, Any]]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for key, fnodes in w.collect(sel).items():
                if key not in value:
                    continue
                name = fnodes[0].name.value
                fdef = _field_def(schema, w, t, sel, name)
                if fdef is None:
                    out[key] = value[key]
                    continue
                ft, is_list = _unwrap(fdef.type)
                msel = w.merged_selection(fnodes)
                if is_connection(ft):
                    children.append((ft, msel, value[key]))
                elif hasattr(ft, "fields") and isinstance(value[key], dict) and not is_list:
                    out[key] = split(ft, msel, value[key], children)
                else:
                    out[key] = value[key]
            return out

        def emit_object(t: Any, sel: Any, value: dict[str, Any], parent_id: str | None) -> None:
            children: list[tuple[Any, Any, Any]] = []
            obj = split(t, sel, value, children)
            if parent_id is not None:
                obj["__parentId"] = parent_id
            lines.append(obj)
            my_id = value.get("id") if isinstance(value.get("id"), str) else parent_id
            for ct, csel, cval in children:
                emit_nodes(ct, csel, cval, my_id)

        for key, fnodes in w.collect(op.selection_set, root.name).items():
            fdef = root.fields.get(fnodes[0].name.value)
            if fdef is None or key not in data:
                continue
            ft, _ = _unwrap(fdef.type)
            msel = w.merged_selection(fnodes)
            if is_connection(ft):
                emit_nodes(ft, msel, data[key], None)
            elif isinstance(data[key], dict):
                # e.g. `shop { ... }` or `product(id:) { variants { ... } }`: emit its connections' nodes
                children: list[tuple[Any, Any, Any]] = []
                obj = split(ft, msel, data[key], children)
                parent = data[key].get("id") if isinstance(data[key].get("id"), str) else None
                if obj:
                    lines.append(obj)
                for ct, csel, cval in children:
                    emit_nodes(ct, csel, cval, parent)
        return lines


def _field_def(schema: Any, w: _Walker, t: Any, sel: Any, name: str) -> Any:
    fields = getattr(t, "fields", None) or {}
    if name in fields:
        return fields[name]
    for cond in w.type_conditions(sel):
        ct = schema.get_type(cond)
        if ct is not None and name in (getattr(ct, "fields", None) or {}):
            return ct.fields[name]
    return None


def _connection_node(w: _Walker, conn_type: Any, sel: Any) -> tuple[Any, Any]:
    for _key, fnodes in w.collect(sel).items():
        name = fnodes[0].name.value
        if name == "nodes":
            t, _ = _unwrap(conn_type.fields["nodes"].type)
            return t, w.merged_selection(fnodes)
        if name == "edges":
            edge_t, _ = _unwrap(conn_type.fields["edges"].type)
            inner = w.collect(w.merged_selection(fnodes))
            for _k2, n2 in inner.items():
                if isinstance(n2[0], FieldNode) and n2[0].name.value == "node":
                    t, _ = _unwrap(edge_t.fields["node"].type)
                    return t, w.merged_selection(n2)
    return None, None
