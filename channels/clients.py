"""Make a Shopify client for a store connection (the one place that reads its credentials)."""

from __future__ import annotations

from django.conf import settings

from .models import Store
from .shopify.client import ShopifyClient


def client_for_store(store: Store) -> ShopifyClient:
    """Return a ShopifyClient for ``store`` with its decrypted credentials, API version and base URL.

    The shared Redis connection carries the store's throttle budget and cached client-credentials token.
    """
    import django_rq

    redis = django_rq.get_connection("default")
    kwargs = {
        "shop_domain": store.shop_domain,
        "base_url": store.base_url,
        "api_version": store.api_version or settings.SHOPIFY_API_VERSION,
        "redis": redis,
        "timeout": (settings.SHOPIFY_CONNECT_TIMEOUT, settings.SHOPIFY_READ_TIMEOUT),
    }
    if store.auth_mode == Store.AuthMode.CLIENT_CREDENTIALS:
        kwargs.update(client_id=store.client_id, client_secret=store.client_secret)
    else:
        kwargs.update(access_token=store.access_token)
    return ShopifyClient(**kwargs)
