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
