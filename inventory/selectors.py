"""Read-side queries of the inventory app: stock figures, webhook authentication, push targets, sync diffs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from channels.models import Store, VariantBinding
from pim.models import Variant

from .models import (
    InventoryPush,
    InventorySyncRun,
    Location,
    StockLevel,
    StoreLocation,
    WebhookEvent,
)

# Webhook topics that change stock in the shop they come from: while any is unprocessed, the PIM's
# figures for that shop lag behind Shopify's, so absolute comparisons and overwrites must wait.
ORDER_TOPICS = ("orders/create", "orders/updated", "orders/edited", "orders/cancelled", "refunds/create",
                "fulfillment_orders/order_routing_complete", "fulfillment_orders/moved")
UNPROCESSED_STATUSES = (WebhookEvent.Status.RECEIVED, WebhookEvent.Status.PROCESSING, WebhookEvent.Status.RETRY)


def stock_level_get(*, variant: Variant, location: Location) -> StockLevel | None:
    """Return the stock level of ``variant`` at ``location`` (None when nothing was ever recorded there)."""
    return StockLevel.objects.filter(variant=variant, location=location).first()


def stock_available(*, variant: Variant, location: Location | None = None) -> int:
    """Return the quantity available to sell of ``variant`` at ``location`` (or summed over all locations)."""
    levels = StockLevel.objects.filter(variant=variant)
    if location is not None:
        levels = levels.filter(location=location)
    return levels.aggregate(total=Sum("available"))["total"] or 0


def stock_levels_for_variant(*, variant: Variant) -> QuerySet[StockLevel]:
    """Return the variant's stock levels with their locations."""
    return StockLevel.objects.filter(variant=variant).select_related("location").order_by("location__name")


def store_full_sync_done(*, store: Store) -> bool:
    """Tell whether ``store`` has had a completed full inventory sync without error."""
    return InventorySyncRun.objects.filter(store=store, applied=True, finished_at__isnull=False, error="").exists()


def store_accepts_deltas(*, store: Store) -> bool:
    """Tell whether delta pushes may go to ``store``: its full sync is done or being applied right now.

    During the first full sync, changes are recorded for the store too: a level the sync has not set yet turns
    its delta into an absolute set, and deltas the sync's set already included are superseded by it.
    """
    return _accepts_deltas_q(store_ref=store.pk).exists()


def _accepts_deltas_q(*, store_ref) -> QuerySet[InventorySyncRun]:
    recent = timezone.now() - timedelta(hours=1)
    return InventorySyncRun.objects.filter(store=store_ref, applied=True).filter(
        Q(finished_at__isnull=False, error="") | Q(finished_at__isnull=True, started_at__gt=recent)
    )


def inventory_pusher_for_shop(*, shop_domain: str) -> Store | None:
    """Return the active connection that pushes inventory to ``shop_domain`` (at most one may)."""
    return Store.objects.filter(shop_domain=shop_domain, is_active=True, inventory_push_enabled=True).first()


def push_targets(*, variant: Variant, location_id: int, exclude_shop: str = "") -> list[tuple[int, int, bool]]:
    """Return where a change of ``variant`` at PIM ``location_id`` must be pushed: ``(store id, PIM location of the
    store's level, via the default mapping)``.

    A target is active, pushes inventory, has had (or is applying) its initial full sync and carries the variant (a
    binding with an inventory item). A store that maps the location gets the change at that location; a store that
    does not map it gets it at its default mapping's location (that Shopify location shows the default location's
    stock plus that of every unmapped PIM location). Untracked and excluded variants have no targets; the shop the
    change came from (``exclude_shop``) is left out, since Shopify already moved its stock.
    """
    if not variant.inventory_tracked or variant.inventory_sync_excluded:
        return []
    stores = Store.objects.filter(is_active=True, inventory_push_enabled=True).filter(
        Exists(
            VariantBinding.objects.filter(store=OuterRef("pk"), variant=variant).exclude(shopify_inventory_item_id="")
        ),
        Exists(_accepts_deltas_q(store_ref=OuterRef("pk"))),
    )
    if exclude_shop:
        stores = stores.exclude(shop_domain=exclude_shop)
    store_ids = list(stores.values_list("pk", flat=True))
    if not store_ids:
        return []
    mapped = set(StoreLocation.objects.filter(store_id__in=store_ids, location_id=location_id)
                 .values_list("store_id", flat=True))
    defaults = dict(StoreLocation.objects.filter(store_id__in=store_ids, is_default=True)
                    .values_list("store_id", "location_id"))
    targets = []
    for store_id in store_ids:
        if store_id in mapped:
            targets.append((store_id, location_id, False))
        elif store_id in defaults:
            targets.append((store_id, defaults[store_id], True))
    return targets


def push_target_store_ids(*, variant: Variant, location_id: int, exclude_shop: str = "") -> list[int]:
    """Return the stores that map ``location_id`` and must get a change of ``variant`` there (see push_targets)."""
    return [store_id for store_id, _, via_default in
            push_targets(variant=variant, location_id=location_id, exclude_shop=exclude_shop) if not via_default]


def store_unmapped_location_ids(*, store_id: int, location_id: int) -> list[int]:
    """Return the active PIM locations without a mapping in the store whose stock lands at ``location_id`` (the
    location of the store's default mapping); empty for any other location."""
    default = StoreLocation.objects.filter(store_id=store_id, is_default=True).values_list(
        "location_id", flat=True).first()
    if default != location_id:
        return []
    mapped = StoreLocation.objects.filter(store_id=store_id).values_list("location_id", flat=True)
    return list(Location.objects.filter(is_active=True).exclude(pk__in=mapped).values_list("pk", flat=True))


def pim_available_for_target(*, store_id: int, variant_id: int, location_id: int) -> int:
    """Return the available quantity the store's level at ``location_id`` shows: that location's, plus the unmapped
    locations' when it is the store's default mapping."""
    ids = [location_id, *store_unmapped_location_ids(store_id=store_id, location_id=location_id)]
    return StockLevel.objects.filter(variant_id=variant_id, location_id__in=ids).aggregate(
        total=Sum("available"))["total"] or 0


@dataclass(frozen=True)
class LevelTarget:
    """Where one PIM level lives in one store's Shopify."""

    variant_id: int
    sku: str
    location_id: int
    location_name: str
    inventory_item_gid: str
    location_gid: str


def store_level_targets(*, store: Store, variant_ids: list[int] | None = None) -> list[LevelTarget]:
    """Return every (variant, mapped location) of ``store`` whose inventory the PIM manages there.

    Only bound variants with an inventory item that are tracked and not excluded count; each is paired with
    every PIM location mapped for the store.
    """
    from channels.shopify.ids import inventory_item_gid, location_gid

    bindings = (
        VariantBinding.objects.filter(store=store, variant__inventory_tracked=True,
                                      variant__inventory_sync_excluded=False)
        .exclude(shopify_inventory_item_id="")
        .select_related("variant")
        .order_by("variant_id")
    )
    if variant_ids is not None:
        bindings = bindings.filter(variant_id__in=variant_ids)
    mappings = list(StoreLocation.objects.filter(store=store).select_related("location").order_by("location__name"))
    return [
        LevelTarget(
            variant_id=b.variant_id,
            sku=b.variant.sku,
            location_id=m.location_id,
            location_name=m.location.name,
            inventory_item_gid=inventory_item_gid(b.shopify_inventory_item_id),
            location_gid=location_gid(m.shopify_location_id),
        )
        for b in bindings
        for m in mappings
    ]


def unprocessed_order_events(*, shop_domain: str) -> int:
    """Return how many order/refund webhooks of ``shop_domain`` are stored but not yet processed."""
    return WebhookEvent.objects.filter(
        shop_domain=shop_domain, topic__in=ORDER_TOPICS, status__in=UNPROCESSED_STATUSES
    ).count()


def failed_order_events(*, shop_domain: str) -> int:
    """Return how many order/refund webhooks of ``shop_domain`` failed processing (kept for review)."""
    return WebhookEvent.objects.filter(
        shop_domain=shop_domain, topic__in=ORDER_TOPICS, status=WebhookEvent.Status.FAILED
    ).count()


def level_pushes_in_flight(*, store_id: int, variant_id: int, location_id: int) -> bool:
    """Tell whether a delta or absolute set for this store's level is still pending, running or retrying."""
    return InventoryPush.objects.filter(
        store_id=store_id, variant_id=variant_id, location_id=location_id,
        kind__in=[InventoryPush.Kind.DELTA, InventoryPush.Kind.SET],
        status__in=[InventoryPush.Status.PENDING, InventoryPush.Status.RUNNING, InventoryPush.Status.RETRY],
    ).exists()


@dataclass
class PushHealth:
    store: Store
    pending: int
    retrying: int
    dead: int
    full_sync_done: bool
    skipped_last_hour: int = 0
    not_stocked_levels: int = 0
    unmatched_sales: int = 0
    failed_events: int = 0


def inventory_push_health(*, store: Store) -> PushHealth:
    """Return the push backlog of ``store`` (pending, retrying, skipped in the last hour, dead), its levels
    recorded as not stocked, unmatched sales, failed webhook events and its full-sync state."""
    from .models import ShopifyLevel, ShopifyOrderLine

    hour_ago = timezone.now() - timedelta(hours=1)
    counts = InventoryPush.objects.filter(store=store).aggregate(
        pending=Sum(1, filter=Q(status=InventoryPush.Status.PENDING), default=0),
        retrying=Sum(1, filter=Q(status=InventoryPush.Status.RETRY), default=0),
        dead=Sum(1, filter=Q(status=InventoryPush.Status.DEAD), default=0),
        skipped_last_hour=Sum(1, filter=Q(status=InventoryPush.Status.SKIPPED, finished_at__gte=hour_ago), default=0),
    )
    return PushHealth(
        store=store, full_sync_done=store_full_sync_done(store=store), **counts,
        not_stocked_levels=ShopifyLevel.objects.filter(store=store, not_stocked_at__isnull=False).count(),
        unmatched_sales=ShopifyOrderLine.objects.filter(order__shop_domain=store.shop_domain,
                                                        match=ShopifyOrderLine.Match.UNMATCHED).count(),
        failed_events=WebhookEvent.objects.filter(store=store, status=WebhookEvent.Status.FAILED).count(),
    )


def inventory_health_section(store: Store) -> list[tuple[str, str]]:
    """Inventory figures for the sync health page and ``sync_status`` (registered in AppConfig.ready())."""
    if not store.inventory_push_enabled:
        return [("Inventory pushes", "off for this store")]
    h = inventory_push_health(store=store)
    return [
        ("Inventory push backlog", f"{h.pending} pending, {h.retrying} retrying, {h.skipped_last_hour} skipped "
                                   f"in the last hour, {h.dead} dead"),
        ("Levels not stocked in Shopify", f"{h.not_stocked_levels} (left alone until stocked or remapped)"),
        ("Unmatched sales", str(h.unmatched_sales)),
        ("Failed webhook events", str(h.failed_events)),
    ]


def last_applied_full_sync(*, store):
    """Return the store's latest applied full inventory sync that finished without error, or None."""
    from .models import InventorySyncRun

    return (InventorySyncRun.objects.filter(store=store, applied=True, finished_at__isnull=False, error="")
            .order_by("-started_at").first())
