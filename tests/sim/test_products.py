"""productSet / productUpdate / productDelete / product queries against the simulator."""

from __future__ import annotations

from .conftest import PRODUCT_SET, product_input


def product_set(gql, inp, identifier=None, **kw):
    out = gql(PRODUCT_SET, {"input": inp, "identifier": identifier}, **kw)
    assert "errors" not in out, out
    return out["data"]["productSet"]


def test_product_set_creates_product_with_variants_options_inventory(gql, locations):
    res = product_set(gql, product_input(location=locations[0], qty=7, tags=["b", "a"],
                                         seo={"title": "SEO T", "description": "SEO D"},
                                         descriptionHtml="<p>Hi</p>"))
    assert res["userErrors"] == []
    p = res["product"]
    assert p["id"].startswith("gid://shopify/Product/")
    assert p["handle"] == "blue-shirt"
    assert p["tags"] == ["a", "b"]
    assert p["seo"] == {"title": "SEO T", "description": "SEO D"}
    assert p["options"][0]["name"] == "Size" and p["options"][0]["values"] == ["S", "M"]
    skus = [v["sku"] for v in p["variants"]["nodes"]]
    assert skus == ["BS-S", "BS-M"]
    v = p["variants"]["nodes"][0]
    assert v["title"] == "S" and v["price"] == "10.00"
    assert v["selectedOptions"] == [{"name": "Size", "value": "S"}]
    assert v["inventoryItem"]["tracked"] is True and v["inventoryItem"]["sku"] == "BS-S"
    q = gql("""query($id: ID!) { inventoryItem(id: $id) { inventoryLevels(first: 5) { nodes {
                location { id } quantities(names: ["available", "on_hand", "committed"]) { name quantity } } } } }""",
            {"id": v["inventoryItem"]["id"]})
    levels = q["data"]["inventoryItem"]["inventoryLevels"]["nodes"]
    assert len(levels) == 1 and levels[0]["location"]["id"] == locations[0]
    assert {x["name"]: x["quantity"] for x in levels[0]["quantities"]} == {"available": 7, "on_hand": 7, "committed": 0}


def test_generated_handles_get_suffixes_and_explicit_taken_handle_is_an_error(gql):
    handles = [product_set(gql, {"title": "Red Hat"})["product"]["handle"] for _ in range(3)]
    assert handles == ["red-hat", "red-hat-1", "red-hat-2"]
    res = product_set(gql, {"title": "Other", "handle": "red-hat-1"})
    assert res["product"] is None
    assert res["userErrors"][0]["code"] == "HANDLE_NOT_UNIQUE"
    assert res["userErrors"][0]["field"] == ["input", "handle"]
    # the product may keep its own handle
    pid = gql("{ productByIdentifier(identifier: {handle: \"red-hat-1\"}) { id } }")["data"]["productByIdentifier"]["id"]
    res = product_set(gql, {"title": "Renamed", "handle": "red-hat-1"}, {"id": pid})
    assert res["userErrors"] == [] and res["product"]["handle"] == "red-hat-1" and res["product"]["title"] == "Renamed"


def test_product_set_update_replaces_list_fields_and_keeps_omitted_scalars(gql, locations):
    files = [{"originalSource": "https://example.com/a.jpg", "alt": "A", "contentType": "IMAGE"},
             {"originalSource": "https://example.com/b.jpg", "alt": "B", "contentType": "IMAGE"}]
    created = product_set(gql, product_input(sizes=("S", "M", "L"), location=locations[0],
                                             metafields=[{"namespace": "pim", "key": "aa", "type": "single_line_text_field", "value": "1"},
                                                         {"namespace": "pim", "key": "bb", "type": "single_line_text_field", "value": "2"}],
                                             files=files))["product"]
    pid = created["id"]
    by_sku = {v["sku"]: v for v in created["variants"]["nodes"]}
    assert len(created["media"]["nodes"]) == 2
    # Media are processed asynchronously: just created, they are UPLOADED and have no image yet.
    assert created["media"]["nodes"][0]["status"] == "UPLOADED"
    assert created["media"]["nodes"][0]["alt"] == "A" and created["media"]["nodes"][0]["image"] is None
    # update: only S and L (with ids), one metafield, one file, no vendor -> vendor unchanged
    upd = {
        "title": "Blue Shirt v2",
        "productOptions": [{"name": "Size", "values": [{"name": "S"}, {"name": "L"}]}],
        "variants": [
            {"id": by_sku["BS-S"]["id"], "optionValues": [{"optionName": "Size", "name": "S"}], "price": "12.50"},
            {"id": by_sku["BS-L"]["id"], "optionValues": [{"optionName": "Size", "name": "L"}]},
        ],
        "metafields": [{"namespace": "pim", "key": "bb", "type": "single_line_text_field", "value": "22"}],
        "files": [files[1]],
    }
    res = product_set(gql, upd, {"id": pid})
    assert res["userErrors"] == []
    p = res["product"]
    assert p["title"] == "Blue Shirt v2" and p["vendor"] == "Acme" and p["handle"] == "blue-shirt"
    assert [v["sku"] for v in p["variants"]["nodes"]] == ["BS-S", "BS-L"]
    assert [v["id"] for v in p["variants"]["nodes"]] == [by_sku["BS-S"]["id"], by_sku["BS-L"]["id"]]
    assert p["variants"]["nodes"][0]["price"] == "12.50"
    assert p["variants"]["nodes"][1]["price"] == "10.00"
    assert [(m["key"], m["value"]) for m in p["metafields"]["nodes"]] == [("bb", "22")]
    assert [m["alt"] for m in p["media"]["nodes"]] == ["B"]
    assert p["media"]["nodes"][0]["id"] == created["media"]["nodes"][1]["id"]  # kept, not re-created
    # the removed variant is gone
    gone = gql("query($id: ID!) { node(id: $id) { id } }", {"id": by_sku["BS-M"]["id"]})
    assert gone["data"]["node"] is None
    # no list keys -> lists untouched
    res = product_set(gql, {"vendor": "NewVendor"}, {"id": pid})
    p = res["product"]
    assert p["vendor"] == "NewVendor" and len(p["variants"]["nodes"]) == 2 and len(p["metafields"]["nodes"]) == 1


def test_variants_without_ids_are_new_variants(gql):
    """ProductVariantSetInput.id: "update or create a new variant if absent" (see test_publish_realism)."""
    created = product_set(gql, product_input())["product"]
    ids = [v["id"] for v in created["variants"]["nodes"]]
    res = product_set(gql, product_input(title="Blue Shirt"), {"id": created["id"]})
    assert not {v["id"] for v in res["product"]["variants"]["nodes"]} & set(ids)


def test_identifier_errors(gql):
    p = product_set(gql, {"title": "Thing"})["product"]
    res = product_set(gql, {"title": "X", "id": p["id"]}, {"id": p["id"]})
    assert res["userErrors"][0]["code"] == "ID_NOT_ALLOWED"
    res = product_set(gql, {"title": "X", "handle": "other"}, {"handle": "thing"})
    assert res["userErrors"][0]["code"] == "INPUT_MISMATCH"
    res = product_set(gql, {"title": "X"}, {"id": "gid://shopify/Product/1"})
    assert res["userErrors"][0]["code"] == "NOT_FOUND"
    res = product_set(gql, {"title": "X", "variants": [{"optionValues": [{"optionName": "Title", "name": "Default Title"}]}]})
    assert res["userErrors"][0]["code"] == "PRODUCT_OPTIONS_INPUT_MISSING"
    res = product_set(gql, {"title": "X", "productOptions": [{"name": "Size", "values": [{"name": "S"}]}]})
    assert res["userErrors"][0]["code"] == "VARIANTS_INPUT_MISSING"
    res = product_set(gql, product_input(productOptions=[{"name": "Size", "values": [{"name": "S"}]}]))
    assert res["userErrors"][0]["code"] == "OPTION_VALUE_DOES_NOT_EXIST"
    assert res["userErrors"][0]["field"][:3] == ["input", "variants", "1"]


def test_identifier_handle_upserts(gql):
    a = product_set(gql, {"title": "Upsert Me", "vendor": "V1"}, {"handle": "my-handle"})["product"]
    assert a["handle"] == "my-handle"
    b = product_set(gql, {"title": "Upsert Me 2"}, {"handle": "my-handle"})["product"]
    assert b["id"] == a["id"] and b["title"] == "Upsert Me 2" and b["vendor"] == "V1"


def test_custom_id_identifier(gql):
    mf = [{"namespace": "pim", "key": "id", "type": "single_line_text_field", "value": "P-1"}]
    a = product_set(gql, {"title": "Custom", "metafields": mf},
                    {"customId": {"namespace": "pim", "key": "id", "value": "P-1"}})["product"]
    b = product_set(gql, {"title": "Custom 2"}, {"customId": {"namespace": "pim", "key": "id", "value": "P-1"}})["product"]
    assert a["id"] == b["id"]
    found = gql('{ productByIdentifier(identifier: {customId: {namespace: "pim", key: "id", value: "P-1"}}) { id } }')
    assert found["data"]["productByIdentifier"]["id"] == a["id"]


def test_product_update_and_delete(gql, sim_control):
    p = product_set(gql, product_input())["product"]
    out = gql("""mutation($p: ProductUpdateInput!) { productUpdate(product: $p) { product { id title status updatedAt }
                 userErrors { field message } } }""", {"p": {"id": p["id"], "title": "New", "status": "DRAFT"}})
    upd = out["data"]["productUpdate"]
    assert upd["userErrors"] == [] and upd["product"]["title"] == "New" and upd["product"]["status"] == "DRAFT"
    out = gql("""mutation($id: ID!) { productDelete(input: {id: $id}) { deletedProductId userErrors { field message } } }""",
              {"id": p["id"]})
    assert out["data"]["productDelete"]["deletedProductId"] == p["id"]
    assert gql("query($id: ID!) { product(id: $id) { id } }", {"id": p["id"]})["data"]["product"] is None
    out = gql("""mutation($p: ProductUpdateInput!) { productUpdate(product: $p) { product { id } userErrors { field message } } }""",
              {"p": {"id": p["id"], "title": "x"}})
    assert out["data"]["productUpdate"]["userErrors"][0]["field"] == ["id"]
    assert sim_control.state("shop-a")["products"] == []


def test_async_product_set_returns_operation(gql):
    out = gql("""mutation($input: ProductSetInput!) { productSet(input: $input, synchronous: false) {
                   product { id } productSetOperation { id status product { id } userErrors { code } } userErrors { code } } }""",
              {"input": {"title": "Async"}})
    op = out["data"]["productSet"]["productSetOperation"]
    assert out["data"]["productSet"]["product"] is None and op["status"] == "CREATED"
    polled = gql("""query($id: ID!) { productOperation(id: $id) { status product { id title }
                    ... on ProductSetOperation { userErrors { code } } } }""", {"id": op["id"]})
    assert polled["data"]["productOperation"]["status"] == "COMPLETE"
    assert polled["data"]["productOperation"]["product"]["title"] == "Async"


def test_pagination_forward_and_backward(gql, sim_control):
    sim_control.seed("shop-a", generate=23)
    seen, after, pages = [], None, 0
    while True:
        out = gql("""query($after: String) { products(first: 10, after: $after) {
                      edges { cursor node { id title } } pageInfo { hasNextPage hasPreviousPage endCursor startCursor } } }""",
                  {"after": after})
        conn = out["data"]["products"]
        seen += [e["node"]["id"] for e in conn["edges"]]
        pages += 1
        assert conn["pageInfo"]["endCursor"] == conn["edges"][-1]["cursor"]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert pages == 3 and len(seen) == 23 and len(set(seen)) == 23
    nums = [int(i.rsplit("/", 1)[1]) for i in seen]
    assert nums == sorted(nums)
    # backwards from the end
    out = gql("{ products(last: 5) { nodes { id } pageInfo { hasPreviousPage hasNextPage startCursor } } }")
    last = out["data"]["products"]
    assert [n["id"] for n in last["nodes"]] == seen[-5:]
    assert last["pageInfo"]["hasPreviousPage"] is True and last["pageInfo"]["hasNextPage"] is False
    out = gql("query($b: String) { products(last: 5, before: $b) { nodes { id } } }",
              {"b": last["pageInfo"]["startCursor"]})
    assert [n["id"] for n in out["data"]["products"]["nodes"]] == seen[-10:-5]
    # reverse + nodes
    out = gql("{ products(first: 3, reverse: true) { nodes { id } } }")
    assert [n["id"] for n in out["data"]["products"]["nodes"]] == seen[::-1][:3]
    # sort by title
    out = gql("{ products(first: 3, sortKey: TITLE) { nodes { title } } }")
    titles = [n["title"] for n in out["data"]["products"]["nodes"]]
    assert titles == sorted(titles, key=str.lower)


def test_search_query_syntax(gql, sim_control):
    sim_control.seed("shop-a", products=[
        {"title": "Alpha", "handle": "alpha", "status": "ACTIVE", "tags": ["x"], "variants": [{"sku": "SKU-A"}]},
        {"title": "Beta", "handle": "beta", "status": "DRAFT", "variants": [{"sku": "SKU-B"}]},
        {"title": "Gamma", "handle": "gamma", "status": "ARCHIVED", "variants": [{"sku": "SKU-C1"}, {"sku": "SKU-C2"}],
         "options": [{"name": "N", "values": ["1", "2"]}]},
    ])

    def titles(q):
        out = gql("query($q: String) { products(first: 50, query: $q) { nodes { title } } }", {"q": q})
        return sorted(n["title"] for n in out["data"]["products"]["nodes"])

    assert titles("handle:beta") == ["Beta"]
    assert titles("sku:SKU-C2") == ["Gamma"]
    assert titles("status:active") == ["Alpha"]
    assert titles("status:active,draft") == ["Alpha", "Beta"]
    assert titles("-status:archived") == ["Alpha", "Beta"]
    assert titles("tag:x OR handle:gamma") == ["Alpha", "Gamma"]
    assert titles("sku:SKU-C*") == ["Gamma"]
    beta = gql('{ products(first: 1, query: "handle:beta") { nodes { id updatedAt } } }')["data"]["products"]["nodes"][0]
    num = beta["id"].rsplit("/", 1)[1]
    assert titles(f"id:{num}") == ["Beta"]
    assert titles(f"id:>{num}") == ["Gamma"]
    assert titles("updated_at:>'2000-01-01T00:00:00Z'") == ["Alpha", "Beta", "Gamma"]
    assert titles("updated_at:>'2999-01-01T00:00:00Z'") == []
    count = gql('{ productsCount(query: "status:active,draft") { count precision } }')
    assert count["data"]["productsCount"] == {"count": 2, "precision": "EXACT"}
    out = gql('{ productVariants(first: 10, query: "sku:SKU-C1") { nodes { sku product { handle } } } }')
    assert out["data"]["productVariants"]["nodes"] == [{"sku": "SKU-C1", "product": {"handle": "gamma"}}]


def test_updated_at_bumps_and_filters(gql, sim_control):
    import time

    p = product_set(gql, {"title": "Clock"})["product"]
    time.sleep(1.1)
    out = gql('{ products(first: 5, query: "title:Clock") { nodes { updatedAt } } }')
    before = out["data"]["products"]["nodes"][0]["updatedAt"]
    sim_control.edit_product("shop-a", p["id"], title="Clock")
    out = gql("query($q: String) { products(first: 5, query: $q) { nodes { id updatedAt } } }",
              {"q": f"updated_at:>'{before}'"})
    assert [n["id"] for n in out["data"]["products"]["nodes"]] == [p["id"]]


def test_node_and_nodes_resolve_types(gql, locations):
    p = product_set(gql, product_input())["product"]
    v = p["variants"]["nodes"][0]
    out = gql("""query($ids: [ID!]!) { nodes(ids: $ids) { __typename id
                 ... on Product { title } ... on ProductVariant { sku } ... on Location { name } } }""",
              {"ids": [p["id"], v["id"], locations[0], v["inventoryItem"]["id"], "gid://shopify/Product/42"]})
    nodes = out["data"]["nodes"]
    assert [n and n["__typename"] for n in nodes] == ["Product", "ProductVariant", "Location", "InventoryItem", None]
    assert nodes[0]["title"] == "Blue Shirt" and nodes[1]["sku"] == "BS-S"


def test_shop_and_app_installation(gql, shopify_sim):
    out = gql("{ shop { name myshopifyDomain plan { shopifyPlus partnerDevelopment publicDisplayName } currencyCode } "
              "currentAppInstallation { accessScopes { handle } } }")
    assert out["data"]["shop"]["myshopifyDomain"] == "shop-a.myshopify.com"
    assert out["data"]["shop"]["plan"]["shopifyPlus"] is False
    handles = {s["handle"] for s in out["data"]["currentAppInstallation"]["accessScopes"]}
    assert {"read_products", "write_products", "write_inventory"} <= handles


def test_metafields_set_with_compare_digest(gql):
    p = product_set(gql, {"title": "Meta"})["product"]
    m = """mutation($m: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $m) {
             metafields { key value compareDigest } userErrors { field message code } } }"""
    out = gql(m, {"m": [{"ownerId": p["id"], "namespace": "pim", "key": "kk", "type": "single_line_text_field", "value": "v1"}]})
    digest = out["data"]["metafieldsSet"]["metafields"][0]["compareDigest"]
    out = gql(m, {"m": [{"ownerId": p["id"], "namespace": "pim", "key": "kk", "value": "v2", "compareDigest": digest}]})
    assert out["data"]["metafieldsSet"]["userErrors"] == []
    out = gql(m, {"m": [{"ownerId": p["id"], "namespace": "pim", "key": "kk", "value": "v3", "compareDigest": digest}]})
    assert out["data"]["metafieldsSet"]["userErrors"][0]["code"] == "STALE_OBJECT"
    out = gql('query($id: ID!) { product(id: $id) { metafield(namespace: "pim", key: "kk") { value } } }', {"id": p["id"]})
    assert out["data"]["product"]["metafield"]["value"] == "v2"


def test_publications_and_publish(gql):
    p = product_set(gql, {"title": "Pub"})["product"]
    pubs = gql("{ publications(first: 5) { nodes { id name } } }")["data"]["publications"]["nodes"]
    assert [x["name"] for x in pubs] == ["Online Store", "Point of Sale"]
    out = gql("""mutation($id: ID!, $input: [PublicationInput!]!) { publishablePublish(id: $id, input: $input) {
                 publishable { ... on Product { publishedAt } } userErrors { field message } } }""",
              {"id": p["id"], "input": [{"publicationId": pubs[0]["id"]}]})
    assert out["data"]["publishablePublish"]["userErrors"] == []
    assert out["data"]["publishablePublish"]["publishable"]["publishedAt"]
    q = gql("query($id: ID!, $pub: ID!) { product(id: $id) { publishedOnPublication(publicationId: $pub) "
            "resourcePublicationsCount { count } } }", {"id": p["id"], "pub": pubs[0]["id"]})
    assert q["data"]["product"] == {"publishedOnPublication": True, "resourcePublicationsCount": {"count": 1}}


def test_metafields_set_takes_several_owners_in_one_atomic_call_of_at_most_25(gql):
    """metafieldsSet: any owners in one call, at most 25 metafields, atomic (a refused element sets nothing and is
    named by ``elementIndex``); its cost grows with the owners since 2026-09-15 (tests/sim/test_cost.py)."""
    a = product_set(gql, {"title": "Meta A"})["product"]
    b = product_set(gql, {"title": "Meta B"})["product"]
    m = """mutation MetafieldsSetBatch($m: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $m) {
             metafields { key } userErrors { field code elementIndex } } }"""

    def mf(owner, key, value="v"):
        return {"ownerId": owner["id"], "namespace": "pim", "key": key, "type": "single_line_text_field",
                "value": value}

    out = gql(m, {"m": [mf(a, "one"), mf(b, "one"), mf(b, "x")]})  # "x": key shorter than 2 characters
    errors = out["data"]["metafieldsSet"]["userErrors"]
    assert [e["elementIndex"] for e in errors] == [2] and errors[0]["code"] == "TOO_SHORT"
    assert out["data"]["metafieldsSet"]["metafields"] is None
    read = 'query($id: ID!) { product(id: $id) { metafield(namespace: "pim", key: "one") { value } } }'
    assert gql(read, {"id": a["id"]})["data"]["product"]["metafield"] is None  # nothing was set

    out = gql(m, {"m": [mf(a, "one"), mf(b, "one")]})
    assert out["data"]["metafieldsSet"]["userErrors"] == []
    assert out["extensions"]["cost"]["actualQueryCost"] == 18  # 10 + 2 products x 4
    assert gql(read, {"id": b["id"]})["data"]["product"]["metafield"]["value"] == "v"

    out = gql(m, {"m": [mf(a, f"k{i:02d}") for i in range(26)]})
    assert out["data"]["metafieldsSet"]["userErrors"][0]["code"] == "LESS_THAN_OR_EQUAL_TO"
