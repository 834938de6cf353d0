"""Every document in channels/shopify/queries/ must be valid against Shopify's real 2026-07 schema."""

from __future__ import annotations

import re

import pytest
from graphql import OperationDefinitionNode, parse, validate
from graphql.validation import NoDeprecatedCustomRule

from channels.shopify import queries

from .conftest import schema_errors

DOCUMENTS = queries.all_documents()


def test_module_constants_are_all_collected():
    # all_documents() must see every public string constant, so a new document can't escape validation.
    public_strings = {
        name for name, value in vars(queries).items() if isinstance(value, str) and not name.startswith("_")
    }
    assert public_strings == set(DOCUMENTS)
    assert len(DOCUMENTS) >= 20
    for required in (
        "SHOP_INFO",
        "PRODUCT_SET",
        "PRODUCT_UPDATE_STATUS",
        "PRODUCT_DELETE",
        "PRODUCT_BY_ID",
        "PRODUCT_BY_HANDLE",
        "PRODUCTS_PAGE",
        "BULK_RUN_QUERY",
        "BULK_OPERATION_STATUS",
        "BULK_PRODUCTS_QUERY",
        "LOCATIONS",
        "INVENTORY_LEVELS",
        "INVENTORY_SET_QUANTITIES",
        "INVENTORY_ADJUST_QUANTITIES",
        "WEBHOOK_SUBSCRIPTIONS",
        "WEBHOOK_SUBSCRIPTION_CREATE",
        "WEBHOOK_SUBSCRIPTION_DELETE",
    ):
        assert required in DOCUMENTS


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_is_valid_against_2026_07_schema(name, schema):
    document = DOCUMENTS[name]
    assert schema_errors(document) == [], name
    # No deprecated fields/arguments either (they disappear in later versions).
    deprecated = validate(schema, parse(document), [NoDeprecatedCustomRule])
    assert [e.message for e in deprecated] == [], name


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_has_one_named_operation(name):
    operations = [d for d in parse(DOCUMENTS[name]).definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1
    if name in queries.BULK_INNER_QUERIES:
        return
    op_name = operations[0].name.value
    # Operation names mirror the constant names (PRODUCT_BY_ID -> ProductById): the budget learns costs by them.
    assert op_name.lower() == name.replace("_", "").lower()


def test_validation_catches_a_bad_document():
    bad_field = "query Bad($id: ID!) { product(id: $id) { id titleTypo } }"
    assert any("titleTypo" in m for m in schema_errors(bad_field))
    deprecated_arg = "query Old($handle: String!) { productByHandle(handle: $handle) { id } }"
    assert schema_errors(deprecated_arg) == []  # still valid ...
    from .conftest import admin_schema

    assert validate(admin_schema(), parse(deprecated_arg), [NoDeprecatedCustomRule])  # ... but flagged
    # Removed in 2026-04: compareQuantity / ignoreCompareQuantity.
    removed = """
    mutation Old($input: InventorySetQuantitiesInput!) {
      inventorySetQuantities(input: $input) { userErrors { field message } }
    }"""
    assert schema_errors(
        removed,
        {
            "input": {
                "name": "available",
                "reason": "correction",
                "ignoreCompareQuantity": True,
                "quantities": [
                    {
                        "inventoryItemId": "gid://shopify/InventoryItem/1",
                        "locationId": "gid://shopify/Location/1",
                        "quantity": 1,
                        "compareQuantity": 0,
                    }
                ],
            }
        },
    )


def test_inventory_mutations_use_the_idempotent_directive():
    for name in ("INVENTORY_SET_QUANTITIES", "INVENTORY_ADJUST_QUANTITIES"):
        assert re.search(r"@idempotent\(key: \$idempotencyKey\)", DOCUMENTS[name])
        assert "$idempotencyKey: String!" in DOCUMENTS[name]


def test_bulk_query_requests_grouped_output():
    assert "groupObjects: $groupObjects" in queries.BULK_RUN_QUERY


def _product_paths(document: str, root_field: str) -> set[str]:
    """Field paths selected under ``root_field`` with fragments inlined and connection wrappers removed."""
    from graphql.language import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode

    ast = parse(document)
    fragments = {d.name.value: d for d in ast.definitions if isinstance(d, FragmentDefinitionNode)}
    paths: set[str] = set()

    def walk(selection_set, prefix: str) -> None:
        for sel in selection_set.selections if selection_set else []:
            if isinstance(sel, FragmentSpreadNode):
                walk(fragments[sel.name.value].selection_set, prefix)
            elif isinstance(sel, InlineFragmentNode):
                walk(sel.selection_set, prefix)
            elif isinstance(sel, FieldNode):
                name = sel.name.value
                if name == "pageInfo":
                    continue
                if name in ("edges", "node", "nodes"):
                    walk(sel.selection_set, prefix)
                    continue
                path = f"{prefix}.{name}" if prefix else name
                paths.add(path)
                walk(sel.selection_set, path)

    def find(selection_set):
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode) and sel.name.value == root_field:
                return sel
            found = find(sel.selection_set) if getattr(sel, "selection_set", None) else None
            if found:
                return found
        return None

    operation = next(d for d in ast.definitions if isinstance(d, OperationDefinitionNode))
    walk(find(operation.selection_set).selection_set, "")
    return paths


def test_bulk_export_selects_what_product_get_selects():
    # Drift detection must see the same fields whether a product came from product_get or the bulk export.
    single = _product_paths(queries.PRODUCT_BY_ID, "product")
    bulk = _product_paths(queries.BULK_PRODUCTS_QUERY, "products")
    assert "variants.inventoryItem.tracked" in single
    assert "media.image.url" in single
    assert single == bulk
    assert _product_paths(queries.PRODUCT_BY_HANDLE, "productByIdentifier") == single


def test_initial_cost_estimates_match_the_documents():
    """The budget's first estimates equal the requested cost of our documents with the variables we send
    (computed with the simulator's implementation of Shopify's cost formula)."""
    cost = pytest.importorskip("shopify_sim.cost")
    from graphql.language import FragmentDefinitionNode

    from channels.shopify.transport import INITIAL_COST_ESTIMATES

    from .conftest import admin_schema

    variables = {
        "ProductById": {"id": "gid://shopify/Product/1"},
        "ProductByHandle": {"handle": "h"},
        "ProductVariantsPage": {"id": "gid://shopify/Product/1", "first": 150},
        "ProductVariantIdsPage": {"id": "gid://shopify/Product/1", "first": 250},
        "ProductMetafieldsPage": {"id": "gid://shopify/Product/1", "first": 200},
        "ProductMediaPage": {"id": "gid://shopify/Product/1", "first": 100},
        "ProductsPage": {"first": 50},
        "InventoryLevels": {"inventoryItemIds": ["x"] * 50, "locationId": "l", "names": ["a", "b", "c"]},
        "Locations": {"first": 100},
        "WebhookSubscriptions": {"first": 100},
    }
    by_operation = {}
    for document in DOCUMENTS.values():
        ast = parse(document)
        op = next(d for d in ast.definitions if isinstance(d, OperationDefinitionNode))
        if op.name:
            by_operation[op.name.value] = ast
    assert set(INITIAL_COST_ESTIMATES) == set(variables)
    for name, estimate in INITIAL_COST_ESTIMATES.items():
        ast = by_operation[name]
        op = next(d for d in ast.definitions if isinstance(d, OperationDefinitionNode))
        fragments = {d.name.value: d for d in ast.definitions if isinstance(d, FragmentDefinitionNode)}
        computed = cost.requested_cost(admin_schema(), op, fragments, variables[name])
        assert computed == estimate, name
        assert computed <= 1000, name  # Shopify's single-query limit


def test_paged_product_reads_stay_below_the_single_query_limit_at_their_largest_pages():
    """Issue #12: no read of a big product may exceed Shopify's 1,000-point limit (MAX_COST_EXCEEDED)."""
    cost = pytest.importorskip("shopify_sim.cost")
    from graphql.language import FragmentDefinitionNode

    from channels.shopify import products_api

    from .conftest import admin_schema

    largest = {
        "PRODUCT_DRIFT": {"id": "gid://shopify/Product/1", "variants": products_api.DRIFT_VARIANTS_PAGE,
                          "media": products_api.DRIFT_MEDIA_PAGE, "metafields": products_api.DRIFT_METAFIELDS_PAGE},
        "PRODUCT_IDS_BY_HANDLE": {"handle": "h", "variants": 250},
        "PRODUCT_SET": {"input": {"title": "x", "variants": [{"optionValues": []}] * 2048, "files": [{}] * 250},
                        "variants": 100, "media": 50},
        "MEDIA_STATUS": {"ids": ["gid://shopify/MediaImage/1"] * 100},
    }
    for name, variables in largest.items():
        ast = parse(DOCUMENTS[name])
        op = next(d for d in ast.definitions if isinstance(d, OperationDefinitionNode))
        fragments = {d.name.value: d for d in ast.definitions if isinstance(d, FragmentDefinitionNode)}
        assert cost.requested_cost(admin_schema(), op, fragments, variables) <= 1000, name
