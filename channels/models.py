"""Stores, channel assignments with per-store overrides and Shopify ID bindings, and durable sync jobs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from outbox.models import OutboxRow
from pim.clock import clock_now
from pim.models import Product, Variant

from .crypto import EncryptedTextField
from .endpoints import api_base_url_validate, shop_domain_validate, store_base_url
from .mapping import PUBLISH_GROUPS


class ConflictPolicy(models.TextChoices):
    OVERWRITE = "overwrite", "Overwrite Shopify with the PIM value (logged)"
    HOLD = "hold", "Hold the product on this store until reviewed"


# Field groups a store can receive (the field registry's groups); an unselected group is never sent to Shopify.
PUBLISH_FIELDS = PUBLISH_GROUPS
ALL_PUBLISH_FIELDS = [name for name, _ in PUBLISH_FIELDS]


def default_publish_fields() -> list[str]:
    return list(ALL_PUBLISH_FIELDS)


# Products created through the API are on no sales channel; each store lists the publications (sales
# channels, by their catalog title as Shopify shows them) its products are published on.
DEFAULT_PUBLICATIONS = ("Online Store",)


def default_publications() -> list[str]:
    return list(DEFAULT_PUBLICATIONS)


def publish_batch_times_validate(value) -> None:
    """Batch times are a list of distinct "HH:MM" (00:00 to 23:59). Raises ValidationError naming the bad one."""
    from django.core.exceptions import ValidationError

    if not isinstance(value, list):
        raise ValidationError("Give the batch times as a list of HH:MM.")
    for item in value:
        hours, _, minutes = str(item).partition(":")
        if not (len(str(item)) == 5 and hours.isdigit() and minutes.isdigit() and int(hours) < 24
                and int(minutes) < 60):
            raise ValidationError(f"'{item}' is not a time of day as HH:MM (e.g. 06:00 or 14:30).")
    if len(set(value)) != len(value):
        raise ValidationError("A batch time is listed twice.")


class Store(models.Model):
    class AuthMode(models.TextChoices):
        STATIC_TOKEN = "static_token", "Admin API access token (custom app)"
        CLIENT_CREDENTIALS = "client_credentials", "Client credentials (Dev Dashboard app)"

    class Plan(models.TextChoices):
        STANDARD = "standard", "Standard"
        ADVANCED = "advanced", "Advanced"
        PLUS = "plus", "Plus"

    class UnpublishAction(models.TextChoices):
        DRAFT = "DRAFT", "Set to draft"
        ARCHIVED = "ARCHIVED", "Archive"

    name = models.CharField(max_length=120, unique=True)
    shop_domain = models.CharField(
        max_length=255, db_index=True, validators=[shop_domain_validate],
        help_text="The shop's myshopify domain, e.g. my-shop.myshopify.com.",
    )
    api_base_url = models.URLField(
        max_length=500,
        blank=True,
        validators=[api_base_url_validate],
        help_text="Leave empty for Shopify (https://<shop domain>). Only for the local simulator, and only when "
                  "SHOPIFY_ALLOW_BASE_URL_OVERRIDE is on.",
    )
    api_version = models.CharField(max_length=16, default=settings.SHOPIFY_API_VERSION)
    auth_mode = models.CharField(max_length=32, choices=AuthMode.choices, default=AuthMode.STATIC_TOKEN)
    access_token = EncryptedTextField(blank=True)
    client_id = models.CharField(max_length=255, blank=True)
    client_secret = EncryptedTextField(blank=True)
    webhook_secret = EncryptedTextField(
        blank=True,
        help_text="Custom app made in the shop's admin: its API secret key, which signs webhooks. Not needed for "
                  "a Dev Dashboard app (its client secret signs them).",
    )
    plan = models.CharField(max_length=16, choices=Plan.choices, default=Plan.STANDARD)
    is_active = models.BooleanField(default=True)
    default_conflict_policy = models.CharField(
        max_length=16, choices=ConflictPolicy.choices, default=ConflictPolicy.OVERWRITE
    )
    unpublish_action = models.CharField(
        max_length=16,
        choices=UnpublishAction.choices,
        default=UnpublishAction.DRAFT,
        help_text="What happens in Shopify when a product is unassigned from this store (never deleted).",
    )
    publish_fields = models.JSONField(default=default_publish_fields, blank=True)
    publications = models.JSONField(
        default=default_publications, blank=True,
        help_text="Sales channels (publication titles in the shop, e.g. Online Store, Point of Sale) every "
        "published product is put on. Empty: on no channel (not visible in the online store).",
    )
    class PublishMode(models.TextChoices):
        IMMEDIATE = "immediate", "Immediately on every change"
        SCHEDULED = "scheduled", "In scheduled batches at set times (edits wait and coalesce)"
        ON_REQUEST = "on_request", "Only on request (Publish now / the publish command)"

    publish_mode = models.CharField(
        max_length=16, choices=PublishMode.choices, default=PublishMode.IMMEDIATE,
        help_text="When catalog changes go out to this store. Removing a product from the store always goes out "
                  "at once.")
    publish_batch_times = models.JSONField(
        default=list, blank=True, validators=[publish_batch_times_validate],
        help_text="For scheduled batches: the times of day (HH:MM, in the server's time zone), e.g. 06:00, 14:00.")
    # The batch slot last run (so every sweeper runs each slot once).
    publish_batch_last_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Why the shop refuses requests right now (HTTP 402 frozen / 423 locked); empty when it answers.
    unavailable_reason = models.CharField(max_length=255, blank=True, editable=False)
    inventory_push_enabled = models.BooleanField(
        default=False, help_text="Only one connection per shop may push inventory."
    )
    # Circuit breaker: while open, no job for this store is dispatched; other stores are unaffected.
    circuit_failures = models.PositiveIntegerField(default=0, editable=False)
    circuit_open_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Who changed which setting when. Credentials are never copied into history; circuit state is pipeline state.
    history = HistoricalRecords(
        excluded_fields=["access_token", "client_secret", "webhook_secret", "circuit_failures", "circuit_open_until",
                         "unavailable_reason", "publish_batch_last_at"]
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["shop_domain"],
                condition=Q(inventory_push_enabled=True),
                name="one_inventory_pusher_per_shop",
                violation_error_message="Another connection already pushes inventory to this shop.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def base_url(self) -> str:
        """Where this store's API calls and credentials go; raises StoreEndpointRefused if nowhere allowed."""
        return store_base_url(shop_domain=self.shop_domain, api_base_url=self.api_base_url)

    @property
    def webhook_signing_secret(self) -> str:
        """The secret Shopify signs this connection's webhooks with.

        A Dev Dashboard app (client credentials) signs with its client secret; a custom app made in the shop's
        admin signs with its API secret key (kept in ``webhook_secret``).
        """
        if self.auth_mode == self.AuthMode.CLIENT_CREDENTIALS:
            return self.client_secret
        return self.webhook_secret

    def circuit_is_open(self, now=None) -> bool:
        return bool(self.circuit_open_until and self.circuit_open_until > (now or clock_now()))


class StoreMetafieldMapping(models.Model):
    """Where a PIM attribute goes in this store; without any mapping, attributes keep their own key."""

    store = models.ForeignKey(Store, related_name="metafield_mappings", on_delete=models.CASCADE)
    attribute_namespace = models.CharField(max_length=255, default="pim")
    attribute_key = models.CharField(max_length=64)
    metafield_namespace = models.CharField(max_length=255)
    metafield_key = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "attribute_namespace", "attribute_key"], name="mapping_unique_attribute"
            )
        ]

    def __str__(self) -> str:
        return f"{self.attribute_namespace}.{self.attribute_key} → {self.metafield_namespace}.{self.metafield_key}"


class ChannelAssignment(models.Model):
    """A product on a store: publish flag, per-store overrides, and the Shopify product binding."""

    product = models.ForeignKey(Product, related_name="assignments", on_delete=models.CASCADE)
    store = models.ForeignKey(Store, related_name="assignments", on_delete=models.CASCADE)
    publish = models.BooleanField(default=True)
    handle_override = models.CharField(max_length=255, blank=True)
    title_override = models.CharField(max_length=255, blank=True)
    tags_override = models.TextField(blank=True, help_text="Replaces the PIM tags on this store when set.")
    status_override = models.CharField(max_length=16, choices=Product.Status.choices, blank=True)
    # Binding and publishing state, written by the pipeline.
    shopify_product_id = models.CharField(max_length=100, blank=True, db_index=True)
    published_hash = models.CharField(max_length=64, blank=True)
    published_snapshot = models.JSONField(default=dict, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # Shopify's own updatedAt after our last write: a products/update webhook not newer than this is our echo.
    shopify_updated_at = models.DateTimeField(null=True, blank=True)
    unpublished_at = models.DateTimeField(null=True, blank=True)
    # The publication (sales channel) ids the product is on in Shopify after our last write.
    publication_ids = models.JSONField(default=list, blank=True)
    held = models.BooleanField(default=False, help_text="Paused by a conflict until a manager resolves it.")
    # A change waits for the store's next batch or a publish request (publish mode not immediate).
    waiting_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Who changed the assignment or its overrides when (the publishing state is not history: it is rewritten
    # by the pipeline with update(), which records nothing).
    history = HistoricalRecords(excluded_fields=["published_hash", "published_snapshot", "published_at",
                                                 "shopify_updated_at", "unpublished_at", "publication_ids",
                                                 "waiting_since"])

    class Meta:
        verbose_name = "store assignment"
        verbose_name_plural = "store assignments"
        constraints = [models.UniqueConstraint(fields=["product", "store"], name="assignment_unique")]
        indexes = [models.Index(fields=["store", "shopify_product_id"])]

    def __str__(self) -> str:
        return f"{self.product} @ {self.store}"


class VariantOverride(models.Model):
    """Per-store price and compare-at price of one variant."""

    assignment = models.ForeignKey(ChannelAssignment, related_name="variant_overrides", on_delete=models.CASCADE)
    variant = models.ForeignKey(Variant, related_name="store_overrides", on_delete=models.CASCADE)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    compare_at_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["assignment", "variant"], name="variant_override_unique")]

    def __str__(self) -> str:
        return f"{self.variant_id} @ {self.assignment_id}"


class VariantBinding(models.Model):
    """Shopify's ids for one PIM variant in one store, written back after the first publish."""

    store = models.ForeignKey(Store, related_name="variant_bindings", on_delete=models.CASCADE)
    variant = models.ForeignKey(Variant, related_name="bindings", on_delete=models.CASCADE)
    shopify_variant_id = models.CharField(max_length=100)
    shopify_inventory_item_id = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "variant"], name="variant_binding_unique"),
            models.UniqueConstraint(fields=["store", "shopify_variant_id"], name="variant_binding_shopify_unique"),
        ]
        indexes = [models.Index(fields=["store", "shopify_inventory_item_id"])]

    def __str__(self) -> str:
        return f"variant {self.variant_id} = {self.shopify_variant_id} @ {self.store_id}"


class SyncJob(OutboxRow):
    """One unit of work for one (store, product): the outbox row that makes a change durable."""

    class Kind(models.TextChoices):
        PUBLISH = "publish", "Publish"
        UNPUBLISH = "unpublish", "Unpublish"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped (nothing to send)"
        HELD = "held", "Held by a conflict"
        DEAD = "dead", "Dead-lettered"
        SUPERSEDED = "superseded", "Superseded"

    store = models.ForeignKey(Store, related_name="sync_jobs", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, related_name="sync_jobs", null=True, blank=True, on_delete=models.SET_NULL)
    # Kept so that jobs for deleted products still know what to unpublish.
    product_label = models.CharField(max_length=255, blank=True)
    shopify_product_id = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PUBLISH)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    first_edit_at = models.DateTimeField(default=timezone.now)
    last_edit_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Last edit to live in Shopify.")
    result = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one pending job per (store, product, kind): later edits coalesce into it.
            models.UniqueConstraint(
                fields=["store", "product", "kind"],
                condition=Q(status="pending"),
                name="one_pending_job_per_store_product",
            )
        ]
        indexes = [
            models.Index(fields=["store", "status", "next_attempt_at"]),
            models.Index(fields=["status", "lease_until"]),
        ]
        permissions = [
            ("replay_syncjob", "Can replay dead-lettered sync jobs"),
            ("use_rq_dashboard", "Can use the RQ dashboard (see queues, empty them, delete and requeue jobs)"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.product_label or self.product_id} → {self.store_id} ({self.status})"


class SyncAttempt(models.Model):
    job = models.ForeignKey(SyncJob, related_name="attempt_log", on_delete=models.CASCADE)
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=32)
    error_type = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    retryable = models.BooleanField(default=False)
    worker = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["job_id", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of job {self.job_id}: {self.outcome}"


class Alert(models.Model):
    """One operator alert per (kind, store, window): the row is the "already told them" memory."""

    kind = models.CharField(max_length=64)
    store = models.ForeignKey(Store, null=True, blank=True, related_name="alerts", on_delete=models.CASCADE)
    window_start = models.DateTimeField()
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "store", "window_start"], name="one_alert_per_kind_store_window",
                                    nulls_distinct=False),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.store_id or 'all stores'}) at {self.window_start:%Y-%m-%d %H:%M}"


class ImageBinding(models.Model):
    """Shopify's media id for one PIM image in one store, so later publishes reference it instead of uploading."""

    class Status(models.TextChoices):
        UPLOADED = "UPLOADED", "Uploaded"
        PROCESSING = "PROCESSING", "Processing"
        READY = "READY", "Ready"
        FAILED = "FAILED", "Failed"

    store = models.ForeignKey(Store, related_name="image_bindings", on_delete=models.CASCADE)
    image = models.ForeignKey("pim.ProductImage", related_name="bindings", on_delete=models.CASCADE)
    shopify_media_id = models.CharField(max_length=100)
    # The source URL the media was created from: a changed URL is a new upload.
    source = models.URLField(max_length=2000)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADED)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "image"], name="image_binding_unique")]

    def __str__(self) -> str:
        return f"image {self.image_id} = {self.shopify_media_id} @ {self.store_id}"


# --- categories → collections (issue 19) ----------------------------------------------------------------


class StoreCollection(models.Model):
    """A collection that exists in a store, as last read from Shopify (to choose one, and to list smart ones)."""

    store = models.ForeignKey(Store, related_name="shopify_collections", on_delete=models.CASCADE)
    shopify_collection_id = models.CharField(max_length=100)
    title = models.CharField(max_length=255)
    handle = models.CharField(max_length=255)
    is_smart = models.BooleanField(default=False)
    rules = models.JSONField(default=list, blank=True)
    products_count = models.PositiveIntegerField(null=True, blank=True)
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["store_id", "title"]
        constraints = [models.UniqueConstraint(fields=["store", "shopify_collection_id"],
                                               name="store_collection_unique")]

    def __str__(self) -> str:
        return f"{self.title} ({'smart' if self.is_smart else 'custom'})"


class CollectionMapping(models.Model):
    """A PIM category published as one Shopify collection of one store: an existing one, or one the PIM creates."""

    class Mode(models.TextChoices):
        EXISTING = "existing", "Use an existing collection of the store"
        CREATE = "create", "Let the PIM create the collection"

    class SortOrder(models.TextChoices):
        MANUAL = "MANUAL", "Manual"
        BEST_SELLING = "BEST_SELLING", "Best selling"
        ALPHA_ASC = "ALPHA_ASC", "Title A–Z"
        ALPHA_DESC = "ALPHA_DESC", "Title Z–A"
        PRICE_ASC = "PRICE_ASC", "Price, low to high"
        PRICE_DESC = "PRICE_DESC", "Price, high to low"
        CREATED = "CREATED", "Oldest first"
        CREATED_DESC = "CREATED_DESC", "Newest first"

    store = models.ForeignKey(Store, related_name="collection_mappings", on_delete=models.CASCADE)
    category = models.ForeignKey("pim.Category", related_name="collection_mappings", on_delete=models.PROTECT)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.CREATE)
    existing = models.ForeignKey(
        StoreCollection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The store's custom collection to fill (refresh the store's collections first). Smart collections "
                  "cannot be chosen: their rules decide membership.",
    )
    shopify_collection_id = models.CharField(max_length=100, blank=True, editable=False)
    title = models.CharField(max_length=255, blank=True, help_text="For a new collection; empty: the category name.")
    handle = models.CharField(max_length=255, blank=True,
                              help_text="For a new collection; empty: the category's handle.")
    description_html = models.TextField("description (HTML)", blank=True)
    image_url = models.URLField(max_length=2000, blank=True)
    sort_order = models.CharField(max_length=16, choices=SortOrder.choices, default=SortOrder.MANUAL)
    include_subcategories = models.BooleanField(
        default=True, help_text="Products of the categories below this one belong to the collection too.")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["shopify_collection_id"])

    class Meta:
        ordering = ["store_id", "category_id"]
        constraints = [models.UniqueConstraint(fields=["store", "category"], name="collection_mapping_unique")]

    def __str__(self) -> str:
        return f"{self.category} → {self.store}"


class CollectionMember(models.Model):
    """A product the PIM put in a mapped collection (what it last wrote, compared with Shopify for drift)."""

    mapping = models.ForeignKey(CollectionMapping, related_name="members", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    shopify_product_id = models.CharField(max_length=100)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mapping", "shopify_product_id"],
                                               name="collection_member_unique")]

    def __str__(self) -> str:
        return f"product {self.shopify_product_id} in mapping {self.mapping_id}"


class CollectionSyncJob(OutboxRow):
    """Outbox row: bring one mapped collection's membership in step (one pending row per mapping coalesces)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped (nothing to send)"
        HELD = "held", "Held by a Shopify-side change"
        DEAD = "dead", "Dead-lettered"

    store = models.ForeignKey(Store, related_name="collection_jobs", on_delete=models.CASCADE)
    mapping = models.ForeignKey(CollectionMapping, related_name="jobs", on_delete=models.CASCADE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    check_drift = models.BooleanField(
        default=False, help_text="Read the live membership even when the PIM side did not change (sweep, sync now).")
    calls = models.PositiveIntegerField(default=0, help_text="Membership calls the last run made.")
    added = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    result = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["mapping"], condition=Q(status="pending"),
                                               name="one_pending_collection_job_per_mapping")]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"collection job {self.pk} for {self.mapping_id} ({self.status})"


class AssignmentRule(models.Model):
    """A store takes every product that matches (issue 19): products gaining the match are assigned and published,
    products losing it are unpublished. Manual assignments are never touched by rules."""

    class Kind(models.TextChoices):
        TAG = "tag", "Has the tag"
        CATEGORY = "category", "Is in the category (or below it)"
        VENDOR = "vendor", "Vendor is"
        PRODUCT_TYPE = "product_type", "Product type is"

    store = models.ForeignKey(Store, related_name="assignment_rules", on_delete=models.CASCADE)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=255, blank=True, help_text="The tag, vendor or product type (any case).")
    category = models.ForeignKey("pim.Category", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["store_id", "kind", "value"]

    def __str__(self) -> str:
        what = self.category.name if self.kind == self.Kind.CATEGORY and self.category_id else self.value
        return f"{self.store}: {self.get_kind_display().lower()} {what}"


class RuleAssignment(models.Model):
    """Marks an assignment the rules made (so only those are undone when the product stops matching)."""

    store = models.ForeignKey(Store, related_name="+", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, related_name="+", on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "product"], name="rule_assignment_unique")]

    def __str__(self) -> str:
        return f"product {self.product_id} on store {self.store_id} by rule"


# --- translations (issue 19) --------------------------------------------------------------------------------


class StoreLocale(models.Model):
    """A locale enabled in a store, as last read from Shopify (``shopLocales``)."""

    store = models.ForeignKey(Store, related_name="locales", on_delete=models.CASCADE)
    locale = models.CharField(max_length=16)
    name = models.CharField(max_length=100)
    primary = models.BooleanField(default=False)
    published = models.BooleanField(default=False)
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["store_id", "-primary", "locale"]
        constraints = [models.UniqueConstraint(fields=["store", "locale"], name="store_locale_unique")]

    def __str__(self) -> str:
        return f"{self.locale} @ {self.store_id}"


class TranslationSyncJob(OutboxRow):
    """Outbox row: register one product's translations in one store (one pending row per pair coalesces)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped (nothing to send)"
        DEAD = "dead", "Dead-lettered"

    store = models.ForeignKey(Store, related_name="translation_jobs", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, related_name="translation_jobs", on_delete=models.CASCADE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    registered = models.PositiveIntegerField(default=0)
    registered_hash = models.CharField(max_length=64, blank=True)
    result = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["store", "product"], condition=Q(status="pending"),
                                               name="one_pending_translation_job")]

    def __str__(self) -> str:
        return f"translation job {self.pk} ({self.status})"


from .bulk_models import BulkPublishLine, BulkPublishOperation, BulkPublishRun  # noqa: E402, F401 (registered here)
