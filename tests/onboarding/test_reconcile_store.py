"""reconcile_store against the simulator over HTTP: exact report counts, bindings, imports, the first publish."""

from __future__ import annotations

import csv
import json

import pytest

from channels import services as channel_services
from channels.models import ChannelAssignment, SyncJob, VariantBinding
from channels.shopify.exceptions import ShopifyAuthError
from conflicts.models import Conflict
from conflicts.services import ONBOARDING_MARK
from onboarding import outcomes, services
from pim.models import Product, ProductAttribute, ProductImage, Variant

from .conftest import SHOP

pytestmark = pytest.mark.django_db(transaction=True)

EXPECTED_FIRST_RUN = {
    "shopify_products": 11,
    "shopify_variants": 13,
    "pim_products": 9,
    "matched": 4,
    "matched_by_binding": 0,
    "matched_by_handle": 2,
    "matched_by_sku": 2,
    "shopify_only": 3,
    "pim_only": 1,
    "ambiguous": 4,
}


def _counts(result) -> dict:
    summary = result.summary()
    return {key: summary[key] for key in EXPECTED_FIRST_RUN}


def _rows(result) -> dict[str, dict]:
    data = json.loads(result.report_json.read_text())
    return {row["shopify_handle"] or f"pim:{row['pim_handle']}": row for row in data["products"]}


def _writes(sim_control) -> list[dict]:
    return [r for r in sim_control.requests(SHOP) if r["operation_type"] == "mutation"
            and r["operation_name"] != "BulkRunQuery"]


def _publish_all(store) -> dict[str, str]:
    """Run a full publish of the store in-process (the pipeline's own tests cover the RQ workers)."""
    job_ids = channel_services.publish_request(store=store)
    outcome = {}
    for job_id in job_ids:
        result = channel_services.sync_job_execute(job_id=job_id)
        outcome[SyncJob.objects.get(pk=job_id).product.handle] = result.status
    return outcome


def test_dry_run_reports_exact_counts_and_writes_nothing(store, overlap, sim_control, report):
    sim_control.clear_requests(SHOP)
    result = services.store_reconcile(store=store, report_base=report)

    assert _counts(result) == EXPECTED_FIRST_RUN
    assert result.source == "bulk" and result.dry_run
    # The catalog came from one bulk operation with grouped output (the streaming reader relies on it).
    bulk = [r for r in sim_control.requests(SHOP) if r["operation_name"] == "BulkRunQuery"]
    assert len(bulk) == 1 and bulk[0]["variables"]["groupObjects"] is True
    assert "variants" in bulk[0]["variables"]["query"] and "inventoryItem" in bulk[0]["variables"]["query"]
    assert _writes(sim_control) == []
    # Nothing written in the PIM.
    assert not ChannelAssignment.objects.exclude(shopify_product_id="").exists()
    assert not VariantBinding.objects.exists()
    assert Product.objects.get(pk=overlap["pim"]["hoodie"].pk).handle == "hoodie"

    rows = _rows(result)
    assert rows["classic-tee"]["classification"] == "matched"
    assert rows["classic-tee"]["matched_by"] == "handle"
    assert rows["classic-tee"]["action"] == "would bind"
    assert rows["zip-hoodie"]["matched_by"] == "sku"
    assert rows["zip-hoodie"]["proposed_handle"] == "zip-hoodie"
    assert "would adopt the Shopify handle" in rows["zip-hoodie"]["action"]
    assert "would set the store handle" in rows["cozy-socks"]["action"]  # published: PIM handle frozen
    assert rows["tote-bag"]["matched_by"] == "handle"  # through the store's handle override
    assert rows["mug"]["classification"] == "ambiguous"
    assert "SKUs disagree" in rows["mug"]["reason"] and "MUG-9" in rows["mug"]["reason"]
    assert "also in Shopify product" in rows["cap-red"]["reason"]
    assert rows["cap-blue"]["classification"] == "ambiguous"
    assert "several PIM products" in rows["wallet"]["reason"]
    assert sorted(rows["wallet"]["candidates"]) == sorted([overlap["pim"]["wallet"].pk, overlap["pim"]["purse"].pk])
    assert rows["scarf"]["action"] == "would import"
    # Shopify allows a variant without a SKU: it is imported as is and flagged for a manager.
    assert rows["gift-card"]["action"] == "would import" and "has no SKU" in rows["gift-card"]["notes"][0]
    assert rows["freebie"]["action"] == "not importable" and "price of 0" in rows["freebie"]["notes"][0]
    assert rows["pim:poster"]["classification"] == "pim_only"

    with result.report_csv.open(newline="") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert len(csv_rows) == 12  # 11 Shopify products + 1 PIM-only
    assert {r["classification"] for r in csv_rows} == {"matched", "ambiguous", "shopify_only", "pim_only"}
    summary = json.loads(result.report_json.read_text())["summary"]
    assert summary["matched"] == 4 and summary["finished"] is True


def test_apply_then_publish_updates_in_place_and_everything_twice_changes_nothing(
    store, overlap, sim_control, report, tmp_path
):
    from inventory.locations import location_create, store_location_map
    from inventory.models import StockLevel

    warehouse = location_create(name="Warehouse")
    main = next(loc for loc in sim_control.shop(SHOP)["locations"] if loc["name"] == "Main Warehouse")
    store_location_map(store=store, location=warehouse, shopify_location_id=main["id"], is_default=True)
    shopify = overlap["shopify"]

    result = services.store_reconcile(store=store, apply=True, import_missing=True, adopt_shopify_handles=True,
                                      report_base=report)
    assert _counts(result) == EXPECTED_FIRST_RUN
    assert result.actions[outcomes.BOUND] == 4
    assert result.actions[outcomes.IMPORTED] == 2  # scarf, and the SKU-less gift card (flagged)
    assert result.actions[outcomes.NOT_IMPORTABLE] == 1  # freebie (price 0)
    assert result.flagged_variants == 1
    assert result.actions[outcomes.ADOPTED] == 1 and result.actions[outcomes.OVERRIDDEN] == 1

    # Bindings of matched products, marked so the first publish logs what it overwrites.
    tee = overlap["pim"]["tee"]
    assignment = ChannelAssignment.objects.get(store=store, product=tee)
    assert assignment.shopify_product_id == shopify["classic-tee"]["id"].rsplit("/", 1)[-1]
    assert assignment.published_snapshot == {ONBOARDING_MARK: True} and assignment.published_hash == ""
    binding = VariantBinding.objects.get(store=store, variant__sku="TEE-S")
    tee_s = next(v for v in shopify["classic-tee"]["variants"] if v["sku"] == "TEE-S")
    assert binding.shopify_variant_id == tee_s["id"].rsplit("/", 1)[-1]
    assert binding.shopify_inventory_item_id == tee_s["inventoryItemId"].rsplit("/", 1)[-1]
    assert not ChannelAssignment.objects.filter(store=store, product=overlap["pim"]["mug"]).exists()
    # Handles: the unpublished product took Shopify's handle, the published one got a store handle.
    assert Product.objects.get(pk=overlap["pim"]["hoodie"].pk).handle == "zip-hoodie"
    socks = ChannelAssignment.objects.get(store=store, product=overlap["pim"]["socks"])
    assert socks.handle_override == "cozy-socks" and Product.objects.get(pk=overlap["pim"]["socks"].pk).handle == "socks"

    # The Shopify-only scarf is now a PIM product with variants, images, attributes and stock, bound.
    scarf = Product.objects.get(handle="scarf")
    assert scarf.title == "Wool Scarf" and scarf.vendor == "Knitters" and scarf.option1_name == "Color"
    assert scarf.workflow_state == Product.Workflow.READY and scarf.tag_list == ["winter", "wool"]
    red = Variant.objects.get(sku="SCARF-1")
    assert (red.option1, str(red.price), str(red.compare_at_price), red.barcode) == ("Red", "35.00", "40.00", "123")
    assert ProductImage.objects.filter(product=scarf).count() == 2
    assert ProductImage.objects.get(product=scarf, position=1).alt == "Red scarf"
    assert list(ProductAttribute.objects.filter(product=scarf).values_list("namespace", "key", "value")) == [
        ("custom", "material", "Merino")
    ]  # the rich text metafield stays in Shopify only, and the report says so
    assert any("rich_text_field" in note for note in _rows(result)["scarf"]["notes"])
    stock = dict(StockLevel.objects.filter(variant__product=scarf, location=warehouse).values_list("variant__sku", "on_hand"))
    assert stock == {"SCARF-1": 4, "SCARF-2": 7}  # Main Warehouse only: Retail Store is not mapped
    assert ChannelAssignment.objects.get(store=store, product=scarf).published_snapshot == {ONBOARDING_MARK: True}
    assert not Product.objects.filter(handle="freebie").exists()
    # The gift card has no SKU (legal in Shopify): adopted as is, flagged, and bound by its Shopify ids.
    gift = Product.objects.get(handle="gift-card")
    gift_variant = gift.variants.get()
    assert (gift.origin, gift_variant.sku, gift_variant.adopted) == ("shopify", "", True)
    live_gift = shopify["gift-card"]["variants"][0]
    assert VariantBinding.objects.get(store=store, variant=gift_variant).shopify_variant_id == (
        live_gift["id"].rsplit("/", 1)[-1])

    # The first full publish updates the bound products in place: zero new Shopify products.
    products_before = len(sim_control.products(SHOP))
    sim_control.clear_requests(SHOP)
    statuses = _publish_all(store)
    bound = ["classic-tee", "zip-hoodie", "socks", "bag", "scarf", "gift-card"]
    assert {h: statuses[h] for h in bound} == dict.fromkeys(bound, SyncJob.Status.DONE), statuses
    # The purse was assigned (store handle "wallet") before onboarding and is ambiguous: the pipeline refuses
    # to create a second "wallet" rather than duplicating it.
    assert statuses["purse"] == SyncJob.Status.DEAD
    assert "PublishConflict" in SyncJob.objects.get(product__handle="purse").last_error
    assert len(sim_control.products(SHOP)) == products_before == 11
    writes = [r for r in _writes(sim_control) if r["operation_name"] == "ProductSet"]
    assert writes, "the first publish wrote the PIM values"
    assert all(r["variables"].get("identifier", {}).get("id") for r in writes), "every productSet updates by id"
    live_tee = sim_control.product(SHOP, shopify["classic-tee"]["id"])
    assert live_tee["title"] == "Classic Tee" and live_tee["variants"][0]["price"] == "25.00"
    # ... and every field it overwrote is logged as a conflict from onboarding, with the Shopify value before.
    conflicts = Conflict.objects.filter(store=store, source=Conflict.Source.ONBOARDING, product=tee)
    fields = {c.field: c for c in conflicts}
    assert fields["title"].shopify_before == "Classic Tee (old)" and fields["title"].pim_value == "Classic Tee"
    assert {c.shopify_before for c in conflicts if c.field == "variant.price"} == {"22.00"}

    # Everything twice: the second reconcile finds the bindings and changes nothing; the publish skips all.
    again = services.store_reconcile(store=store, apply=True, import_missing=True, adopt_shopify_handles=True,
                                     report_base=tmp_path / "again")
    assert again.summary()["matched"] == 6 and again.summary()["matched_by_binding"] == 6
    assert again.actions[outcomes.ALREADY_BOUND] == 6
    assert again.count("ambiguous") == 4 and again.count("shopify_only") == 1 and again.count("pim_only") == 1
    assert not {outcomes.BOUND, outcomes.IMPORTED, outcomes.ADOPTED, outcomes.OVERRIDDEN} & set(again.actions)
    conflicts_before = Conflict.objects.count()
    sim_control.clear_requests(SHOP)
    statuses = _publish_all(store)
    assert {h: statuses[h] for h in bound} == dict.fromkeys(bound, SyncJob.Status.SKIPPED), statuses
    assert statuses["purse"] == SyncJob.Status.DEAD
    assert _writes(sim_control) == []
    assert Conflict.objects.count() == conflicts_before
    assert len(sim_control.products(SHOP)) == 11


def test_apply_is_resumable_and_repairs_missing_variant_bindings(store, overlap, report, tmp_path):
    services.store_reconcile(store=store, apply=True, report_base=report)
    VariantBinding.objects.filter(variant__sku="TEE-M").delete()  # as if a run died half-way
    again = services.store_reconcile(store=store, apply=True, report_base=tmp_path / "again")
    assert again.actions[outcomes.REPAIRED] == 1 and again.actions[outcomes.ALREADY_BOUND] == 3
    assert VariantBinding.objects.filter(variant__sku="TEE-M", store=store).exists()
    # A matched product whose assignment has publishing off is reported and not bound.
    ChannelAssignment.objects.filter(store=store, product=overlap["pim"]["tee"]).update(shopify_product_id="",
                                                                                        publish=False)
    third = services.store_reconcile(store=store, apply=True, report_base=tmp_path / "third")
    assert third.actions[outcomes.PUBLISH_OFF] == 1
    assert ChannelAssignment.objects.get(store=store, product=overlap["pim"]["tee"]).shopify_product_id == ""


def test_falls_back_to_pages_when_the_bulk_operation_cannot_start(store, overlap, sim_control, report):
    sim_control.sim_config(max_concurrent_bulk_queries=0)
    sim_control.clear_requests(SHOP)
    result = services.store_reconcile(store=store, report_base=report)
    assert result.source == "pages"
    assert _counts(result) == EXPECTED_FIRST_RUN
    operations = {r["operation_name"] for r in sim_control.requests(SHOP)}
    assert {"ProductsPage", "ProductById"} <= operations


def test_shopify_failure_writes_nothing(store, overlap, sim_control, report):
    sim_control.invalid_token(SHOP)
    with pytest.raises(ShopifyAuthError):
        services.store_reconcile(store=store, apply=True, import_missing=True, report_base=report)
    assert not ChannelAssignment.objects.exclude(shopify_product_id="").exists()
    assert not Product.objects.filter(handle="scarf").exists()


def test_zero_prices_import_only_when_allowed(store, overlap, report):
    result = services.store_reconcile(store=store, import_missing=True, allow_zero_price=True, report_base=report)
    assert result.actions[outcomes.IMPORTED] == 3  # scarf, freebie, and the SKU-less gift card
    freebie = Product.objects.get(handle="freebie")
    assert freebie.allow_zero_price and str(freebie.variants.get().price) == "0.00"
