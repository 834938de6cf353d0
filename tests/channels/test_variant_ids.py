"""Every productSet for a bound product carries its variants' Shopify ids (issue #12, "Variant ids").

The simulator follows Shopify: a variant input without ``id`` is a new variant and unlisted variants are
deleted, so a missing id changes the variant and inventory item ids (and loses their stock) in Shopify.
"""

from __future__ import annotations

from decimal import Decimal

from channels import services
from channels.models import ChannelAssignment, VariantBinding
from pim import services as pim_services
from pim.models import Variant

from .conftest import make_product, product_set_calls, run_jobs, sim_product


def _ids(product):
    return {v["sku"]: (v["id"], v["inventoryItem"]["id"]) for v in product["variants"]}


def test_first_publish_adopting_an_existing_product_sends_its_variant_ids(shopify_sim, sim_store):
    # A product with our handle and SKUs already exists (a worker died after Shopify created it).
    seeded = shopify_sim.control.seed("shop-a", products=[{
        "title": "Trail Tee", "handle": "trail-tee", "options": [{"name": "Size", "values": ["S", "M"]}],
        "variants": [{"sku": "TT-S", "price": "20.00", "options": ["S"], "inventory": 7},
                     {"sku": "TT-M", "price": "20.00", "options": ["M"], "inventory": 3}],
    }])
    before = _ids(sim_product(shopify_sim, "trail-tee"))
    product = make_product(handle="trail-tee")
    services.assignment_set(product=product, store=sim_store)
    shopify_sim.control.clear_requests("shop-a")

    results = run_jobs()

    assert [r.status for r in results] == ["done"], results
    after = sim_product(shopify_sim, "trail-tee")
    assert after["id"] == seeded[0]["id"]
    assert _ids(after) == before  # same variants and inventory items: nothing deleted and re-created
    assert {v["sku"]: v["inventoryQuantity"] for v in after["variants"]} == {"TT-S": 7, "TT-M": 3}
    sent = product_set_calls(shopify_sim)
    assert len(sent) == 1
    assert sorted(v["id"] for v in sent[0]["variables"]["input"]["variants"]) == sorted(i for i, _ in before.values())
    assert {b.shopify_variant_id for b in VariantBinding.objects.filter(store=sim_store)} == {
        i.rsplit("/", 1)[-1] for i, _ in before.values()
    }


def test_every_later_productset_carries_ids_and_a_new_variant_goes_without(shopify_sim, sim_store):
    product = make_product()
    services.assignment_set(product=product, store=sim_store)
    run_jobs()
    first = _ids(sim_product(shopify_sim, product.handle))

    pim_services.variant_update(variant=product.variants.get(sku="TT-S"), price=Decimal("25.00"))
    pim_services.variant_save(variant=Variant(product=product, sku="TT-L", option1="L", price=Decimal("22.00"),
                                              position=3))
    pim_services.catalog_changed(product_ids=[product.pk])
    shopify_sim.control.clear_requests("shop-a")
    assert [r.status for r in run_jobs()] == ["done"]

    sent = product_set_calls(shopify_sim)[0]["variables"]["input"]["variants"]
    by_sku = {v["sku"]: v for v in sent}
    assert by_sku["TT-S"]["id"] == first["TT-S"][0] and by_sku["TT-M"]["id"] == first["TT-M"][0]
    assert "id" not in by_sku["TT-L"]
    now = _ids(sim_product(shopify_sim, product.handle))
    assert now["TT-S"] == first["TT-S"] and now["TT-M"] == first["TT-M"]
    assignment = ChannelAssignment.objects.get(product=product, store=sim_store)
    assert VariantBinding.objects.filter(store=sim_store).count() == 3 and assignment.shopify_product_id


def test_a_variant_deleted_in_shopify_is_recreated_without_its_stale_id(shopify_sim, sim_store):
    product = make_product()
    services.assignment_set(product=product, store=sim_store)
    run_jobs()
    live = sim_product(shopify_sim, product.handle)
    keep = next(v for v in live["variants"] if v["sku"] == "TT-M")
    # The merchant deletes TT-S in Shopify (a productSet listing only TT-M deletes the other).
    out = shopify_sim.control.graphql("shop-a", """
        mutation($id: ID!, $v: ID!) { productSet(identifier: {id: $id}, input: {
          productOptions: [{name: "Size", values: [{name: "M"}]}],
          variants: [{id: $v, optionValues: [{optionName: "Size", name: "M"}]}]}) { userErrors { code } } }""",
        {"id": live["id"], "v": keep["id"]}).json()
    assert out["data"]["productSet"]["userErrors"] == []

    pim_services.product_update(product=product, title="Trail Tee 2")
    assert [r.status for r in run_jobs()] == ["done"]
    from conflicts.models import Conflict

    assert list(Conflict.objects.values_list("field", "sku")) == [("variant.exists", "TT-S")]
    sent = {v["sku"]: v for v in product_set_calls(shopify_sim)[-1]["variables"]["input"]["variants"]}
    assert "id" not in sent["TT-S"] and sent["TT-M"]["id"] == keep["id"]
    now = _ids(sim_product(shopify_sim, product.handle))
    assert set(now) == {"TT-S", "TT-M"} and now["TT-M"][0] == keep["id"]
    assert VariantBinding.objects.get(store=sim_store, variant__sku="TT-S").shopify_variant_id == \
        now["TT-S"][0].rsplit("/", 1)[-1]


def test_a_batch_of_first_publishes_adopts_every_existing_product_with_our_handle_and_skus(shopify_sim, sim_store):
    """A worker died after Shopify created a batch's products but before their ids were stored: the next batch
    (one handle look-up for all of them) adopts each one instead of failing on HANDLE_NOT_UNIQUE."""
    handles = ["orphan-a", "orphan-b", "orphan-c"]
    seeded = shopify_sim.control.seed("shop-a", products=[{
        "title": h, "handle": h, "options": [{"name": "Size", "values": ["S", "M"]}],
        "variants": [{"sku": f"{h}-S", "price": "20.00", "options": ["S"]},
                     {"sku": f"{h}-M", "price": "20.00", "options": ["M"]}],
    } for h in handles])
    for h in handles:
        product = make_product(title=h, handle=h, sku_prefix=h)
        services.assignment_set(product=product, store=sim_store)

    from channels.models import SyncJob
    from outbox.services import outbox_drain

    outbox_drain(lane="publish", budget_seconds=120, worker="test")  # one batch: PUBLISH_BATCH_SIZE jobs at once

    assert list(SyncJob.objects.values_list("status", flat=True)) == ["done"] * 3, list(
        SyncJob.objects.values_list("last_error", flat=True))
    assert sorted(a.shopify_product_id for a in ChannelAssignment.objects.filter(store=sim_store)) == sorted(
        s["id"].rsplit("/", 1)[-1] for s in seeded)
    assert len(shopify_sim.control.products("shop-a")) == 3
