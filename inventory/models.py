"""Stock: PIM locations and their mapping to Shopify, levels, the movement ledger and the inventory push outbox
(the webhook inbox is ``webhooks.models.WebhookEvent``).

The PIM is the master of stock. Every change is a ``StockMovement`` with a unique ``source_ref`` (a redelivered
webhook or a retried command hits the unique index and changes nothing) applied to a row-locked
``StockLevel``. Pushes to Shopify are rows in ``InventoryPush`` recorded in the movement's transaction and
sent by RQ workers after commit; ``ShopifyLevel`` is what the PIM knows about one Shopify inventory level of
one store (the PIM level version its last absolute set included, the quantities our pushes left behind).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from channels.models import Store
from outbox.models import OutboxRow
from pim.models import Variant
from webhooks.models import WebhookEvent

__all__ = ["WebhookEvent"]  # the inbox moved to the webhooks app (issue 14); kept importable from here


class Location(models.Model):
    """A place where the PIM keeps stock (warehouse, shop floor)."""

    name = models.CharField(max_length=255, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StoreLocation(models.Model):
    """Which Shopify location of a store mirrors a PIM location.

    The store's default mapping is the fallback for Shopify events whose location is unknown or unmapped
    (online orders usually carry no location). A PIM location without a mapping is never pushed to the store.
    """

    store = models.ForeignKey(Store, related_name="inventory_locations", on_delete=models.CASCADE)
    location = models.ForeignKey(Location, related_name="store_mappings", on_delete=models.CASCADE)
    shopify_location_id = models.CharField(max_length=100, help_text="Numeric id of the Shopify location.")
    shopify_location_name = models.CharField(max_length=255, blank=True)
    is_default = models.BooleanField(
        default=False, help_text="Use this mapping for orders and refunds whose Shopify location is not mapped."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["store_id", "-is_default", "location__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "location"],
                name="store_location_unique_pim_location",
                violation_error_message="This PIM location is already mapped for this store.",
            ),
            models.UniqueConstraint(
                fields=["store", "shopify_location_id"],
                name="store_location_unique_shopify_location",
                violation_error_message="This Shopify location is already mapped for this store.",
            ),
            models.UniqueConstraint(
                fields=["store"],
                condition=Q(is_default=True),
                name="store_location_one_default",
                violation_error_message="The store already has a default location.",
            ),
        ]

    def __str__(self) -> str:
        label = self.shopify_location_name or self.shopify_location_id
        return f"{self.location} → {label} @ {self.store}" + (" (default)" if self.is_default else "")


class StockLevel(models.Model):
    """Stock of one variant at one PIM location; changed only by movements (under a row lock)."""

    variant = models.ForeignKey(Variant, related_name="stock_levels", on_delete=models.CASCADE)
    location = models.ForeignKey(Location, related_name="stock_levels", on_delete=models.PROTECT)
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    available = models.GeneratedField(
        expression=F("on_hand") - F("reserved"),
        output_field=models.IntegerField(),
        db_persist=True,
        verbose_name="available to sell",
    )
    # Bumped by every movement; pushes and absolute sets compare versions to know what Shopify already has.
    version = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["variant_id", "location_id"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "location"], name="stock_level_unique"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stock_level_reserved_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id}@{self.location_id}: {self.on_hand} on hand"


class ShopifyOrder(models.Model):
    """An order seen in a shop's webhooks; its row is locked while any webhook of the order is processed."""

    shop_domain = models.CharField(max_length=255)
    order_id = models.CharField(max_length=100)
    store = models.ForeignKey(Store, related_name="+", null=True, blank=True, on_delete=models.SET_NULL)
    name = models.CharField(max_length=100, blank=True)
    shopify_location_id = models.CharField(max_length=100, blank=True)
    created_seen_at = models.DateTimeField(null=True, blank=True)
    cancelled_seen_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    # Shopify's order date (orders/create created_at) and the updated_at of the newest full snapshot applied.
    ordered_at = models.DateTimeField(null=True, blank=True)
    snapshot_at = models.DateTimeField(null=True, blank=True)
    # Units per line per Shopify location from the order's fulfillment orders (fetched through the API).
    fulfillment_allocation = models.JSONField(default=dict, blank=True)
    allocation_fetched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-first_seen_at"]
        constraints = [models.UniqueConstraint(fields=["shop_domain", "order_id"], name="shopify_order_unique")]

    def __str__(self) -> str:
        return f"{self.name or self.order_id} @ {self.shop_domain}"


class StockMovement(models.Model):
    """One entry of the append-only stock ledger."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        SALE = "sale", "Sale"
        CANCELLATION = "cancellation", "Cancellation"
        REFUND_RESTOCK = "refund_restock", "Refund restock"
        ADJUSTMENT = "adjustment", "Adjustment"
        STOCKTAKE = "stocktake", "Stocktake"
        SYNC_CORRECTION = "sync_correction", "Sync correction"
        ORDER_EDIT = "order_edit", "Order edit"
        SALE_MOVED = "sale_moved", "Sale moved to another location"

    variant = models.ForeignKey(Variant, related_name="stock_movements", on_delete=models.PROTECT)
    location = models.ForeignKey(Location, related_name="stock_movements", on_delete=models.PROTECT)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    quantity = models.IntegerField(help_text="Change of the quantity on hand.")
    reserved_change = models.IntegerField(default=0)
    on_hand_after = models.IntegerField()
    reserved_after = models.IntegerField(default=0)
    level_version = models.PositiveBigIntegerField()
    source_ref = models.CharField(
        max_length=255, unique=True, help_text="What caused it, unique: a repeat of the same cause is a no-op."
    )
    store = models.ForeignKey(Store, related_name="+", null=True, blank=True, on_delete=models.SET_NULL)
    shop_domain = models.CharField(max_length=255, blank=True, help_text="Shop the change came from, if any.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="+", null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_label = models.CharField(max_length=255, help_text="Who or what made the change.")
    reason = models.CharField(max_length=500, blank=True)
    webhook_event = models.ForeignKey(
        WebhookEvent, related_name="movements", null=True, blank=True, on_delete=models.SET_NULL
    )
    order_line = models.ForeignKey(
        "ShopifyOrderLine", related_name="movements", null=True, blank=True, on_delete=models.PROTECT
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["variant", "location", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity:+d} of {self.variant_id} at {self.location_id}"


class InventorySyncRun(models.Model):
    """A full inventory comparison (dry run) or overwrite of one store."""

    store = models.ForeignKey(Store, related_name="inventory_sync_runs", on_delete=models.CASCADE)
    applied = models.BooleanField(default=False, help_text="Shopify was overwritten (otherwise a dry run).")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    levels_checked = models.PositiveIntegerField(default=0)
    differences = models.PositiveIntegerField(default=0)
    levels_set = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    sets_queued = models.PositiveIntegerField(null=True, blank=True,
                                              help_text="Sets queued by an applied run (its batches run on the workers).")
    actor_label = models.CharField(max_length=255, blank=True)
    report = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{'full sync' if self.applied else 'dry run'} of {self.store} at {self.started_at:%Y-%m-%d %H:%M}"


class ShopifyLevel(models.Model):
    """What the PIM knows about one Shopify inventory level (store × variant × mapped location)."""

    store = models.ForeignKey(Store, related_name="+", on_delete=models.CASCADE)
    variant = models.ForeignKey(Variant, related_name="+", on_delete=models.CASCADE)
    location = models.ForeignKey(Location, related_name="+", on_delete=models.CASCADE)
    # The PIM level version the last absolute set (full sync, first push, overwrite) included; None = never set.
    baseline_version = models.PositiveBigIntegerField(null=True, blank=True)
    last_known_available = models.IntegerField(null=True, blank=True)
    # Quantities our own pushes left in Shopify: their inventory_levels/update echoes are recognised by them.
    expected_echoes = models.JSONField(default=list, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    # The variant has no level at the Shopify location (checked then, against that location id): no set is
    # requested again until the mapping or Shopify's stocking changes (inventory_levels/connect or update).
    not_stocked_at = models.DateTimeField(null=True, blank=True)
    not_stocked_shopify_location_id = models.CharField(max_length=100, blank=True)
    # One push at a time per level (deltas and absolute sets must not overtake each other).
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "variant", "location"], name="shopify_level_unique")
        ]

    def __str__(self) -> str:
        return f"{self.variant_id}@{self.location_id} in {self.store_id}"


class InventoryPush(OutboxRow):
    """A push of stock to one store's level: a row of the outbox (kind ``inventory_push``, lane ``inventory``);
    never lost when Redis or Shopify is down."""

    class Kind(models.TextChoices):
        DELTA = "delta", "Delta (inventoryAdjustQuantities)"
        SET = "set", "Absolute set (inventorySetQuantities)"
        CHECK = "check", "Compare with Shopify"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        RETRY = "retry", "Waiting to retry"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        SUPERSEDED = "superseded", "Superseded by an absolute set"
        DEAD = "dead", "Dead-lettered"

    store = models.ForeignKey(Store, related_name="inventory_pushes", on_delete=models.CASCADE)
    variant = models.ForeignKey(Variant, related_name="+", on_delete=models.CASCADE)
    location = models.ForeignKey(Location, related_name="+", on_delete=models.CASCADE)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    # Pending deltas for the same level coalesce; once attempted, a push is frozen (same idempotency key).
    delta = models.IntegerField(default=0)
    reason = models.CharField(max_length=40, default="correction", help_text="Shopify's adjustment reason.")
    min_version = models.PositiveBigIntegerField(default=0)
    max_version = models.PositiveBigIntegerField(default=0)
    movements = models.PositiveIntegerField(default=0, help_text="Movements folded into this push.")
    movement = models.ForeignKey(StockMovement, related_name="+", null=True, blank=True, on_delete=models.SET_NULL)
    sync_run = models.ForeignKey(InventorySyncRun, related_name="pushes", null=True, blank=True,
                                 on_delete=models.SET_NULL)
    quantity_sent = models.IntegerField(null=True, blank=True)
    change_from = models.IntegerField(null=True, blank=True)
    # The Shopify location the push went to and which mapping gave it ("mapped" or "store default").
    shopify_location_id = models.CharField(max_length=100, blank=True, db_default="")
    mapping_used = models.CharField(max_length=20, blank=True, db_default="")
    idempotency_key = models.CharField(max_length=255, blank=True)
    max_attempts = models.PositiveIntegerField(default=10)  # INVENTORY_PUSH_MAX_ATTEMPTS when recorded
    started_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=500, blank=True)
    first_change_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True, help_text="First change to done in Shopify.")

    class Meta:
        verbose_name_plural = "inventory pushes"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "variant", "location", "kind"],
                condition=Q(status="pending"),
                name="inventory_push_one_pending_per_level",
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["store", "variant", "location", "status"]),
        ]
        permissions = [("replay_inventorypush", "Can replay dead-lettered inventory pushes")]

    def __str__(self) -> str:
        what = f"{self.delta:+d}" if self.kind == self.Kind.DELTA else self.kind
        return f"push {what} of {self.variant_id}@{self.location_id} → {self.store_id} ({self.status})"


class InventoryDrift(models.Model):
    """A Shopify quantity that differs from the PIM's with nothing in flight to explain it (a merchant edit)."""

    class Action(models.TextChoices):
        OVERWRITTEN = "overwritten", "PIM quantity pushed back (overwrite policy)"
        HELD = "held", "Held for review (hold policy)"
        ACCEPTED = "accepted", "Shopify quantity accepted into the PIM"
        DISMISSED = "dismissed", "Dismissed"

    store = models.ForeignKey(Store, related_name="+", on_delete=models.CASCADE)
    variant = models.ForeignKey(Variant, related_name="+", on_delete=models.CASCADE)
    location = models.ForeignKey(Location, related_name="+", on_delete=models.CASCADE)
    shopify_available = models.IntegerField()
    pim_available = models.IntegerField()
    action = models.CharField(max_length=16, choices=Action.choices)
    webhook_event = models.ForeignKey(WebhookEvent, related_name="+", null=True, blank=True,
                                      on_delete=models.SET_NULL)
    detected_at = models.DateTimeField(default=timezone.now, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        permissions = [("resolve_inventorydrift", "Can resolve inventory drifts")]

    def __str__(self) -> str:
        return f"Shopify {self.shopify_available} vs PIM {self.pim_available} ({self.get_action_display()})"


class StoreInventory(Store):
    """Inventory view of a store connection (admin: location mapping, full sync)."""

    class Meta:
        proxy = True
        verbose_name = "store inventory"
        verbose_name_plural = "store inventory"
        permissions = [("sync_storeinventory", "Can map locations and run full inventory syncs")]


class WebhookSubscriptionHealth(models.Model):
    """The last check of one store's webhook subscriptions against what the PIM needs (one row per store)."""

    class State(models.TextChoices):
        UNKNOWN = "unknown", "not checked yet"
        OK = "ok", "healthy"
        REPAIRED = "repaired", "repaired"
        PROBLEM = "problem", "needs attention"
        ERROR = "error", "check failed"

    store = models.OneToOneField(Store, related_name="webhook_health", on_delete=models.CASCADE)
    callback_url = models.CharField(max_length=500, blank=True,
                                    help_text="address of /shopify/webhooks/ the subscriptions must point to")
    state = models.CharField(max_length=16, choices=State.choices, default=State.UNKNOWN)
    # [{"topic", "problem", "detail", "repaired"}]: what the last check found, and whether it was fixed.
    findings = models.JSONField(default=list, blank=True)
    last_error = models.TextField(blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = "webhook subscription health"
        verbose_name_plural = "webhook subscription health"

    def __str__(self) -> str:
        return f"{self.store} webhooks: {self.get_state_display()}"


class ShopifyOrderLine(models.Model):
    """What the PIM knows of one Shopify order line: the facts its webhooks and API reads gave, merged so that
    duplicated or reordered deliveries give the same result; its stock movements are derived from them.

    A line that matches no PIM variant (unknown SKU, custom item, gift card, a SKU shared by several variants)
    is an *unmatched sale*: it changes no stock until a manager maps it (admin action), then it is applied once.
    """

    class Match(models.TextChoices):
        MATCHED = "matched", "Matched"
        UNMATCHED = "unmatched", "Unmatched (review)"
        NOT_TRACKED = "not_tracked", "Variant does not track inventory"
        DISMISSED = "dismissed", "Dismissed"

    order = models.ForeignKey(ShopifyOrder, related_name="lines", on_delete=models.CASCADE)
    line_id = models.CharField(max_length=100)
    store = models.ForeignKey(Store, related_name="+", null=True, blank=True, on_delete=models.SET_NULL)
    shopify_variant_id = models.CharField(max_length=100, blank=True)
    sku = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=500, blank=True)
    gift_card = models.BooleanField(default=False)
    variant = models.ForeignKey(Variant, related_name="shopify_order_lines", null=True, blank=True,
                                on_delete=models.SET_NULL)
    match = models.CharField(max_length=12, choices=Match.choices, default=Match.UNMATCHED)
    match_note = models.CharField(max_length=500, blank=True)
    # REST line_items[].quantity as orders/create gave it (else the first snapshot that named the line, for now).
    quantity = models.IntegerField(null=True, blank=True)
    in_create = models.BooleanField(default=False, help_text="The line was in the orders/create payload.")
    added_by_edit = models.BooleanField(default=False, help_text="An order edit added the line.")
    fulfilled = models.IntegerField(default=0)
    # Order edits of the line: {order_edit id: units added (+) or removed (−)}.
    edits = models.JSONField(default=dict, blank=True)
    # Refund lines seen: {refund line id: {"refund": id, "quantity": n, "type": restock_type, "location": id}}.
    refund_lines = models.JSONField(default=dict, blank=True)
    # Where the sale is booked in Shopify: the location id and how it was known.
    shopify_location_id = models.CharField(max_length=100, blank=True)
    location_source = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["order", "line_id"], name="shopify_order_line_unique")]
        indexes = [models.Index(fields=["match", "created_at"]), models.Index(fields=["variant", "created_at"])]
        permissions = [("apply_shopifyorderline", "Can map and apply unmatched sales")]

    def __str__(self) -> str:
        return f"{self.sku or self.title or self.line_id} in {self.order}"


class UnmatchedSale(ShopifyOrderLine):
    """Admin view of order lines that match no PIM variant."""

    class Meta:
        proxy = True
        verbose_name = "unmatched sale"
        verbose_name_plural = "unmatched sales"


class StoreInventorySettings(models.Model):
    """What one store may write back to the PIM, and how pushes treat unstocked levels (ids always flow back)."""

    store = models.OneToOneField(Store, related_name="inventory_settings", on_delete=models.CASCADE)
    sales_write_back = models.BooleanField(
        default=True, help_text="Orders, edits, cancellations and refunds change PIM stock.")
    merchant_edits_write_back = models.BooleanField(
        default=True, help_text="Stock edits made in Shopify are handled by the store's conflict policy "
                                "(otherwise they are recorded only and the PIM quantity stands).")
    keep_order_lines = models.BooleanField(
        default=False, help_text="Keep order lines as read-only reference data (units sold per variant, store, day).")
    activate_unstocked = models.BooleanField(
        default=False, help_text="A variant not stocked at a mapped location is activated there (inventoryActivate); "
                                 "otherwise it is recorded once as not stocked and left alone.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "store inventory settings"
        verbose_name_plural = "store inventory settings"

    def __str__(self) -> str:
        return f"inventory settings of {self.store}"


class OrderWatermark(models.Model):
    """Per store, the moment up to which the PIM holds every order event ("complete until"), and the gap replay.

    ``inventory/catchup.py`` advances ``complete_until`` only while no gap is possible, and records a gap (from
    ``gap_since``) when one may have opened; the replay reads the orders updated since then from Shopify.
    """

    store = models.OneToOneField(Store, related_name="order_watermark", on_delete=models.CASCADE)
    complete_until = models.DateTimeField(null=True, blank=True)
    ticked_at = models.DateTimeField(null=True, blank=True, help_text="last time the sweeper looked at this store")
    health_seen_at = models.DateTimeField(null=True, blank=True,
                                          help_text="the subscription check already taken into account")
    gap_since = models.DateTimeField(null=True, blank=True, help_text="a replay from here is owed")
    gap_reason = models.TextField(blank=True)
    replay_lease_until = models.DateTimeField(null=True, blank=True)
    next_verify_at = models.DateTimeField(null=True, blank=True)
    last_replay_at = models.DateTimeField(null=True, blank=True)
    last_replay_summary = models.TextField(blank=True)
    last_replay_error = models.TextField(blank=True)

    class Meta:
        verbose_name = "order watermark"

    def __str__(self) -> str:
        return f"{self.store} orders complete until {self.complete_until}"
# Scheduled reconciliation (issue 18) lives in its own module; imported here so Django registers its models.
from .reconciliation_models import FullSyncConfirmation, ReconciliationRun, ReconciliationSchedule  # noqa: E402, F401
