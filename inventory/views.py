"""The Shopify webhook endpoint: verify, store, answer. Processing happens in RQ workers."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels.shopify.webhooks import HMAC_HEADER, SHOP_DOMAIN_HEADER

from . import selectors, services

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def shopify_webhook(request: HttpRequest) -> HttpResponse:
    """Receive a webhook of any topic from any connected shop.

    The HMAC of the raw body is checked first with the secret of each active connection of the shop (401 and
    nothing stored if none matches, also for unknown shops); then the event is stored (deduplicated) and
    queued after commit. Answers 200 for stored, duplicate, ignored and malformed-but-signed deliveries, so
    Shopify does not retry what is already kept. Never calls Shopify.
    """
    # Read the stream ourselves: Django's 2.5 MB cap on request.body would bounce a big order forever.
    limit = int(getattr(settings, "WEBHOOK_MAX_BODY_BYTES", 25 * 1024 * 1024))
    raw_body = request.read(limit + 1)
    if len(raw_body) > limit:
        return HttpResponse("payload too large", status=413, content_type="text/plain")
    shop_domain = (request.headers.get(SHOP_DOMAIN_HEADER) or "").strip().lower()
    store = selectors.webhook_store_authenticate(
        shop_domain=shop_domain, raw_body=raw_body, hmac_header=request.headers.get(HMAC_HEADER)
    )
    if store is None:
        logger.warning("webhook rejected: no valid signature for shop %r", shop_domain[:255])
        return HttpResponse("invalid signature", status=401, content_type="text/plain")
    receipt = services.webhook_receive(store=store, headers=dict(request.headers), raw_body=raw_body)
    return HttpResponse(receipt.outcome, status=200, content_type="text/plain")
