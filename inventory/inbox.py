"""The webhook inbox.

``webhook_receive`` stores a verified delivery (de-duplicated by ``X-Shopify-Webhook-Id`` and by
``X-Shopify-Event-Id`` per shop and topic) and queues it on ``webhooks`` after commit;
``webhook_event_process`` handles it in a worker with the handler registered for its topic
(``channels.webhook_topics``; this app's handlers are in ``inventory.topics``). Order webhooks of one order are
serialised by a row lock on ``ShopifyOrder``; their source references are per order line (sale), per refund line
(restock) and per order line (cancellation without refund lines), so duplicates, reordering and concurrency apply
each once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils.dateparse import parse_datetime

from channels.models import Store
from channels.shopify.exceptions import ShopifyError
from channels.webhook_topics import webhook_topic_handler, webhook_topic_prefetch
from pim.clock import clock_now

from .errors import PayloadError
from .models import WebhookEvent
from .queueing import (
    WEBHOOKS_QUEUE,
    _backoff_seconds,
    _drain_budget,
    _drain_started,
    _enqueue,
    _setting,
    worker_name,
)

logger = logging.getLogger(__name__)


HMAC_HEADER_LOWER = "x-shopify-hmac-sha256"


@dataclass(frozen=True)
class WebhookReceipt:
    """What ``webhook_receive`` did: ``stored``, ``duplicate``, ``ignored`` (topic) or ``failed`` (malformed)."""

    outcome: str
    event_id: int | None = None


def _header(headers: dict[str, str], name: str) -> str:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return str(value).strip()
    return ""


def webhook_receive(*, store: Store, headers: dict[str, str], raw_body: bytes) -> WebhookReceipt:
    """Store a delivery whose signature the caller verified with ``store``'s secret; queue it after commit.

    A delivery whose ``X-Shopify-Webhook-Id`` (or ``X-Shopify-Event-Id`` for the same shop and topic) is
    already stored is a duplicate: only counted. A body that is not a JSON object is kept as a failed event
    for review; a topic this app does not handle is kept as ignored. Neither is queued. Never calls Shopify.
    """
    topic = _header(headers, "X-Shopify-Topic").lower()
    shop_domain = (_header(headers, "X-Shopify-Shop-Domain") or store.shop_domain).lower()
    webhook_id = _header(headers, "X-Shopify-Webhook-Id")
    event_id = _header(headers, "X-Shopify-Event-Id")
    if not webhook_id:  # Shopify always sends one; a replay of the same bytes still deduplicates
        webhook_id = "sha256:" + hashlib.sha256(shop_domain.encode() + b"|" + topic.encode() + b"|" + raw_body).hexdigest()
    status, error = WebhookEvent.Status.RECEIVED, ""
    try:
        payload = json.loads(raw_body)
        if not isinstance(payload, dict):
            raise ValueError("the body is not a JSON object")
    except ValueError as exc:
        status, error = WebhookEvent.Status.FAILED, f"malformed body: {exc}"[:2000]
    if status == WebhookEvent.Status.RECEIVED and webhook_topic_handler(topic) is None:
        status = WebhookEvent.Status.IGNORED
    kept = {k: v for k, v in headers.items()  # never the signature: a stored HMAC would help forge a replay
            if (k.lower().startswith("x-shopify-") or k.lower() == "content-type") and k.lower() != HMAC_HEADER_LOWER}
    now = clock_now()
    event = WebhookEvent(
        store=store, shop_domain=shop_domain, topic=topic[:100], webhook_id=webhook_id[:255], event_id=event_id[:255],
        triggered_at=_parse_datetime(_header(headers, "X-Shopify-Triggered-At")),
        api_version=_header(headers, "X-Shopify-API-Version")[:16], headers=kept, raw_body=raw_body, status=status,
        last_error=error, received_at=now,
        result="topic not handled" if status == WebhookEvent.Status.IGNORED else "",
        processed_at=now if status != WebhookEvent.Status.RECEIVED else None,
        dispatched_at=now if status == WebhookEvent.Status.RECEIVED else None,
    )
    try:
        if connection.in_atomic_block:
            with transaction.atomic():  # a savepoint, so a duplicate doesn't break the caller's transaction
                event.save(force_insert=True)
        else:  # one autocommitted INSERT: durable when it returns, no BEGIN/COMMIT round trips
            event.save(force_insert=True)
    except IntegrityError:
        same = Q(webhook_id=webhook_id)
        if event_id:
            same |= Q(shop_domain=shop_domain, topic=topic, event_id=event_id)
        WebhookEvent.objects.filter(same).update(duplicates=F("duplicates") + 1)
        return WebhookReceipt("duplicate")
    if status == WebhookEvent.Status.RECEIVED:
        # Runs at once after an autocommitted insert, or when the caller's transaction commits.
        transaction.on_commit(lambda: webhook_events_dispatch(event_ids=[event.pk], marked=True))
    if status == WebhookEvent.Status.FAILED:
        logger.warning("webhook %s from %s kept as failed: %s", topic, shop_domain, error)
    return WebhookReceipt(str(status) if status != WebhookEvent.Status.RECEIVED else "stored", event.pk)


def _parse_datetime(value: str):
    try:
        return parse_datetime(value) if value else None
    except ValueError:
        return None


def webhook_events_dispatch(*, event_ids: Iterable[int], delay: float | None = None, marked: bool = False) -> int:
    """Queue the given received events on ``webhooks`` (one drain job covers them all); return how many.

    ``marked`` says the events were stored as sent already (saves a write per delivery); if Redis then fails
    they are unmarked. A Redis failure is logged, not raised: the events stay in PostgreSQL and
    ``inventory_sweep`` sends them.
    """
    from .tasks import webhook_event_run

    ids = list(event_ids)
    if not ids:
        return 0
    sent = []
    try:
        _enqueue(WEBHOOKS_QUEUE, webhook_event_run, ids, delay)
        sent = ids
    except Exception:
        logger.exception("could not enqueue webhook events %s; the sweeper will retry", ids)
    if marked:
        unsent = [pk for pk in ids if pk not in sent]
        if unsent:
            WebhookEvent.objects.filter(pk__in=unsent).update(dispatched_at=None)
    elif sent:
        WebhookEvent.objects.filter(pk__in=sent).update(dispatched_at=clock_now())
    return len(sent)


def _claim_event(event_id: int | None, worker: str) -> WebhookEvent | None:
    """Claim event ``event_id`` (or the oldest waiting one) without waiting on other workers' claims."""
    now = clock_now()
    with transaction.atomic():
        waiting = (
            WebhookEvent.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("store")
            .filter(status__in=[WebhookEvent.Status.RECEIVED, WebhookEvent.Status.RETRY],
                    next_attempt_at__lte=now + timedelta(seconds=1))
        )
        if event_id is not None:
            waiting = waiting.filter(pk=event_id)
        event = waiting.order_by("received_at", "pk").first()
        if event is None:
            return None
        lease = now + timedelta(seconds=_setting("WEBHOOK_LEASE_SECONDS", 120))
        WebhookEvent.objects.filter(pk=event.pk).update(
            status=WebhookEvent.Status.PROCESSING, attempts=F("attempts") + 1, lease_until=lease
        )
        event.attempts += 1
        return event


def webhook_event_process(*, event_id: int, worker: str | None = None) -> str:
    """Process one stored webhook event in a worker; return its resulting status.

    Idempotent: an event that is not waiting (processed, failed, being processed elsewhere) is left alone, and
    every stock change has a unique source reference. A payload of the wrong shape fails the event for review
    (PayloadError); other errors are retried with backoff, then fail it.
    """
    event = _claim_event(event_id, worker or worker_name())
    if event is None:
        return "not-claimed"
    return _process_claimed(event)


def webhook_events_drain(*, first_event_id: int, budget_seconds: float | None = None, worker: str | None = None) -> int:
    """Process ``first_event_id``, then every other waiting event oldest first, for up to ``budget_seconds``.

    One RQ job thus handles a burst of deliveries (a forked job costs more than processing an event). When the
    budget runs out with events still waiting, a new drain job is queued. Returns how many were processed.
    """
    worker = worker or worker_name()
    _drain_started(WEBHOOKS_QUEUE)
    count = int(webhook_event_process(event_id=first_event_id, worker=worker) != "not-claimed")
    deadline = time.monotonic() + (_drain_budget() if budget_seconds is None else budget_seconds)
    while time.monotonic() < deadline:
        event = _claim_event(None, worker)
        if event is None:
            return count
        _process_claimed(event)
        count += 1
    left = (WebhookEvent.objects.filter(status__in=[WebhookEvent.Status.RECEIVED, WebhookEvent.Status.RETRY],
                                        next_attempt_at__lte=clock_now())
            .order_by("received_at", "pk").values_list("pk", flat=True).first())
    if left is not None:
        webhook_events_dispatch(event_ids=[left])
    return count


def _process_claimed(event: WebhookEvent) -> str:
    handler = webhook_topic_handler(event.topic)
    try:
        payload = json.loads(bytes(event.raw_body))
        if not isinstance(payload, dict):
            raise PayloadError("the body is not a JSON object")
        prefetch = webhook_topic_prefetch(event.topic)
        extra = {"fetched": prefetch(event=event, payload=payload)} if prefetch else {}  # network: no transaction
        with transaction.atomic():
            result = handler(event=event, payload=payload, **extra) if handler else "topic not handled"
            WebhookEvent.objects.filter(pk=event.pk).update(
                status=WebhookEvent.Status.PROCESSED, result=str(result)[:500], processed_at=clock_now(),
                lease_until=None, last_error="",
            )
        return WebhookEvent.Status.PROCESSED
    except (PayloadError, ValueError, KeyError, TypeError) as exc:
        return _event_fail(event, exc, retryable=False)
    except ShopifyError as exc:
        return _event_fail(event, exc, retryable=exc.retryable)
    except Exception as exc:  # database trouble, a bug: retried, then kept as failed
        logger.exception("webhook event %s failed", event.pk)
        return _event_fail(event, exc, retryable=True)


def _event_fail(event: WebhookEvent, exc: BaseException, *, retryable: bool) -> str:
    message = f"{type(exc).__name__}: {exc}"[:4000]
    now = clock_now()
    if retryable and event.attempts < _setting("WEBHOOK_MAX_ATTEMPTS", 8):
        delay = _backoff_seconds(event.attempts)
        WebhookEvent.objects.filter(pk=event.pk).update(
            status=WebhookEvent.Status.RETRY, last_error=message, lease_until=None, dispatched_at=None,
            next_attempt_at=now + timedelta(seconds=delay),
        )
        webhook_events_dispatch(event_ids=[event.pk], delay=delay)
        return WebhookEvent.Status.RETRY
    WebhookEvent.objects.filter(pk=event.pk).update(
        status=WebhookEvent.Status.FAILED, last_error=message, lease_until=None, processed_at=now
    )
    logger.error("webhook event %s (%s) failed: %s", event.pk, event.topic, message)
    return WebhookEvent.Status.FAILED


def webhook_events_reprocess(*, event_ids: Iterable[int]) -> int:
    """Put failed events back to received and queue them (after a fix); return how many."""
    ids = list(
        WebhookEvent.objects.filter(pk__in=list(event_ids), status=WebhookEvent.Status.FAILED).values_list("pk", flat=True)
    )
    with transaction.atomic():
        WebhookEvent.objects.filter(pk__in=ids).update(
            status=WebhookEvent.Status.RECEIVED, attempts=0, next_attempt_at=clock_now(), processed_at=None,
            dispatched_at=None,
        )
        if ids:
            transaction.on_commit(lambda: webhook_events_dispatch(event_ids=ids))
    return len(ids)
