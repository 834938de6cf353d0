"""Bulk publish result mapping goes through the binder (issue 17): a bulk publish records, product by product, the
bindings and snapshots a per-call publish records; ``rows_update`` (the batched row writer) writes what it is given."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from channels import services
from channels.bulk_models import BulkPublishLine
from channels.bulk_rows import rows_update
from channels.models import ChannelAssignment, ImageBinding, SyncJob, VariantBinding
from pim.models import Product

from .conftest import product_set_calls, run_jobs
from .test_bulk_publish import publish_per_call_and_in_bulk

ROOT = Path(__file__).resolve().parents[2]


def _recorded(store, product):
    """What the binder recorded for ``product`` in ``store``, with Shopify's ids replaced by what they point at."""
    a = ChannelAssignment.objects.get(store=store, product=product)
    return {
        "snapshot": a.published_snapshot, "hash": a.published_hash, "bound": bool(a.shopify_product_id),
        "publications": len(a.publication_ids), "published_at": a.published_at is not None,
        "unpublished_at": a.unpublished_at, "shopify_updated_at": a.shopify_updated_at is not None,
        "first_published": Product.objects.get(pk=product.pk).first_published_at is not None,
        "variants": sorted((b.variant_id, bool(b.shopify_variant_id), bool(b.shopify_inventory_item_id))
                           for b in VariantBinding.objects.filter(store=store, variant__product=product)),
        "images": sorted((b.image_id, b.source, bool(b.shopify_media_id), b.error)
                         for b in ImageBinding.objects.filter(store=store, image__product=product)),
    }


def _ids_point_at_the_right_things(shopify_sim, shop, store, product):
    a = ChannelAssignment.objects.get(store=store, product=product)
    remote = next(p for p in shopify_sim.control.products(shop) if p["handle"] == product.handle)
    assert remote["id"].rsplit("/", 1)[-1] == a.shopify_product_id
    by_id = {v["id"].rsplit("/", 1)[-1]: v for v in remote["variants"]}
    for b in VariantBinding.objects.filter(store=store, variant__product=product).select_related("variant"):
        assert by_id[b.shopify_variant_id]["sku"] == b.variant.sku
    media = {m["id"] for m in remote["media"]}
    assert {b.shopify_media_id for b in ImageBinding.objects.filter(store=store, image__product=product)} <= media


def test_bulk_bindings_and_snapshots_equal_a_per_call_publish(shopify_sim, settings, db):
    products, per_call, bulk, run = publish_per_call_and_in_bulk(shopify_sim, settings, count=5, prefix="K")
    assert run.status == "done" and run.failed_lines == 0
    assert set(BulkPublishLine.objects.filter(run=run).values_list("status", flat=True)) == {"done"}

    for product in products:
        recorded = _recorded(bulk, product)
        assert recorded["variants"] and recorded["images"] and recorded["bound"]
        assert recorded == _recorded(per_call, product)
        _ids_point_at_the_right_things(shopify_sim, "shop-b", bulk, product)
        _ids_point_at_the_right_things(shopify_sim, "shop-a", per_call, product)

    # The bulk-recorded hash is the per-call path's: a new request for the same products writes nothing...
    SyncJob.objects.filter(store=bulk).delete()
    settings.BULK_PUBLISH_THRESHOLD = 1000
    services.publish_request(store=bulk)
    assert {r.status for r in run_jobs(bulk)} == {"skipped"}
    assert product_set_calls(shopify_sim, "shop-b") == []
    # ...and an edit goes per call to the bound product and variants (no second product, same variant ids).
    before = {b.variant_id: b.shopify_variant_id for b in VariantBinding.objects.filter(store=bulk)}
    Product.objects.filter(pk=products[0].pk).update(title="Renamed after bulk")
    services.publish_request(store=bulk, product_ids=[products[0].pk])
    assert [r.status for r in run_jobs(bulk)] == ["done"]
    assert len(shopify_sim.control.products("shop-b")) == 5
    assert {b.variant_id: b.shopify_variant_id for b in VariantBinding.objects.filter(store=bulk)} == before


def test_bulk_results_are_written_by_the_binder_only():
    """The binder is the one writer of ids, bindings, snapshots and sales channels (bulk included): the bulk
    modules read bindings but write none of them (the check that failed while bulk_publish_results wrote them)."""
    writes = re.compile(r"(VariantBinding|ImageBinding|ChannelAssignment)\.objects\.(bulk_create|bulk_update|"
                        r"update_or_create|create)\(|\.bulk_update\(|published_(snapshot|hash)\s*=|"
                        r"\.(published_snapshot|published_hash|publication_ids|shopify_product_id)\s*=[^=]|"
                        r"model=(ChannelAssignment|VariantBinding|ImageBinding)")
    for name in ("bulk_publish.py", "bulk_publish_results.py"):
        text = (ROOT / "channels" / name).read_text()
        found = [m.group(0) for m in writes.finditer(text)]
        assert not found, f"channels/{name} writes {found} itself; use channels.binder"


def test_rows_update_writes_each_rows_own_values(db):
    from .conftest import make_product

    a, b = make_product(title="Row A", sku_prefix="RA"), make_product(title="Row B", sku_prefix="RB")
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    a.first_published_at, a.title = when, "Row A2"
    b.first_published_at, b.title = None, "Row B2"
    assert rows_update(model=Product, objs=[a, b], fields=["title", "first_published_at"]) == 2
    rows = dict(Product.objects.filter(pk__in=[a.pk, b.pk]).values_list("title", "first_published_at"))
    assert rows == {"Row A2": when, "Row B2": None}
    assert rows_update(model=Product, objs=[], fields=["title"]) == 0
