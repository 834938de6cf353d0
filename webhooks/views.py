"""The Shopify webhook endpoint: verify, store, answer. Processing happens in RQ workers."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels.shopify.webhooks import HMAC_HEADER, SHOP_DOMAIN_HEADER, TOPIC_HEADER, TRIGGERED_AT_HEADER

from .auth import webhook_headers_check
from .inbox import webhook_receive, webhook_shop_connections, webhook_store_authenticate
from .intake import (
    webhook_intake_active,
    webhook_intake_coming,
    webhook_intake_receive,
    webhook_intake_shop_connections,
)


class _Answer(HttpResponse):
    """A plain-text answer that runs ``after_sent`` once it is sent (the WSGI server calls ``close()`` then)."""

    after_sent: Callable[[], None] | None = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.after_sent is not None:
                after, self.after_sent = self.after_sent, None
                after()


def _text(status: int, text: str, *, after_sent: Callable[[], None] | None = None) -> HttpResponse:
    response = _Answer(text, status=status, content_type="text/plain")
    response.after_sent = after_sent
    return response


logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def shopify_webhook(request: HttpRequest) -> HttpResponse:
    """Receive a webhook of any topic from any connected shop.

    Before the body is read: a signature header, a known shop (an active connection), a fresh
    ``X-Shopify-Triggered-At`` (WEBHOOK_MAX_AGE_SECONDS) and a declared size within WEBHOOK_MAX_BODY_BYTES
    (401 / 400 / 413, nothing stored). Then the HMAC of the raw body is checked with the signing secret of each
    active connection of the shop (401 and nothing stored if none matches), a body already delivered for another
    shop is refused (409), and the event is stored (deduplicated, without the signature header) and queued after
    commit. Answers 200 for stored, duplicate, ignored and malformed-but-signed deliveries, so Shopify does not
    retry what is already kept. Never calls Shopify.
    """
    shop_domain = (request.headers.get(SHOP_DOMAIN_HEADER) or "").strip().lower()
    hmac_header = request.headers.get(HMAC_HEADER)
    # Outside a transaction the delivery is stored with other requests' of this process (one commit per batch);
    # inside one (a test's), by this thread in that transaction.
    batched = webhook_intake_active()
    if not batched or not hmac_header:
        return _receive(request, shop_domain=shop_domain, hmac_header=hmac_header, batched=batched)
    with webhook_intake_coming():  # a batch's leader may wait a moment for this delivery (webhooks.intake)
        return _receive(request, shop_domain=shop_domain, hmac_header=hmac_header, batched=batched)


def _receive(request: HttpRequest, *, shop_domain: str, hmac_header: str | None, batched: bool) -> HttpResponse:
    lookup = webhook_intake_shop_connections if batched else webhook_shop_connections
    connections = lookup(shop_domain=shop_domain) if hmac_header else []
    refusal = webhook_headers_check(
        shop_domain=shop_domain, hmac_header=hmac_header, triggered_at=request.headers.get(TRIGGERED_AT_HEADER),
        content_length=request.META.get("CONTENT_LENGTH"), shop_known=bool(connections),
    )
    if refusal is not None:
        logger.warning("webhook refused before reading the body (%s): shop %r", refusal.reason, shop_domain[:255])
        return _text(refusal.status, refusal.reason)
    # Read the stream ourselves: Django's 2.5 MB cap on request.body would bounce a big order forever.
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    raw_body = request.read(limit + 1)
    if len(raw_body) > limit:
        return _text(413, "payload too large")
    store = webhook_store_authenticate(shop_domain=shop_domain, raw_body=raw_body, hmac_header=hmac_header,
                                       connections=connections)
    if store is None:
        logger.warning("webhook rejected: no valid signature for shop %r", shop_domain[:255])
        return _text(401, "invalid signature")
    # The body's cross-shop claim and the event: one statement, one commit.
    wake = None  # a batch's leader wakes its lanes once its answer is sent: no request of the batch waits for Redis
    if batched:
        receipt, wake = webhook_intake_receive(store=store, headers=dict(request.headers), raw_body=raw_body)
    else:
        receipt = webhook_receive(store=store, headers=dict(request.headers), raw_body=raw_body, claim_body=True)
    if receipt.outcome == "refused":
        logger.warning("webhook refused: the same %s body was already delivered for another shop (now %r)",
                       (request.headers.get(TOPIC_HEADER) or "")[:100], shop_domain)
        return _text(409, "body already delivered for another shop", after_sent=wake)
    return _text(200, receipt.outcome, after_sent=wake)
