"""The webhook inbox (issue 14): store a verified delivery, then process it on its lane.

``webhook_receive`` stores a delivery (deduplicated by ``X-Shopify-Webhook-Id`` / ``X-Shopify-Event-Id``) and
hands it to its lane after commit; a stored event is an ``outbox`` row of one of two kinds over the one table
(issue 15): ``WEBHOOK_EVENT``, the urgent topics (orders, refunds, cancellations, edits, stock levels) on the
``webhooks`` lane, ahead of everything; ``WEBHOOK_BACKGROUND_EVENT``, every other topic (product echoes, the app's
lifecycle) on the ``default`` lane, behind the stock pushes. The drain claims an event under a lease, runs
the topic's prefetch (network, no transaction) and handler (in a transaction), and records the outcome. A body of
the wrong shape fails the event for review at once; other errors retry with backoff, then fail it.
``webhook_events_reprocess`` (the admin's *Reprocess*) is the outbox's replay.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils.dateparse import parse_datetime

from channels.endpoints import SHOP_DOMAIN_RE
from channels.models import Store
from channels.shopify.webhooks import verify_webhook_hmac
from outbox.handoff import outbox_dispatch_recorded
from outbox.kinds import OutboxKind, Outcome
from outbox.services import outbox_dispatch, outbox_execute, outbox_replay
from pim.clock import clock_now

from .models import WebhookBodyClaim, WebhookEvent
from .topics import webhook_topic_handler, webhook_topic_prefetch, webhook_topic_urgent, webhook_urgent_topics

logger = logging.getLogger(__name__)

WEBHOOKS_QUEUE = "webhooks"  # the order lane: first in every worker's queue list
BACKGROUND_QUEUE = "default"  # the other topics: behind the order lane and the stock pushes
HMAC_HEADER_LOWER = "x-shopify-hmac-sha256"


class PayloadError(ValueError):
    """A webhook body of the wrong shape: the event fails for review, it is not retried."""


def webhook_shop_connections(*, shop_domain: str) -> list[Store]:
    """Return the active store connections of ``shop_domain`` (one query; none for a malformed domain)."""
    return webhook_shops_connections(shop_domains={shop_domain}).get(shop_domain.strip().lower(), [])


def webhook_shops_connections(*, shop_domains: Iterable[str]) -> dict[str, list[Store]]:
    """Return the active store connections of each of ``shop_domains`` by lower-cased domain, oldest first (one
    query; a malformed or unknown domain is absent)."""
    wanted = {d.strip().lower() for d in shop_domains}
    wanted = {d for d in wanted if d and SHOP_DOMAIN_RE.fullmatch(d)}
    found: dict[str, list[Store]] = {}
    if not wanted:
        return found
    for store in (Store.objects.filter(shop_domain__in=wanted, is_active=True).order_by("pk")
                  .only("pk", "name", "shop_domain", "auth_mode", "client_secret", "webhook_secret", "is_active")):
        found.setdefault(store.shop_domain, []).append(store)
    return found


def webhook_store_authenticate(*, shop_domain: str, raw_body: bytes, hmac_header: str | None,
                               connections: list[Store] | None = None) -> Store | None:
    """Return the active store connection of ``shop_domain`` whose webhook secret signs ``raw_body``.

    Several connections may share a shop: each active one's signing secret is tried (a Dev Dashboard app's
    client secret, a custom app's API secret key); ``connections`` are the shop's, if the caller loaded them
    (``webhook_shop_connections``). Returns None for an unknown shop, a missing or wrong signature, or a store
    without a signing secret.
    """
    if not shop_domain or not hmac_header:
        return None
    if connections is None:
        connections = webhook_shop_connections(shop_domain=shop_domain)
    for store in connections:
        if verify_webhook_hmac(raw_body=raw_body, secret=store.webhook_signing_secret, header_value=hmac_header):
            return store
    return None


@dataclass(frozen=True)
class WebhookReceipt:
    """What ``webhook_receive`` did: ``stored``, ``duplicate``, ``ignored`` (topic), ``failed`` (malformed) or
    ``refused`` (a body another shop claimed first; nothing stored)."""

    outcome: str
    event_id: int | None = None


def _header(headers: dict[str, str], name: str) -> str:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return str(value).strip()
    return ""


def _parse_datetime(value: str):
    try:
        return parse_datetime(value) if value else None
    except ValueError:
        return None


@functools.cache
def _insert_sql(claim: bool) -> tuple[str, tuple]:
    """The single-row INSERT's text (built once per process) and the event fields in parameter order."""
    fields = tuple(f for f in WebhookEvent._meta.concrete_fields if not f.primary_key)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table, claims = WebhookEvent._meta.db_table, WebhookBodyClaim._meta.db_table
    guard, prefix = "TRUE", ""
    if claim:
        # A new body claims itself for this shop; a known one passes only if this shop claimed it first (the
        # statement's snapshot: a concurrent first claim of the same shop reads as "not ours" and is sorted out
        # by the caller's follow-up as a duplicate).
        prefix = (f"WITH claim AS (INSERT INTO {claims} (topic, body_sha256, shop_domain, first_seen_at) "  # noqa: S608
                  "VALUES (%s, %s, %s, %s) ON CONFLICT (topic, body_sha256) DO NOTHING RETURNING shop_domain) ")
        guard = (f"(EXISTS (SELECT 1 FROM claim) OR EXISTS (SELECT 1 FROM {claims} "  # noqa: S608
                 "WHERE topic = %s AND body_sha256 = %s AND shop_domain = %s))")
    values = ", ".join(f"%s::{f.cast_db_type(connection)}" for f in fields)  # typed: NULLs in a SELECT list
    sql = (f"{prefix}INSERT INTO {table} ({columns}) SELECT {values} "  # noqa: S608
           f"WHERE {guard} ON CONFLICT DO NOTHING RETURNING id")
    return sql, fields


def _insert_event(event: WebhookEvent, *, claim: bool) -> int | None:
    """INSERT ``event`` (and, with ``claim``, its body's cross-shop claim) in one statement; return its id.

    One autocommitted statement, so one commit (one WAL flush) makes the delivery durable. None when nothing was
    stored: a duplicate delivery, or (``claim``) a body another shop claimed first.
    """
    sql, fields = _insert_sql(claim)
    params: list = [f.get_db_prep_save(f.pre_save(event, add=True), connection) for f in fields]
    prefix_params, params_guard = [], []
    if claim:
        digest = hashlib.sha256(bytes(event.raw_body)).hexdigest()
        prefix_params = [event.topic, digest, event.shop_domain, event.received_at]
        params_guard = [event.topic, digest, event.shop_domain]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*prefix_params, *params, *params_guard])
        row = cursor.fetchone()
    return row[0] if row else None


def _claimed_elsewhere(*, shop_domain: str, topic: str, raw_body: bytes) -> bool:
    digest = hashlib.sha256(raw_body).hexdigest()
    owner = (WebhookBodyClaim.objects.filter(topic=topic, body_sha256=digest)
             .values_list("shop_domain", flat=True).first())
    return owner is not None and owner != shop_domain


def webhook_event_build(*, store: Store, headers: dict[str, str], raw_body: bytes) -> WebhookEvent:
    """Return the unsaved inbox row of a delivery whose signature the caller verified with ``store``'s secret.

    A body that is not a JSON object makes a failed row (for review), a topic no app handles an ignored one;
    a received row carries ``dispatched_at`` (it is handed to its lane right after its commit). Without
    ``X-Shopify-Webhook-Id`` the id is a digest of shop, topic and body, so a replay of the same bytes still
    deduplicates. The signature header is never kept.
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
    return WebhookEvent(
        store=store, shop_domain=shop_domain, topic=topic[:100], webhook_id=webhook_id[:255], event_id=event_id[:255],
        triggered_at=_parse_datetime(_header(headers, "X-Shopify-Triggered-At")),
        api_version=_header(headers, "X-Shopify-API-Version")[:16], headers=kept, raw_body=raw_body, status=status,
        last_error=error, received_at=now, max_attempts=settings.WEBHOOK_MAX_ATTEMPTS,
        result="topic not handled" if status == WebhookEvent.Status.IGNORED else "",
        processed_at=now if status != WebhookEvent.Status.RECEIVED else None,
        # Handed to the lane in the same INSERT: the wake clears it if Redis is down (the sweep sends it).
        dispatched_at=now if status == WebhookEvent.Status.RECEIVED else None,
    )


def webhook_not_stored(*, event: WebhookEvent, claim_body: bool) -> WebhookReceipt:
    """Answer for a delivery whose INSERT stored nothing: ``refused`` (another shop's body) or ``duplicate``.

    A duplicate is counted on the row already stored (by webhook id, or event id for the same shop and topic).
    """
    raw_body = bytes(event.raw_body)
    if claim_body and _claimed_elsewhere(shop_domain=event.shop_domain, topic=event.topic, raw_body=raw_body):
        return WebhookReceipt("refused")
    same = Q(webhook_id=event.webhook_id)
    if event.event_id:
        same |= Q(shop_domain=event.shop_domain, topic=event.topic, event_id=event.event_id)
    WebhookEvent.objects.filter(same).update(duplicates=F("duplicates") + 1)
    return WebhookReceipt("duplicate")


def webhook_stored_receipt(event: WebhookEvent) -> WebhookReceipt:
    """Answer for a delivery just stored as ``event`` (``stored``, ``failed`` or ``ignored``)."""
    if event.status == WebhookEvent.Status.FAILED:
        logger.warning("webhook %s from %s kept as failed: %s", event.topic, event.shop_domain, event.last_error)
    status = event.status
    return WebhookReceipt(str(status) if status != WebhookEvent.Status.RECEIVED else "stored", event.pk)


def webhook_receive(*, store: Store, headers: dict[str, str], raw_body: bytes,
                    claim_body: bool = False) -> WebhookReceipt:
    """Store a delivery whose signature the caller verified with ``store``'s secret; queue it after commit.

    A delivery whose ``X-Shopify-Webhook-Id`` (or ``X-Shopify-Event-Id`` for the same shop and topic) is
    already stored is a duplicate: only counted. A body that is not a JSON object is kept as a failed event
    for review; a topic no app handles is kept as ignored. Neither is queued. With ``claim_body`` (the
    endpoint), the body is also claimed for the shop in the same statement, and a body another shop claimed
    first is refused (``refused``, nothing stored: the cross-shop replay guard). Never calls Shopify.
    (``webhooks.intake`` stores the endpoint's deliveries of several requests in one statement instead.)
    """
    event = webhook_event_build(store=store, headers=headers, raw_body=raw_body)
    # One autocommitted INSERT: durable when it returns, no BEGIN/COMMIT round trips (in the caller's
    # transaction if there is one; a conflict does not break it).
    event.pk = _insert_event(event, claim=claim_body)
    if event.pk is None:
        return webhook_not_stored(event=event, claim_body=claim_body)
    event._state.adding = False
    if event.status == WebhookEvent.Status.RECEIVED:
        # Runs at once after an autocommitted insert, or when the caller's transaction commits: one Redis round
        # trip (usually "a drain already waits"), no read-back.
        kind = webhook_event_kind(topic=event.topic)
        transaction.on_commit(lambda: outbox_dispatch_recorded(kind=kind, ids=[event.pk]))
    return webhook_stored_receipt(event)


def webhook_event_kind(*, topic: str) -> OutboxKind:
    """Return the outbox kind (and so the lane) of events of ``topic``: the order lane for urgent topics."""
    return WEBHOOK_EVENT if webhook_topic_urgent(topic) else WEBHOOK_BACKGROUND_EVENT


def webhook_events_dispatch(*, event_ids: Iterable[int], delay: float | None = None) -> int:
    """Hand received events to their lanes; return how many. Redis down: logged, the sweep sends them."""
    ids = list(event_ids)
    return sum(outbox_dispatch(kind=kind, ids=ids, delay=delay) for kind in WEBHOOK_KINDS)


def _execute(event: WebhookEvent) -> Outcome:
    handler = webhook_topic_handler(event.topic)
    payload = json.loads(bytes(event.raw_body))
    if not isinstance(payload, dict):
        raise PayloadError("the body is not a JSON object")
    prefetch = webhook_topic_prefetch(event.topic)
    extra = {"fetched": prefetch(event=event, payload=payload)} if prefetch else {}  # network: no transaction
    with transaction.atomic():
        result = handler(event=event, payload=payload, **extra) if handler else "topic not handled"
    return Outcome(WebhookEvent.Status.PROCESSED, str(result))


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, (ValueError, KeyError, TypeError)):  # the payload's shape: retrying changes nothing
        return False
    return bool(getattr(exc, "retryable", True))  # a Shopify error says; database trouble or a bug: retried


def webhook_event_process(*, event_id: int, worker: str | None = None) -> str:
    """Process one stored webhook event now; return its resulting status (``not-claimed`` if it is not waiting).

    Idempotent: an event that is not waiting (processed, failed, being processed elsewhere) is left alone, and
    every stock change has a unique source reference.
    """
    topic = WebhookEvent.objects.filter(pk=event_id).values_list("topic", flat=True).first()
    if topic is None:
        return "not-claimed"
    outcome = outbox_execute(kind=webhook_event_kind(topic=topic), row_id=event_id, worker=worker)
    return outcome.status


def webhook_events_reprocess(*, event_ids: Iterable[int]) -> int:
    """Put failed events back to waiting with fresh attempts and queue them (after a fix); return how many."""
    ids = list(event_ids)
    with transaction.atomic():
        return sum(outbox_replay(kind=kind, ids=ids) for kind in WEBHOOK_KINDS)


def _lease_seconds() -> float:
    return float(settings.WEBHOOK_LEASE_SECONDS)


def _urgent(rows):
    return rows.filter(topic__in=webhook_urgent_topics())


def _background(rows):
    return rows.exclude(topic__in=webhook_urgent_topics())


_EVENT_KIND = {
    "model": WebhookEvent, "execute": _execute,
    "waiting": (WebhookEvent.Status.RECEIVED, WebhookEvent.Status.RETRY), "retry_status": WebhookEvent.Status.RETRY,
    "running": WebhookEvent.Status.PROCESSING, "dead": WebhookEvent.Status.FAILED,
    "replayable": (WebhookEvent.Status.FAILED,), "order_by": ("received_at", "id"), "finished_field": "processed_at",
    "lease_seconds": _lease_seconds, "retryable": _retryable, "by_id_only_when_due": True,
}
# Order, refund, cancellation and edit events: the order lane, ahead of every other lane (issue 15).
WEBHOOK_EVENT = OutboxKind(name="webhook_event", lane=WEBHOOKS_QUEUE, label="order webhook events", scope=_urgent,
                           **_EVENT_KIND)
# Every other topic (product echoes, app/uninstalled): behind the stock pushes.
WEBHOOK_BACKGROUND_EVENT = OutboxKind(name="webhook_event_background", lane=BACKGROUND_QUEUE,
                                      label="other webhook events", scope=_background, **_EVENT_KIND)
WEBHOOK_KINDS = (WEBHOOK_EVENT, WEBHOOK_BACKGROUND_EVENT)
