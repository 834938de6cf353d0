"""The scenarios' worlds: PIM stores for the simulator's shops, a catalog published to them and its checks
(``publish_audit``), and the stock world (``StockWorld``: SKUs bound in both shops with stock at one location)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .harness import SHOPS, Audit, Env, _oneline

# --- stores, catalog and publishing checks ----------------------------------------------------------------------


def make_stores(env: Env, *, inventory: bool = False, client_credentials: tuple[str, ...] = ()) -> dict[str, Any]:
    """PIM stores for the simulator's shop-a and shop-b (static tokens, or the client-credentials grant)."""
    from channels.models import Store

    stores = {}
    for name in SHOPS:
        creds = env.sim.shops[name]
        auth = {"access_token": creds.access_token}
        if name in client_credentials:
            auth = {"auth_mode": Store.AuthMode.CLIENT_CREDENTIALS, "client_id": creds.client_id,
                    "client_secret": creds.client_secret}
        stores[name] = Store.objects.create(name=name, shop_domain=creds.domain, api_base_url=creds.base_url,
                                            webhook_secret=creds.webhook_secret, inventory_push_enabled=inventory,
                                            **auth)
    return stores


def learn_buckets(stores: Iterable) -> None:
    """One answered call per store: until then the client lets a single probe request through at a time."""
    from channels import services

    for store in stores:
        services.store_test_connection(store=store)


def create_catalog(prefix: str, count: int) -> list:
    """``count`` ready, active products with two variants, an image and a metafield each (not inventory-tracked,
    so publishing scenarios don't queue inventory sets)."""
    from pim import services
    from pim.models import Product

    products = []
    for i in range(count):
        code = f"{prefix}{i:04d}"
        products.append(services.product_create(
            title=f"Fault {code}", handle=f"fault-{code.lower()}", option1_name="Size",
            workflow_state=Product.Workflow.READY, status=Product.Status.ACTIVE, vendor="Northwind",
            tags="fault, load", description_html=f"<p>Scenario product {code}</p>",
            variants=[{"sku": f"{code}-{size}", "option1": size, "price": Decimal("20.00"), "inventory_tracked": False}
                      for size in ("S", "M")],
            images=[{"src": f"https://cdn.example.com/{code.lower()}.jpg", "alt": "Front"}],
            attributes=[{"namespace": "pim", "key": "material", "value": "Cotton"}],
        ))
    return products


def assign(products: list, stores: Iterable) -> None:
    from channels import services

    for store in stores:
        services.assignments_bulk_set(store=store, product_ids=[p.pk for p in products])


def edit_catalog(products: list, round_: int, *, prices: bool = True) -> int:
    """Edit every product (title, and the first variant's price): two recorded changes per product."""
    from pim import services

    edits = 0
    for product in products:
        product.refresh_from_db()
        base = product.title.split(" r", 1)[0]
        services.product_update(product=product, title=f"{base} r{round_}")
        edits += 1
        if prices:
            variant = product.variants.order_by("position").first()
            services.variant_update(variant=variant, price=Decimal("20.00") + round_)
            edits += 1
    return edits


def publish_audit(env: Env, stores: Iterable) -> Audit:
    """Compare every store's products in the simulator with the PIM: one product per PIM product, carrying the
    PIM's current title and prices; and no sync job still pending, running or dead."""
    from channels.models import ChannelAssignment, SyncJob

    audit = Audit()
    for store in stores:
        live = env.control.products(store.name)
        by_handle: dict[str, list[dict]] = defaultdict(list)
        by_sku: dict[str, list[dict]] = defaultdict(list)
        for product in live:
            by_handle[re.sub(r"-\d+$", "", product["handle"])].append(product)
            by_handle[product["handle"]].append(product)
            for variant in product.get("variants") or []:
                if variant.get("sku"):
                    by_sku[variant["sku"]].append(product)
        assignments = (ChannelAssignment.objects.filter(store=store, publish=True).select_related("product")
                       .prefetch_related("product__variants"))
        for assignment in assignments:
            product = assignment.product
            skus = {v.sku: f"{v.price:.2f}" for v in product.variants.all()}
            found = {p["id"]: p for p in by_handle.get(product.handle, [])}
            for sku in skus:
                found.update({p["id"]: p for p in by_sku.get(sku, [])})
            if not found:
                audit.lost += 1
                audit.problems.append(f"{product.handle} missing in {store.name}")
                continue
            if len(found) > 1:
                audit.duplicated += len(found) - 1
                audit.problems.append(f"{product.handle} {len(found)}x in {store.name}: "
                                      f"{sorted(p['handle'] for p in found.values())}")
                continue
            node = next(iter(found.values()))
            prices = {v.get("sku"): v.get("price") for v in node.get("variants") or []}
            expected_title = assignment.title_override or product.title
            if node["title"] != expected_title or prices != skus:
                audit.lost += 1
                audit.problems.append(f"{product.handle} stale in {store.name}: title {node['title']!r} "
                                      f"(PIM {expected_title!r}), prices {prices} (PIM {skus})")
    waiting = SyncJob.objects.filter(status__in=[SyncJob.Status.PENDING, SyncJob.Status.RUNNING]).count()
    if waiting:
        audit.settled = False
    for job in SyncJob.objects.filter(status=SyncJob.Status.DEAD).select_related("store")[:20]:
        audit.problems.append(f"sync job {job.pk} ({job.product_label} -> {job.store.name}) dead after "
                              f"{job.attempts} attempts: {_oneline(job.last_error)}")
    from conflicts.models import Conflict

    # Nobody edits in Shopify here: a conflict on a PIM product means a retried or interrupted write was taken
    # for a merchant's edit. (The nightly drift sweep, which the sweeper queues, rightly reports the stock
    # scenarios' Shopify-only products.)
    conflicts = Conflict.objects.exclude(field="product.shopify_only")
    if conflicts.exists():
        audit.problems.append(f"{conflicts.count()} spurious conflict(s), e.g. "
                              f"{list(conflicts.values_list('field', 'source', 'shopify_before')[:3])}")
    return audit


def publish_figures(stores: Iterable, env: Env) -> dict[str, Any]:
    from channels.models import SyncAttempt, SyncJob

    statuses = Counter(SyncJob.objects.values_list("status", flat=True))
    outcomes = Counter(SyncAttempt.objects.values_list("outcome", flat=True))
    return {
        "jobs": sum(statuses.values()),
        "jobs_done": statuses.get("done", 0),
        "jobs_dead": statuses.get("dead", 0),
        "attempts": sum(outcomes.values()),
        "attempts_retried": outcomes.get("retry", 0),
        "attempts_killed": outcomes.get("running", 0),
    }


# --- stock, orders and webhooks ---------------------------------------------------------------------------------


@dataclass
class StockWorld:
    """K SKUs sold in both shops: PIM variants bound to the simulator's, locations mapped, full sync done."""

    env: Env
    stores: dict[str, Any]
    variants: dict[str, Any]  # sku -> Variant
    shop_variants: dict[str, dict[str, int]]  # shop -> sku -> numeric variant id
    main: Any  # Location
    stock: int

    def pim_available(self) -> dict[str, int]:
        from inventory.models import StockLevel

        levels = dict(StockLevel.objects.filter(location=self.main, variant__sku__in=list(self.variants))
                      .values_list("variant__sku", "available"))
        return {sku: levels.get(sku, 0) for sku in self.variants}

    def shop_available(self, shop: str) -> dict[str, int]:
        out = {}
        for sku in self.variants:
            info = self.env.control.inventory(shop, sku=sku)
            out[sku] = info["levels"][0]["available"]  # the first location: Main Warehouse
        return out


def stock_world(env: Env, stores: dict[str, Any], *, skus: int, stock: int, prefix: str = "STK") -> StockWorld:
    from channels.models import VariantBinding
    from channels.shopify.ids import gid_to_id
    from inventory.full_sync import inventory_full_sync
    from inventory.ledger import stock_receive
    from inventory.locations import store_locations_automap
    from inventory.models import Location
    from pim import services as pim_services

    codes = [f"{prefix}-{i:03d}" for i in range(skus)]
    variants = {}
    for code in codes:
        product = pim_services.product_create(title=f"Stock {code}", handle=f"stock-{code.lower()}",
                                              variants=[{"sku": code, "price": Decimal("10.00")}])
        variants[code] = product.variants.get()
    shop_variants: dict[str, dict[str, int]] = {}
    for shop, store in stores.items():
        seeded = env.control.seed(shop, products=[
            {"title": f"Stock {code}", "handle": f"stock-{code.lower()}",
             "variants": [{"sku": code, "price": "10.00", "inventory": stock}]} for code in codes])
        shop_variants[shop] = {}
        for node in seeded:
            v = node["variants"][0]
            shop_variants[shop][v["sku"]] = gid_to_id(v["id"])
            VariantBinding.objects.create(store=store, variant=variants[v["sku"]],
                                          shopify_variant_id=str(gid_to_id(v["id"])),
                                          shopify_inventory_item_id=str(gid_to_id(v["inventoryItemId"])))
        store_locations_automap(store=store, create_missing=True)
    main = Location.objects.get(name="Main Warehouse")
    for code, variant in variants.items():
        stock_receive(variant=variant, location=main, quantity=stock, source_ref=f"fault:opening:{code}")
    for store in stores.values():
        run = inventory_full_sync(store=store, apply=True, actor_label="fault scenario")
        if run.error:
            raise RuntimeError(f"full sync of {store.name} failed: {run.error}")
    return StockWorld(env, stores, variants, shop_variants, main, stock)
