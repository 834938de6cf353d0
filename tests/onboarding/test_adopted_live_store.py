"""Issue 20, live store: reconcile_store adopts what Shopify allows and binds it by Shopify ids, so orders match."""

from __future__ import annotations

import json

import pytest

from channels.models import VariantBinding
from onboarding import outcomes, services
from pim.models import Product, Variant

from .conftest import SHOP, make_product

pytestmark = pytest.mark.django_db(transaction=True)


def _tail(gid: str) -> str:
    return gid.rsplit("/", 1)[-1]


@pytest.fixture
def adopted_shop(store, sim_control):
    """A live catalog with a non-Latin handle, SKU-less variants and a SKU on two products, with stock."""
    from inventory.locations import location_create, store_location_map

    warehouse = location_create(name="Warehouse")
    main = next(loc for loc in sim_control.shop(SHOP)["locations"] if loc["name"] == "Main Warehouse")
    store_location_map(store=store, location=warehouse, shopify_location_id=main["id"], is_default=True)
    seeded = sim_control.seed(SHOP, products=[
        {"title": "Футболка классика", "handle": "футболка-классика", "status": "ACTIVE",
         "options": [{"name": "Размер", "values": ["S", "M"]}],
         "variants": [{"sku": None, "price": "15.00", "options": ["S"], "inventory": {"Main Warehouse": 6}},
                      {"sku": "", "price": "15.00", "options": ["M"], "inventory": {"Main Warehouse": 4}}]},
        {"title": "Mug Red", "handle": "mug-red", "status": "ACTIVE",
         "variants": [{"sku": "MUG", "price": "9.00", "inventory": {"Main Warehouse": 10}}]},
        {"title": "Mug Blue", "handle": "mug-blue", "status": "ACTIVE",
         "variants": [{"sku": "MUG", "price": "9.00", "inventory": {"Main Warehouse": 20}}]},
    ])
    return {"warehouse": warehouse, "shopify": {p["handle"]: p for p in seeded}, "main": main}


def test_the_simulator_keeps_a_non_latin_handle_as_shopify_does(adopted_shop, sim_control):
    assert sim_control.product(SHOP, adopted_shop["shopify"]["футболка-классика"]["id"])["handle"] == "футболка-классика"


def test_live_store_adopts_skuless_shared_and_non_latin_products_bound_by_shopify_ids(
    store, adopted_shop, tmp_path
):
    from inventory.models import StockLevel

    dry = services.store_reconcile(store=store, report_base=tmp_path / "dry")
    assert dry.count("shopify_only") == 3 and dry.actions[outcomes.WOULD_IMPORT] == 3 and dry.flagged_variants == 4

    result = services.store_reconcile(store=store, import_missing=True, report_base=tmp_path / "r")

    assert result.actions[outcomes.IMPORTED] == 3 and result.flagged_variants == 4
    shopify = adopted_shop["shopify"]
    # Every variant is bound to its own Shopify variant and inventory item, whatever its SKU.

    def ids(variant: dict) -> tuple[str, str]:
        return _tail(variant["id"]), _tail(variant["inventoryItemId"])

    def bound(handle: str) -> dict:
        rows = VariantBinding.objects.filter(store=store, variant__product__handle=handle).select_related("variant")
        return {b.variant.option1 or b.variant.sku: (b.shopify_variant_id, b.shopify_inventory_item_id) for b in rows}

    tee_variants = shopify["футболка-классика"]["variants"]
    assert bound("футболка-классика") == {"S": ids(tee_variants[0]), "M": ids(tee_variants[1])}
    assert bound("mug-red") == {"MUG": ids(shopify["mug-red"]["variants"][0])}
    assert bound("mug-blue") == {"MUG": ids(shopify["mug-blue"]["variants"][0])}
    assert set(Product.objects.values_list("origin", flat=True)) == {Product.Origin.SHOPIFY}
    tee = Product.objects.get(handle="футболка-классика")
    assert list(tee.variants.values_list("sku", "option1")) == [("", "S"), ("", "M")]
    on_hand = {(level.variant.product.handle, level.variant.option1): level.on_hand
               for level in StockLevel.objects.filter(location=adopted_shop["warehouse"])
               .select_related("variant__product")}
    assert on_hand == {("футболка-классика", "S"): 6, ("футболка-классика", "M"): 4, ("mug-red", ""): 10,
                       ("mug-blue", ""): 20}

    # A second run finds every product by its binding and changes nothing.
    again = services.store_reconcile(store=store, import_missing=True, report_base=tmp_path / "again")
    assert again.summary()["matched_by_binding"] == 3 and outcomes.IMPORTED not in again.actions


def test_orders_for_adopted_variants_match_by_their_shopify_ids(store, adopted_shop, tmp_path):
    from inventory.models import StockLevel
    from webhooks.inbox import webhook_event_process, webhook_receive

    from ..inventory.conftest import order_payload, webhook_headers

    services.store_reconcile(store=store, import_missing=True, report_base=tmp_path / "r")
    shopify = adopted_shop["shopify"]
    small = shopify["футболка-классика"]["variants"][0]
    blue = shopify["mug-blue"]["variants"][0]
    payload = order_payload(4401, [
        {"id": 1, "variant_id": int(_tail(small["id"])), "sku": None, "quantity": 2},
        {"id": 2, "variant_id": int(_tail(blue["id"])), "sku": "MUG", "quantity": 3},
    ], location_id=int(_tail(adopted_shop["main"]["id"])))
    body = json.dumps(payload).encode()
    receipt = webhook_receive(store=store, raw_body=body, headers=webhook_headers(
        topic="orders/create", shop=store.shop_domain, body=body, secret="unused"))
    webhook_event_process(event_id=receipt.event_id)

    on_hand = {(v.product.handle, v.option1): v.stock_levels.get().on_hand
               for v in Variant.objects.select_related("product").prefetch_related("stock_levels")}
    # The SKU-less variant by its Shopify variant id; the blue mug, not the red one that shares its SKU.
    assert on_hand == {("футболка-классика", "S"): 4, ("футболка-классика", "M"): 4, ("mug-red", ""): 10,
                       ("mug-blue", ""): 17}
    assert StockLevel.objects.count() == 4


def test_a_pim_product_with_a_sku_the_live_store_shares_stays_ambiguous(store, adopted_shop, tmp_path):
    make_product("mug", ["MUG"])
    result = services.store_reconcile(store=store, import_missing=True, report_base=tmp_path / "r")
    assert result.count("ambiguous") == 2 and result.actions[outcomes.IMPORTED] == 1  # only the tee
    assert not Product.objects.filter(handle__startswith="mug-").exists()


def test_a_pim_product_matched_by_sku_gets_a_non_latin_shopify_handle_as_its_store_handle(store, sim_control, tmp_path):
    from channels.models import ChannelAssignment

    tee = make_product("tee", ["RU-1"])
    sim_control.seed(SHOP, products=[{"title": "Футболка", "handle": "футболка",
                                      "variants": [{"sku": "RU-1", "price": "20.00"}]}])
    result = services.store_reconcile(store=store, apply=True, adopt_shopify_handles=True, report_base=tmp_path / "r")
    assert result.actions[outcomes.OVERRIDDEN] == 1 and result.actions[outcomes.BOUND] == 1
    tee.refresh_from_db()
    assert tee.handle == "tee"  # the PIM's own product keeps the PIM's rules
    assert ChannelAssignment.objects.get(store=store, product=tee).handle_override == "футболка"


def test_publishing_an_adopted_product_keeps_its_variants_bound_by_shopify_ids(store, adopted_shop, sim_control,
                                                                              tmp_path):
    from channels import services as channel_services
    from channels.models import SyncJob

    services.store_reconcile(store=store, import_missing=True, report_base=tmp_path / "r")
    tee = Product.objects.get(handle="футболка-классика")
    before = dict(VariantBinding.objects.filter(store=store, variant__product=tee)
                  .values_list("variant__option1", "shopify_variant_id"))
    assert len(before) == 2

    job_ids = channel_services.publish_request(store=store, product_ids=[tee.pk])
    statuses = {channel_services.sync_job_execute(job_id=job_id).status for job_id in job_ids}

    assert statuses == {SyncJob.Status.DONE}
    after = dict(VariantBinding.objects.filter(store=store, variant__product=tee)
                 .values_list("variant__option1", "shopify_variant_id"))
    assert after == before  # the two SKU-less variants were not re-bound "by SKU" to one Shopify variant
    live = sim_control.product(SHOP, adopted_shop["shopify"]["футболка-классика"]["id"])
    assert len(live["variants"]) == 2 and {v["sku"] or "" for v in live["variants"]} == {""}


def test_skuless_variants_imported_from_a_csv_are_bound_by_their_options_when_the_live_store_is_reconciled(
    store, adopted_shop, tmp_path
):
    from .exports import export_csv

    path = export_csv(tmp_path / "export.csv", [
        {"Title": "Футболка классика", "URL handle": "футболка-классика", "Status": "Active", "Option1 name": "Размер",
         "Option1 value": "S", "SKU": "", "Price": "15.00"},
        {"URL handle": "футболка-классика", "Option1 value": "M", "SKU": "", "Price": "15.00"},
    ])
    services.shopify_csv_reconcile(path=path, import_missing=True, report_base=tmp_path / "csv")
    assert not VariantBinding.objects.exists()  # a CSV has no Shopify ids

    result = services.store_reconcile(store=store, apply=True, report_base=tmp_path / "live")

    assert result.summary()["matched_by_handle"] == 1 and result.actions[outcomes.BOUND] == 1
    variants = adopted_shop["shopify"]["футболка-классика"]["variants"]
    bound = dict(VariantBinding.objects.filter(store=store).values_list("variant__option1", "shopify_variant_id"))
    assert bound == {"S": _tail(variants[0]["id"]), "M": _tail(variants[1]["id"])}


def test_drift_on_one_of_two_skuless_variants_is_found_on_that_variant_and_accepted_into_it(
    store, adopted_shop, sim_control, tmp_path
):
    """Snapshots key variants by the PIM variant id: two SKU-less variants of one product are two entries, a
    merchant's price edit on the first is a conflict on that variant (its Shopify id), and accepting it changes
    that variant in the PIM (issue 14: one field registry, snapshots keyed by something stable)."""
    from channels import services as channel_services
    from channels.models import ChannelAssignment, SyncJob
    from conflicts import review as conflict_review
    from conflicts.models import Conflict
    from pim import services as pim_services

    services.store_reconcile(store=store, import_missing=True, report_base=tmp_path / "r")
    tee = Product.objects.get(handle="футболка-классика")
    for job_id in channel_services.publish_request(store=store, product_ids=[tee.pk]):
        assert channel_services.sync_job_execute(job_id=job_id).status == SyncJob.Status.DONE
    small, medium = tee.variants.order_by("position", "pk")
    snapshot = ChannelAssignment.objects.get(store=store, product=tee).published_snapshot
    assert set(snapshot["variants"]) == {str(small.pk), str(medium.pk)}

    shopify_small = adopted_shop["shopify"]["футболка-классика"]["variants"][0]
    sim_control.edit_product(SHOP, adopted_shop["shopify"]["футболка-классика"]["id"],
                             variants=[{"id": shopify_small["id"], "price": "19.00"}])
    pim_services.product_update(product=tee, title="Футболка классика 2")
    pending = SyncJob.objects.filter(store=store, product=tee, status=SyncJob.Status.PENDING)
    assert [channel_services.sync_job_execute(job_id=j).status for j in pending.values_list("pk", flat=True)] == [
        SyncJob.Status.DONE]

    conflicts = list(Conflict.objects.filter(store=store))
    assert [(c.field, c.shopify_variant_id, c.shopify_before) for c in conflicts] == [
        ("variant.price", _tail(shopify_small["id"]), "19.00")]
    conflict_review.conflict_accept(conflict=conflicts[0], actor=None)
    small.refresh_from_db()
    medium.refresh_from_db()
    assert (str(small.price), str(medium.price)) == ("19.00", "15.00")
