"""Webhook subscription health: compare each store's subscriptions with what the PIM needs, and repair them.

Shopify retries a failed delivery 8 times over about 4 hours, then gives up, and deletes a subscription made through
the Admin API after it keeps failing (https://shopify.dev/docs/apps/build/webhooks/troubleshooting-webhooks,
https://shopify.dev/changelog/updates-to-webhook-retry-mechanism). A PIM whose subscription vanished misses every
later sale and oversells; nothing on the PIM's side shows it. So the sweeper checks every store periodically
(``WEBHOOK_SUBSCRIPTION_CHECK_SECONDS``) and repairs what it can:

- ``missing``: no subscription of a needed topic to the PIM's address → created again (and an alert, because events
  may have been missed meanwhile);
- ``format``: not JSON → re-created as JSON;
- ``filtered``: a ``filter`` or ``includeFields`` that hides events or fields the PIM reads → re-created without;
- ``api_version``: the app serialises webhooks with another API version than the PIM reads. The version is the
  app's, inherited by every subscription (``WebhookSubscription.apiVersion``), so it cannot be repaired from here:
  reported for a person to change in the app's settings.

The PIM's address is ``SHOPIFY_WEBHOOK_URL`` or, if unset, the one last given to ``register_webhooks``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from channels.alerts import alert_raise
from channels.clients import client_for_store
from channels.models import Store
from channels.shopify.exceptions import ShopifyError
from outbox.leases import lease_take
from pim.clock import clock_now

from .models import WebhookSubscriptionHealth

logger = logging.getLogger(__name__)

REPAIRABLE = {"missing", "format", "filtered"}


class SubscriptionTargetUnknown(ValueError):
    """Raised when neither SHOPIFY_WEBHOOK_URL nor an earlier register_webhooks says where webhooks must go."""


@dataclass
class Finding:
    topic: str
    problem: str  # missing | format | filtered | api_version
    detail: str
    repaired: bool = False


def webhook_topics_needed() -> tuple[str, ...]:
    """Return the topic enums the PIM handles (the registry ``register_webhooks`` subscribes by default)."""
    return tuple(WEBHOOK_TOPICS)


def _host(uri: str) -> str:
    # Show where a foreign subscription points without its path or query (those may carry secrets).
    parts = urlsplit(uri)
    return parts.hostname or uri.split(":", 1)[0]


def webhook_subscriptions_compare(*, subscriptions: list[dict], topics: tuple[str, ...] | list[str],
                                  callback_url: str, api_version: str) -> list[Finding]:
    """Return what is wrong with ``subscriptions`` (Shopify's nodes) for the PIM's ``topics`` at ``callback_url``.

    Pure: reads only its arguments. An empty list means healthy.
    """
    findings: list[Finding] = []
    for topic in topics:
        same_topic = [s for s in subscriptions if s.get("topic") == topic]
        mine = [s for s in same_topic if s.get("uri") == callback_url]
        if not mine:
            others = sorted({_host(s.get("uri") or "") for s in same_topic})
            detail = "no subscription to the PIM's address"
            if others:
                detail += f" (only to {', '.join(others)})"
            findings.append(Finding(topic, "missing", detail))
            continue
        sub = mine[0]
        if (sub.get("format") or "JSON") != "JSON":
            findings.append(Finding(topic, "format", f"format {sub.get('format')}, the PIM reads JSON"))
        if sub.get("filter") or sub.get("includeFields"):
            findings.append(Finding(topic, "filtered", "a filter or includeFields hides events or fields the PIM "
                                                        "reads"))
        version = ((sub.get("apiVersion") or {}).get("handle")) or ""
        if version and version != api_version:
            findings.append(Finding(
                topic, "api_version",
                f"the app sends {version} payloads; the PIM reads {api_version}. Set the app's webhook API version "
                f"to {api_version} in its settings (Dev Dashboard: the app's version; CLI apps: [webhooks] "
                f"api_version in shopify.app.toml)"))
    return findings


def webhook_subscriptions_target(*, store: Store) -> str:
    """Return the address the store's subscriptions must point to. Raises SubscriptionTargetUnknown."""
    if settings.SHOPIFY_WEBHOOK_URL:
        return settings.SHOPIFY_WEBHOOK_URL
    url = (WebhookSubscriptionHealth.objects.filter(store=store).values_list("callback_url", flat=True).first()
           or "")
    if not url:
        raise SubscriptionTargetUnknown(
            f"No webhook address known for {store.name}: set SHOPIFY_WEBHOOK_URL or run register_webhooks.")
    return url


def webhook_subscriptions_target_record(*, store: Store, callback_url: str) -> None:
    """Remember ``callback_url`` as the store's webhook address (``register_webhooks`` calls this on success)."""
    WebhookSubscriptionHealth.objects.update_or_create(store=store, defaults={"callback_url": callback_url})


def webhook_subscriptions_check(*, store: Store, repair: bool = False, client=None,
                                now: datetime | None = None) -> WebhookSubscriptionHealth:
    """Check ``store``'s subscriptions against the PIM's needs, repair what can be repaired if ``repair``, record
    the result and alert on missing topics; return the store's health row.

    Talks to Shopify: call it outside a transaction. Shopify errors are recorded as the row's ``error`` state, not
    raised. Raises SubscriptionTargetUnknown when the PIM's address is unknown.
    """
    now = now or clock_now()
    url = webhook_subscriptions_target(store=store)
    health, _ = WebhookSubscriptionHealth.objects.get_or_create(store=store)
    api_version = store.api_version or settings.SHOPIFY_API_VERSION
    findings: list[Finding] = []
    error = ""
    try:
        client = client or client_for_store(store)
        subscriptions = client.webhook_subscriptions()
        findings = webhook_subscriptions_compare(subscriptions=subscriptions, topics=webhook_topics_needed(),
                                                 callback_url=url, api_version=api_version)
        if repair:
            _repair(client=client, findings=findings, subscriptions=subscriptions, callback_url=url)
    except ShopifyError as exc:
        error = f"{type(exc).__name__}: {exc}"
        logger.warning("webhook subscription check of %s failed: %s", store.name, type(exc).__name__)
    if error:
        state = WebhookSubscriptionHealth.State.ERROR
    elif any(not f.repaired for f in findings):
        state = WebhookSubscriptionHealth.State.PROBLEM
    elif findings:
        state = WebhookSubscriptionHealth.State.REPAIRED
    else:
        state = WebhookSubscriptionHealth.State.OK
    health.callback_url = health.callback_url or url
    health.state = state
    health.findings = [asdict(f) for f in findings]
    health.last_error = error
    health.checked_at = now
    health.next_check_at = now + timedelta(seconds=settings.WEBHOOK_SUBSCRIPTION_CHECK_SECONDS)
    health.save()
    missing = [f.topic for f in findings if f.problem == "missing"]
    if missing:
        fixed = all(f.repaired for f in findings if f.problem == "missing")
        alert_raise(
            kind="webhook_subscription_missing", store=store, now=now,
            message=(f"{store.name} had no webhook subscription for {', '.join(missing)}: "
                     + ("re-created; events of the gap may be missing (replay the gap with inventory_catchup)."
                        if fixed else "not repaired — orders are not reaching the PIM.")))
    return health


def _repair(*, client, findings: list[Finding], subscriptions: list[dict], callback_url: str) -> None:
    """Create missing subscriptions; replace wrongly shaped ones (delete, then create as JSON without filters)."""
    by_topic: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.problem in REPAIRABLE:
            by_topic.setdefault(finding.topic, []).append(finding)
    for topic, topic_findings in by_topic.items():
        try:
            for sub in subscriptions:
                if sub.get("topic") == topic and sub.get("uri") == callback_url:
                    client.webhook_subscription_delete(subscription_id=sub["id"])
            client.webhook_subscription_create(topic=topic, callback_url=callback_url)
        except ShopifyError as exc:
            for finding in topic_findings:
                finding.detail += f" — repair failed: {exc}"
            continue
        for finding in topic_findings:
            finding.repaired = True


def webhook_subscriptions_due(*, now: datetime | None = None) -> list[int]:
    """Claim the stores whose subscription check is due and return their ids (the sweeper queues one check each).

    With SHOPIFY_WEBHOOK_URL set every active store is checked; otherwise the stores that register_webhooks was
    run for. Claiming moves ``next_check_at`` forward with a conditional update, so several sweepers on several
    machines queue each check once.
    """
    now = now or clock_now()
    if settings.SHOPIFY_WEBHOOK_URL:
        for store in Store.objects.filter(is_active=True, webhook_health__isnull=True):
            WebhookSubscriptionHealth.objects.get_or_create(store=store)
    due = WebhookSubscriptionHealth.objects.filter(store__is_active=True).filter(
        Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
    if not settings.SHOPIFY_WEBHOOK_URL:
        due = due.exclude(callback_url="")
    claimed = []
    for row in due.values("pk", "store_id"):
        if lease_take(rows=WebhookSubscriptionHealth.objects.filter(pk=row["pk"]), field="next_check_at",
                      seconds=settings.WEBHOOK_SUBSCRIPTION_CHECK_SECONDS, now=now):
            claimed.append(row["store_id"])
    return claimed


def webhook_subscriptions_sweep(*, now: datetime | None = None) -> int:
    """Queue a check-and-repair for every store that is due; return how many were queued."""
    import django_rq

    from .tasks import webhook_subscriptions_check_run

    store_ids = webhook_subscriptions_due(now=now)
    queue = django_rq.get_queue("default")
    for store_id in store_ids:
        queue.enqueue(webhook_subscriptions_check_run, store_id, job_id=f"webhook-subscriptions-{store_id}-"
                      f"{int((now or clock_now()).timestamp())}")
    return len(store_ids)


def webhook_subscriptions_health_lines(store: Store) -> list:
    """The store's subscription health for the sync health page and ``sync_status`` (a channels health provider)."""
    from django.urls import reverse

    from channels.health import HealthLine

    health = WebhookSubscriptionHealth.objects.filter(store=store).first()
    if health is None:
        return [HealthLine("Webhook subscriptions", "not registered yet (register_webhooks)", problem=store.is_active)]
    open_findings = [f for f in health.findings if not f.get("repaired")]
    if health.state == WebhookSubscriptionHealth.State.UNKNOWN:
        value = "not checked yet"
    elif health.state == WebhookSubscriptionHealth.State.ERROR:
        value = f"check failed: {health.last_error[:200]}"
    elif open_findings:
        value = "; ".join(f"{f['topic']}: {f['detail']}" for f in open_findings)
    elif health.findings:
        value = "repaired: " + ", ".join(f"{f['topic']} ({f['problem']})" for f in health.findings)
    else:
        value = "all topics subscribed"
    if health.checked_at:
        value += f" — checked {timezone.localtime(health.checked_at):%Y-%m-%d %H:%M}"
    problem = health.state in (WebhookSubscriptionHealth.State.PROBLEM, WebhookSubscriptionHealth.State.ERROR)
    link = reverse("admin:inventory_webhooksubscriptionhealth_change", args=[health.pk])
    return [HealthLine("Webhook subscriptions", value, problem=problem, link=link)]


def inventory_alerts_check(now: datetime) -> int:
    """Alert per store on webhook deliveries that failed processing and inventory pushes dead-lettered in the
    current alert window (a channels alert check, registered in ``InventoryConfig.ready``)."""
    from django.db.models import Count

    from channels.alerts import alert_window_start

    from .models import InventoryPush, WebhookEvent

    since = alert_window_start(now=now)
    raised = 0
    failed = (WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED, received_at__gte=since,
                                          store__isnull=False).values("store").annotate(n=Count("pk")))
    dead = (InventoryPush.objects.filter(status="dead", finished_at__gte=since).values("store")
            .annotate(n=Count("pk")))
    stores = Store.objects.in_bulk({r["store"] for r in failed} | {r["store"] for r in dead})
    for row in failed:
        store = stores[row["store"]]
        raised += alert_raise(kind="webhook_events_failed", store=store, now=now,
                              message=f"{row['n']} webhook deliveries from {store.name} failed processing since "
                                      f"{since:%H:%M} UTC; stock may be off until they are reprocessed (Webhook "
                                      f"events, status failed).")
    for row in dead:
        store = stores[row["store"]]
        raised += alert_raise(kind="inventory_push_dead", store=store, now=now,
                              message=f"{row['n']} inventory push(es) to {store.name} were dead-lettered since "
                                      f"{since:%H:%M} UTC; Shopify's stock differs from the PIM's (Inventory pushes, "
                                      f"status dead).")
    return raised


def connect_steps(store: Store, webhook_url: str) -> list:
    """After a passing connection test: list the shop's locations (and offer to map them), register the webhook
    subscriptions the PIM needs at ``webhook_url`` (a channels connect step)."""
    from django.urls import reverse

    from channels.connect import ConnectLine

    client = client_for_store(store)
    lines = []
    locations = client.locations()
    names = ", ".join(loc.get("name") or "?" for loc in locations) or "none"
    lines.append(ConnectLine("Locations in Shopify", f"{len(locations)}: {names}", ok=bool(locations),
                             action_url=reverse("admin:inventory_storeinventory_changelist"),
                             action_label="Map locations"))
    if not webhook_url:
        lines.append(ConnectLine("Webhooks", "not registered: set SHOPIFY_WEBHOOK_URL", ok=False))
        return lines
    try:
        results = webhook_subscriptions_register(store=store, callback_url=webhook_url, client=client)
    except ValueError as exc:
        lines.append(ConnectLine("Webhooks", f"not registered: {exc}", ok=False))
        return lines
    webhook_subscriptions_target_record(store=store, callback_url=webhook_url)
    created = sum(1 for r in results if r["action"] == "created")
    lines.append(ConnectLine("Webhooks", f"{len(results)} topic(s) subscribed ({created} new), checked hourly"))
    return lines


# --- registering subscriptions ---------------------------------------------------------------------------


# The topics ``register_webhooks`` subscribes to and ``webhook_event_process`` handles.
WEBHOOK_TOPICS = (
    "ORDERS_CREATE",
    "ORDERS_UPDATED",
    "ORDERS_EDITED",
    "ORDERS_CANCELLED",
    "REFUNDS_CREATE",
    "FULFILLMENT_ORDERS_ORDER_ROUTING_COMPLETE",
    "FULFILLMENT_ORDERS_MOVED",
    "INVENTORY_LEVELS_CONNECT",
    "PRODUCTS_UPDATE",
    "PRODUCTS_DELETE",
    "INVENTORY_LEVELS_UPDATE",
    "APP_UNINSTALLED",
    "BULK_OPERATIONS_FINISH",  # wakes a bulk publish run (webhooks.bulk_finish)
)


def webhook_subscriptions_register(
    *, store: Store, callback_url: str, topics: Iterable[str] = WEBHOOK_TOPICS, replace: bool = False, client=None
) -> list[dict]:
    """Subscribe ``callback_url`` to the topics this app handles in ``store``'s shop; return what was done.

    Already-present subscriptions (same topic and URL) are kept; with ``replace``, subscriptions of these topics
    to other URLs are deleted. Each result row is ``{topic, action (created|exists|deleted), id}``. Raises
    ValueError for a non-HTTPS URL (plain HTTP is allowed on loopback only) and the Shopify client's errors.
    """
    from urllib.parse import urlsplit

    from config.logsafe import url_for_log

    parts = urlsplit(callback_url)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1") or (parts.hostname or "").endswith(".localhost")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValueError("Shopify delivers webhooks to HTTPS addresses only.")
    if not parts.path.rstrip("/").endswith("/shopify/webhooks"):
        logger.warning("the webhook URL for %s does not end with /shopify/webhooks/", url_for_log(callback_url))
    client = client or client_for_store(store)
    wanted = [t.upper() for t in topics]
    existing = client.webhook_subscriptions()
    results = []
    for topic in wanted:
        mine = [s for s in existing if s.get("topic") == topic and s.get("uri") == callback_url]
        others = [s for s in existing if s.get("topic") == topic and s.get("uri") != callback_url]
        if replace:
            for sub in others:
                client.webhook_subscription_delete(subscription_id=sub["id"])
                results.append({"topic": topic, "action": "deleted", "id": sub["id"], "uri": sub.get("uri")})
        if mine:
            results.append({"topic": topic, "action": "exists", "id": mine[0]["id"], "uri": callback_url})
            continue
        created = client.webhook_subscription_create(topic=topic, callback_url=callback_url)
        results.append({"topic": topic, "action": "created", "id": created.get("id"), "uri": callback_url})
    return results
