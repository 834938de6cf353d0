"""Sales channels: which Shopify publications a store's products are on.

Products created through the Admin API are ACTIVE but on no sales channel (not visible in the Online Store)
until ``publishablePublish`` puts them on a publication. Each store lists the channels it wants by the title
Shopify shows (``Store.publications``, "Online Store" by default); the publish resolves the titles to the
shop's publication ids and adds or removes the product where the recorded set differs.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from .binder import bind_publications
from .models import ChannelAssignment, Store
from .shopify.exceptions import ShopifyError
from .shopify.ids import to_gid

logger = logging.getLogger(__name__)

# Publication ids per shop change only when the merchant adds or removes a sales channel. They are cached in
# Redis, shared by all workers (RQ forks a process per job, so a process cache would not survive the job),
# with an in-process copy in front of it.
_CACHE_SECONDS = 300.0
_cache: dict[tuple[int, str], tuple[float, dict[str, str]]] = {}
_cache_lock = threading.Lock()


def _redis_key(store: Store) -> str:
    return f"pim:publications:{store.pk}:{store.shop_domain}"


def _cached(client, store: Store) -> dict[str, str] | None:
    key = (store.pk, store.shop_domain)
    with _cache_lock:
        cached = _cache.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    try:
        raw = client.redis.get(_redis_key(store))
    except Exception:  # Redis trouble: ask Shopify instead
        logger.warning("publication cache unavailable for %s", store.shop_domain, exc_info=True)
        return None
    if not raw:
        return None
    by_title = json.loads(raw)
    with _cache_lock:
        _cache[key] = (time.monotonic() + _CACHE_SECONDS, by_title)
    return by_title


def _remember(client, store: Store, by_title: dict[str, str]) -> None:
    with _cache_lock:
        _cache[(store.pk, store.shop_domain)] = (time.monotonic() + _CACHE_SECONDS, by_title)
    try:
        client.redis.set(_redis_key(store), json.dumps(by_title), ex=int(_CACHE_SECONDS))
    except Exception:
        logger.warning("publication cache unavailable for %s", store.shop_domain, exc_info=True)


class PublicationMissing(ShopifyError):
    """A sales channel the store is configured with does not exist in the shop (terminal: fix the store)."""

    retryable = False


def publications_resolve(*, client, store: Store, titles: list[str]) -> list[str]:
    """Return the publication ids of ``titles`` in the store's shop (looked up once per 5 minutes).

    Raises PublicationMissing naming the unknown titles and the shop's channels, ShopifyScopeError without
    read_publications, and the client's other errors.
    """
    if not titles:
        return []
    by_title = _cached(client, store)
    if by_title is None or any(t not in by_title for t in titles):
        by_title = {p["title"]: p["id"] for p in client.publications()}
        _remember(client, store, by_title)
    missing = [t for t in titles if t not in by_title]
    if missing:
        raise PublicationMissing(
            f"Store {store.name}: sales channel(s) {', '.join(repr(t) for t in missing)} do not exist in the shop; "
            f"it has: {', '.join(sorted(by_title)) or 'none'}. Fix the store's sales channels.",
            shop_domain=store.shop_domain,
        )
    return [by_title[t] for t in titles]


def publications_sync(*, client, assignment: ChannelAssignment, titles: list[str], record: bool = True) -> list[str]:
    """Put the assignment's Shopify product on exactly the publications named ``titles``; return their ids.

    Publishes where the recorded set lacks a channel and unpublishes channels the store no longer wants (no call
    when the recorded set is already right), then records the set on the assignment unless ``record`` is False
    (the caller records it with the rest of the write: ``bind_written``). Raises PublicationMissing and the
    client's errors (nothing recorded).
    """
    wanted = publications_resolve(client=client, store=assignment.store, titles=titles)
    current = list(assignment.publication_ids or [])
    product_gid = to_gid("Product", assignment.shopify_product_id)
    add = [pid for pid in wanted if pid not in current]
    remove = [pid for pid in current if pid not in wanted]
    client.publishable_publish(resource_id=product_gid, publication_ids=add)
    client.publishable_unpublish(resource_id=product_gid, publication_ids=remove)
    if record and (add or remove or current != wanted):
        bind_publications(assignment=assignment, publication_ids=wanted)
    return wanted


def publications_remove_all(*, client, assignment: ChannelAssignment) -> None:
    """Take the product off every publication the PIM put it on. Raises the client's errors."""
    current = list(assignment.publication_ids or [])
    if current and assignment.shopify_product_id:
        client.publishable_unpublish(
            resource_id=to_gid("Product", assignment.shopify_product_id), publication_ids=current
        )
    bind_publications(assignment=assignment, publication_ids=[])


def publications_cache_clear(*, redis=None) -> None:
    """Forget the cached publication ids (tests; a shop that changed its channels)."""
    with _cache_lock:
        _cache.clear()
    if redis is not None:
        for key in redis.scan_iter("pim:publications:*"):
            redis.delete(key)
