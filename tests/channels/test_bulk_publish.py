"""Bulk-mutation publish (issue 17) against the simulator over HTTP: failing lines, crash and rerun, and result
mapping identical to a per-call publish's."""

from __future__ import annotations

import time

import pytest
import requests

from channels import services
from channels.bulk_models import BulkPublishLine, BulkPublishOperation, BulkPublishRun
from channels.bulk_publish import bulk_publish_step
from channels.models import ChannelAssignment, ImageBinding, Store, SyncJob, VariantBinding
from pim.models import Product

from .conftest import make_product, run_jobs

N = 6


@pytest.fixture(autouse=True)
def _fast(settings, shopify_sim):
    settings.BULK_PUBLISH_THRESHOLD = 3
    settings.BULK_PUBLISH_POLL_SECONDS = 0
    requests.post(f"{shopify_sim.url}/_sim/config", json={"bulk_mutation_points_per_second": 100000}, timeout=5)


def _catalog(n=N, prefix="B"):
    products = []
    for i in range(n):
        products.append(make_product(
            title=f"Bulk Tee {prefix}{i}", sku_prefix=f"{prefix}{i}", sizes=("S", "M"),
            images=[{"src": f"https://cdn.example.com/{prefix}{i}.jpg", "alt": "front"}],
            attributes=[{"namespace": "custom", "key": "fabric", "type": "single_line_text_field",
                         "value": "cotton"}],
        ))
    return products


def _drive(run_id, timeout=30.0):
    """Run the run's steps (as the RQ jobs would) until it is finished; waits on the run's state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        BulkPublishRun.objects.filter(pk=run_id).update(next_step_at=None)  # POLL_SECONDS=0: always due
        status = bulk_publish_step(run_id=run_id)
        if status in (BulkPublishRun.Status.DONE, BulkPublishRun.Status.FAILED):
            return BulkPublishRun.objects.get(pk=run_id)
        time.sleep(0.02)
    raise AssertionError(f"bulk run {run_id} did not finish: {BulkPublishRun.objects.get(pk=run_id).status}")


def _sim_store(shopify_sim, shop):
    creds = shopify_sim.shops[shop]
    return Store.objects.create(name=shop, shop_domain=creds.domain, api_base_url=creds.base_url,
                                access_token=creds.access_token, webhook_secret=creds.webhook_secret)


def _assign(products, store):
    for p in products:
        services.assignment_set(product=p, store=store, publish=True)
    SyncJob.objects.filter(store=store).delete()  # publish_request records them again, as publish --all does


def test_bulk_publish_with_failing_lines(shopify_sim, sim_store, admin_client):
    products = _catalog()
    bad = products[2]
    # A blank title (data that bypassed the PIM's validation): Shopify refuses that product's line.
    Product.objects.filter(pk=bad.pk).update(title="")
    _assign(products, sim_store)

    job_ids = services.publish_request(store=sim_store)

    run = BulkPublishRun.objects.get(store=sim_store)
    assert run.total_lines == N and set(SyncJob.objects.filter(pk__in=job_ids).values_list("status", flat=True)) == {
        "running"}
    run = _drive(run.pk)
    assert run.status == "done" and run.lines_done == N and run.failed_lines == 1
    jobs = {j.product_id: j for j in SyncJob.objects.filter(pk__in=job_ids)}
    assert jobs[bad.pk].status == "dead" and jobs[bad.pk].last_error.startswith("input.title: Title can't be blank")  # userErrors
    assert all(j.status == "done" for pid, j in jobs.items() if pid != bad.pk)
    handles = sorted(p["handle"] for p in shopify_sim.control.products("shop-a"))
    assert handles == sorted(p.handle for p in products if p.pk != bad.pk)
    assert not ChannelAssignment.objects.get(store=sim_store, product=bad).shopify_product_id
    line = BulkPublishLine.objects.get(run=run, job__product=bad)
    assert line.status == "failed" and line.error == jobs[bad.pk].last_error
    # Metafields and sales channels followed as bulk operations, not one call per product.
    kinds = set(BulkPublishOperation.objects.filter(run=run).values_list("kind", flat=True))
    assert kinds == {"product_set", "metafields", "publications"}
    sim_products = shopify_sim.control.products("shop-a")
    assert all(any(m["key"] == "fabric" for m in p["metafields"]) for p in sim_products)
    calls = [r.get("operation_name") for r in shopify_sim.control.requests("shop-a")]
    assert "ProductSet" not in calls and "MetafieldsSet" not in calls and "PublishablePublish" not in calls
    # The run in the admin: progress and the failure with Shopify's message.
    page = admin_client.get(f"/admin/channels/bulkpublishrun/{run.pk}/change/").content.decode()
    assert f"{N} / {N}" in page and "Title can&#x27;t be blank" in page
    assert admin_client.get("/admin/channels/bulkpublishrun/").status_code == 200


def test_crash_between_upload_and_completion_then_rerun_creates_no_duplicates(shopify_sim, sim_store):
    products = _catalog()
    _assign(products, sim_store)
    services.publish_request(store=sim_store)
    run = BulkPublishRun.objects.get(store=sim_store)
    deadline = time.monotonic() + 20
    # Steps until the productSet operation is written, uploaded and started (after the handle check).
    while not BulkPublishOperation.objects.filter(run=run, kind="product_set").exclude(shopify_operation_id="")\
            .exists() and time.monotonic() < deadline:
        BulkPublishRun.objects.filter(pk=run.pk).update(next_step_at=None)
        bulk_publish_step(run_id=run.pk)
        time.sleep(0.02)
    op = BulkPublishOperation.objects.get(run=run, kind="product_set")
    assert op.shopify_operation_id
    # Shopify runs it to the end...
    deadline = time.monotonic() + 20
    while len(shopify_sim.control.products("shop-a")) < N and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(shopify_sim.control.products("shop-a")) == N
    # ...but the worker died before the operation's id was committed: the run knows nothing of it.
    BulkPublishOperation.objects.filter(pk=op.pk).update(shopify_operation_id="", status="")
    BulkPublishRun.objects.filter(pk=run.pk).update(status="preparing", next_step_at=None)

    run = _drive(run.pk)

    assert run.status == "done" and run.failed_lines == 0
    sim_products = shopify_sim.control.products("shop-a")
    assert sorted(p["handle"] for p in sim_products) == sorted(p.handle for p in products)  # no duplicates
    by_handle = {p["handle"]: p for p in sim_products}
    for product in products:
        a = ChannelAssignment.objects.get(store=sim_store, product=product)
        remote = by_handle[product.handle]
        assert a.shopify_product_id == remote["id"].rsplit("/", 1)[-1]
        bound = {b.variant.sku: b.shopify_variant_id for b in VariantBinding.objects.filter(
            store=sim_store, variant__product=product).select_related("variant")}
        assert bound == {v["sku"]: v["id"].rsplit("/", 1)[-1] for v in remote["variants"]}


def publish_per_call_and_in_bulk(shopify_sim, settings, *, count, prefix):
    """Publish the same ``count`` new products per call to shop-a and through a bulk run to shop-b; return
    ``(products, per_call_store, bulk_store, bulk_run)``."""
    products = _catalog(count, prefix=prefix)
    per_call = _sim_store(shopify_sim, "shop-a")
    bulk = _sim_store(shopify_sim, "shop-b")
    _assign(products, per_call)
    _assign(products, bulk)
    settings.BULK_PUBLISH_THRESHOLD = 1000
    services.publish_request(store=per_call)
    assert [r.status for r in run_jobs(per_call)] == ["done"] * count
    settings.BULK_PUBLISH_THRESHOLD = 3
    services.publish_request(store=bulk)
    return products, per_call, bulk, _drive(BulkPublishRun.objects.get(store=bulk).pk)


def _state(store, products):
    out = []
    for p in products:
        a = ChannelAssignment.objects.get(store=store, product=p)
        out.append({
            "bound": bool(a.shopify_product_id), "hash": a.published_hash, "snapshot": a.published_snapshot,
            "publications": len(a.publication_ids), "first_published": p.__class__.objects.get(pk=p.pk)
            .first_published_at is not None,
            "variants": sorted(b.variant.sku for b in VariantBinding.objects.filter(store=store, variant__product=p)
                               .select_related("variant") if b.shopify_variant_id and b.shopify_inventory_item_id),
            "images": ImageBinding.objects.filter(store=store, image__product=p).exclude(shopify_media_id="").count(),
            "job": SyncJob.objects.filter(store=store, product=p).latest("id").status,
        })
    return out


def test_bulk_result_mapping_equals_a_per_call_publish(shopify_sim, settings, db):
    products, per_call, bulk, run = publish_per_call_and_in_bulk(shopify_sim, settings, count=4, prefix="E")
    assert run.status == "done"

    assert _state(bulk, products) == _state(per_call, products)
    # What Shopify holds is the same too (ids aside).
    def shape(shop):
        return sorted((p["handle"], p["title"], sorted(v["sku"] for v in p["variants"]), len(p["media"]),
                       sorted((m["namespace"], m["key"], m["value"]) for m in p["metafields"]))
                      for p in shopify_sim.control.products(shop))
    assert shape("shop-b") == shape("shop-a")
    # A later edit goes per call, with the bound ids: the bulk bindings are the per-call path's bindings.
    assert BulkPublishRun.objects.count() == 1


def test_a_handle_taken_by_someone_elses_product_is_not_overwritten(shopify_sim, sim_store):
    products = _catalog()
    taken = products[1]
    shopify_sim.control.seed("shop-a", products=[{
        "title": "Not ours", "handle": taken.handle, "options": [{"name": "Size", "values": ["S"]}],
        "variants": [{"sku": "OTHER-1", "price": "5.00", "options": ["S"]}],
    }])
    _assign(products, sim_store)
    services.publish_request(store=sim_store)

    run = _drive(BulkPublishRun.objects.get(store=sim_store).pk)

    assert run.status == "done" and run.total_lines == N - 1 and run.failed_lines == 0
    job = SyncJob.objects.filter(store=sim_store, product=taken).latest("id")
    assert job.status == "pending"  # back to the per-call path, which refuses it with a clear message:
    assert [r.status for r in run_jobs(sim_store)] == ["dead"]
    assert "different Shopify product already uses the handle" in SyncJob.objects.get(pk=job.pk).last_error
    theirs = next(p for p in shopify_sim.control.products("shop-a") if p["handle"] == taken.handle)
    assert theirs["title"] == "Not ours" and [v["sku"] for v in theirs["variants"]] == ["OTHER-1"]
    assert len(shopify_sim.control.products("shop-a")) == N


def test_one_file_per_step_of_at_most_max_lines(shopify_sim, sim_store, settings):
    """A step writes and starts one file of at most BULK_PUBLISH_MAX_LINES_PER_FILE products (a step stays short);
    the next steps write the next files, each mapped like the first."""
    settings.BULK_PUBLISH_MAX_LINES_PER_FILE = 2
    products = _catalog()
    _assign(products, sim_store)
    services.publish_request(store=sim_store)
    run = BulkPublishRun.objects.get(store=sim_store)
    started = []
    deadline = time.monotonic() + 30
    while BulkPublishRun.objects.get(pk=run.pk).status == "preparing" and time.monotonic() < deadline:
        BulkPublishRun.objects.filter(pk=run.pk).update(next_step_at=None)
        bulk_publish_step(run_id=run.pk)
        started.append(BulkPublishOperation.objects.filter(run=run, kind="product_set")
                       .exclude(shopify_operation_id="").count())
        time.sleep(0.02)
    assert started[-1] == 3 and all(b - a <= 1 for a, b in zip([0, *started], started, strict=False))
    assert sorted(BulkPublishOperation.objects.filter(run=run, kind="product_set").values_list("line_count",
                                                                                             flat=True)) == [2, 2, 2]
    run = _drive(run.pk)
    assert run.status == "done" and run.failed_lines == 0 and run.lines_done == N
    assert sorted(p["handle"] for p in shopify_sim.control.products("shop-a")) == sorted(p.handle for p in products)
