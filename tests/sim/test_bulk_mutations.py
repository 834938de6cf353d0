"""Bulk mutations: staged uploads, bulkOperationRunMutation, result JSONL with __lineNumber, limits, webhook."""

from __future__ import annotations

import json
import time

import requests

from tests.sim.test_bulk import POLL, wait_done

STAGE = """mutation($input: [StagedUploadInput!]!) { stagedUploadsCreate(input: $input) {
  stagedTargets { url resourceUrl parameters { name value } } userErrors { field message } } }"""

RUN = """mutation($m: String!, $p: String!, $c: String) {
  bulkOperationRunMutation(mutation: $m, stagedUploadPath: $p, clientIdentifier: $c) {
    bulkOperation { id status type } userErrors { field message code } } }"""

PRODUCT_SET_BULK = """mutation call($input: ProductSetInput!, $identifier: ProductSetIdentifiers) {
  productSet(input: $input, identifier: $identifier, synchronous: false) {
    product { id handle variants(first: 250) { nodes { id sku } } }
    userErrors { field message code }
  }
}"""


def _product(handle, skus=("A",)):
    return {
        "title": handle.title(), "handle": handle,
        "productOptions": [{"name": "Size", "values": [{"name": s} for s in skus]}],
        "variants": [{"optionValues": [{"optionName": "Size", "name": s}], "sku": f"{handle}-{s}", "price": "1.00"}
                     for s in skus],
    }


def _broken(handle):
    """A variant whose option value is not among the product's options: productSet refuses it."""
    product = _product(handle)
    product["variants"][0]["optionValues"] = [{"optionName": "Size", "name": "XXL"}]
    return product


def stage_and_upload(gql, lines, size=None):
    item = {"resource": "BULK_MUTATION_VARIABLES", "filename": "vars.jsonl", "mimeType": "text/jsonl",
            "httpMethod": "POST"}
    if size is not None:
        item["fileSize"] = str(size)
    out = gql(STAGE, {"input": [item]})["data"]["stagedUploadsCreate"]
    assert out["userErrors"] == []
    target = out["stagedTargets"][0]
    params = {p["name"]: p["value"] for p in target["parameters"]}
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    r = requests.post(target["url"], data=params, files={"file": ("vars.jsonl", body, "text/jsonl")}, timeout=10)
    return params["key"], r


def test_bulk_mutation_runs_each_line_and_reports_failures_by_line_number(gql, shopify_sim):
    requests.post(f"{shopify_sim.url}/_sim/config", json={"bulk_mutation_points_per_second": 100000}, timeout=5)
    lines = [
        {"input": _product("alpha", ("S", "M")), "identifier": {"handle": "alpha"}},
        {"input": _broken("broken"), "identifier": {"handle": "broken"}},
        {"input": _product("gamma"), "identifier": {"handle": "gamma"}},
    ]
    path, upload = stage_and_upload(gql, lines)
    assert upload.status_code == 201, upload.text
    run = gql(RUN, {"m": PRODUCT_SET_BULK, "p": path, "c": "pim-run-1-op-0"})["data"]["bulkOperationRunMutation"]
    assert run["userErrors"] == [] and run["bulkOperation"]["type"] == "MUTATION"
    op = wait_done(gql, run["bulkOperation"]["id"])
    assert op["status"] == "COMPLETED" and op["objectCount"] == "3"
    results = [json.loads(x) for x in requests.get(op["url"], timeout=10).text.splitlines()]
    by_line = {r["__lineNumber"]: r for r in results}
    assert sorted(by_line) == [0, 1, 2]
    ok = by_line[0]["data"]["productSet"]
    assert ok["userErrors"] == [] and ok["product"]["handle"] == "alpha"
    assert {v["sku"] for v in ok["product"]["variants"]["nodes"]} == {"alpha-S", "alpha-M"}  # synchronous in bulk
    bad = by_line[1]["data"]["productSet"]
    assert bad["product"] is None and bad["userErrors"][0]["code"]
    handles = sorted(p["handle"] for p in shopify_sim.control.state("shop-a")["products"])
    assert handles == ["alpha", "gamma"]
    # Re-running the same file upserts by handle: no duplicates.
    run = gql(RUN, {"m": PRODUCT_SET_BULK, "p": path, "c": None})["data"]["bulkOperationRunMutation"]
    wait_done(gql, run["bulkOperation"]["id"])
    assert sorted(p["handle"] for p in shopify_sim.control.state("shop-a")["products"]) == ["alpha", "gamma"]
    current = gql("{ currentBulkOperation(type: MUTATION) { id status } }")["data"]["currentBulkOperation"]
    assert current["id"] == run["bulkOperation"]["id"]


def test_bulk_mutation_rules(gql, shopify_sim):
    requests.post(f"{shopify_sim.url}/_sim/config", json={"bulk_mutation_points_per_second": 50,
                                                          "bulk_upload_max_bytes": 2000}, timeout=5)
    # fileSize above the limit is refused at staging, a body above it by the storage endpoint
    out = gql(STAGE, {"input": [{"resource": "BULK_MUTATION_VARIABLES", "filename": "v.jsonl",
                                 "mimeType": "text/jsonl", "fileSize": "2001"}]})["data"]["stagedUploadsCreate"]
    assert out["stagedTargets"] is None and "at most 2000" in out["userErrors"][0]["message"]
    lines = [{"input": _product(f"p{i}"), "identifier": {"handle": f"p{i}"}} for i in range(30)]
    _path, r = stage_and_upload(gql, lines)
    assert r.status_code == 400 and b"EntityTooLarge" in r.content
    # unknown file, invalid mutation, recursive bulk mutation
    run = gql(RUN, {"m": PRODUCT_SET_BULK, "p": "tmp/shop-a/bulk/nope/x.jsonl"})["data"]["bulkOperationRunMutation"]
    assert run["userErrors"][0]["code"] == "NO_SUCH_FILE"
    path, r = stage_and_upload(gql, lines[:3])
    assert r.status_code == 201
    run = gql(RUN, {"m": "mutation { bulkOperationRunQuery(query: \"{ products { edges { node { id } } } }\") "
                         "{ bulkOperation { id } } }", "p": path})["data"]["bulkOperationRunMutation"]
    assert run["userErrors"][0]["code"] == "INVALID_MUTATION"
    # five at once per shop in 2026-07 (the rate keeps them RUNNING), the sixth gets LIMIT_REACHED
    ids = []
    for _ in range(5):
        run = gql(RUN, {"m": PRODUCT_SET_BULK, "p": path})["data"]["bulkOperationRunMutation"]
        assert run["userErrors"] == []
        ids.append(run["bulkOperation"]["id"])
    run = gql(RUN, {"m": PRODUCT_SET_BULK, "p": path})["data"]["bulkOperationRunMutation"]
    assert run["userErrors"][0]["code"] == "LIMIT_REACHED"
    # the 2026-01 rule is the same; before it, one at a time (OPERATION_IN_PROGRESS) — 2026-01 is the oldest here
    # progress: objectCount grows while RUNNING (lines done)
    op = gql(POLL, {"id": ids[-1]})["data"]["node"]
    assert op["status"] in ("CREATED", "RUNNING")
    for op_id in ids:
        done = wait_done(gql, op_id, timeout=30)
        assert done["status"] == "COMPLETED" and done["objectCount"] == "3"


def test_bulk_mutation_cancel_gives_partial_data_and_finish_webhook(gql, shopify_sim, webhook_receiver):
    requests.post(f"{shopify_sim.url}/_sim/config", json={"bulk_mutation_points_per_second": 40}, timeout=5)
    gql("""mutation($u: String!) { webhookSubscriptionCreate(topic: BULK_OPERATIONS_FINISH,
        webhookSubscription: {uri: $u}) { userErrors { message } } }""", {"u": webhook_receiver.url})
    lines = [{"input": _product(f"c{i}"), "identifier": {"handle": f"c{i}"}} for i in range(20)]
    path, _r = stage_and_upload(gql, lines)
    op_id = gql(RUN, {"m": PRODUCT_SET_BULK, "p": path})["data"]["bulkOperationRunMutation"]["bulkOperation"]["id"]
    deadline = time.monotonic() + 10
    while gql(POLL, {"id": op_id})["data"]["node"]["objectCount"] == "0" and time.monotonic() < deadline:
        time.sleep(0.05)
    gql("mutation($id: ID!) { bulkOperationCancel(id: $id) { userErrors { message } } }", {"id": op_id})
    final = gql("query($id: ID!) { bulkOperation(id: $id) { status partialDataUrl url objectCount } }",
                {"id": op_id})["data"]["bulkOperation"]
    deadline = time.monotonic() + 10
    while final["status"] != "CANCELED" and time.monotonic() < deadline:
        time.sleep(0.05)
        final = gql("query($id: ID!) { bulkOperation(id: $id) { status partialDataUrl url objectCount } }",
                    {"id": op_id})["data"]["bulkOperation"]
    assert final["status"] == "CANCELED" and final["url"] is None and final["partialDataUrl"]
    partial = requests.get(final["partialDataUrl"], timeout=10).text.splitlines()
    assert 0 < len(partial) < 20
    hooks = webhook_receiver.wait_for(1, topic="bulk_operations/finish")
    body = hooks[0].json()
    assert body["admin_graphql_api_id"] == op_id and body["type"] == "mutation" and body["status"] == "canceled"


def test_media_processing_visits_only_media_still_processing():
    """process_media runs before every bulk line: it must not walk the shop's processed media (a 50,000-product
    bulk publish called it 150,000 times over a growing shop). Same outcome as before: READY or FAILED."""
    from shopify_sim.app import Simulator
    from shopify_sim.util import now

    sim = Simulator(["media"])
    try:
        shop = sim.shop("media")
        with shop.lock:
            out = shop.product_set({"title": "Tee", "files": [
                {"originalSource": "https://cdn.example.com/a.jpg", "contentType": "IMAGE"},
                {"originalSource": "https://cdn.example.invalid/b.jpg", "contentType": "IMAGE"}]}, None)
            assert out["userErrors"] == []
            pending = list(shop.media_pending)
            assert pending == list(shop.media) and len(pending) == 2
            shop.process_media(now() + 60)
            assert [shop.media[n]["status"] for n in pending] == ["READY", "FAILED"]
            assert shop.media_pending == {}  # nothing left to visit
            # A medium deleted while processing is dropped from the pending set too.
            shop.product_set({"title": "Tee 2", "files": [
                {"originalSource": "https://cdn.example.com/c.jpg", "contentType": "IMAGE"}]}, None)
            gone = next(iter(shop.media_pending))
            del shop.media[gone]
            shop.process_media(now() + 60)
            assert shop.media_pending == {}
    finally:
        sim.stop()
