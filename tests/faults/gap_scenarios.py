"""Fault scenario of issue 18: the PIM unreachable for hours (simulated), Shopify's webhook retries exhausted and the
subscriptions deleted, then recovery: the subscriptions are repaired, the gap is replayed from the order watermark,
and stock in the PIM and in every store equals an oracle computed from the orders. Optionally during a full publish.

Simulated time: the simulator's webhook retry schedule (8 retries over ~4.1 h) runs on its compressed clock
(``webhook_time_scale``, 0.001 in the suite and the bench: 1 simulated hour = 3.6 s), and the outage lasts
``outage_hours`` on the same clock. While it lasts every PIM process is down (gunicorn, the RQ workers, both
sweepers), so Shopify's deliveries fail, are retried, and are dropped; the subscriptions are deleted.
"""

from __future__ import annotations

import random
import time
from collections import Counter

from .catalog import (
    assign,
    create_catalog,
    learn_buckets,
    make_stores,
    publish_audit,
    publish_figures,
    stock_world,
)
from .harness import (
    WEBHOOK_PATH,
    Audit,
    Env,
    FaultReport,
    converge,
    running,
    wait_until,
)
from .traffic import inbox_figures, stock_audit

GAP_TIMINGS: dict[str, int | float] = {
    "WEBHOOK_SUBSCRIPTION_CHECK_SECONDS": 3,
    "ORDER_WATERMARK_MARGIN_SECONDS": 2,
    "ORDER_GAP_AFTER_SECONDS": 5,
    "ORDER_CATCHUP_VERIFY_SECONDS": 0,
    "ORDER_CATCHUP_LEASE_SECONDS": 600,
}


def _gap_story(env: Env, world, shop: str, *, orders: int, rng: random.Random, sold: Counter,
               restocked: Counter) -> int:
    """Orders in ``shop``: every 5th cancelled (restocked), every 5th+1 refunded one unit with restock, every
    5th+2 edited (one unit fewer, restocked), every 5th+3 fulfilled; the oracle counts what each does."""
    skus = list(world.variants)
    placed = env.control.place_orders(shop, [
        {"line_items": [{"sku": sku, "quantity": rng.randint(1, 3)}
                        for sku in rng.sample(skus, k=min(len(skus), rng.choice((1, 1, 2))))]}
        for _ in range(orders)])
    for i, order in enumerate(placed):
        for line in order["line_items"]:
            sold[line["sku"]] += line["quantity"]
        action = i % 5
        line = order["line_items"][0]
        if action == 0:
            env.control.cancel_order(shop, order["id"], restock=True)
            for li in order["line_items"]:
                restocked[li["sku"]] += li["quantity"]
        elif action == 1:
            env.control.refund(shop, order["id"], line_items=[{"line_item_id": line["id"], "quantity": 1}],
                               restock=True)
            restocked[line["sku"]] += 1
        elif action == 2 and line["quantity"] > 1:
            env.control.edit_order(shop, order["id"], set_quantity=[{"line_item_id": line["id"],
                                                                     "quantity": line["quantity"] - 1}])
            restocked[line["sku"]] += 1
        elif action == 3:
            env.control.fulfill(shop, order["id"])
    return len(placed)


def _watermark_audit() -> Audit:
    from inventory.models import OrderWatermark

    audit = Audit()
    for mark in OrderWatermark.objects.select_related("store"):
        if mark.gap_since is not None or mark.replay_lease_until is not None:
            audit.settled = False
            audit.problems.append(f"{mark.store.name}: gap replay owed since {mark.gap_since}")
        if mark.last_replay_error:
            audit.problems.append(f"{mark.store.name}: replay error {mark.last_replay_error[:200]}")
            audit.lost += 1
    return audit


def scenario_webhook_gap(env: Env, *, orders: int = 10, skus: int = 3, outage_hours: float = 5.0,
                         publish_products: int = 0, timeout: float = 180.0, seed: int = 18) -> FaultReport:
    """The whole PIM down for ``outage_hours`` (simulated) while both shops take orders (with cancellations,
    refunds, edits, fulfillments); Shopify's retries run out and it deletes the subscriptions. Then the PIM comes
    back: the subscription check re-creates them, the sweeper sees the gap (its own silence, the missing
    subscriptions) and replays it. With ``publish_products`` a full publish of that many products to both stores
    is running when the PIM goes down."""
    from inventory import subscriptions as inventory_subscriptions
    from inventory.models import OrderWatermark
    from inventory.subscriptions import webhook_subscriptions_target_record

    rng = random.Random(seed)
    name = "webhook gap 5 h" + (" during a full publish" if publish_products else "")
    report = FaultReport(name, {"orders_per_shop": orders, "skus": skus, "outage_h": outage_hours,
                                "publish_products": publish_products})
    scale = float(env.sim.sim.config.webhook_time_scale)
    retry_seconds = sum(env.sim.sim.config.webhook_retry_delays) * scale
    outage_seconds = outage_hours * 3600 * scale
    with running(env, GAP_TIMINGS) as cluster:
        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        url = cluster.start_web()
        stores = make_stores(env, inventory=True)
        learn_buckets(stores.values())
        world = stock_world(env, stores, skus=skus, stock=1_000, prefix="GAP")
        cluster.wait_workers()
        cluster.wait_web()
        for store in stores.values():
            inventory_subscriptions.webhook_subscriptions_register(store=store, callback_url=url + WEBHOOK_PATH)
            webhook_subscriptions_target_record(store=store, callback_url=url + WEBHOOK_PATH)
        if not wait_until(lambda: OrderWatermark.objects.filter(complete_until__isnull=False).count() == 2,
                          timeout=30):
            report.problems.append("the sweeper did not start the order watermarks")
            return report
        catalog = []
        if publish_products:
            catalog = create_catalog("GAPP", publish_products)
            assign(catalog, stores.values())
            wait_until(lambda: publish_audit(env, stores.values()).lost < publish_products * 2, timeout=60)
        killed = cluster.kill("web", "worker", "outbox_sweeper")
        outage_start = time.monotonic()
        env.log(f"PIM down ({killed} processes killed); {outage_hours} h simulated = {outage_seconds:.1f} s")
        sold, restocked = Counter(), Counter()
        placed = sum(_gap_story(env, world, shop, orders=orders, rng=rng, sold=sold, restocked=restocked)
                     for shop in ("shop-a", "shop-b"))

        def order_subscriptions(shop: str) -> list:
            return [s for s in env.control.state(shop).get("webhookSubscriptions") or []
                    if s["topic"] in ("ORDERS_CREATE", "orders/create")]

        def subscriptions_gone() -> bool:  # Shopify deletes the subscriptions whose deliveries kept failing
            return all(not order_subscriptions(shop) for shop in ("shop-a", "shop-b"))

        deleted = wait_until(subscriptions_gone, timeout=max(outage_seconds, retry_seconds) + 30, interval=0.5)
        time.sleep(max(0.0, outage_start + outage_seconds - time.monotonic()))
        logged = env.control.deliveries(payload=False)
        statuses = Counter(d["status"] for d in logged)
        if not deleted:
            report.problems.append(f"the simulator did not delete the subscriptions: {dict(statuses)}")
        env.log(f"outage over after {time.monotonic() - outage_start:.1f} s; deliveries {dict(statuses)}")
        cluster.start_web(port=int(url.rsplit(":", 1)[1]))  # the subscriptions name this URL
        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        fault_end = time.monotonic()

        def check() -> Audit:
            audit = stock_audit(world, sold=sold, restocked=restocked, following=(),
                                truth=("shop-a", "shop-b")) + _watermark_audit()
            for shop in ("shop-a", "shop-b"):
                if not order_subscriptions(shop):
                    audit.settled = False
                    audit.problems.append(f"{shop}: no subscription yet")
            if catalog:
                audit = audit + publish_audit(env, stores.values())
            return audit

        seconds, audit = converge(check, since=fault_end, timeout=timeout, stuck_after=60)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = (audit.lost, audit.duplicated,
                                                           report.problems + audit.problems)
        marks = list(OrderWatermark.objects.select_related("store"))
        report.figures.update(
            orders=placed, units_sold=sum(sold.values()), units_restocked=sum(restocked.values()),
            processes_killed=killed, subscriptions_deleted=deleted, outage_real_s=round(outage_seconds, 1),
            retry_window_real_s=round(retry_seconds, 1), deliveries=dict(statuses),
            replays=[m.last_replay_summary.split("\n", 1)[0] for m in marks],
            watermark_after_outage=all(m.complete_until and m.last_replay_at for m in marks),
            **inbox_figures())
        if catalog:
            report.figures.update(publish_figures(stores.values(), env))
    return report


SCENARIOS = {"gap": scenario_webhook_gap,
             "gap-publish": lambda env, **kw: scenario_webhook_gap(env, **{"publish_products": 20, **kw})}
