"""Checks a Shopify webhook delivery passes before it is stored: shop, signature, freshness, cross-shop replay.

Order matters: the shop and the presence of a signature and a fresh ``X-Shopify-Triggered-At`` are checked from
the headers alone, and the declared size against WEBHOOK_MAX_BODY_BYTES, before the body is read; the HMAC is
then verified over the raw body with the right secret of each active connection of the shop (see
``Store.webhook_signing_secret``); last, a body already claimed by another shop is refused (the claim is written
with the event, in one statement: ``webhooks.inbox.webhook_receive(claim_body=True)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from channels.endpoints import SHOP_DOMAIN_RE
from channels.models import Store


@dataclass(frozen=True)
class Refusal:
    """Why a delivery is refused, and the HTTP status to answer with."""

    status: int
    reason: str


def _triggered_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        return None
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def webhook_headers_check(
    *, shop_domain: str, hmac_header: str | None, triggered_at: str | None, content_length: str | None,
    now: datetime | None = None, shop_known: bool | None = None,
) -> Refusal | None:
    """Return why a delivery must be refused from its headers alone (None: read the body).

    401 for a missing signature, a malformed or unknown shop (no active connection; ``shop_known`` when the
    caller already loaded the shop's connections, else one query); 400 for a missing or unparseable
    ``X-Shopify-Triggered-At``, one older than WEBHOOK_MAX_AGE_SECONDS or further in the future than
    WEBHOOK_MAX_CLOCK_SKEW_SECONDS; 413 for a declared body larger than WEBHOOK_MAX_BODY_BYTES.
    """
    if not hmac_header or not shop_domain or not SHOP_DOMAIN_RE.fullmatch(shop_domain):
        return Refusal(401, "invalid signature")
    try:
        declared = int(content_length or 0)
    except ValueError:
        return Refusal(400, "bad content length")
    if declared > settings.WEBHOOK_MAX_BODY_BYTES:
        return Refusal(413, "payload too large")
    if shop_known is None:
        shop_known = Store.objects.filter(shop_domain=shop_domain, is_active=True).exists()
    if not shop_known:
        return Refusal(401, "invalid signature")
    moment = _triggered_at(triggered_at)
    now = now or timezone.now()
    if moment is None:
        return Refusal(400, "missing or invalid X-Shopify-Triggered-At")
    if moment < now - timedelta(seconds=settings.WEBHOOK_MAX_AGE_SECONDS):
        return Refusal(400, "stale delivery (X-Shopify-Triggered-At outside the accepted window)")
    if moment > now + timedelta(seconds=settings.WEBHOOK_MAX_CLOCK_SKEW_SECONDS):
        return Refusal(400, "X-Shopify-Triggered-At is in the future")
    return None
