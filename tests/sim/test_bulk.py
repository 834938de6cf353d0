"""bulkOperationRunQuery: background run over all data, JSONL with __parentId, polling."""

from __future__ import annotations

import json
import time

import requests

RUN = """mutation($q: String!) { bulkOperationRunQuery(query: $q) {
  bulkOperation { id status } userErrors { field message code } } }"""

POLL = """query($id: ID!) { node(id: $id) { ... on BulkOperation { id status errorCode objectCount rootObjectCount
  fileSize url type query completedAt } } }"""

BULK_QUERY = """{
  products(query: "status:active") {
    edges { node { id handle
      variants { edges { node { id sku inventoryItem { id } } } }
    } }
  }
}"""


def wait_done(gql, op_id, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op = gql(POLL, {"id": op_id})["data"]["node"]
        if op["status"] in ("COMPLETED", "FAILED", "CANCELED"):
            return op
        time.sleep(0.05)
    raise AssertionError("bulk operation did not finish")


def test_bulk_query_jsonl_with_parent_ids(gql, sim_control):
    sim_control.seed("shop-a", generate=300, variants_per_product=2)  # more than one page's worth
    sim_control.seed("shop-a", products=[{"title": "Drafty", "status": "DRAFT"}])
    out = gql(RUN, {"q": BULK_QUERY})
    run = out["data"]["bulkOperationRunQuery"]
    assert run["userErrors"] == [] and run["bulkOperation"]["status"] in ("CREATED", "RUNNING", "COMPLETED")
    op = wait_done(gql, run["bulkOperation"]["id"])
    assert op["status"] == "COMPLETED" and op["type"] == "QUERY" and op["errorCode"] is None
    assert op["objectCount"] == "900" and op["rootObjectCount"] == "300"
    body = requests.get(op["url"], timeout=10).content
    assert op["fileSize"] == str(len(body))
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert len(lines) == 900
    products = [line for line in lines if "__parentId" not in line]
    variants = [line for line in lines if "__parentId" in line]
    assert all(p["id"].startswith("gid://shopify/Product/") and "variants" not in p for p in products)
    assert all(v["id"].startswith("gid://shopify/ProductVariant/") for v in variants)
    assert variants[0]["inventoryItem"]["id"].startswith("gid://shopify/InventoryItem/")
    product_ids = {p["id"] for p in products}
    assert {v["__parentId"] for v in variants} == product_ids
    # children follow their parent
    assert lines[1]["__parentId"] == lines[0]["id"]
    # currentBulkOperation / bulkOperation(id) agree
    cur = gql("{ currentBulkOperation { id status } }")["data"]["currentBulkOperation"]
    assert cur == {"id": op["id"], "status": "COMPLETED"}
    by_id = gql("query($id: ID!) { bulkOperation(id: $id) { status url } }", {"id": op["id"]})["data"]["bulkOperation"]
    assert by_id == {"status": "COMPLETED", "url": op["url"]}


def test_bulk_query_with_no_results_has_no_url(gql):
    op = gql(RUN, {"q": "{ products { edges { node { id } } } }"})["data"]["bulkOperationRunQuery"]["bulkOperation"]
    done = wait_done(gql, op["id"])
    assert done["status"] == "COMPLETED" and done["url"] is None and done["objectCount"] == "0"


def test_invalid_bulk_queries(gql):
    def err(q):
        out = gql(RUN, {"q": q})["data"]["bulkOperationRunQuery"]
        assert out["bulkOperation"] is None
        return out["userErrors"][0]

    assert err("{ shop { name } }")["code"] == "INVALID"  # no connection
    assert err('{ node(id: "gid://shopify/Product/1") { id } }')["code"] == "INVALID"
    assert "doesn't exist" in err("{ products { edges { node { nope } } } }")["message"]
    deep = "{ products { edges { node { id variants { edges { node { id media { edges { node { id } } } } } } } } } }"
    assert "nesting" in err(deep)["message"]


def test_bulk_concurrency_limit_and_cancel(gql, sim_control, shopify_sim):
    shopify_sim.sim.config.bulk_min_seconds = 1.0
    sim_control.seed("shop-a", generate=5)
    ids = []
    for _ in range(5):
        out = gql(RUN, {"q": "{ products { edges { node { id } } } }"})["data"]["bulkOperationRunQuery"]
        assert out["userErrors"] == []
        ids.append(out["bulkOperation"]["id"])
    out = gql(RUN, {"q": "{ products { edges { node { id } } } }"})["data"]["bulkOperationRunQuery"]
    assert out["userErrors"][0]["code"] == "LIMIT_REACHED"
    cancel = gql("mutation($id: ID!) { bulkOperationCancel(id: $id) { bulkOperation { status } userErrors { message } } }",
                 {"id": ids[0]})["data"]["bulkOperationCancel"]
    assert cancel["userErrors"] == [] and cancel["bulkOperation"]["status"] == "CANCELING"
    assert wait_done(gql, ids[0])["status"] == "CANCELED"
    assert wait_done(gql, ids[1])["status"] == "COMPLETED"


def test_bulk_finish_webhook(gql, webhook_receiver):
    gql("""mutation($uri: String!) { webhookSubscriptionCreate(topic: BULK_OPERATIONS_FINISH,
           webhookSubscription: {uri: $uri}) { userErrors { message } } }""", {"uri": webhook_receiver.url})
    op = gql(RUN, {"q": "{ products { edges { node { id } } } }"})["data"]["bulkOperationRunQuery"]["bulkOperation"]
    hook = webhook_receiver.wait_for(1, topic="bulk_operations/finish")[0]
    body = hook.json()
    assert body["admin_graphql_api_id"] == op["id"] and body["status"] == "completed" and body["type"] == "query"


def test_bulk_query_refuses_a_connection_inside_a_list_field(gql):
    """Bulk queries don't support connections nested inside list fields (e.g. a refund's line items); a list
    field itself (refunds, fulfillments) is fine."""
    out = gql(RUN, {"q": "{ orders { edges { node { id refunds { id refundLineItems { edges { node { id } } } } }"
                         " } } }"})["data"]["bulkOperationRunQuery"]
    assert out["bulkOperation"] is None and "list field" in out["userErrors"][0]["message"]
    ok = gql(RUN, {"q": "{ orders { edges { node { id refunds { id } fulfillments { id status } } } } }"})
    assert ok["data"]["bulkOperationRunQuery"]["userErrors"] == []
