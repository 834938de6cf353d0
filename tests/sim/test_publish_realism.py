"""The simulator behaves as Shopify documents for what a real publish relies on (issue #12)."""

from __future__ import annotations

from .conftest import PRODUCT_SET, SHOP, product_input


def _create(gql, **kw):
    body = gql(PRODUCT_SET, {"input": product_input(**kw)})
    assert body["data"]["productSet"]["userErrors"] == []
    return body["data"]["productSet"]["product"]


def test_variant_without_id_is_a_new_variant_and_unlisted_ones_are_deleted(gql, shopify_sim):
    """ProductVariantSetInput.id: "update or create a new variant if absent"; list fields replace."""
    product = _create(gql)
    old = {v["sku"]: v for v in product["variants"]["nodes"]}
    # Same option values and SKUs, but without ids: Shopify creates new variants and deletes the old ones.
    body = gql(PRODUCT_SET, {"input": product_input(), "identifier": {"id": product["id"]}})
    new = {v["sku"]: v for v in body["data"]["productSet"]["product"]["variants"]["nodes"]}
    assert set(new) == set(old)
    for sku in old:
        assert new[sku]["id"] != old[sku]["id"]
        assert new[sku]["inventoryItem"]["id"] != old[sku]["inventoryItem"]["id"]
    state = shopify_sim.state(SHOP)
    assert all(int(v["id"].rsplit("/", 1)[-1]) not in state.variants for v in old.values())


def test_variant_with_id_keeps_its_ids(gql):
    product = _create(gql)
    old = {v["sku"]: v for v in product["variants"]["nodes"]}
    inp = product_input()
    for v in inp["variants"]:
        v["id"] = old[v["sku"]]["id"]
        v["price"] = "12.00"
    body = gql(PRODUCT_SET, {"input": inp, "identifier": {"id": product["id"]}})
    new = {v["sku"]: v for v in body["data"]["productSet"]["product"]["variants"]["nodes"]}
    assert {s: v["id"] for s, v in new.items()} == {s: v["id"] for s, v in old.items()}
    assert {v["price"] for v in new.values()} == {"12.00"}


# --- cost held while a query runs; X-Request-Id; deprecation header ---------------------------------------

BIG_QUERY = "query Big { products(first: 75) { nodes { id variants(first: 10) { nodes { id } } } } }"


def test_requested_cost_is_held_while_queries_run_so_parallel_queries_are_throttled(shopify_sim, http):
    """Shopify holds a query's requested cost while it runs and refunds the difference afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    creds = shopify_sim.shops[SHOP]
    shopify_sim.control.set_bucket(SHOP, size=2000, rate=100, available=2000)

    def call(_):
        r = http.post(creds.graphql_url("2026-07"), json={"query": BIG_QUERY},
                      headers={"X-Shopify-Access-Token": creds.access_token}, timeout=30)
        body = r.json()
        return ("THROTTLED" if any((e.get("extensions") or {}).get("code") == "THROTTLED"
                                   for e in body.get("errors") or []) else "ok"), body["extensions"]["cost"]

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(call, range(6)))
    assert outcomes[0][1]["requestedQueryCost"] == 977
    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds.count("ok") == 2 and kinds.count("THROTTLED") == 4, kinds


def test_every_answer_carries_x_request_id(shopify_sim, gql):
    ok = gql("{ shop { name } }", raw=True)
    assert ok.headers.get("X-Request-Id")
    unauthorized = gql("{ shop { name } }", token="wrong", raw=True)
    assert unauthorized.status_code == 401 and unauthorized.headers.get("X-Request-Id")
    shopify_sim.control.outage(SHOP, 5)
    outage = gql("{ shop { name } }", raw=True)
    assert outage.status_code == 503 and outage.headers.get("X-Request-Id")
    assert len({ok.headers["X-Request-Id"], unauthorized.headers["X-Request-Id"], outage.headers["X-Request-Id"]}) == 3


def test_deprecated_fields_are_flagged_in_a_header(gql):
    old = gql("{ publications(first: 5) { nodes { id name } } }", raw=True)
    assert old.headers.get("X-Shopify-API-Deprecated-Reason") == (
        "https://shopify.dev/api/usage/versioning#deprecation-practices")
    new = gql("{ publications(first: 5) { nodes { id catalog { title } } } }", raw=True)
    assert "X-Shopify-API-Deprecated-Reason" not in new.headers
    assert [n["catalog"]["title"] for n in new.json()["data"]["publications"]["nodes"]] == ["Online Store",
                                                                                           "Point of Sale"]


# --- shop states -----------------------------------------------------------------------------------------------


def test_frozen_and_locked_shops_answer_402_and_423(shopify_sim, gql):
    shopify_sim.control.faults(SHOP, frozen=True)
    r = gql("{ shop { name } }", raw=True)
    assert r.status_code == 402 and r.json() == {"errors": "Unavailable Shop"}
    shopify_sim.control.clear_faults(SHOP)
    shopify_sim.control.faults(SHOP, locked=True)
    assert gql("{ shop { name } }", raw=True).status_code == 423
    shopify_sim.control.clear_faults(SHOP)
    assert gql("{ shop { name } }", raw=True).status_code == 200


# --- publications and storefront visibility ----------------------------------------------------------------


def test_products_from_the_api_are_on_no_channel_until_published(gql, shopify_sim):
    product = _create(gql)
    live = shopify_sim.control.product(SHOP, product["id"])
    assert live["status"] == "ACTIVE" and live["publications"] == [] and live["onlineStoreVisible"] is False
    pubs = gql("{ publications(first: 5) { nodes { id catalog { title } } } }")["data"]["publications"]["nodes"]
    online = next(p["id"] for p in pubs if p["catalog"]["title"] == "Online Store")
    out = gql("mutation($id: ID!, $p: ID!) { publishablePublish(id: $id, input: [{publicationId: $p}]) "
              "{ userErrors { field message } } }", {"id": product["id"], "p": online})
    assert out["data"]["publishablePublish"]["userErrors"] == []
    live = shopify_sim.control.product(SHOP, product["id"])
    assert live["publicationNames"] == ["Online Store"] and live["onlineStoreVisible"] is True


# --- media processing ------------------------------------------------------------------------------------------

MEDIA = "query($id: ID!) { product(id: $id) { media(first: 5) { nodes { id status " \
        "mediaErrors { code message } ... on MediaImage { image { url } } } } } }"


def test_media_are_processed_asynchronously_and_unreachable_urls_fail(gql, shopify_sim):
    import time

    files = [{"originalSource": "https://cdn.example.com/ok.jpg", "contentType": "IMAGE"},
             {"originalSource": "https://nowhere.invalid/x.jpg", "contentType": "IMAGE"}]
    product = _create(gql, files=files)
    nodes = product["media"]["nodes"]
    assert [n["status"] for n in nodes] == ["UPLOADED", "UPLOADED"] and nodes[0]["image"] is None
    deadline = time.monotonic() + 5
    while True:
        nodes = gql(MEDIA, {"id": product["id"]})["data"]["product"]["media"]["nodes"]
        if all(n["status"] in ("READY", "FAILED") for n in nodes) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [n["status"] for n in nodes] == ["READY", "FAILED"]
    assert nodes[0]["image"]["url"].startswith("https://cdn.shopify.com/")
    assert nodes[1]["image"] is None and nodes[1]["mediaErrors"][0]["code"] == "IMAGE_DOWNLOAD_FAILURE"


# --- handles ---------------------------------------------------------------------------------------------------


def test_redirect_new_handle_creates_a_redirect_from_the_old_handle(gql, shopify_sim):
    product = _create(gql)
    old = product["handle"]
    body = gql(PRODUCT_SET, {"input": {"handle": "new-shirt", "redirectNewHandle": True},
                             "identifier": {"id": product["id"]}})
    assert body["data"]["productSet"]["product"]["handle"] == "new-shirt"
    live = shopify_sim.control.product(SHOP, product["id"])
    assert [(r["path"], r["target"]) for r in live["redirects"]] == [(f"/products/{old}", "/products/new-shirt")]
    # Without redirectNewHandle no redirect is made.
    gql(PRODUCT_SET, {"input": {"handle": "newer-shirt"}, "identifier": {"id": product["id"]}})
    assert shopify_sim.control.product(SHOP, product["id"])["redirects"] == []


# --- limits ----------------------------------------------------------------------------------------------------


def test_product_limits_are_enforced_with_user_errors(gql):
    def errors(**extra):
        body = gql(PRODUCT_SET, {"input": product_input(**extra)})
        return [(e["field"], e["code"]) for e in body["data"]["productSet"]["userErrors"]]

    assert errors(title="T" * 256) == [(["input", "title"], "INVALID_INPUT")]
    assert errors(handle="h" * 256) == [(["input", "handle"], "INVALID_INPUT")]
    assert errors(tags=[f"t{i}" for i in range(251)]) == [(["input", "tags"], "INVALID_INPUT")]
    assert errors(tags=["x" * 256]) == [(["input", "tags", "0"], "INVALID_INPUT")]
    bad_mf = [{"namespace": "pi", "key": "k", "type": "single_line_text_field", "value": "v"}]
    assert sorted(errors(metafields=bad_mf)) == [(["input", "metafields", "0", "key"], "INVALID_METAFIELD"),
                                                 (["input", "metafields", "0", "namespace"], "INVALID_METAFIELD")]
    assert errors(tags=[f"t{i}" for i in range(250)]) == []


def test_metafields_set_checks_key_and_namespace(gql):
    product = _create(gql)
    m = ("mutation($m: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $m) { metafields { key } "
         "userErrors { field code } } }")
    out = gql(m, {"m": [{"ownerId": product["id"], "namespace": "pim", "key": "bad key!", "type":
                         "single_line_text_field", "value": "v"}]})
    assert out["data"]["metafieldsSet"]["userErrors"] == [{"field": ["metafields", "0", "key"], "code": "INVALID"}]
