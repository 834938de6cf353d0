"""PIM stock locations and their mapping to each store's Shopify locations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from channels.clients import client_for_store
from channels.models import Store
from channels.shopify.ids import gid_to_id

from .errors import StockError
from .models import (
    Location,
    ShopifyLevel,
    StoreLocation,
)


def location_create(*, name: str) -> Location:
    """Create a PIM stock location, or return the existing one with this name (case-insensitive)."""
    name = " ".join((name or "").split())
    if not name:
        raise StockError("A location needs a name.")
    existing = Location.objects.filter(name__iexact=name).first()
    return existing or Location.objects.create(name=name)


@transaction.atomic
def store_location_map(
    *,
    store: Store,
    location: Location,
    shopify_location_id: str | int,
    shopify_location_name: str = "",
    is_default: bool = False,
) -> StoreLocation:
    """Map PIM ``location`` to a Shopify location of ``store`` (replacing its previous mapping).

    ``shopify_location_id`` is numeric or a Location GID. ``is_default`` makes it the store's fallback for
    orders and refunds without a mapped location (the previous default loses the flag). Raises ValueError for
    a malformed id and IntegrityError when the Shopify location is already mapped to another PIM location.
    """
    raw = str(shopify_location_id)
    numeric = str(gid_to_id(raw, resource="Location")) if raw.startswith("gid://") else raw.strip()
    if not numeric.isdigit():
        raise ValueError(f"not a Shopify location id: {shopify_location_id!r}")
    if is_default:
        StoreLocation.objects.filter(store=store, is_default=True).exclude(location=location).update(is_default=False)
    mapping, _ = StoreLocation.objects.update_or_create(
        store=store,
        location=location,
        defaults={"shopify_location_id": numeric, "shopify_location_name": shopify_location_name[:255],
                  "is_default": is_default},
    )
    if not StoreLocation.objects.filter(store=store, is_default=True).exists():
        StoreLocation.objects.filter(pk=mapping.pk).update(is_default=True)
        mapping.is_default = True
    # A new mapping: levels recorded as not stocked at the old Shopify location are eligible again.
    ShopifyLevel.objects.filter(store=store, location=location).exclude(
        not_stocked_shopify_location_id=numeric).update(not_stocked_at=None, not_stocked_shopify_location_id="")
    return mapping


@dataclass
class AutomapReport:
    mapped: list[StoreLocation] = field(default_factory=list)
    created_locations: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)


def store_locations_automap(*, store: Store, create_missing: bool = False, client=None) -> AutomapReport:
    """Map ``store``'s active Shopify locations to PIM locations of the same name (case-insensitive).

    Reads ``client.locations()``. Shopify locations without a PIM namesake are created as PIM locations when
    ``create_missing``, otherwise reported as unmatched. When the store has no default yet, the first mapped
    location that fulfils online orders becomes it. Raises the Shopify client's errors (nothing changes then).
    """
    client = client or client_for_store(store)
    nodes = [n for n in client.locations() if n.get("isActive") is not False]
    nodes.sort(key=lambda n: not n.get("fulfillsOnlineOrders"))  # online locations first: default candidates
    report = AutomapReport()
    with transaction.atomic():
        for node in nodes:
            name = " ".join((node.get("name") or "").split())
            location = Location.objects.filter(name__iexact=name).first()
            if location is None:
                if not create_missing or not name:
                    report.unmatched.append(name)
                    continue
                location = location_create(name=name)
                report.created_locations.append(location.name)
            numeric = str(node.get("legacyResourceId") or gid_to_id(node["id"]))
            StoreLocation.objects.filter(store=store, shopify_location_id=numeric).exclude(location=location).delete()
            current = StoreLocation.objects.filter(store=store, location=location).first()
            report.mapped.append(
                store_location_map(store=store, location=location, shopify_location_id=numeric,
                                   shopify_location_name=name, is_default=bool(current and current.is_default))
            )
    return report
