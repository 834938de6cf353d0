"""Bulk mutations: staged uploads of JSONL variables, ``bulkOperationRunMutation`` and its result JSONL.

Follows https://shopify.dev/docs/api/usage/bulk-operations/imports (see the table in README.md):
``stagedUploadsCreate(input: [{resource: BULK_MUTATION_VARIABLES, ...}])`` gives an upload URL and form
parameters whose ``key`` is the ``stagedUploadPath``; the client POSTs the file as multipart/form-data (no Shopify
token: it is a storage URL); ``bulkOperationRunMutation`` runs the mutation once per line in a background thread
at ``bulk_mutation_points_per_second`` (default: the shop's restore rate); the result file has one JSON object per
input line, ``{"data": ..., "errors": ..., "__lineNumber": n}`` (0-based), in no guaranteed order (the simulator
writes them in reverse, so a client must map by ``__lineNumber``).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from graphql import GraphQLResolveInfo, execute
from graphql.execution.values import get_variable_values

from .bulk import bulk_concurrency_refusal
from .cost import CostError, requested_cost
from .resolvers import RequestContext, field_resolver, res, type_resolver
from .util import gid, iso, now

if TYPE_CHECKING:  # pragma: no cover
    from .app import Simulator
    from .store import ShopState

# Mutations that may not run inside a bulk operation ("except recursive bulk operation mutations").
NOT_IN_BULK = {"bulkOperationRunMutation", "bulkOperationRunQuery", "bulkOperationCancel", "stagedUploadsCreate"}


class BulkMutationRunner:
    def __init__(self, sim: Simulator):
        self.sim = sim
        self.uploads: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    # -- staged uploads ----------------------------------------------------------------------------------
    def staged_targets(self, shop: ShopState, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        targets: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        limit = int(self.sim.config.bulk_upload_max_bytes)
        for index, item in enumerate(inputs):
            if item.get("resource") != "BULK_MUTATION_VARIABLES":
                errors.append({"field": ["input", str(index), "resource"],
                               "message": "shopify_sim: only BULK_MUTATION_VARIABLES staged uploads are simulated"})
                continue
            size = item.get("fileSize")
            if size is not None and int(size) > limit:
                errors.append({"field": ["input", str(index), "fileSize"],
                               "message": f"File size must be at most {limit} bytes"})
                continue
            key = f"tmp/{shop.cfg.name}/bulk/{uuid.uuid4()}/{item.get('filename') or 'bulk_op_vars'}"
            base = self.sim.url or "http://127.0.0.1"
            targets.append({
                "url": f"{base}/_sim/uploads/{shop.cfg.name}",
                "resourceUrl": None,
                "parameters": [
                    {"name": "Content-Type", "value": item.get("mimeType") or "text/jsonl"},
                    {"name": "success_action_status", "value": "201"},
                    {"name": "acl", "value": "private"},
                    {"name": "key", "value": key},
                    {"name": "policy", "value": "c2ltdWxhdGVk"},
                ],
            })
        return {"stagedTargets": targets if not errors else None, "userErrors": errors}

    def receive_upload(self, shop_name: str, content_type: str, body: bytes) -> tuple[int, bytes]:
        """The storage endpoint: a multipart/form-data POST with the parameters, then ``file``."""
        limit = int(self.sim.config.bulk_upload_max_bytes)
        if len(body) > limit:
            # Shopify's storage answers like S3/GCS (community thread: "EntityTooLarge ... MaxSizeAllowed").
            xml = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>EntityTooLarge</Code><Message>Your proposed "
                   f"upload exceeds the maximum allowed size</Message><ProposedSize>{len(body)}</ProposedSize>"
                   f"<MaxSizeAllowed>{limit}</MaxSizeAllowed></Error>")
            return 400, xml.encode()
        if not content_type.lower().startswith("multipart/form-data"):
            return 400, b"<Error><Code>InvalidArgument</Code><Message>multipart/form-data expected</Message></Error>"
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        fields: dict[str, bytes] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                fields[str(name)] = part.get_payload(decode=True) or b""
        key = (fields.get("key") or b"").decode()
        if not key.startswith(f"tmp/{shop_name}/bulk/") or "file" not in fields:
            return 400, b"<Error><Code>InvalidArgument</Code><Message>key and file are required</Message></Error>"
        with self._lock:
            self.uploads[(shop_name, key)] = fields["file"]
        return 201, f"<PostResponse><Key>{key}</Key></PostResponse>".encode()

    def reset_shop(self, shop_name: str) -> None:
        with self._lock:
            for k in [k for k in self.uploads if k[0] == shop_name]:
                del self.uploads[k]

    # -- bulkOperationRunMutation ------------------------------------------------------------------------
    def run(self, shop: ShopState, version: str, mutation: str, path: str,
            client_identifier: str | None) -> dict[str, Any]:
        def invalid(message: str, code: str, field: str = "mutation") -> dict[str, Any]:
            return {"bulkOperation": None, "userErrors": [{"field": [field], "message": message, "code": code}]}

        doc = self.sim.schemas.prepare(version, mutation)
        if doc.errors:
            return invalid("Invalid mutation: " + "; ".join(e["message"] for e in doc.errors), "INVALID_MUTATION")
        op, err = doc.operation(None)
        if op is None or op.operation.value != "mutation":
            return invalid(err or "Bulk mutations must be mutation operations.", "INVALID_MUTATION")
        roots = [s.name.value for s in op.selection_set.selections if hasattr(s, "name")]
        if len(roots) != 1:
            return invalid("Bulk mutations must contain exactly one mutation field.", "INVALID_MUTATION")
        if roots[0] in NOT_IN_BULK:
            return invalid(f"`{roots[0]}` cannot be run as a bulk mutation.", "INVALID_MUTATION")
        with self._lock:
            content = self.uploads.get((shop.cfg.name, path))
        if content is None:
            return invalid("The JSONL file could not be found.", "NO_SUCH_FILE", "stagedUploadPath")
        lines = [line for line in content.split(b"\n") if line.strip()]
        for number, raw in enumerate(lines):
            try:
                ok = isinstance(json.loads(raw), dict)
            except ValueError:
                ok = False
            if not ok:
                return invalid(f"Line {number} of the JSONL file is not a JSON object.",
                               "INVALID_STAGED_UPLOAD_FILE", "stagedUploadPath")
        refusal = bulk_concurrency_refusal(shop, kind="MUTATION",
                                           limit=self.sim.config.max_concurrent_bulk_mutations, version=version)
        if refusal:
            return invalid(*refusal)
        ts = now()
        num = shop.next_id()
        rec = {
            "__typename": "BulkOperation", "id": gid("BulkOperation", num), "_n": num, "status": "CREATED",
            "errorCode": None, "objectCount": "0", "rootObjectCount": "0", "fileSize": None, "url": None,
            "partialDataUrl": None, "type": "MUTATION", "createdAt": iso(ts), "_created": ts, "completedAt": None,
            "query": mutation, "_client_identifier": client_identifier, "_lines": len(lines), "_points": 0.0,
        }
        shop.bulk_ops[num] = rec
        threading.Thread(target=self._run, args=(shop, rec, version, doc, op, lines), daemon=True,
                         name=f"shopify-sim-bulk-mutation-{num}").start()
        return {"bulkOperation": rec, "userErrors": []}

    def _rate(self, shop: ShopState) -> float:
        rate = self.sim.config.bulk_mutation_points_per_second
        return float(rate) if rate else shop.cfg.effective_restore_rate

    def _run(self, shop: ShopState, rec: dict[str, Any], version: str, doc: Any, op: Any,
             lines: list[bytes]) -> None:
        vschema = self.sim.schemas.get(version)
        results: list[bytes] = []
        started = time.monotonic()
        spent = 0.0
        with shop.lock:
            if rec["status"] == "CANCELING":
                self.sim.bulk._finish(shop, rec, "CANCELED", None, None)
                return
            rec["status"] = "RUNNING"
        for number, raw in enumerate(lines):
            if rec["status"] == "CANCELING" or shop.bulk_ops.get(rec["_n"]) is not rec:
                break
            variables = json.loads(raw)
            line: dict[str, Any]
            coerced = get_variable_values(vschema.schema, op.variable_definitions or (), variables)
            if isinstance(coerced, list):
                line = {"errors": [{"message": e.message} for e in coerced]}
            else:
                try:
                    cost = float(requested_cost(vschema.schema, op, doc.fragments, coerced))
                except CostError:
                    cost = 10.0
                with shop.lock:
                    shop.process_media()
                    ctx = RequestContext(self.sim, shop, version, vschema)
                    ctx.in_bulk_mutation = True  # type: ignore[attr-defined]
                    ctx.denied = self.sim.scope_denials(shop, vschema, doc, op)
                    result = execute(vschema.schema, doc.document, root_value={}, context_value=ctx,
                                     variable_values=variables, field_resolver=field_resolver,
                                     type_resolver=type_resolver)
                    events = shop.take_outbox()
                if events:
                    self.sim.webhooks.dispatch(shop, events)
                line = {"data": result.data}
                if result.errors:
                    line["errors"] = [{"message": e.message} for e in result.errors]
                spent += cost
                rec["_points"] = spent
                # Pace: the line's requested cost at the configured points per second (README's table).
                due = started + spent / self._rate(shop)
                while time.monotonic() < due and rec["status"] != "CANCELING":
                    time.sleep(min(0.05, due - time.monotonic()))
            line["__lineNumber"] = number
            results.append(json.dumps(line, separators=(",", ":")).encode() + b"\n")
            rec["objectCount"] = str(len(results))
            rec["rootObjectCount"] = rec["objectCount"]
        body = b"".join(reversed(results))
        with shop.lock:
            if rec["status"] == "CANCELING":
                if results:
                    with self.sim.bulk._lock:
                        self.sim.bulk.files[(shop.cfg.name, rec["_n"])] = body
                    rec["partialDataUrl"] = self.sim.bulk.url_for(shop, rec["_n"])
                self.sim.bulk._finish(shop, rec, "CANCELED", None, None)
                return
            self.sim.bulk._finish(shop, rec, "COMPLETED", None, body if results else None)


def _runner(info: GraphQLResolveInfo) -> tuple[RequestContext, BulkMutationRunner]:
    ctx: RequestContext = info.context
    return ctx, ctx.sim.bulk_mutations


@res("Mutation", "stagedUploadsCreate")
def m_staged_uploads_create(src: Any, info: GraphQLResolveInfo, input: list[dict[str, Any]]) -> Any:
    ctx, runner = _runner(info)
    return runner.staged_targets(ctx.shop, input)


@res("Mutation", "bulkOperationRunMutation")
def m_bulk_run_mutation(src: Any, info: GraphQLResolveInfo, mutation: str, stagedUploadPath: str,
                        clientIdentifier: str | None = None, groupObjects: bool | None = None) -> Any:
    ctx, runner = _runner(info)
    return runner.run(ctx.shop, ctx.version, mutation, stagedUploadPath, clientIdentifier)
