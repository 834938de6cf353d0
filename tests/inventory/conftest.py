"""Fixtures for the inventory tests: two stores on the Shopify simulator (shop-a, shop-b) selling one SKU,
locations mapped from Shopify, an initial full sync done, signed webhook deliveries, and an in-process drain of
the inbox and the push outbox (RQ workers are used only by the e2e test)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import django_rq
import pytest
from django.utils import timezone

from channels.models import Store, VariantBinding
from channels.shopify.ids import gid_to_id
from inventory.full_sync import inventory_full_sync
from inventory.ledger import stock_receive
from inventory.locations import store_locations_automap
from inventory.models import InventoryPush, Location, StockLevel, WebhookEvent
from inventory.push_runs import inventory_push_execute
from inventory.queueing import INVENTORY_QUEUE
from pim import services as pim_services
from pim.clock import clock_advance, clock_now
from pim.models import Variant
from tests.e2e.conftest import e2e_settings, redis_clean  # noqa: F401 (fixtures of the e2e test)
from webhooks import inbox

SAMPLES = Path(__file__).resolve().parents[2] / "shopify_sim" / "samples"
SKU = "TEE-1"
WEBHOOK_PATH = "/shopify/webhooks/"


@pytest.fixture(autouse=True)
def fast_inventory_settings(settings):
    settings.INVENTORY_CHECK_DELAY_SECONDS = 0
    settings.INVENTORY_CHECK_MAX_WAIT_SECONDS = 30
    settings.SYNC_RETRY_BASE_SECONDS = 0.05
    settings.SYNC_RETRY_MAX_SECONDS = 0.2
    settings.SYNC_REDISPATCH_AFTER_SECONDS = 0
    return settings


@pytest.fixture(autouse=True)
def clean_queues():
    """Empty this app's RQ queues and the simulated shops' throttle state in Redis around each test."""

    def wipe():
        conn = django_rq.get_connection("default")
        for name in (inbox.WEBHOOKS_QUEUE, INVENTORY_QUEUE):
            django_rq.get_queue(name).empty()
        keys = [k for pattern in ("shopify:shop-*", "outbox:drain-queued:*") for k in conn.scan_iter(match=pattern)]
        if keys:
            conn.delete(*keys)

    wipe()
    yield
    wipe()


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_headers(*, topic: str, shop: str, body: bytes, secret: str, webhook_id: str | None = None,
                    event_id: str | None = None) -> dict[str, str]:
    return {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": timezone.now().isoformat(),
    }


def _template(name: str) -> dict:
    return json.loads((SAMPLES / f"webhook_{name}.json").read_text())


def order_payload(order_id: int, lines: list[dict], *, location_id: int | None = None, refunds=None,
                  cancelled: bool = False) -> dict:
    """A REST order (orders/create or orders/cancelled) built from Shopify's sample: ``lines`` are
    ``{id, variant_id, sku, quantity}``."""
    order = _template("orders_create")
    order.update(id=order_id, admin_graphql_api_id=f"gid://shopify/Order/{order_id}", name=f"#{order_id % 100000}",
                 location_id=location_id, refunds=refunds or [], fulfillments=[],
                 cancelled_at=timezone.now().isoformat() if cancelled else None,
                 cancel_reason="customer" if cancelled else None)
    template_line = order["line_items"][0]
    order["line_items"] = []
    for line in lines:
        item = copy.deepcopy(template_line)
        item.update(id=line["id"], admin_graphql_api_id=f"gid://shopify/LineItem/{line['id']}",
                    variant_id=line.get("variant_id"), sku=line.get("sku"), quantity=line["quantity"],
                    current_quantity=line["quantity"], fulfillable_quantity=line["quantity"], fulfillment_status=None)
        order["line_items"].append(item)
    return order


def refund_payload(refund_id: int, order_id: int, lines: list[dict], *, restock_type: str = "return") -> dict:
    """A REST refund: ``lines`` are ``{id (refund line), line_item_id, variant_id, sku, quantity, line_quantity,
    location_id}``."""
    refund = _template("refunds_create")
    template = refund["refund_line_items"][0]
    refund.update(id=refund_id, order_id=order_id, admin_graphql_api_id=f"gid://shopify/Refund/{refund_id}",
                  restock=restock_type != "no_restock")
    refund["refund_line_items"] = []
    for line in lines:
        rli = copy.deepcopy(template)
        rli.update(id=line["id"], line_item_id=line["line_item_id"], quantity=line["quantity"],
                   location_id=line.get("location_id"), restock_type=restock_type)
        rli["line_item"].update(id=line["line_item_id"], variant_id=line.get("variant_id"), sku=line.get("sku"),
                                quantity=line.get("line_quantity", line["quantity"]))
        refund["refund_line_items"].append(rli)
    return refund


@dataclass
class World:
    """Two stores on the simulator selling one PIM variant, with mapped locations and a full sync done."""

    sim: object
    control: object
    store_a: Store
    store_b: Store
    variant: Variant
    main: Location
    retail: Location
    items: dict  # shop name -> numeric inventory item id
    variants: dict  # shop name -> numeric variant id
    locations: dict  # shop name -> {location name: numeric id}

    def shopify_available(self, shop: str, location: str = "Main Warehouse") -> int:
        info = self.control.inventory(shop, sku=self.variant.sku)
        wanted = f"gid://shopify/Location/{self.locations[shop][location]}"
        return next(lv["available"] for lv in info["levels"] if lv["location_id"] == wanted)

    def pim_available(self, location: Location | None = None) -> int:
        level = StockLevel.objects.filter(variant=self.variant, location=location or self.main).first()
        return level.available if level else 0

    def post(self, client, topic: str, payload: dict | bytes, *, store: Store | None = None,
             webhook_id: str | None = None, event_id: str | None = None, secret: str | None = None):
        store = store or self.store_a
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = webhook_headers(topic=topic, shop=store.shop_domain, body=body,
                                  secret=secret or store.webhook_secret, webhook_id=webhook_id, event_id=event_id)
        return client.post(WEBHOOK_PATH, data=body, content_type="application/json", headers=headers)

    def line(self, line_id: int, quantity: int = 1, shop: str = "shop-a") -> dict:
        return {"id": line_id, "variant_id": self.variants[shop], "sku": self.variant.sku, "quantity": quantity}


def make_store(name: str, creds, **extra) -> Store:
    return Store.objects.create(
        name=name, shop_domain=creds.domain, api_base_url=creds.base_url, access_token=creds.access_token,
        webhook_secret=creds.webhook_secret, inventory_push_enabled=True, **extra,
    )


@pytest.fixture
def world(transactional_db, shopify_sim) -> World:
    control = shopify_sim.control
    creds = shopify_sim.shops
    store_a = make_store("Shop A", creds["shop-a"])
    store_b = make_store("Shop B", creds["shop-b"])
    product = pim_services.product_create(title="Tee", variants=[{"sku": SKU, "price": Decimal("10")}])
    variant = product.variants.get()
    items, variants, locations = {}, {}, {}
    for store, shop in ((store_a, "shop-a"), (store_b, "shop-b")):
        seeded = control.seed(shop, products=[{"title": "Tee", "variants": [{"sku": SKU, "price": "10.00",
                                                                              "inventory": 7}]}])
        node = seeded[0]["variants"][0]
        variants[shop] = gid_to_id(node["id"])
        items[shop] = gid_to_id(node["inventoryItemId"])
        VariantBinding.objects.create(store=store, variant=variant, shopify_variant_id=str(variants[shop]),
                                      shopify_inventory_item_id=str(items[shop]))
        report = store_locations_automap(store=store, create_missing=True)
        locations[shop] = {m.location.name: int(m.shopify_location_id) for m in report.mapped}
    main = Location.objects.get(name="Main Warehouse")
    retail = Location.objects.get(name="Retail Store")
    stock_receive(variant=variant, location=main, quantity=300, source_ref="test:opening")
    for store in (store_a, store_b):
        run = inventory_full_sync(store=store, apply=True, actor_label="test")
        assert run.finished_at and not run.error, run.error
    return World(shopify_sim, control, store_a, store_b, variant, main, retail, items, variants, locations)


def drain(*, rounds: int = 60, threads: int = 1) -> None:
    """Process every waiting webhook event and due push in this process (optionally from several threads)."""
    from django.db import connection

    for _ in range(rounds):
        soon = clock_now() + timedelta(seconds=1)
        events = list(WebhookEvent.objects.filter(
            status__in=[WebhookEvent.Status.RECEIVED, WebhookEvent.Status.RETRY]).order_by("pk")
            .values_list("pk", flat=True))
        if events:
            run_concurrently([lambda pk=pk: inbox.webhook_event_process(event_id=pk) for pk in events], threads)
            continue
        pushes = list(InventoryPush.objects.filter(
            status__in=[InventoryPush.Status.PENDING, InventoryPush.Status.RETRY], next_attempt_at__lte=soon)
            .order_by("pk").values_list("pk", flat=True))
        if pushes:
            run_concurrently([lambda pk=pk: inventory_push_execute(push_id=pk) for pk in pushes], threads)
            continue
        due = (InventoryPush.objects.filter(status__in=[InventoryPush.Status.PENDING, InventoryPush.Status.RETRY])
               .order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first())
        if due is None:
            return
        clock_advance(seconds=max(0.0, (due - clock_now()).total_seconds()))  # a retry's backoff: move time on
    connection.close()
    raise AssertionError("the inbox and the outbox did not drain")


def run_concurrently(calls: list, threads: int) -> list:
    """Run ``calls`` on ``threads`` threads (each with its own database connection); re-raise the first error."""
    if threads <= 1:
        return [call() for call in calls]
    from django.db import connections

    results, errors = [], []
    lock = threading.Lock()
    queue = list(calls)

    def work():
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    call = queue.pop(0)
                try:
                    value = call()
                except Exception as exc:  # collected and re-raised in the test thread
                    with lock:
                        errors.append(exc)
                else:
                    with lock:
                        results.append(value)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return results
