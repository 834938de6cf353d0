"""Documents are validated against Shopify's real schema of the requested version."""

from __future__ import annotations


def test_unknown_field(gql):
    out = gql("{ shop { name bogus } }")
    assert out["errors"][0]["message"] == "Field 'bogus' doesn't exist on type 'Shop'"
    assert out["errors"][0]["extensions"]["code"] == "undefinedField"
    assert out["errors"][0]["locations"] == [{"line": 1, "column": 15}]
    assert "data" not in out


def test_unknown_argument_and_missing_argument(gql):
    out = gql("{ products(first: 1, nope: 2) { nodes { id } } }")
    assert out["errors"][0]["extensions"]["code"] == "argumentNotAccepted"
    out = gql("{ product { id } }")
    assert out["errors"][0]["extensions"]["code"] == "missingRequiredArguments"


def test_syntax_error(gql):
    out = gql("{ shop { name ")
    assert out["errors"][0]["message"].startswith("Syntax Error")


def test_invalid_variables(gql):
    out = gql("mutation($i: ProductSetInput!) { productSet(input: $i) { product { id } } }",
              {"i": {"title": 5, "status": "NOPE"}})
    err = out["errors"][0]
    assert err["extensions"]["code"] == "INVALID_VARIABLE"
    assert err["message"].startswith("Variable $i of type ProductSetInput! was provided invalid value")
    out = gql("query($id: ID!) { product(id: $id) { id } }", {})
    assert out["errors"][0]["extensions"]["code"] == "INVALID_VARIABLE"


def test_one_of_identifier_enforced(gql):
    out = gql('mutation { productSet(input: {title: "x"}, identifier: {id: "gid://shopify/Product/1", handle: "x"}) '
              "{ product { id } } }")
    assert "errors" in out and "data" not in out


def test_version_specific_schema(gql):
    doc = """mutation { inventorySetQuantities(input: {name: "available", reason: "correction",
              ignoreCompareQuantity: true,
              quantities: [{inventoryItemId: "gid://shopify/InventoryItem/1", locationId: "gid://shopify/Location/1",
                            quantity: 1}]}) { userErrors { code } } }"""
    out = gql(doc, version="2026-07")  # ignoreCompareQuantity was removed in 2026-04
    assert out["errors"][0]["message"] == (
        "InputObject 'InventorySetQuantitiesInput' doesn't accept argument 'ignoreCompareQuantity'")
    out = gql(doc, version="2026-01")
    assert out["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "INVALID_INVENTORY_ITEM"


def test_operation_name_selection(gql):
    doc = "query A { shop { name } } query B { shop { myshopifyDomain } }"
    out = gql(doc, operation_name="B")
    assert out["data"] == {"shop": {"myshopifyDomain": "shop-a.myshopify.com"}}
    out = gql(doc)
    assert out["errors"][0]["message"] == "An operation name is required"


def test_documents_are_cached(gql, shopify_sim):
    q = "{ shop { id } }"
    gql(q)
    doc1 = shopify_sim.sim.schemas.prepare("2026-07", q)
    gql(q)
    assert shopify_sim.sim.schemas.prepare("2026-07", q) is doc1


def test_unimplemented_root_fields_say_so(gql):
    out = gql("{ abandonedCheckouts(first: 1) { nodes { id } } }")
    err = out["errors"][0]
    assert err["extensions"]["code"] == "SIMULATOR_UNIMPLEMENTED" and "QueryRoot.abandonedCheckouts" in err["message"]


def test_ids_must_be_global_ids(gql):
    out = gql("query($id: ID!) { product(id: $id) { id } }", {"id": "123"})
    err = out["errors"][0]
    assert err["message"] == "Variable $id of type ID! was provided invalid value"
    assert err["extensions"]["problems"] == [{"path": [], "explanation": "Invalid global id `123`",
                                              "message": "Invalid global id `123`"}]
    out = gql("mutation($i: ProductSetInput!) { productSet(input: $i) { product { id } } }",
              {"i": {"title": "x", "productOptions": [{"name": "Size", "values": [{"name": "S"}]}],
                     "variants": [{"id": "42", "optionValues": [{"optionName": "Size", "name": "S"}]}]}})
    err = out["errors"][0]
    assert err["extensions"]["code"] == "INVALID_VARIABLE"
    assert err["extensions"]["problems"][0]["path"] == ["variants", 0, "id"]
    out = gql('{ product(id: "42") { id } }')
    assert out["errors"][0]["message"] == "Invalid global id `42`"
    assert gql('{ product(id: "gid://shopify/Product/42") { id } }')["data"] == {"product": None}
