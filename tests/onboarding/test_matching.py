"""Classification rules, against a PIM index read from PostgreSQL and hand-made Shopify products."""

from __future__ import annotations

import pytest

from channels.models import ChannelAssignment, Store
from onboarding.matching import (
    AMBIGUOUS,
    MATCHED,
    SHOPIFY_ONLY,
    ShopifyProduct,
    ShopifyTally,
    ShopifyVariant,
    pim_index_build,
    product_classify,
    shopify_product_from_node,
)

from .conftest import make_product

pytestmark = pytest.mark.django_db


def sp(handle: str, skus: list[str], pid: str = "1") -> ShopifyProduct:
    return ShopifyProduct(id=pid, handle=handle, title=handle, status="ACTIVE",
                          variants=[ShopifyVariant(id=f"{pid}{i}", sku=s, inventory_item_id=f"9{pid}{i}")
                                    for i, s in enumerate(skus)])


def classify(product: ShopifyProduct, *others: ShopifyProduct, store=None):
    tally = ShopifyTally()
    for p in (product, *others):
        tally.add(p)
    return product_classify(product=product, pim=pim_index_build(store=store), tally=tally)


@pytest.fixture
def shop(db):
    return Store.objects.create(name="S", shop_domain="s.myshopify.com", access_token="x")


def test_handle_then_skus():
    tee = make_product("tee", ["T-S", "T-M"])
    decision = classify(sp("tee", ["T-M", "T-S"]))
    assert (decision.classification, decision.matched_by, decision.pim_product_id) == (MATCHED, "handle", tee.pk)
    decision = classify(sp("classic-tee", ["T-S", "T-M"]))
    assert (decision.classification, decision.matched_by, decision.proposed_handle) == (MATCHED, "sku", "classic-tee")
    assert classify(sp("scarf", ["SC-1"])).classification == SHOPIFY_ONLY


def test_disagreements_are_ambiguous():
    tee = make_product("tee", ["T-S", "T-M"])
    make_product("mug", ["MUG-1"])
    extra = classify(sp("tee", ["T-S", "T-M", "T-L"]))
    assert extra.classification == AMBIGUOUS and "only in Shopify: T-L" in extra.reason
    assert extra.candidates == (tee.pk,)
    missing = classify(sp("tee", ["T-S"]))
    assert missing.classification == AMBIGUOUS and "only in the PIM: T-M" in missing.reason
    blank = classify(sp("tee", ["T-S", "T-M", ""]))
    assert blank.classification == AMBIGUOUS and "3 Shopify variant(s), 2 in the PIM" in blank.reason
    partial = classify(sp("other", ["T-S"]))
    assert partial.classification == AMBIGUOUS and "partly match" in partial.reason
    mixed = classify(sp("tee", ["T-S", "T-M", "MUG-1"]))
    assert mixed.classification == AMBIGUOUS and "other PIM products" in mixed.reason
    two = classify(sp("bundle", ["T-S", "MUG-1"]))
    assert two.classification == AMBIGUOUS and "several PIM products" in two.reason
    twice = classify(sp("tee", ["T-S", "T-S"]))
    assert twice.classification == AMBIGUOUS and "SKUs disagree (only in the PIM: T-M)" in twice.reason
    twice_elsewhere = classify(sp("tee-2", ["T-S", "T-S"]))
    assert twice_elsewhere.classification == AMBIGUOUS
    assert "SKU T-S is on several variants of this product, and a PIM product has it" in twice_elsewhere.reason


def test_a_sku_shared_in_shopify_never_matches_by_itself():
    tee = make_product("tee", ["T-S"])
    a, b = sp("tee", ["T-S"], "1"), sp("tee-copy", ["T-S"], "2")
    # The handle decides for the product that has it; the other one cannot be told apart by its shared SKU.
    assert (classify(a, b).classification, classify(a, b).pim_product_id) == (MATCHED, tee.pk)
    assert classify(b, a).classification == AMBIGUOUS
    assert "also in Shopify product 'tee' (id 1), and a PIM product has it" in classify(b, a).reason
    # A SKU shared in Shopify that the PIM does not know: both products are Shopify-only (imported, flagged).
    c, d = sp("mug-red", ["MUG"], "5"), sp("mug-blue", ["MUG"], "6")
    assert classify(c, d).classification == classify(d, c).classification == SHOPIFY_ONLY
    # The same handle twice (possible in a CSV, never in a live shop).
    c, d = sp("scarf", ["A"], "3"), sp("scarf", ["B"], "4")
    assert "handle 'scarf' is also used by" in classify(c, d).reason


def test_store_handles_and_bindings(shop):
    bag = make_product("bag", ["BAG-1"])
    ChannelAssignment.objects.create(product=bag, store=shop, handle_override="tote")
    assert classify(sp("tote", ["BAG-1"]), store=shop).matched_by == "handle"
    assert classify(sp("bag", ["BAG-1"]), store=shop).matched_by == "sku"  # the PIM handle is not this store's
    assert classify(sp("tote", ["BAG-1"])).matched_by == "sku"  # no store: PIM handles
    ChannelAssignment.objects.filter(product=bag).update(shopify_product_id="77")
    bound = classify(sp("anything", ["OTHER"], "77"), store=shop)
    assert (bound.classification, bound.matched_by, bound.pim_product_id) == (MATCHED, "binding", bag.pk)
    assert "SKUs differ" in bound.reason
    elsewhere = classify(sp("tote", ["BAG-1"], "78"), store=shop)
    assert elsewhere.classification == AMBIGUOUS and "already bound to Shopify product 77" in elsewhere.reason


def test_pim_duplicate_store_handles(shop):
    wallet = make_product("wallet", ["W-1"])
    purse = make_product("purse", ["P-1"])
    ChannelAssignment.objects.create(product=purse, store=shop, handle_override="wallet")
    decision = classify(sp("wallet", ["W-1"]), store=shop)
    assert decision.classification == AMBIGUOUS and set(decision.candidates) == {wallet.pk, purse.pk}


def test_nodes_of_every_source_reduce_to_the_same_shape():
    node = {"id": "gid://shopify/Product/5", "legacyResourceId": "5", "handle": "h", "title": "T", "status": "ACTIVE",
            "variants": [{"id": "gid://shopify/ProductVariant/6", "sku": " A ", "inventoryItem": {"id": "gid://shopify/InventoryItem/7"}}]}
    product = shopify_product_from_node(node)
    assert (product.id, product.skus, product.variants[0].id, product.variants[0].inventory_item_id) == ("5", ["A"], "6", "7")
    paged = dict(node, legacyResourceId=None, variants={"nodes": node["variants"]})
    assert shopify_product_from_node(paged).to_json() == product.to_json()
