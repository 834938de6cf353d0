"""Configuration of the simulator and of each simulated shop.

Everything here is plain data: a :class:`SimConfig` holds global settings and one :class:`ShopConfig` per shop.
Both can be built from a JSON file (``python -m shopify_sim --config file.json``) or from keyword arguments
(``SimulatorServer(shops=["a"], shop_overrides={"a": {"plan": "plus"}})``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

# Leaky-bucket numbers per plan: (maximumAvailable, restoreRate points/s).
# Restore rates are Shopify's documented ones (shopify.dev/docs/api/usage/rate-limits); bucket sizes are the
# values Shopify reports in `throttleStatus.maximumAvailable` (see API-NOTES section 4).
PLANS: dict[str, dict[str, Any]] = {
    "standard": {"bucket_size": 2000.0, "restore_rate": 100.0, "display": "Shopify", "plus": False},
    "basic": {"bucket_size": 2000.0, "restore_rate": 100.0, "display": "Basic", "plus": False},
    "advanced": {"bucket_size": 4000.0, "restore_rate": 200.0, "display": "Advanced", "plus": False},
    "plus": {"bucket_size": 20000.0, "restore_rate": 1000.0, "display": "Shopify Plus", "plus": True},
    "enterprise": {"bucket_size": 40000.0, "restore_rate": 2000.0, "display": "Commerce Components", "plus": True},
}

DEFAULT_SCOPES = [
    "read_products",
    "write_products",
    "read_inventory",
    "write_inventory",
    "read_locations",
    "read_orders",
    "read_merchant_managed_fulfillment_orders",
    "read_publications",
    "write_publications",
    "read_files",
    "write_files",
    # Issue 19: translations need the shop's locales and the translations API.
    "read_locales",
    "read_translations",
    "write_translations",
]

# Shopify: "retried a total of 8 times over 4 hours using an exponential backoff schedule".
# Delays (seconds) before retry 1..8; they sum to ~4 h. Multiplied by SimConfig.webhook_time_scale.
DEFAULT_RETRY_DELAYS = [60.0, 120.0, 240.0, 480.0, 900.0, 1800.0, 3600.0, 7200.0]


@dataclass
class ShopConfig:
    """Settings of one simulated shop. ``name`` "a" gives the domain ``a.myshopify.com``."""

    name: str
    domain: str = ""
    shop_name: str = ""
    email: str = ""
    currency: str = "USD"
    # Static Admin API token (legacy custom app). Empty string / None disables it.
    access_token: str | None = None
    # Client-credentials grant (Dev Dashboard apps). The client secret also signs webhooks.
    client_id: str = ""
    client_secret: str = ""
    token_ttl: float = 86399.0  # seconds; Shopify issues 24 h tokens for this grant
    plan: str = "standard"
    bucket_size: float | None = None  # overrides the plan's value
    restore_rate: float | None = None  # overrides the plan's value
    max_query_cost: int = 1000
    scopes: list[str] = field(default_factory=lambda: list(DEFAULT_SCOPES))
    locations: list[str] = field(default_factory=lambda: ["Main Warehouse", "Retail Store"])
    webhook_api_version: str = "2026-07"
    # "primary": a new variant without inventoryQuantities is stocked at the first location only; "all": at all.
    stock_new_variants_at: str = "primary"
    # inventoryItem.tracked of variants created through the API when the input doesn't say (seeding uses True)
    new_variants_tracked: bool = False
    # Fire products/update when inventory levels change (Shopify does for orders; widely reported for stock).
    products_update_on_inventory_change: bool = True

    def __post_init__(self) -> None:
        if not self.domain:
            self.domain = self.name if self.name.endswith(".myshopify.com") else f"{self.name}.myshopify.com"
        if not self.shop_name:
            self.shop_name = f"Sim Shop {self.name}"
        if not self.email:
            self.email = f"owner@{self.domain}"
        if self.access_token is None:
            self.access_token = f"shpat_sim_{self.name}"
        if not self.client_id:
            self.client_id = f"sim-client-{self.name}"
        if not self.client_secret:
            self.client_secret = f"shpss_sim_{self.name}"
        if self.plan not in PLANS:
            raise ValueError(f"unknown plan {self.plan!r}; known: {sorted(PLANS)}")

    @property
    def effective_bucket_size(self) -> float:
        return float(self.bucket_size if self.bucket_size is not None else PLANS[self.plan]["bucket_size"])

    @property
    def effective_restore_rate(self) -> float:
        return float(self.restore_rate if self.restore_rate is not None else PLANS[self.plan]["restore_rate"])

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["bucket_size"] = self.effective_bucket_size
        d["restore_rate"] = self.effective_restore_rate
        return d

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown shop settings: {sorted(unknown)}")
        if "plan" in values and values["plan"] not in PLANS:
            raise ValueError(f"unknown plan {values['plan']!r}; known: {sorted(PLANS)}")
        for k, v in values.items():
            setattr(self, k, v)


@dataclass
class SimConfig:
    """Global simulator settings."""

    default_api_version: str = "2026-07"
    # What to do with a version we have no schema for: "oldest" serves the oldest supported version (Shopify's
    # documented behaviour for unsupported versions), "404" answers 404 Not Found.
    unknown_version: str = "oldest"
    schema_dir: str | None = None
    # Webhook delivery
    webhook_workers: int = 16
    webhook_timeout: float = 5.0
    webhook_retry_delays: list[float] = field(default_factory=lambda: list(DEFAULT_RETRY_DELAYS))
    webhook_time_scale: float = 1.0  # 0.001 turns the 4-hour retry schedule into ~14 s
    webhook_delete_after_failures: bool = True  # delete an API-created subscription when a delivery exhausts retries
    delivery_log_size: int = 20000
    request_log_size: int = 5000
    # Bulk operations: minimum time an operation stays RUNNING (lets tests observe polling); 0 = as fast as possible
    bulk_min_seconds: float = 0.0
    max_concurrent_bulk_queries: int = 5
    # Bulk mutations (README's table): 5 at once per shop from 2026-01 (1 before), staged upload files up to
    # 100 MB (changelog "faster bulk operations"), lines processed at this many requested cost points per second;
    # 0 = the shop's restore rate (Shopify publishes no bulk throughput: unconfirmed, the stricter choice).
    max_concurrent_bulk_mutations: int = 5
    bulk_upload_max_bytes: int = 100 * 1024 * 1024
    bulk_mutation_points_per_second: float = 0.0
    # productSet/productDelete with synchronous:false: how long the operation stays CREATED/ACTIVE
    async_operation_seconds: float = 0.0
    # Media created from an originalSource: UPLOADED, then PROCESSING, then READY (or FAILED for an unreachable
    # URL: host under the reserved .invalid TLD, or matching the shop's ``unreachable_media`` fault) after this.
    media_processing_seconds: float = 0.3
    # Shopify holds a query's requested cost while it runs and refunds the difference afterwards. The simulator
    # executes in microseconds, so it holds the points for this long per requested point (0.5 ms: a
    # 977-point query holds its points ~0.5 s), which lets parallel workers meet THROTTLED as on Shopify.
    cost_hold_ms_per_point: float = 0.5
    verbose: bool = False

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown simulator settings: {sorted(unknown)}")
        for k, v in values.items():
            setattr(self, k, v)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_config_file(path: str) -> tuple[SimConfig, dict[str, dict[str, Any]]]:
    """Read a JSON config file: ``{"simulator": {...SimConfig...}, "shops": {"a": {...ShopConfig...}}}``.

    Top-level keys other than "shops"/"simulator" are accepted as SimConfig settings too.
    Returns the SimConfig and the raw per-shop overrides (keyed by shop name).
    """
    with open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    shops = raw.pop("shops", {}) or {}
    if isinstance(shops, list):
        shops = {s["name"]: {k: v for k, v in s.items() if k != "name"} for s in shops}
    sim_values = dict(raw.pop("simulator", {}) or {})
    sim_values.update(raw)
    cfg = SimConfig()
    cfg.update(sim_values)
    return cfg, shops
