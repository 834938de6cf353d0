"""Where a store's credentials may be sent: https://<name>.myshopify.com, or the simulator when allowed.

A store's access token and client secret go only to its own myshopify domain over HTTPS. The *API base URL*
override exists for the local Shopify simulator and is honoured only when the setting
SHOPIFY_ALLOW_BASE_URL_OVERRIDE is on (the demo and the tests turn it on); production leaves it off.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from .shopify.exceptions import ShopifyAuthError

# A shop's permanent domain: <name>.myshopify.com, the name being lowercase letters, digits and hyphens
# (Shopify makes it from the store name; it never starts or ends with a hyphen). Matched in full, never by suffix.
SHOP_DOMAIN_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.myshopify\.com")

SHOP_DOMAIN_MESSAGE = "Use the shop's myshopify domain, e.g. my-shop.myshopify.com (letters, digits and hyphens)."


class StoreEndpointRefused(ShopifyAuthError):
    """A store's domain or base URL is not one its credentials may be sent to (nothing was sent)."""

    retryable = False


def shop_domain_validate(value: str) -> None:
    """Raise ValidationError unless ``value`` is exactly ``<name>.myshopify.com`` (lowercase, no port or path)."""
    if not isinstance(value, str) or not SHOP_DOMAIN_RE.fullmatch(value):
        raise ValidationError(SHOP_DOMAIN_MESSAGE, code="invalid_shop_domain")


def api_base_url_validate(value: str) -> None:
    """Raise ValidationError for an API base URL override that may not receive credentials.

    Refused when SHOPIFY_ALLOW_BASE_URL_OVERRIDE is off, and always for schemes other than http/https, for
    user info, a query or a fragment in the URL.
    """
    if not value:
        return
    if not getattr(settings, "SHOPIFY_ALLOW_BASE_URL_OVERRIDE", False):
        raise ValidationError(
            "A custom API base URL is not allowed here: stores talk to https://<shop domain> only "
            "(SHOPIFY_ALLOW_BASE_URL_OVERRIDE is off; it exists for the local simulator).",
            code="base_url_override_disabled",
        )
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("The API base URL must be an http(s) address.", code="invalid_base_url")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationError("The API base URL may not hold user info, a query or a fragment.",
                              code="invalid_base_url")


def store_base_url(*, shop_domain: str, api_base_url: str) -> str:
    """Return where a store's Admin API calls (and credentials) go.

    ``https://<shop_domain>`` unless an allowed simulator override is set. Raises StoreEndpointRefused (a
    terminal ShopifyAuthError) for an invalid shop domain or a refused override, before anything is sent.
    """
    try:
        shop_domain_validate(shop_domain)
        api_base_url_validate(api_base_url)
    except ValidationError as exc:
        raise StoreEndpointRefused(
            f"refusing to send credentials: {' '.join(exc.messages)}", shop_domain=str(shop_domain)[:255]
        ) from None
    return (api_base_url or f"https://{shop_domain}").rstrip("/")
