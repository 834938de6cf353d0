"""Media (issue #12): images already in Shopify go by media id, only new ones are uploaded, processing states
are read back and a failed image shows in the job's result. The simulator processes media asynchronously and
fails URLs it cannot download (the reserved .invalid TLD)."""

from __future__ import annotations

from channels import services
from channels.models import ImageBinding
from pim.models import ProductImage

from .conftest import make_product, product_set_calls, run_jobs, sim_product

IMAGES = [{"src": "https://cdn.example.com/front.jpg", "alt": "Front"},
          {"src": "https://cdn.example.com/back.jpg", "alt": "Back"}]


def _files(shopify_sim):
    return product_set_calls(shopify_sim)[0]["variables"]["input"]["files"]


def test_images_go_by_media_id_after_the_first_upload_and_alt_changes_by_id(shopify_sim, sim_store):
    product = make_product(images=IMAGES)
    services.assignment_set(product=product, store=sim_store)
    (result,) = run_jobs()
    assert result.status == "done" and result.detail == "published"
    media = sim_product(shopify_sim, product.handle)["media"]
    assert [m["status"] for m in media] == ["READY", "READY"]  # the publish waited for processing
    bindings = {b.image.src: b for b in ImageBinding.objects.filter(store=sim_store).select_related("image")}
    assert {src: b.shopify_media_id for src, b in bindings.items()} == {m["originalSource"]: m["id"] for m in media}
    assert {b.status for b in bindings.values()} == {"READY"}

    # An alt text change goes by id: nothing is uploaded again, the media keep their ids.
    front = product.images.get(alt="Front")
    front.alt = "Front view"
    front.save()
    services.publish_request(store=sim_store)
    shopify_sim.control.clear_requests("shop-a")
    assert [r.status for r in run_jobs()] == ["done"]
    assert _files(shopify_sim) == [
        {"id": bindings[IMAGES[0]["src"]].shopify_media_id, "alt": "Front view"},
        {"id": bindings[IMAGES[1]["src"]].shopify_media_id, "alt": "Back"},
    ]
    after = sim_product(shopify_sim, product.handle)["media"]
    assert [m["id"] for m in after] == [m["id"] for m in media] and after[0]["alt"] == "Front view"

    # A new image: only it is uploaded.
    ProductImage.objects.create(product=product, src="https://cdn.example.com/side.jpg", alt="Side", position=3)
    services.publish_request(store=sim_store)
    shopify_sim.control.clear_requests("shop-a")
    assert [r.status for r in run_jobs()] == ["done"]
    files = _files(shopify_sim)
    assert [("id" in f, f.get("originalSource")) for f in files] == [
        (True, None), (True, None), (False, "https://cdn.example.com/side.jpg")]
    assert len(sim_product(shopify_sim, product.handle)["media"]) == 3
    assert ImageBinding.objects.filter(store=sim_store).count() == 3


def test_an_image_shopify_cannot_download_is_reported_in_the_job_result(shopify_sim, sim_store):
    product = make_product(images=[IMAGES[0], {"src": "https://images.broken.invalid/lost.jpg", "alt": "Lost"}])
    services.assignment_set(product=product, store=sim_store)
    (result,) = run_jobs()
    assert result.status == "done"
    assert "1 image(s) failed in Shopify" in result.detail and "https://images.broken.invalid/lost.jpg" in result.detail
    assert "IMAGE_DOWNLOAD_FAILURE" in result.detail
    failed = ImageBinding.objects.get(image__alt="Lost")
    assert failed.status == "FAILED" and "could not be downloaded" in failed.error
    assert [m["status"] for m in sim_product(shopify_sim, product.handle)["media"]] == ["READY", "FAILED"]
