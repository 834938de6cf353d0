"""Webhook faults and load: duplicated, jittered and reordered deliveries of real orders, cancellations and
refunds; and signed orders/create at a high rate to gunicorn while the workers drain the inbox."""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable

from .catalog import StockWorld, make_stores, stock_world
from .harness import SHOPS, WEBHOOK_PATH, Audit, Env, FaultReport, converge, running
from .traffic import (
    Delivery,
    OrderFactory,
    WebhookSender,
    env_secret,
    inbox_figures,
    stock_audit,
    webhook_headers,
)


def _story(env: Env, world: StockWorld, *, orders: int, rng: random.Random, subscribe: Callable[[], None],
           early_share: float = 0.25):
    """Real orders in shop-a, then cancellations, refunds with and without restock, and returns after fulfilment.

    The first ``early_share`` of the orders are placed before ``subscribe`` registers the webhooks, so Shopify
    never sends their orders/create: their cancellations and refunds arrive first, the creates later (replayed).
    Returns (sold units per SKU, restocked units per SKU, expected ledger references, the early orders)."""
    shop = "shop-a"
    domain = world.stores[shop].shop_domain
    skus = list(world.variants)
    specs = []
    for _ in range(orders):
        lines = rng.sample(skus, k=min(len(skus), rng.choice((1, 1, 2))))
        specs.append({"line_items": [{"sku": sku, "quantity": rng.randint(1, 3)} for sku in lines]})
    early = int(orders * early_share)
    placed = env.control.place_orders(shop, specs[:early]) if early else []
    subscribe()
    placed += env.control.place_orders(shop, specs[early:])
    sold, restocked, refs = Counter(), Counter(), set()

    def ref(order_id, line_id, tail):
        return f"shopify:{domain}:order:{order_id}:line:{line_id}:{tail}"

    for order in placed:
        for line in order["line_items"]:
            sold[line["sku"]] += line["quantity"]
            refs.add(ref(order["id"], line["id"], "sale"))
    for i, order in enumerate(placed):
        action = i % 8
        if action in (0, 1):  # cancelled with restock: every unfulfilled unit comes back
            env.control.cancel_order(shop, order["id"], restock=True)
            for line in order["line_items"]:
                restocked[line["sku"]] += line["quantity"]
                refs.add(ref(order["id"], line["id"], "cancel"))
        elif action in (2, 3):  # one unit of the first line refunded and restocked
            line = order["line_items"][0]
            refund = env.control.refund(shop, order["id"], line_items=[{"line_item_id": line["id"], "quantity": 1}],
                                        restock=True)
            for rli in refund["refund_line_items"]:
                restocked[line["sku"]] += rli["quantity"]
                refs.add(ref(order["id"], line["id"], f"restock-{rli['restock_type']}:{refund['id']}:{rli['id']}"))
        elif action == 4:  # refunded without restock: stock stays sold
            env.control.refund(shop, order["id"], restock=False)
        elif action == 5:  # fulfilled, then everything returned and restocked
            env.control.fulfill(shop, order["id"])
            refund = env.control.refund(shop, order["id"], restock=True)
            for rli in refund["refund_line_items"]:
                line_id = rli["line_item_id"]
                sku = next(li["sku"] for li in order["line_items"] if li["id"] == line_id)
                restocked[sku] += rli["quantity"]
                refs.add(ref(order["id"], line_id, f"restock-{rli['restock_type']}:{refund['id']}:{rli['id']}"))
    return sold, restocked, refs, placed[:early]


def scenario_webhooks_duplicated_reordered(env: Env, *, orders: int = 30, skus: int = 3, duplicate_rate: float = 0.5,
                                           jitter_ms: int = 1500, replay_threads: int = 8, timeout: float = 120.0,
                                           seed: int = 11) -> FaultReport:
    """Real orders, cancellations and refunds in shop-a, their webhooks delivered by the simulator with
    ``duplicate_rate`` duplicates and up to ``jitter_ms`` of random delay (reordering), then every delivery
    replayed once more in shuffled order (a third with a new webhook id, a third also with a new event id, i.e.
    only the payload identifies them). PIM stock must equal the arithmetic and shop-a's own figure, the ledger
    must hold each movement exactly once, and shop-b must follow."""
    rng = random.Random(seed)
    report = FaultReport("duplicated and reordered webhooks",
                         {"orders": orders, "skus": skus, "duplicate_rate": duplicate_rate, "jitter_ms": jitter_ms})
    with running(env) as cluster:
        from inventory.subscriptions import webhook_subscriptions_register

        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        url = cluster.start_web()
        stores = make_stores(env, inventory=True)
        world = stock_world(env, stores, skus=skus, stock=1_000)
        cluster.wait_workers()
        cluster.wait_web()
        env.control.faults("shop-a", webhook_duplicate_rate=duplicate_rate, webhook_jitter_ms=jitter_ms)

        def subscribe():
            webhook_subscriptions_register(
                store=stores["shop-a"], callback_url=url + WEBHOOK_PATH,
                topics=["ORDERS_CREATE", "ORDERS_CANCELLED", "REFUNDS_CREATE"])

        started = time.monotonic()
        sold, restocked, refs, early = _story(env, world, orders=orders, rng=rng, subscribe=subscribe)
        if not env.control.wait_webhooks(60):
            report.problems.append("the simulator did not finish delivering")
        logged = env.control.deliveries("shop-a", payload=True)
        delivered = [d for d in logged if d["status"] == "delivered"]
        undelivered = [d for d in logged if d["status"] != "delivered"]
        if undelivered:
            report.problems.append(f"{len(undelivered)} simulator deliveries not delivered: "
                                   f"{Counter(d['status'] for d in undelivered)}")
        secret = env_secret(env, "shop-a")
        replay = []
        for i, d in enumerate(delivered):
            if d.get("duplicate"):
                continue
            body = json.dumps(d["payload"]).encode()
            kind = i % 3
            headers = webhook_headers(
                topic=d["topic"], shop_domain=stores["shop-a"].shop_domain, body=body, secret=secret,
                webhook_id=d["webhook_id"] if kind == 0 else None, event_id=d["event_id"] if kind < 2 else None)
            replay.append(Delivery(body, headers, key=d["topic"]))
        rng.shuffle(replay)
        for order in early:  # orders/create of the orders placed before the subscription: after everything else
            body = json.dumps(order).encode()
            replay.append(Delivery(body, webhook_headers(topic="orders/create", body=body, secret=secret,
                                                         shop_domain=stores["shop-a"].shop_domain), key="late"))
        sender = WebhookSender(url, threads=replay_threads)
        sender.run(replay[:-len(early)] if early else replay, rate=None)
        if early:
            sender.run(replay[-len(early):], rate=None)
        fault_end = time.monotonic()
        seconds, audit = converge(
            lambda: stock_audit(world, sold=sold, restocked=restocked, expected_refs=refs, truth=("shop-a",)),
            since=fault_end, timeout=timeout)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = (audit.lost, audit.duplicated,
                                                           report.problems + audit.problems)
        topics = Counter(d["topic"] for d in logged)
        report.figures["arrived_before_their_order"] = arrived_out_of_order()
        report.figures.update(
            sim_deliveries=len(logged), sim_duplicates=sum(1 for d in logged if d.get("duplicate")),
            replayed=len(replay), late_creates=len(early), topics=dict(topics), ledger_refs=len(refs), units_sold=sum(sold.values()),
            units_restocked=sum(restocked.values()), replay_answers=dict(sender.stats.outcomes),
            total_seconds=time.monotonic() - started, **inbox_figures())
    return report


def arrived_out_of_order() -> int:
    """Cancellations and refunds whose first delivery was stored before their order's first orders/create."""
    from inventory.models import WebhookEvent

    first_create: dict[int, int] = {}
    others: list[tuple[int, int]] = []
    for pk, topic, body in WebhookEvent.objects.order_by("pk").values_list("pk", "topic", "raw_body"):
        payload = json.loads(bytes(body))
        if topic == "orders/create":
            first_create.setdefault(payload["id"], pk)
        else:
            others.append((payload.get("order_id") or payload["id"], pk))
    return sum(1 for order_id, pk in others if pk < first_create.get(order_id, 0))


def scenario_webhook_load(env: Env, *, rate: float = 200.0, seconds: float = 5.0, skus: int = 10,
                          duplicate_share: float = 0.02, client_threads: int = 16, plan: str | None = None,
                          send_grace: float | None = None, timeout: float = 180.0) -> FaultReport:
    """``rate`` signed orders/create webhooks per second for ``seconds`` to gunicorn while the RQ workers drain
    the inbox and push the stock to the other store. Reports accepted/s, latency, and the time for the workers
    to drain the inbox after the last delivery. ``plan`` sets the simulated shops' Shopify plan (its rate limit
    bounds how fast stock pushes reach the other store; default: the simulator's standard plan).

    A machine that cannot answer ``rate`` per second falls behind the schedule; no delivery starts after
    ``seconds + send_grace`` (default: half of ``seconds``, at least 5 s), the report gives the rate achieved and
    how many were not sent, and lost/duplicated are counted over the deliveries sent. The CPU seconds of each
    process role during the send show what bounded it (gunicorn, the RQ workers, or this process: the sender's
    threads and, in the bench, the simulator)."""
    count = int(rate * seconds)
    report = FaultReport("webhook load", {"rate_per_s": rate, "seconds": seconds, "webhooks": count, "skus": skus,
                                          "gunicorn": f"{env.gunicorn_workers}x{env.gunicorn_threads} gthread",
                                          "rq_workers": env.rq_workers, "plan": plan or "standard",
                                          "worker_queues": env.worker_queues})
    with running(env) as cluster:
        from inventory.models import WebhookEvent

        cluster.start_workers(wait=False)
        cluster.start_sweepers(interval=2.0)
        url = cluster.start_web()
        if plan:
            for shop in SHOPS:
                env.control.config(shop, plan=plan)
        stores = make_stores(env, inventory=True)
        world = stock_world(env, stores, skus=skus, stock=max(10_000, count + 1_000))
        deliveries, _, _ = OrderFactory(world).batch(count, duplicate_share=duplicate_share)
        cluster.wait_workers()
        cluster.wait_web()
        env.log(f"sending {len(deliveries)} deliveries at {rate}/s")
        sender = WebhookSender(url, threads=client_threads, retry_for=120.0)
        grace = max(5.0, seconds / 2) if send_grace is None else send_grace
        cpu_before = cluster.cpu_seconds()
        stats = sender.run(deliveries, rate, window=seconds + grace)
        sent_end = time.monotonic()
        cpu_after = cluster.cpu_seconds()
        cpu = {role: round(cpu_after[role] - cpu_before.get(role, 0.0), 1) for role in cpu_after}
        sent = [deliveries[i] for i in sender.sent_indices]
        refs = {d.ref for d in sent}
        sold = Counter(d.key for d in {d.ref: d for d in sent}.values())  # one unit per order
        stored = WebhookEvent.objects.count()
        processed_at_end = WebhookEvent.objects.filter(status="processed").count()
        env.log(f"sent {stats.sent} of {stats.offered} in {stats.seconds:.1f}s "
                f"({stats.accepted / max(stats.seconds, 1e-9):.0f} accepted/s); {stored} stored, "
                f"{processed_at_end} processed so far; CPU s during the send {cpu}")
        drained = None

        def check() -> Audit:
            nonlocal drained
            if drained is None and not WebhookEvent.objects.filter(
                    status__in=["received", "processing", "retry"]).exists():
                drained = time.monotonic() - sent_end
            return stock_audit(world, sold=sold, expected_refs=refs)

        converged, audit = converge(check, since=sent_end, timeout=timeout, interval=1.0)
        report.converge_seconds = converged
        report.lost, report.duplicated, report.problems = audit.lost, audit.duplicated, audit.problems
        inbox_lost = len(refs) - stored
        if inbox_lost:
            report.lost += max(0, inbox_lost)
            report.duplicated += max(0, -inbox_lost)
            report.problems.append(f"inbox holds {stored} events for {len(refs)} unique deliveries")
        report.figures.update(**stats.figures(), deliveries_sent=len(sent), unique=len(refs),
                              cpu_seconds_during_send=cpu, load_average=os.getloadavg(),
                              stored=stored, processed_when_sending_ended=processed_at_end,
                              inbox_drained_s=drained, **inbox_figures())
    return report
