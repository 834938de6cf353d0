"""Webhook traffic for the scenarios: signed ``orders/create`` deliveries (``OrderFactory``), an open-loop sender to
the real endpoint (``WebhookSender``), and the stock checks after it (``stock_audit``, ``inbox_figures``)."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .catalog import StockWorld
from .harness import SAMPLES, WEBHOOK_PATH, Audit, Env, _oneline


def sign(body: bytes, secret: str) -> str:
    from channels.shopify.webhooks import compute_webhook_hmac

    return compute_webhook_hmac(raw_body=body, secret=secret)


def webhook_headers(*, topic: str, shop_domain: str, body: bytes, secret: str, webhook_id: str | None = None,
                    event_id: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]
    key: str = ""  # what it delivers (e.g. the order id), for the report
    ref: str = ""  # the ledger reference it must produce exactly once (same for a duplicate)


class OrderFactory:
    """Signed ``orders/create`` deliveries (Shopify's sample payload, one line of quantity 1) for a shop."""

    ORDER, LINE, VARIANT = 918273645500001, 918273645500002, 918273645500003

    def __init__(self, world: StockWorld, shop: str = "shop-a"):
        template = json.loads((SAMPLES / "webhook_orders_create.json").read_text())
        line = dict(template["line_items"][0])
        line.update(id=self.LINE, admin_graphql_api_id=f"gid://shopify/LineItem/{self.LINE}",
                    variant_id=self.VARIANT, sku="__SKU__", quantity=1, current_quantity=1, fulfillable_quantity=1,
                    fulfillment_status=None)
        template.update(id=self.ORDER, admin_graphql_api_id=f"gid://shopify/Order/{self.ORDER}",
                        name=f"#{self.ORDER}", line_items=[line], location_id=None, refunds=[], fulfillments=[],
                        cancelled_at=None, cancel_reason=None)
        self.text = json.dumps(template)
        self.world = world
        self.shop = shop
        self.store = world.stores[shop]
        self.secret = env_secret(world.env, shop)
        self.next_id = random.randrange(10**9, 2 * 10**9) * 1000

    def make(self, sku: str) -> tuple[Delivery, str]:
        """One new order for ``sku``; returns the delivery and the sale's ledger reference."""
        self.next_id += 10
        order_id, line_id = self.next_id, self.next_id + 1
        body = (self.text.replace(str(self.ORDER), str(order_id)).replace(str(self.LINE), str(line_id))
                .replace(str(self.VARIANT), str(self.world.shop_variants[self.shop][sku]))
                .replace('"__SKU__"', json.dumps(sku))).encode()
        headers = webhook_headers(topic="orders/create", shop_domain=self.store.shop_domain, body=body,
                                  secret=self.secret)
        ref = f"shopify:{self.store.shop_domain}:order:{order_id}:line:{line_id}:sale"
        return Delivery(body, headers, key=sku, ref=ref), ref

    def batch(self, count: int, *, duplicate_share: float = 0.0, rng: random.Random | None = None):
        """``count`` orders spread over the SKUs; a share of them delivered twice (same ids, later).

        Returns (deliveries in sending order, expected sold units per SKU, expected sale references)."""
        rng = rng or random.Random(7)
        skus = list(self.world.variants)
        deliveries, refs, sold = [], set(), Counter()
        for i in range(count):
            sku = skus[i % len(skus)]
            delivery, ref = self.make(sku)
            deliveries.append(delivery)
            refs.add(ref)
            sold[sku] += 1
        for delivery in list(deliveries):
            if rng.random() < duplicate_share:
                at = rng.randrange(deliveries.index(delivery) + 1, len(deliveries) + 1)
                deliveries.insert(at, Delivery(delivery.body, dict(delivery.headers), key=delivery.key,
                                               ref=delivery.ref))
        return deliveries, sold, refs


def env_secret(env: Env, shop: str) -> str:
    return env.sim.shops[shop].webhook_secret


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(round(share * len(ordered) + 0.4999)) - 1))]


@dataclass
class SendStats:
    offered: int = 0
    sent: int = 0  # offered deliveries the sender started (the others: the send window closed first)
    accepted: int = 0  # answered 200 (stored or duplicate)
    first_try: int = 0
    retries: int = 0
    gave_up: int = 0
    statuses: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    max_lag_s: float = 0.0
    seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        return {
            "offered": self.offered, "sent": self.sent, "not_sent": self.offered - self.sent,
            "accepted": self.accepted, "accepted_per_s": self.accepted / self.seconds if self.seconds else 0.0,
            "send_seconds": self.seconds, "p50_ms": percentile(self.latencies_ms, 0.5),
            "p99_ms": percentile(self.latencies_ms, 0.99), "http_retries": self.retries, "gave_up": self.gave_up,
            "max_send_lag_s": self.max_lag_s, "answers": dict(self.outcomes),
        }


class WebhookSender:
    """Posts deliveries to the real endpoint open-loop at ``rate`` per second from ``threads`` keep-alive
    connections; a delivery not answered 200 is retried every 0.25 s for up to ``retry_for`` seconds (as Shopify
    retries). ``rate=None`` sends as fast as the threads go.

    Each thread waits for its answer, so when the endpoint answers fewer than ``rate`` per second the sending falls
    behind the schedule; ``run(..., window=s)`` starts no delivery after ``s`` seconds (those started finish,
    retries included) so a scenario ends at the rate the machine achieved instead of sending everything however
    long it takes. ``sent_indices`` lists the deliveries started."""

    def __init__(self, base_url: str, *, threads: int = 8, retry_for: float = 60.0):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.threads = threads
        self.retry_for = retry_for
        self.stats = SendStats()
        self.sent_indices: list[int] = []
        self._thread: threading.Thread | None = None

    def _post(self, holder: dict, delivery: Delivery) -> tuple[int | None, str]:
        conn = holder.get("conn")
        try:
            if conn is None:
                conn = holder["conn"] = http.client.HTTPConnection(self.host, self.port, timeout=30)
            conn.request("POST", WEBHOOK_PATH, body=delivery.body, headers=delivery.headers)
            response = conn.getresponse()
            text = response.read().decode(errors="replace")
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                holder["conn"] = None
            return response.status, text
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            holder["conn"] = None
            return None, ""

    def run(self, deliveries: list[Delivery], rate: float | None, *, window: float | None = None) -> SendStats:
        stats = self.stats
        stats.offered += len(deliveries)
        lock = threading.Lock()
        cursor = iter(range(len(deliveries)))
        started = time.perf_counter()

        def work():
            holder: dict = {}
            while True:
                with lock:
                    closed = window is not None and time.perf_counter() - started > window
                    i = None if closed else next(cursor, None)
                    if i is not None:
                        self.sent_indices.append(i)
                        stats.sent += 1
                if i is None:
                    break
                if rate:
                    due = started + i / rate
                    lag = time.perf_counter() - due
                    if lag < 0:
                        time.sleep(-lag)
                    elif lag > stats.max_lag_s:
                        stats.max_lag_s = lag
                give_up = time.perf_counter() + self.retry_for
                first = True
                while True:
                    t0 = time.perf_counter()
                    status, text = self._post(holder, deliveries[i])
                    elapsed = (time.perf_counter() - t0) * 1000
                    with lock:
                        stats.statuses[status] += 1
                        if first:
                            stats.latencies_ms.append(elapsed)
                        if status == 200:
                            stats.accepted += 1
                            stats.first_try += first
                            stats.outcomes[text.strip()] += 1
                    if status == 200:
                        break
                    if time.perf_counter() > give_up:
                        with lock:
                            stats.gave_up += 1
                        break
                    with lock:
                        stats.retries += 1
                    first = False
                    time.sleep(0.25)
            if holder.get("conn") is not None:
                holder["conn"].close()

        pool = [threading.Thread(target=work, daemon=True) for _ in range(self.threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        stats.seconds += time.perf_counter() - started
        return stats

    def start(self, deliveries: list[Delivery], rate: float | None) -> WebhookSender:
        self._thread = threading.Thread(target=self.run, args=(deliveries, rate), daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> SendStats:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.stats

    @property
    def done(self) -> bool:
        return self._thread is None or not self._thread.is_alive()


def stock_audit(world: StockWorld, *, sold: Counter, restocked: Counter | None = None,
                expected_refs: set[str] | None = None, following: Iterable[str] = ("shop-b",),
                truth: Iterable[str] = ()) -> Audit:
    """Check stock arithmetic and the ledger after order webhooks of shop-a.

    PIM available per SKU must equal opening stock - sold + restocked; the ledger's order references (sales,
    restocks, cancellations) must be exactly ``expected_refs``; the ``following`` shops (receiving pushes) must
    show the PIM's quantity, and the ``truth`` shops (where the orders happened) the same quantity too.
    Unsettled while an event or a push still waits.
    """
    from inventory.models import InventoryPush, StockMovement, WebhookEvent

    audit = Audit()
    restocked = restocked or Counter()
    events = Counter(WebhookEvent.objects.values_list("status", flat=True))
    if any(events.get(s) for s in ("received", "processing", "retry")):
        audit.settled = False
    if events.get("failed"):
        audit.lost += events["failed"]
        for event in WebhookEvent.objects.filter(status="failed")[:5]:
            audit.problems.append(f"event {event.pk} {event.topic} failed: {_oneline(event.last_error)}")
    pushes = Counter(InventoryPush.objects.values_list("status", flat=True))
    if any(pushes.get(s) for s in ("pending", "running", "retry")):
        audit.settled = False
    if pushes.get("dead"):
        audit.lost += pushes["dead"]
        for push in InventoryPush.objects.filter(status="dead")[:5]:
            audit.problems.append(f"push {push.pk} {push.kind} dead: {_oneline(push.last_error)}")
    pim = world.pim_available()
    for sku, available in pim.items():
        expected = world.stock - sold.get(sku, 0) + restocked.get(sku, 0)
        if available > expected:
            audit.lost += 1
            audit.problems.append(f"{sku}: PIM {available}, expected {expected} (sales missing)")
        elif available < expected:
            audit.duplicated += 1
            audit.problems.append(f"{sku}: PIM {available}, expected {expected} (applied twice)")
    if expected_refs is not None:
        domain = world.stores["shop-a"].shop_domain
        refs = Counter(StockMovement.objects.filter(source_ref__startswith=f"shopify:{domain}:order:")
                       .values_list("source_ref", flat=True))
        missing = expected_refs - set(refs)
        extra = (set(refs) - expected_refs) | {r for r, n in refs.items() if n > 1}
        if missing:
            audit.lost += len(missing)
            audit.problems.append(f"{len(missing)} ledger movement(s) missing, e.g. {sorted(missing)[:2]}")
        if extra:
            audit.duplicated += len(extra)
            audit.problems.append(f"{len(extra)} unexpected ledger movement(s), e.g. {sorted(extra)[:2]}")
    for shop in [*following, *truth]:
        live = world.shop_available(shop)
        for sku, quantity in live.items():
            if quantity == pim[sku]:
                continue
            if shop in following and not audit.settled:
                continue  # pushes still on their way
            if quantity > pim[sku]:
                audit.lost += 1
            else:
                audit.duplicated += 1
            audit.problems.append(f"{shop} {sku}: {quantity}, PIM {pim[sku]}")
    return audit


def inbox_figures() -> dict[str, Any]:
    from django.db.models import Sum

    from inventory.models import InventoryPush, StockMovement, WebhookEvent

    return {
        "inbox_rows": WebhookEvent.objects.count(),
        "inbox_duplicates_counted": WebhookEvent.objects.aggregate(n=Sum("duplicates"))["n"] or 0,
        "sales_in_ledger": StockMovement.objects.filter(kind="sale").count(),
        "pushes_done": InventoryPush.objects.filter(status="done").count(),
    }


# --- faults on the infrastructure -------------------------------------------------------------------------------
