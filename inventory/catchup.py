"""Gap replay: the order watermark per store and the catch-up that reads missed orders from Shopify.

Shopify retries a webhook delivery 8 times over about 4 hours and then drops it; a subscription whose deliveries
keep failing is deleted (``inventory/subscriptions.py`` re-creates it). Events of such a gap never arrive. So the
PIM keeps, per store, an ``OrderWatermark``: ``complete_until`` is the moment up to which it holds every order
event. The sweeper (``order_watermarks_sweep``, every loop of ``inventory_sweeper``) moves it to
``now - ORDER_WATERMARK_MARGIN_SECONDS`` only while no gap is possible:

* the sweeper itself ran within ``ORDER_GAP_AFTER_SECONDS`` (else the PIM, its workers or the sweeper were down:
  a gap from the watermark);
* the store's webhook subscriptions are healthy: a subscription found missing and re-created is a gap from the
  watermark; a check that failed or found an unrepaired problem holds the watermark;
* the inbox has no order event of the store still waiting (the watermark stays before the oldest one).

A gap is durable work: ``gap_since`` is stored, the sweeper claims it with a lease and queues
``order_catchup_task`` (re-queued when the lease expires, so a lost job or a killed worker only delays it). The
replay reads the orders updated since ``gap_since`` (``orders(query: "updated_at:>=…", sortKey: UPDATED_AT)``,
paged; then each order's lines, sales agreements, refunds, fulfillments and routing; when the gap holds
``ORDER_CATCHUP_BULK_MIN_ORDERS`` orders or more, one bulk operation reads the plain sales among them and only the
others are read one by one: ``inventory/catchup_bulk.py``), turns each into the facts
the webhooks would have given (``inventory/orders.py``: units at creation from the OrderAgreement, edits by
OrderEditAgreement id = ``order_edit.id``, refund lines with restock type and location, fulfilled units,
cancellation, routing) and merges them under the order's row lock with the same idempotent reconcile: an order
already complete in the PIM changes nothing, a webhook arriving at the same time is serialised by the lock, and
each movement's unique source reference keeps it once. Then the watermark moves to the replay's start minus the
margin. Every ``ORDER_CATCHUP_VERIFY_SECONDS`` a replay from the watermark also runs without a known gap (it reads
only orders whose last update the PIM has not seen in a snapshot), catching deliveries that failed silently.

By hand: ``manage.py inventory_catchup --store X --since ISO`` (dry run: the orders found and the stock changes
the replay would make, nothing written) and ``--apply``.

Limits (to keep each read's requested cost low: the bucket is charged the requested cost before the refund): an
order with more than 30 lines, 5 sales agreements, 2 refunds or 2 fulfillments (or more than 15 lines in one of
them) is not replayed automatically when read one by one (the bulk read of a plain sale has no such limit); it is
named in the report (and the replay's error) for a person.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from channels.clients import client_for_store
from channels.models import Store
from channels.shopify import queries
from channels.shopify.exceptions import ShopifyBulkLimitReached, ShopifyBulkOperationError
from channels.shopify.ids import gid_to_id
from outbox.leases import lease_take
from pim.clock import clock_now

from . import orders as order_writeback
from .catchup_bulk import order_replay_bulk_read
from .ledger import _Origin
from .models import OrderWatermark, ShopifyOrder, StockMovement, WebhookEvent, WebhookSubscriptionHealth
from .selectors import ORDER_TOPICS
from .store_settings import store_settings

logger = logging.getLogger(__name__)

REPLAY_LABEL = "Shopify gap replay"
_WAITING = (WebhookEvent.Status.RECEIVED, WebhookEvent.Status.PROCESSING, WebhookEvent.Status.RETRY,
            WebhookEvent.Status.FAILED)


class OrderTooLarge(ValueError):
    """Raised for an order with more lines, agreements, refunds or fulfillments than one replay read holds."""


@dataclass
class CatchupReport:
    store: str
    since: datetime
    started_at: datetime
    dry_run: bool
    orders_found: int = 0
    orders_read: int = 0
    orders_bulk: int = 0  # of orders_read, read by one bulk operation (ORDER_CATCHUP_BULK_MIN_ORDERS)
    orders_skipped_current: int = 0
    orders_changed: int = 0
    movements: int = 0
    changes: Counter = field(default_factory=Counter)  # (sku, location name) -> units
    too_large: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        head = (f"{self.store}: {self.orders_found} order(s) updated since {self.since:%Y-%m-%d %H:%M:%S} UTC, "
                f"{self.orders_read} read ({self.orders_skipped_current} already current), "
                f"{self.orders_changed} with stock changes, {self.movements} movement(s)"
                + (" that the replay would record (dry run: nothing written)" if self.dry_run else " recorded"))
        lines = [head]
        for (sku, location), units in sorted(self.changes.items()):
            lines.append(f"  {sku} at {location}: {units:+d}")
        if self.too_large:
            lines.append(f"  not replayed (too large, check by hand): {', '.join(self.too_large)}")
        lines += [f"  {note}" for note in self.notes[:20]]
        return "\n".join(lines)


# --- reading from Shopify (outside any transaction) ---------------------------------------------------------------


def order_ids_updated_since(*, client, since: datetime) -> list[tuple[str, datetime | None]]:
    """Return (numeric order id, updatedAt) of every order updated at or after ``since``, oldest update first.

    Raises ShopifyError. Shopify's timestamps have second precision, so ``since`` is rounded down.
    """
    query = f"updated_at:>='{since.astimezone(timezone.get_fixed_timezone(0)).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
    found: dict[str, datetime | None] = {}
    after = None
    while True:
        data = client.execute(queries.ORDERS_UPDATED_SINCE, {"query": query, "after": after})
        page = data["orders"]
        for node in page["nodes"]:
            found[str(gid_to_id(node["id"]))] = parse_datetime(node.get("updatedAt") or "")
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    return list(found.items())


def _num(ref: str | None) -> int | None:
    return int(gid_to_id(ref)) if ref else None


def _full(connection: dict | None, what: str, order_id: str) -> list:
    connection = connection or {}
    if (connection.get("pageInfo") or {}).get("hasNextPage"):
        raise OrderTooLarge(f"order {order_id}: more {what} than one read holds")
    return connection.get("nodes") or []


def order_replay_read(*, client, order_id: str) -> dict | None:
    """Read one order and return the facts the webhooks would have given (None if Shopify no longer has it).

    Raises ShopifyError, OrderTooLarge.
    """
    gid = f"gid://shopify/Order/{order_id}"
    node = client.execute(queries.ORDER_REPLAY_LINES, {"id": gid}).get("order")
    if not node:
        return None
    stock = client.execute(queries.ORDER_REPLAY_STOCK, {"id": gid}).get("order") or {}
    lines = _full(node.get("lineItems"), "lines", order_id)
    agreements = _full(node.get("agreements"), "agreements", order_id)
    refunds = stock.get("refunds") or []
    fulfillments = stock.get("fulfillments") or []
    if len(refunds) >= 3 or len(fulfillments) >= 3:
        raise OrderTooLarge(f"order {order_id}: 3 or more refunds or fulfillments")
    by_id = {str(gid_to_id(li["id"])): li for li in lines}
    created_units: dict[str, int] = {}
    edits = []
    for agreement in agreements:
        kind = agreement.get("__typename")
        if kind not in ("OrderAgreement", "OrderEditAgreement"):
            continue
        sales = _full(agreement.get("sales"), "sales in an agreement", order_id)
        if kind == "OrderAgreement":
            for sale in sales:
                if (sale.get("lineItem") or {}).get("id"):
                    lid = str(gid_to_id(sale["lineItem"]["id"]))
                    created_units[lid] = created_units.get(lid, 0) + abs(int(sale.get("quantity") or 0))
            continue
        additions, removals = [], []
        for sale in sales:
            if not (sale.get("lineItem") or {}).get("id"):
                continue
            change = {"id": int(gid_to_id(sale["lineItem"]["id"])), "delta": abs(int(sale.get("quantity") or 0))}
            (removals if sale.get("actionType") == "RETURN" else additions).append(change)
        edits.append({"id": int(gid_to_id(agreement["id"])), "line_items": {"additions": additions,
                                                                           "removals": removals}})

    def line_json(lid: str, quantity: int) -> dict:
        li = by_id.get(lid) or {}
        return {"id": int(lid), "quantity": quantity, "sku": li.get("sku") or "", "name": li.get("name") or "",
                "variant_id": _num((li.get("variant") or {}).get("id"))}

    refund_json = []
    for refund in refunds:
        rlis = _full(refund.get("refundLineItems"), "refund lines", order_id)
        refund_json.append({"id": int(gid_to_id(refund["id"])), "refund_line_items": [{
            "id": int(gid_to_id(r["id"])), "quantity": int(r["quantity"]),
            "line_item_id": int(gid_to_id(r["lineItem"]["id"])),
            "restock_type": str(r.get("restockType") or "NO_RESTOCK").lower(),
            "location_id": _num((r.get("location") or {}).get("id")),
        } for r in rlis]})
    fulfillment_json = []
    for f in fulfillments:
        items = _full(f.get("fulfillmentLineItems"), "fulfilled lines", order_id)
        fulfillment_json.append({"status": str(f.get("status") or "").lower(),
                                 "location_id": _num((f.get("location") or {}).get("id")),
                                 "line_items": [{"id": int(gid_to_id(i["lineItem"]["id"])),
                                                 "quantity": int(i.get("quantity") or 0)} for i in items]})
    base = {"id": int(order_id), "name": node.get("name") or "", "created_at": node.get("createdAt"),
            "updated_at": node.get("updatedAt"), "cancelled_at": node.get("cancelledAt"),
            "location_id": _num((node.get("retailLocation") or {}).get("id")),
            "fulfillments": fulfillment_json}
    created = dict(base, refunds=refund_json,
                   line_items=[line_json(lid, units) for lid, units in created_units.items()])
    added = [lid for lid in by_id if lid not in created_units]
    fetched = order_writeback._normalise_order({"id": gid, "cancelledAt": node.get("cancelledAt"),
                                                "lineItems": {"nodes": lines},
                                                "fulfillmentOrders": stock.get("fulfillmentOrders")})
    return {"order_id": order_id, "name": base["name"], "created": created, "edits": edits,
            "added": dict(base, refunds=[], line_items=[line_json(lid, 0) for lid in added]),
            "fetched": fetched}


# --- merging (no network) ----------------------------------------------------------------------------------------


def order_replay_merge(*, store: Store, facts: dict) -> tuple[int, list[str]]:
    """Merge one order's replayed facts like its webhooks would have and reconcile its lines' stock; return
    (movements recorded, notes). Runs in the caller's transaction. Raises PayloadError for malformed facts."""
    shop = store.shop_domain
    origin = _Origin(actor_label=f"{REPLAY_LABEL} ({shop})"[:255], store=store, shop_domain=shop)
    order = order_writeback._Order(shop=shop, store=store, order_id=facts["order_id"], origin=origin)
    order_writeback._merge_snapshot(order, facts["created"], cancelled_topic=False, create=True)
    if order.row.created_seen_at is None:
        order.row.created_seen_at = timezone.now()
    for edit in facts["edits"]:
        order_writeback._merge_edit(order, edit)
    if facts["added"]["line_items"]:
        order_writeback._merge_snapshot(order, facts["added"], cancelled_topic=False, create=False)
    fetched = dict(facts["fetched"])
    order_writeback._merge_fetched(order, fetched)
    if fetched.get("cancelled") and order.row.cancelled_seen_at is None:
        order.row.cancelled_seen_at = timezone.now()
    order_writeback._locate_lines(order)
    order.save()
    order_writeback.order_reconcile(order=order)
    order.save()
    return order.applied, order.notes


def order_catchup_run(*, store: Store, since: datetime, apply: bool, only_unseen: bool = False,
                      client=None) -> CatchupReport:
    """Replay the orders of ``store`` updated since ``since``; with ``apply=False`` a dry run (the report says what
    would change; nothing is written). ``only_unseen`` skips orders whose last update a snapshot already brought.

    Reads Shopify first (outside any transaction), then merges each order in its own transaction (a dry run in one
    transaction rolled back). Raises ShopifyError when Shopify cannot be read.
    """
    report = CatchupReport(store=store.name, since=since, started_at=timezone.now(), dry_run=not apply)
    if not store_settings(store=store).sales_write_back:
        report.notes.append("this store does not write sales back: nothing to replay")
        return report
    client = client or client_for_store(store)
    found = order_ids_updated_since(client=client, since=since)
    report.orders_found = len(found)
    known = dict(ShopifyOrder.objects.filter(shop_domain=store.shop_domain, order_id__in=[o for o, _ in found])
                 .values_list("order_id", "snapshot_at"))
    wanted = []
    for order_id, updated in found:
        if only_unseen and known.get(order_id) and updated and known[order_id] >= updated:
            report.orders_skipped_current += 1
            continue
        wanted.append(order_id)
    bulk: dict[str, dict] = {}
    if wanted and len(wanted) >= settings.ORDER_CATCHUP_BULK_MIN_ORDERS:
        try:
            bulk = order_replay_bulk_read(client=client, since=since, order_ids=set(wanted))
        except (ShopifyBulkLimitReached, ShopifyBulkOperationError) as exc:  # e.g. a drift sweep's bulk running
            logger.info("gap replay of %s reads one by one: the bulk operation failed: %s", store.name, exc)
            report.notes.append(f"the bulk operation failed ({type(exc).__name__}): every order read one by one")
        else:
            report.orders_bulk = len(bulk)
            report.notes.append(f"read by one bulk operation: {len(bulk)} order(s); "
                                f"{len(wanted) - len(bulk)} read one by one")
    facts = []
    for order_id in wanted:
        if order_id in bulk:
            facts.append(bulk[order_id])
            continue
        try:
            read = order_replay_read(client=client, order_id=order_id)
        except OrderTooLarge as exc:
            report.too_large.append(order_id)
            report.notes.append(str(exc))
            continue
        if read is not None:
            facts.append(read)
    report.orders_read = len(facts)
    first_pk = StockMovement.objects.aggregate(n=Max("pk"))["n"] or 0
    label = f"{REPLAY_LABEL} ({store.shop_domain})"[:255]
    if apply:
        for item in facts:
            applied, notes = _merge_retrying(store=store, facts=item)
            _count(report, applied, notes, item)
        _changes(report, first_pk, label)
    else:
        with transaction.atomic():
            for item in facts:
                applied, notes = order_replay_merge(store=store, facts=item)
                _count(report, applied, notes, item)
            _changes(report, first_pk, label)
            transaction.set_rollback(True)
    return report


def _merge_retrying(*, store: Store, facts: dict, attempts: int = 5) -> tuple[int, list[str]]:
    """Merge one order in its own transaction, again when PostgreSQL chose it as a deadlock victim (a webhook of
    another order locking the same stock levels in the other order)."""
    for attempt in range(attempts):
        try:
            with transaction.atomic():
                return order_replay_merge(store=store, facts=facts)
        except OperationalError as exc:
            if "deadlock" not in str(exc).lower() or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _count(report: CatchupReport, applied: int, notes: list[str], item: dict) -> None:
    report.movements += applied
    report.orders_changed += bool(applied)
    report.notes += [f"{item['name'] or item['order_id']}: {note}" for note in notes]


def _changes(report: CatchupReport, first_pk: int, label: str) -> None:
    rows = (StockMovement.objects.filter(pk__gt=first_pk, actor_label=label)
            .values_list("variant__sku", "location__name", "quantity"))
    for sku, location, quantity in rows:
        report.changes[(sku, location)] += quantity


# --- the watermark -----------------------------------------------------------------------------------------------


def _margin() -> timedelta:
    return timedelta(seconds=settings.ORDER_WATERMARK_MARGIN_SECONDS)


def order_watermark_tick(*, store: Store, now: datetime | None = None) -> OrderWatermark:
    """Advance ``store``'s watermark if no gap is possible, or record a gap (see the module doc); return the row.

    Database only (no network); safe to run from several sweepers (the row is locked).
    """
    now = now or clock_now()
    with transaction.atomic():
        OrderWatermark.objects.get_or_create(store=store, defaults={"complete_until": now - _margin(),
                                                                    "ticked_at": now})
        mark = OrderWatermark.objects.select_for_update().get(store=store)
        reasons = []
        if mark.ticked_at and now - mark.ticked_at > timedelta(seconds=settings.ORDER_GAP_AFTER_SECONDS):
            reasons.append(f"the PIM's sweeper did not run from {mark.ticked_at:%Y-%m-%d %H:%M} to "
                           f"{now:%H:%M} UTC")
        hold = now - _margin()
        health = WebhookSubscriptionHealth.objects.filter(store=store).first()
        if health is not None and health.checked_at and (mark.health_seen_at is None
                                                         or health.checked_at > mark.health_seen_at):
            if any(f.get("problem") == "missing" for f in health.findings):
                reasons.append(f"webhook subscription(s) missing at {health.checked_at:%Y-%m-%d %H:%M} UTC")
            mark.health_seen_at = health.checked_at
        if health is not None and health.state in (WebhookSubscriptionHealth.State.PROBLEM,
                                                   WebhookSubscriptionHealth.State.ERROR):
            hold = min(hold, health.checked_at or hold)
        waiting = (WebhookEvent.objects.filter(shop_domain=store.shop_domain, topic__in=ORDER_TOPICS,
                                               status__in=_WAITING).aggregate(t=Min("received_at"))["t"])
        if waiting is not None:
            hold = min(hold, waiting)
        if reasons:
            if mark.gap_since is None:
                mark.gap_since = mark.complete_until or hold
                mark.gap_reason = "; ".join(reasons)
            else:
                mark.gap_reason = (mark.gap_reason + "; " + "; ".join(reasons))[-2000:]
        elif mark.gap_since is None and (mark.complete_until is None or hold > mark.complete_until):
            mark.complete_until = hold
        verify = settings.ORDER_CATCHUP_VERIFY_SECONDS
        if mark.next_verify_at is None and verify:
            mark.next_verify_at = now + timedelta(seconds=verify)
        mark.ticked_at = now
        mark.save()
    return mark


def order_catchup_claim(*, store: Store, now: datetime | None = None) -> bool:
    """Claim the store's owed replay (a gap, or a due verification) with a lease; return whether one was claimed."""
    now = now or clock_now()
    owed = Q(gap_since__isnull=False)
    if settings.ORDER_CATCHUP_VERIFY_SECONDS:
        owed |= Q(next_verify_at__lte=now)
    return lease_take(rows=OrderWatermark.objects.filter(owed, store=store), field="replay_lease_until",
                      seconds=settings.ORDER_CATCHUP_LEASE_SECONDS, now=now)


def order_catchup_replay(*, store: Store) -> str:
    """Run the owed replay of ``store`` (the claimed gap, else a verification from the watermark) and move the
    watermark; return a summary. Shopify errors are recorded on the row and the lease released for a retry."""
    mark = OrderWatermark.objects.filter(store=store).first()
    if mark is None:
        return "no watermark yet"
    gap = mark.gap_since
    since = (gap or mark.complete_until or timezone.now()) - _margin()
    started = timezone.now()
    try:
        report = order_catchup_run(store=store, since=since, apply=True, only_unseen=gap is None)
    except Exception as exc:  # Shopify down, a bad answer: keep the gap, retry after the lease
        logger.warning("gap replay of %s failed: %s", store.name, type(exc).__name__, exc_info=True)
        OrderWatermark.objects.filter(pk=mark.pk).update(
            last_replay_error=f"{type(exc).__name__}: {exc}"[:2000],
            replay_lease_until=clock_now() + timedelta(seconds=min(60, settings.ORDER_CATCHUP_LEASE_SECONDS)))
        return f"failed: {type(exc).__name__}"
    text = (f"gap since {gap:%Y-%m-%d %H:%M:%S} UTC ({mark.gap_reason}): " if gap else "verification: ") + report.text()
    with transaction.atomic():
        mark = OrderWatermark.objects.select_for_update().get(pk=mark.pk)
        if mark.gap_since == gap:  # a newer gap recorded meanwhile stays owed
            mark.gap_since = None
            mark.gap_reason = ""
        until = started - _margin()
        if mark.complete_until is None or until > mark.complete_until:
            mark.complete_until = until
        mark.last_replay_at = started
        mark.last_replay_summary = text[:4000]
        mark.last_replay_error = ("not replayed: " + ", ".join(report.too_large)) if report.too_large else ""
        mark.replay_lease_until = None
        if settings.ORDER_CATCHUP_VERIFY_SECONDS:
            mark.next_verify_at = clock_now() + timedelta(seconds=settings.ORDER_CATCHUP_VERIFY_SECONDS)
        mark.save()
    return text


def order_watermarks_sweep(*, now: datetime | None = None) -> int:
    """Tick every active store's watermark and queue the replays owed; return how many were queued."""
    import django_rq

    from .tasks import order_catchup_task

    now = now or clock_now()
    queued = 0
    for store in Store.objects.filter(is_active=True).exclude(shop_domain=""):
        if not store_settings(store=store).sales_write_back:
            continue
        order_watermark_tick(store=store, now=now)
        if order_catchup_claim(store=store, now=now):
            transaction.on_commit(lambda pk=store.pk: django_rq.get_queue("default").enqueue(
                order_catchup_task, pk, job_id=f"order-catchup-{pk}-{int(now.timestamp())}",
                job_timeout=settings.ORDER_CATCHUP_LEASE_SECONDS))  # a job never outlives its lease
            queued += 1
    return queued


def order_watermark_health_lines(store: Store) -> list:
    """The store's order watermark for the sync health page and ``sync_status`` (a channels health provider)."""
    from channels.health import HealthLine

    mark = OrderWatermark.objects.filter(store=store).first()
    if mark is None or mark.complete_until is None:
        return [HealthLine("Orders complete until", "not tracked yet (the inventory sweeper starts it)")]
    value = f"{timezone.localtime(mark.complete_until):%Y-%m-%d %H:%M:%S}"
    problem = False
    if mark.gap_since is not None:
        problem = True
        value += (f" — gap since {timezone.localtime(mark.gap_since):%Y-%m-%d %H:%M} ({mark.gap_reason[:200]}); "
                  f"replay {'running' if mark.replay_lease_until else 'queued'}")
    if mark.last_replay_error:
        problem = True
        value += f" — last replay: {mark.last_replay_error[:200]}"
    elif mark.last_replay_at:
        value += f" — last replay {timezone.localtime(mark.last_replay_at):%Y-%m-%d %H:%M}"
    return [HealthLine("Orders complete until", value, problem=problem)]
