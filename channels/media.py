"""Product media in Shopify: bind PIM images to Shopify media ids and read their processing state back.

productSet's ``files`` list replaces the product's media. An entry with ``id`` keeps that media (its alt text
updated); an entry with ``originalSource`` is a new upload that Shopify downloads and processes
asynchronously (UPLOADED -> PROCESSING -> READY, or FAILED when the URL cannot be fetched or is not an
image). The PIM remembers each image's media id per store so no image is ever uploaded twice, and after a
write it reads the new media's state so that a failed image shows in the job's result.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pim.models import Product, ProductImage

from .models import ChannelAssignment, ImageBinding

# How long a publish waits for new media to leave UPLOADED/PROCESSING before reporting them as pending.
MEDIA_WAIT_SECONDS = 10.0
PENDING_STATES = ("UPLOADED", "PROCESSING")


def image_bindings_for(*, store_id: int, product: Product) -> dict[int, ImageBinding]:
    """Return the product's image bindings in the store by image id."""
    return {b.image_id: b for b in ImageBinding.objects.filter(store_id=store_id, image__product=product)}


def media_bind_after_write(
    *, assignment: ChannelAssignment, product_input: dict, media_nodes: list[dict], bindings: dict[int, ImageBinding]
) -> list[ImageBinding]:
    """Record the media ids Shopify returned for the ``files`` we sent; return the bindings of new uploads.

    Shopify keeps the media in the order of ``files`` (unconfirmed: matched by position, each position's
    entry also checked against the id we sent when it was a reference). Bindings of images no longer sent
    are removed.
    """
    files = product_input.get("files")
    if files is None:
        return []
    images = sorted(assignment.product.images.all(), key=lambda i: (i.position, i.id))
    created: list[ImageBinding] = []
    kept: set[int] = set()
    new: list[ImageBinding] = []
    for image, sent, node in zip(images, files, media_nodes, strict=False):
        kept.add(image.id)
        if sent.get("id"):
            continue  # a reference: the binding is already right
        new.append(ImageBinding(store=assignment.store, image=image, shopify_media_id=node["id"], source=image.src,
                                status=node.get("status") or "UPLOADED", error=""))
    if new:  # one upsert for the product's new media (issue 15), not one per image
        for binding in ImageBinding.objects.bulk_create(
            new, update_conflicts=True, unique_fields=["store", "image"],
            update_fields=["shopify_media_id", "source", "status", "error"],
        ):
            bindings[binding.image_id] = binding
            created.append(binding)
    # Only when a known binding's image is no longer sent: a first publish (no bindings yet) has nothing to drop.
    if any(image_id not in kept for image_id in bindings):
        ImageBinding.objects.filter(store=assignment.store, image__product=assignment.product).exclude(
            image_id__in=kept
        ).delete()
        for image_id in [i for i in bindings if i not in kept]:
            del bindings[image_id]
    return created


def media_wait_processed(
    *, client, created: list[ImageBinding], timeout: float = MEDIA_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[ImageBinding], list[ImageBinding]]:
    """Poll the new media until none is UPLOADED/PROCESSING or ``timeout`` passes; record each state.

    Returns (failed, still pending). Raises the client's errors.
    """
    pending = [b for b in created if b.status in PENDING_STATES or not b.status]
    failed = [b for b in created if b.status == ImageBinding.Status.FAILED]
    deadline = time.monotonic() + timeout
    delay = 0.2
    while pending:
        states = client.media_status(media_ids=[b.shopify_media_id for b in pending])
        still = []
        changed: dict[tuple[str, str], list[int]] = {}
        for binding in pending:
            state = states.get(binding.shopify_media_id) or {}
            status = state.get("status") or binding.status
            if status != binding.status or state.get("errors"):
                binding.status = status
                binding.error = "; ".join(state.get("errors") or [])[:500]
                changed.setdefault((binding.status, binding.error), []).append(binding.pk)
            if status == ImageBinding.Status.FAILED:
                failed.append(binding)
            elif status in PENDING_STATES:
                still.append(binding)
        # One update per (state, error) for the whole poll, not one per image (a batch polls dozens at once).
        for (status, error), pks in changed.items():
            ImageBinding.objects.filter(pk__in=pks).update(status=status, error=error)
        pending = still
        if not pending or time.monotonic() >= deadline:
            break
        sleep(delay)
        delay = min(delay * 2, 2.0)
    return failed, pending


def media_summary(*, failed: list[ImageBinding], pending: list[ImageBinding]) -> str:
    """A sentence for the job's result about images that failed or are still processing ("" if none)."""
    parts = []
    if failed:
        names = ", ".join(_image_label(b) for b in failed)
        parts.append(f"{len(failed)} image(s) failed in Shopify: {names}")
    if pending:
        parts.append(f"{len(pending)} image(s) still processing")
    return "; ".join(parts)


def _image_label(binding: ImageBinding) -> str:
    image: ProductImage = binding.image
    return f"{image.src} ({binding.error or 'failed'})"
