"""Verification of Shopify webhook deliveries (API-NOTES §6)."""

from __future__ import annotations

import base64
import hashlib
import hmac

# HTTP header names of a delivery (case-insensitive: read them with Django's ``request.headers``).
HMAC_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
SHOP_DOMAIN_HEADER = "X-Shopify-Shop-Domain"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
EVENT_ID_HEADER = "X-Shopify-Event-Id"
TRIGGERED_AT_HEADER = "X-Shopify-Triggered-At"
API_VERSION_HEADER = "X-Shopify-API-Version"


def compute_webhook_hmac(*, raw_body: bytes, secret: str) -> str:
    """Return the base64 HMAC-SHA256 of ``raw_body`` keyed with the app's client secret."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_webhook_hmac(*, raw_body: bytes, secret: str, header_value: str | None) -> bool:
    """Tell whether ``header_value`` (X-Shopify-Hmac-Sha256) signs ``raw_body`` with ``secret``.

    Compare in constant time; a missing header, an empty secret or a non-bytes body never verifies. Pass the
    exact bytes received (``request.body``), not re-serialised JSON.
    """
    if not header_value or not secret or not isinstance(raw_body, bytes | bytearray):
        return False
    expected = compute_webhook_hmac(raw_body=bytes(raw_body), secret=secret)
    return hmac.compare_digest(expected.encode("ascii"), header_value.strip().encode("utf-8", "replace"))
