"""The state of one simulated shop and the domain operations on it (products, inventory, orders, webhooks).

Records are plain dicts shaped like Shopify's GraphQL objects (``__typename``, ``id``, field names), plus
internal keys starting with ``_``. All mutating methods must be called with ``shop.lock`` held; they queue
webhook events in ``shop.outbox`` (payloads built under the lock), which the caller hands to the dispatcher
after releasing the lock.
"""

from __future__ import annotations

import collections
import copy
import hashlib
import secrets
import threading
from typing import TYPE_CHECKING, Any

from . import limits
from . import webhooks as wh
from .config import PLANS, ShopConfig
from .cost import LeakyBucket
from .util import gid, iso, money, now, parse_gid, slugify

if TYPE_CHECKING:  # pragma: no cover
    from .app import Simulator

QUANTITY_NAMES = (
    "available",
    "committed",
    "reserved",
    "damaged",
    "safety_stock",
    "quality_control",
    "incoming",
)
UNAVAILABLE_NAMES = ("reserved", "damaged", "safety_stock", "quality_control")
ALL_QUANTITY_NAMES = QUANTITY_NAMES + ("on_hand", "unavailable")

INVENTORY_REASONS = {
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
}


_TOPIC_SCOPES = {
    "products": ["read_products"],
    "product_listings": ["read_product_listings"],
    "product_publications": ["read_publications"],
    "collections": ["read_products"],
    "inventory_levels": ["read_inventory"],
    "inventory_items": ["read_inventory", "read_products"],
    "locations": ["read_locations", "read_inventory"],
    "orders": ["read_orders"],
    "refunds": ["read_orders"],
    "fulfillment_orders": ["read_merchant_managed_fulfillment_orders", "read_assigned_fulfillment_orders",
                           "read_third_party_fulfillment_orders"],
    "fulfillments": ["read_fulfillments", "read_orders"],
    "customers": ["read_customers"],
}


class SimError(Exception):
    """An error of a control-API call (HTTP 4xx with a JSON message)."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.message = message
        self.status = status


def _touch(rec: dict[str, Any], ts: float) -> None:
    rec["_updated"] = ts
    rec["updatedAt"] = iso(ts)


def _new_record(typename: str, kind: str, num: int, ts: float, **fields: Any) -> dict[str, Any]:
    rec = {"__typename": typename, "id": gid(kind, num), "_n": num, "createdAt": iso(ts), "_created": ts}
    _touch(rec, ts)
    rec.update(fields)
    return rec


class ShopState:
    def __init__(self, sim: Simulator, cfg: ShopConfig, index: int):
        self.sim = sim
        self.cfg = cfg
        self.index = index
        self.lock = threading.RLock()
        self.stats_lock = threading.Lock()
        self.shop_num = 60_000_000_000 + index * 1000 + 1
        self.app_num = 80_000_000 + index
        self.app_installation_num = 81_000_000 + index
        # locations and publications keep their ids across resets
        self._location_nums = [90_000_000_000 + index * 100 + i + 1 for i in range(max(len(cfg.locations), 1))]
        self._publication_nums = [91_000_000_000 + index * 100 + i + 1 for i in range(2)]
        self.reset()

    # ------------------------------------------------------------------------------------------------
    # lifecycle
    # ------------------------------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            ts = now()
            self.created_at = ts
            self.products: dict[int, dict[str, Any]] = {}
            self.handles: dict[str, int] = {}
            self.variants: dict[int, dict[str, Any]] = {}
            self.items: dict[int, dict[str, Any]] = {}
            self.levels: dict[tuple[int, int], dict[str, Any]] = {}
            self.item_levels: dict[int, dict[int, dict[str, Any]]] = {}
            self.metafields: dict[int, dict[str, Any]] = {}
            self.media: dict[int, dict[str, Any]] = {}
            # Media still being processed (``_ready_at`` set), in creation order: process_media visits only
            # these, so its cost does not grow with the shop's media (a bulk run calls it once per line).
            self.media_pending: dict[int, None] = {}
            self.options: dict[int, dict[str, Any]] = {}
            self.option_values: dict[int, dict[str, Any]] = {}
            self.subscriptions: dict[int, dict[str, Any]] = {}
            self.orders: dict[int, dict[str, Any]] = {}
            self.bulk_ops: dict[int, dict[str, Any]] = {}
            self.operations: dict[int, dict[str, Any]] = {}
            self.adjustment_groups: dict[int, dict[str, Any]] = {}
            self.idempotency: dict[str, tuple[str, str, Any]] = {}
            self.issued_tokens: dict[str, float] = {}
            self.order_counter = 1000
            self.installed = True
            self.faults: dict[str, Any] = {}
            self.outage_until = 0.0
            self.outbox: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = []
            self.request_log: collections.deque[dict[str, Any]] = collections.deque(
                maxlen=self.sim.config.request_log_size
            )
            self.stats = self._empty_stats()
            self.bucket = LeakyBucket(self.cfg.effective_bucket_size, self.cfg.effective_restore_rate)
            self.locations: dict[int, dict[str, Any]] = {}
            names = self.cfg.locations or ["Main Warehouse"]
            for i, name in enumerate(names):
                num = self._location_nums[i] if i < len(self._location_nums) else self.sim.ids.next()
                self.locations[num] = self._location_record(num, name, i, ts)
            self.redirects: list[dict[str, Any]] = []  # URL redirects (productSet redirectNewHandle)
            self.publications: dict[int, dict[str, Any]] = {}
            for num, name in zip(self._publication_nums, ["Online Store", "Point of Sale"], strict=True):
                self.publications[num] = _new_record(
                    "Publication", "Publication", num, ts, name=name, autoPublish=False,
                    supportsFuturePublishing=name == "Online Store",
                    catalog={"__typename": "AppCatalog", "id": gid("AppCatalog", num + 5), "title": name,
                             "status": "ACTIVE", "operations": [], "priceList": None, "publication": None},
                )

    @staticmethod
    def _empty_stats() -> dict[str, Any]:
        return {
            "requests": 0,
            "ok": 0,
            "throttled": 0,
            "max_cost_exceeded": 0,
            "invalid": 0,
            "unauthorized": 0,
            "access_denied": 0,
            "outage_503": 0,
            "injected_errors": 0,
            "cost_requested": 0,
            "cost_actual": 0,
            "token_requests": 0,
            "operations": {},
            "unimplemented_fields": {},
            "webhooks_emitted": 0,
        }

    def _location_record(self, num: int, name: str, i: int, ts: float) -> dict[str, Any]:
        address = {
            "address1": f"{100 + i} Simulator Street",
            "address2": None,
            "city": "Ottawa",
            "country": "Canada",
            "countryCode": "CA",
            "formatted": [f"{100 + i} Simulator Street", "Ottawa ON K1P 1J1", "Canada"],
            "latitude": None,
            "longitude": None,
            "phone": None,
            "province": "Ontario",
            "provinceCode": "ON",
            "zip": "K1P 1J1",
        }
        return _new_record(
            "Location", "Location", num, ts,
            name=name, isActive=True, activatable=True, deactivatable=i > 0, deletable=False,
            deactivatedAt=None, fulfillsOnlineOrders=True, hasActiveInventory=True, hasUnfulfilledOrders=False,
            isFulfillmentService=False, shipsInventory=True, address=address, addressVerified=True,
            suggestedAddresses=[], localPickupSettingsV2=None, fulfillmentService=None, _mf={},
        )

    # ------------------------------------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------------------------------------
    @property
    def domain(self) -> str:
        return self.cfg.domain

    @property
    def primary_location(self) -> dict[str, Any]:
        return next(iter(self.locations.values()))

    def granted_scopes(self) -> list[str]:
        missing = set(self.faults.get("missing_scopes") or [])
        return [s for s in self.cfg.scopes if s not in missing]

    def next_id(self) -> int:
        return self.sim.ids.next()

    def subscribers(self, topic: str) -> list[dict[str, Any]]:
        return [
            {"_n": s["_n"], "uri": s["uri"], "includeFields": s["includeFields"], "name": s["name"]}
            for s in self.subscriptions.values()
            if s["_topic"] == topic
        ]

    def emit(self, topic: str, builder: Any) -> None:
        """Queue a webhook event if anything subscribes to ``topic``. ``builder`` is a payload or a callable."""
        if not self.installed and topic != "app/uninstalled":
            return
        subs = self.subscribers(topic)
        if not subs:
            return
        payload = builder() if callable(builder) else builder
        self.outbox.append((topic, payload, subs))
        self.stats["webhooks_emitted"] += 1

    def take_outbox(self) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
        out, self.outbox = self.outbox, []
        return out

    # lookups -------------------------------------------------------------------------------------------
    def product(self, ref: Any) -> dict[str, Any] | None:
        n = parse_gid(ref, "Product") if not isinstance(ref, int) else ref
        return self.products.get(n) if n is not None else None

    def variant(self, ref: Any) -> dict[str, Any] | None:
        n = parse_gid(ref, "ProductVariant") if not isinstance(ref, int) else ref
        return self.variants.get(n) if n is not None else None

    def item(self, ref: Any) -> dict[str, Any] | None:
        n = parse_gid(ref, "InventoryItem") if not isinstance(ref, int) else ref
        return self.items.get(n) if n is not None else None

    def location(self, ref: Any) -> dict[str, Any] | None:
        if ref is None:
            return None
        if isinstance(ref, str) and not ref.isdigit() and not ref.startswith("gid://"):
            for loc in self.locations.values():
                if loc["name"] == ref:
                    return loc
            return None
        n = parse_gid(ref, "Location") if not isinstance(ref, int) else ref
        if n is not None and n < len(self.locations) and n not in self.locations:
            return list(self.locations.values())[n]  # index form used by the control API
        return self.locations.get(n) if n is not None else None

    def variant_by_sku(self, sku: str) -> dict[str, Any] | None:
        for v in self.variants.values():
            if v.get("sku") == sku:
                return v
        return None

    def level(self, item_n: int, loc_n: int) -> dict[str, Any] | None:
        return self.levels.get((item_n, loc_n))

    @staticmethod
    def qty(level: dict[str, Any], name: str) -> int:
        q = level["_q"]
        if name == "on_hand":
            return q["available"] + q["committed"] + sum(q[n] for n in UNAVAILABLE_NAMES)
        if name == "unavailable":
            return sum(q[n] for n in UNAVAILABLE_NAMES)
        return q.get(name, 0)

    def ensure_level(self, item: dict[str, Any], loc: dict[str, Any], ts: float) -> dict[str, Any]:
        key = (item["_n"], loc["_n"])
        lvl = self.levels.get(key)
        if lvl is None:
            lvl = {
                "__typename": "InventoryLevel",
                "id": f"gid://shopify/InventoryLevel/{loc['_n']}?inventory_item_id={item['_n']}",
                "_item": item["_n"],
                "_loc": loc["_n"],
                "_q": dict.fromkeys(QUANTITY_NAMES, 0),
                "_qts": {},
                "createdAt": iso(ts),
                "_created": ts,
                "isActive": True,
                "canDeactivate": True,
                "deactivationAlert": None,
            }
            _touch(lvl, ts)
            self.levels[key] = lvl
            self.item_levels.setdefault(item["_n"], {})[loc["_n"]] = lvl
        return lvl

    def set_quantity(self, lvl: dict[str, Any], name: str, value: int, ts: float) -> int:
        """Set a stored quantity (or on_hand via available). Returns the delta applied."""
        if name == "on_hand":
            delta = value - self.qty(lvl, "on_hand")
            lvl["_q"]["available"] += delta
            lvl["_qts"]["available"] = ts
        else:
            delta = value - lvl["_q"].get(name, 0)
            lvl["_q"][name] = value
            lvl["_qts"][name] = ts
        lvl["_qts"]["on_hand"] = ts
        _touch(lvl, ts)
        return delta

    def variant_inventory_quantity(self, v: dict[str, Any]) -> int:
        levels = self.item_levels.get(v["_item"], {})
        return sum(lvl["_q"]["available"] for lvl in levels.values())

    # ------------------------------------------------------------------------------------------------
    # metafields
    # ------------------------------------------------------------------------------------------------
    def resolve_namespace(self, ns: str | None) -> str:
        if not ns:
            return f"app--{self.app_num}"
        if ns.startswith("$app"):
            rest = ns[4:].lstrip(":")
            return f"app--{self.app_num}" + (f"--{rest}" if rest else "")
        return ns

    def _owner_type(self, owner: dict[str, Any]) -> str:
        return {"Product": "PRODUCT", "ProductVariant": "PRODUCTVARIANT", "Location": "LOCATION",
                "Shop": "SHOP"}.get(owner["__typename"], "PRODUCT")

    def upsert_metafield(
        self, owner: dict[str, Any], ns: str, key: str, type_: str | None, value: str, ts: float
    ) -> dict[str, Any]:
        ns = self.resolve_namespace(ns)
        mf_n = owner["_mf"].get((ns, key))
        mf = self.metafields.get(mf_n) if mf_n else None
        if mf is None:
            num = self.next_id()
            mf = _new_record(
                "Metafield", "Metafield", num, ts, namespace=ns, key=key, type=type_ or "single_line_text_field",
                value=value, description=None, _owner=owner["id"], ownerType=self._owner_type(owner),
            )
            self.metafields[num] = mf
            owner["_mf"][(ns, key)] = num
        else:
            if type_:
                mf["type"] = type_
            mf["value"] = value
            _touch(mf, ts)
        return mf

    def delete_metafield(self, owner: dict[str, Any], ns_key: tuple[str, str]) -> None:
        num = owner["_mf"].pop(ns_key, None)
        if num is not None:
            self.metafields.pop(num, None)

    @staticmethod
    def compare_digest(mf: dict[str, Any]) -> str:
        return hashlib.sha256(f"{mf['id']}|{mf['type']}|{mf['value']}".encode()).hexdigest()

    # ------------------------------------------------------------------------------------------------
    # products
    # ------------------------------------------------------------------------------------------------
    def unique_handle(self, base: str, exclude: int | None = None) -> str:
        base = base or "product"
        cand = base
        i = 0
        while cand in self.handles and self.handles[cand] != exclude:
            i += 1
            cand = f"{base}-{i}"
        return cand

    def _new_product(self, ts: float) -> dict[str, Any]:
        num = self.next_id()
        return _new_record(
            "Product", "Product", num, ts,
            title="", handle="", descriptionHtml="", vendor=self.cfg.shop_name, productType="", status="ACTIVE",
            tags=[], seo={"title": None, "description": None}, templateSuffix=None, giftCardTemplateSuffix=None,
            isGiftCard=False, requiresSellingPlan=False, publishedAt=None, combinedListingRole=None,
            _variants=[], _options=[], _mf={}, _media=[], _collections=[], _category=None, _published=set(),
        )

    def _new_variant(self, p: dict[str, Any], ts: float) -> dict[str, Any]:
        vnum = self.next_id()
        inum = self.next_id()
        v = _new_record(
            "ProductVariant", "ProductVariant", vnum, ts,
            _product=p["_n"], title="Default Title", sku=None, barcode=None, price="0.00", compareAtPrice=None,
            position=1, inventoryPolicy="DENY", taxable=True, taxCode=None, showUnitPrice=False,
            requiresComponents=False, _opts=[], _item=inum, _mf={}, _media=[],
        )
        item = _new_record(
            "InventoryItem", "InventoryItem", inum, ts,
            _variant=vnum, tracked=bool(self.cfg.new_variants_tracked), requiresShipping=True, _cost=None, countryCodeOfOrigin=None,
            provinceCodeOfOrigin=None, harmonizedSystemCode=None, _weight=None, inventoryHistoryUrl=None,
        )
        self.variants[vnum] = v
        self.items[inum] = item
        return v

    def _delete_variant(self, v: dict[str, Any]) -> None:
        self.variants.pop(v["_n"], None)
        inum = v["_item"]
        self.items.pop(inum, None)
        for loc_n in list(self.item_levels.pop(inum, {}).keys()):
            self.levels.pop((inum, loc_n), None)
        for num in list(v["_mf"].values()):
            self.metafields.pop(num, None)

    def _new_option(self, name: str, position: int, ts: float) -> dict[str, Any]:
        num = self.next_id()
        opt = {"__typename": "ProductOption", "id": gid("ProductOption", num), "_n": num, "name": name,
               "position": position, "_values": [], "linkedMetafield": None}
        self.options[num] = opt
        return opt

    def _new_option_value(self, name: str) -> dict[str, Any]:
        num = self.next_id()
        val = {"__typename": "ProductOptionValue", "id": gid("ProductOptionValue", num), "_n": num, "name": name,
               "linkedMetafieldValue": None, "swatch": None}
        self.option_values[num] = val
        return val

    def _new_media(self, p: dict[str, Any], src: str, alt: str | None, ts: float,
                   processed: bool = False) -> dict[str, Any]:
        """A MediaImage from ``src``. Unless ``processed`` (seeding), it starts UPLOADED and is processed
        asynchronously like Shopify's: PROCESSING, then READY, or FAILED when the URL cannot be fetched."""
        num = self.next_id()
        filename = (src.rsplit("/", 1)[-1].split("?", 1)[0] or f"image-{num}.jpg")
        url = f"https://cdn.shopify.com/s/files/1/{self.shop_num}/files/{filename}?v={int(ts)}"
        image = {"__typename": "Image", "id": gid("ImageSource", num), "url": url, "altText": alt, "width": 1024,
                 "height": 1024, "thumbhash": None, "originalSrc": url, "src": url, "transformedSrc": url}
        status = "READY" if processed else "UPLOADED"
        m = _new_record(
            "MediaImage", "MediaImage", num, ts,
            alt=alt, status=status, fileStatus=status, mediaContentType="IMAGE", mimeType="image/jpeg",
            mediaErrors=[], mediaWarnings=[], fileErrors=[], image=image,
            preview={"image": image if processed else None, "status": status},
            originalSource={"url": src, "fileSize": None},
            _source=src, _product=p["_n"],
            _ready_at=None if processed else ts + float(self.sim.config.media_processing_seconds),
        )
        self.media[num] = m
        if not processed:
            self.media_pending[num] = None
        return m

    def media_unreachable(self, src: str) -> bool:
        """Whether Shopify could not download ``src``: a host under the reserved ``.invalid`` TLD (RFC 2606),
        a non-http(s) URL, or a URL containing one of the ``unreachable_media`` fault's substrings."""
        from urllib.parse import urlsplit

        parts = urlsplit(src or "")
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host or host.endswith(".invalid") or host == "invalid":
            return True
        return any(s and s in src for s in self.faults.get("unreachable_media") or [])

    def process_media(self, ts: float | None = None) -> None:
        """Advance asynchronous media processing up to ``ts`` (called before every read)."""
        ts = now() if ts is None else ts
        for num in list(self.media_pending):
            m = self.media.get(num)
            ready_at = m.get("_ready_at") if m is not None else None
            if ready_at is None:
                del self.media_pending[num]  # deleted, or processed already
                continue
            if ts >= ready_at:
                m["_ready_at"] = None
                del self.media_pending[num]
                if self.media_unreachable(m["_source"]):
                    m["status"] = m["fileStatus"] = "FAILED"
                    m["mediaErrors"] = [{"__typename": "MediaError", "code": "IMAGE_DOWNLOAD_FAILURE",
                                         "details": None,
                                         "message": f"Image could not be downloaded from {m['_source']}"}]
                    m["preview"] = {"image": None, "status": "FAILED"}
                else:
                    m["status"] = m["fileStatus"] = "READY"
                    m["preview"] = {"image": m["image"], "status": "READY"}
                _touch(m, ready_at)
            elif m["status"] == "UPLOADED" and ts >= ready_at - float(self.sim.config.media_processing_seconds) / 2:
                m["status"] = m["fileStatus"] = "PROCESSING"
                m["preview"] = {"image": None, "status": "PROCESSING"}

    def default_options(self, p: dict[str, Any], ts: float) -> None:
        opt = self._new_option("Title", 1, ts)
        opt["_values"].append(self._new_option_value("Default Title"))
        opt["_product"] = p["_n"]
        p["_options"] = [opt["_n"]]

    def stock_new_item(
        self, item: dict[str, Any], quantities: list[dict[str, Any]] | None, ts: float
    ) -> list[dict[str, Any]]:
        """Stock a new item: at the given locations, else per ``stock_new_variants_at``. Returns touched levels."""
        touched = []
        if quantities:
            for q in quantities:
                loc = self.location(q["locationId"])
                if loc is None:
                    continue
                lvl = self.ensure_level(item, loc, ts)
                self.set_quantity(lvl, q.get("name") or "available", int(q["quantity"]), ts)
                touched.append(lvl)
        else:
            locs = list(self.locations.values())
            if self.cfg.stock_new_variants_at != "all":
                locs = locs[:1]
            for loc in locs:
                self.ensure_level(item, loc, ts)
        return touched

    def option_list(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [self.options[n] for n in p["_options"] if n in self.options]

    def variant_list(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [self.variants[n] for n in p["_variants"] if n in self.variants]

    def add_redirect(self, path: str, target: str, ts: float) -> None:
        """A URL redirect like Shopify's UrlRedirect; one per path (a newer one replaces it), and redirects
        that pointed at ``path`` now point at ``target`` (no chains)."""
        self.redirects = [r for r in self.redirects if r["path"] != path and r["path"] != target]
        for r in self.redirects:
            if r["target"] == path:
                r["target"] = target
        self.redirects.append({"id": gid("UrlRedirect", self.next_id()), "path": path, "target": target,
                               "createdAt": iso(ts)})

    def set_handle(self, p: dict[str, Any], handle: str) -> None:
        old = p.get("handle")
        if old and self.handles.get(old) == p["_n"]:
            del self.handles[old]
        p["handle"] = handle
        self.handles[handle] = p["_n"]

    def product_set(
        self, inp: dict[str, Any], identifier: dict[str, Any] | None, synchronous: bool = True
    ) -> dict[str, Any]:
        """Shopify's ``productSet``. Returns the payload dict (product, productSetOperation, userErrors)."""
        ts = now()
        errors: list[dict[str, Any]] = []

        def err(field: list[Any], message: str, code: str) -> None:
            errors.append({"field": [str(f) for f in field], "message": message, "code": code})

        def fail() -> dict[str, Any]:
            return self._operation_payload("ProductSetOperation", None, errors, synchronous, ts)

        product: dict[str, Any] | None = None
        explicit_handle: str | None = None
        if inp.get("handle") is not None:
            explicit_handle = inp["handle"]
        if identifier:
            if inp.get("id") is not None:
                err(["input", "id"], "The id field is not allowed if identifier is provided.", "ID_NOT_ALLOWED")
                return fail()
            if identifier.get("id") is not None:
                product = self.product(identifier["id"])
                if product is None:
                    err(["identifier", "id"], "Resource matching the identifier was not found.", "NOT_FOUND")
                    return fail()
            elif identifier.get("handle") is not None:
                h = identifier["handle"]
                if explicit_handle is not None and explicit_handle != h:
                    err(["input", "handle"],
                        "The identifier value does not match the value of the corresponding field in the input.",
                        "INPUT_MISMATCH")
                    return fail()
                pnum = self.handles.get(h)
                product = self.products.get(pnum) if pnum else None
                if product is None:
                    explicit_handle = h
            elif identifier.get("customId") is not None:
                cid = identifier["customId"]
                ns = self.resolve_namespace(cid.get("namespace"))
                key, value = cid["key"], cid["value"]
                for p in self.products.values():
                    mfn = p["_mf"].get((ns, key))
                    if mfn and self.metafields[mfn]["value"] == value:
                        product = p
                        break
                mfs = inp.get("metafields")
                contained = any(
                    self.resolve_namespace(m.get("namespace")) == ns and m.get("key") == key for m in (mfs or [])
                )
                if mfs is not None and contained:
                    match = next(m for m in mfs if self.resolve_namespace(m.get("namespace")) == ns
                                 and m.get("key") == key)
                    if match.get("value") != value:
                        err(["input", "metafields"],
                            "The input argument `metafields` (if present) must contain the `customId` value.",
                            "METAFIELD_MISMATCH")
                        return fail()
                elif mfs is not None and not contained:
                    err(["input", "metafields"],
                        "The input argument `metafields` (if present) must contain the `customId` value.",
                        "METAFIELD_MISMATCH")
                    return fail()
                if product is None and not contained:
                    err(["input", "metafields"], "The input field corresponding to the identifier is required.",
                        "MISSING_FIELD_REQUIRED")
                    return fail()
        elif inp.get("id") is not None:
            product = self.product(inp["id"])
            if product is None:
                err(["input", "id"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")
                return fail()

        creating = product is None
        if creating and not (inp.get("title") or "").strip():
            err(["input", "title"], "Title can't be blank", "INVALID_PRODUCT")

        for fld, message, code in limits.product_input_errors(inp):
            err(fld, message, code)
        if errors:
            return fail()

        has_variants = inp.get("variants") is not None
        has_options = inp.get("productOptions") is not None
        if has_variants and not has_options:
            err(["input", "productOptions"], "Must specify product options when updating variants.",
                "PRODUCT_OPTIONS_INPUT_MISSING")
        if has_options and not has_variants:
            err(["input", "variants"], "Must specify variants when updating options.", "VARIANTS_INPUT_MISSING")
        if errors:
            return fail()

        # handle
        new_handle: str | None = None
        if explicit_handle is not None:
            h = slugify(explicit_handle)
            if not h:
                err(["input", "handle"], "Handle can't be blank", "INVALID_INPUT")
                return fail()
            owner = self.handles.get(h)
            if owner is not None and (product is None or owner != product["_n"]):
                err(["input", "handle"], f"Handle '{h}' already in use. Please provide a new handle.",
                    "HANDLE_NOT_UNIQUE")
                return fail()
            new_handle = h
        elif creating:
            new_handle = self.unique_handle(slugify(inp.get("title") or "") or "product")

        # options
        option_specs: list[dict[str, Any]] = []
        if has_options:
            opts_in = inp["productOptions"]
            if len(opts_in) > 3:
                err(["input", "productOptions"], "Options over limit", "OPTIONS_OVER_LIMIT")
                return fail()
            existing_opts = self.option_list(product) if product else []
            seen_names: set[str] = set()
            for i, o in enumerate(opts_in):
                ex = None
                if o.get("id"):
                    ex = next((x for x in existing_opts if x["id"] == o["id"]), None)
                    if ex is None:
                        err(["input", "productOptions", i, "id"], "Option does not exist", "OPTION_DOES_NOT_EXIST")
                        return fail()
                name = o.get("name") or (ex["name"] if ex else None)
                if not name:
                    err(["input", "productOptions", i, "name"], "Option name can't be blank", "INVALID_INPUT")
                    return fail()
                if ex is None:
                    ex = next((x for x in existing_opts if x["name"] == name), None)
                if name.lower() in seen_names:
                    err(["input", "productOptions", i, "name"], "Duplicated option name.", "DUPLICATED_OPTION_NAME")
                    return fail()
                seen_names.add(name.lower())
                values_in = o.get("values")
                if not values_in:
                    err(["input", "productOptions", i, "values"],
                        "Each option must have at least one option value specified.", "OPTION_VALUES_MISSING")
                    return fail()
                seen_vals: set[str] = set()
                vals: list[tuple[str, dict[str, Any] | None]] = []
                for k, val in enumerate(values_in):
                    ex_val = None
                    if val.get("id") and ex is not None:
                        ex_val = next((self.option_values[n] for n in [x["_n"] for x in ex["_values"]]
                                       if self.option_values[n]["id"] == val["id"]), None)
                        if ex_val is None:
                            err(["input", "productOptions", i, "values", k, "id"], "Option value does not exist",
                                "OPTION_VALUE_DOES_NOT_EXIST")
                            return fail()
                    vname = val.get("name") or (ex_val["name"] if ex_val else None)
                    if not vname:
                        err(["input", "productOptions", i, "values", k, "name"], "Option value name can't be blank",
                            "INVALID_INPUT")
                        return fail()
                    if vname.lower() in seen_vals:
                        err(["input", "productOptions", i, "values", k, "name"], "Duplicated option value.",
                            "DUPLICATED_OPTION_VALUE")
                        return fail()
                    seen_vals.add(vname.lower())
                    if ex_val is None and ex is not None:
                        ex_val = next((x for x in ex["_values"] if x["name"] == vname), None)
                    vals.append((vname, ex_val))
                option_specs.append({"name": name, "existing": ex, "position": o.get("position") or i + 1,
                                     "values": vals, "input_index": i})
            option_specs.sort(key=lambda s: s["position"])

        # variants
        variant_specs: list[dict[str, Any]] = []
        if has_variants:
            vin = inp["variants"]
            if len(vin) > 2048:
                err(["input", "variants"], "Number of product variants exceeds shop limit.", "VARIANTS_OVER_LIMIT")
                return fail()
            total_q = sum(len(v.get("inventoryQuantities") or []) for v in vin)
            if total_q > 50000:
                err(["input", "variants"], "Inventory quantity input exceeds the limit of 50000.",
                    "INVENTORY_QUANTITIES_LIMIT_EXCEEDED")
                return fail()
            existing_variants = {v["id"]: v for v in self.variant_list(product)} if product else {}
            seen_combos: set[tuple[str, ...]] = set()
            for j, v in enumerate(vin):
                combo: list[str | None] = [None] * len(option_specs)
                for k, ov in enumerate(v.get("optionValues") or []):
                    idx = None
                    if ov.get("optionId"):
                        idx = next((n for n, s in enumerate(option_specs)
                                    if s["existing"] and s["existing"]["id"] == ov["optionId"]), None)
                    elif ov.get("optionName") is not None:
                        idx = next((n for n, s in enumerate(option_specs) if s["name"] == ov["optionName"]), None)
                    if idx is None:
                        err(["input", "variants", j, "optionValues", k], "Option does not exist",
                            "OPTION_DOES_NOT_EXIST")
                        return fail()
                    vname = ov.get("name")
                    if vname is None and ov.get("id"):
                        vname = next((n for n, ex_val in option_specs[idx]["values"]
                                      if ex_val and ex_val["id"] == ov["id"]), None)
                    if vname is None or vname not in [n for n, _ in option_specs[idx]["values"]]:
                        err(["input", "variants", j, "optionValues", k], "Option value does not exist",
                            "OPTION_VALUE_DOES_NOT_EXIST")
                        return fail()
                    combo[idx] = vname
                if any(c is None for c in combo):
                    err(["input", "variants", j, "optionValues"],
                        "Variant must have a value for every product option.", "INVALID_VARIANT")
                    return fail()
                key = tuple(c for c in combo if c is not None)
                if key in seen_combos:
                    err(["input", "variants", j],
                        f"The variant '{' / '.join(key)}' already exists.", "INVALID_VARIANT")
                    return fail()
                seen_combos.add(key)
                ex_v = None
                if v.get("id"):
                    ex_v = existing_variants.get(v["id"])
                    if ex_v is None:
                        err(["input", "variants", j, "id"], "Product variant does not exist",
                            "PRODUCT_VARIANT_DOES_NOT_EXIST")
                        return fail()
                for q_i, q in enumerate(v.get("inventoryQuantities") or []):
                    if q.get("name") not in ("available", "on_hand"):
                        err(["input", "variants", j, "inventoryQuantities", q_i, "name"],
                            "The quantity name must be either 'available' or 'on_hand'.", "INVALID_INPUT")
                        return fail()
                    if self.location(q.get("locationId")) is None or not str(q.get("locationId")).startswith(
                            "gid://shopify/Location/"):
                        err(["input", "variants", j, "inventoryQuantities", q_i, "locationId"],
                            "Location does not exist", "INVALID_INPUT")
                        return fail()
                variant_specs.append({"input": v, "combo": key, "existing": ex_v, "index": j})
            # Shopify: a variant input without ``id`` creates a new variant ("update or create a new variant
            # if absent"); existing variants not listed by id are deleted with their inventory items. Nothing
            # is matched by option values, so a client that forgets the ids loses its variant/item ids.

        # files
        file_specs: list[dict[str, Any]] | None = None
        if inp.get("files") is not None:
            file_specs = []
            existing_media = [self.media[n] for n in (product["_media"] if product else []) if n in self.media]
            for i, f in enumerate(inp["files"]):
                ex_m = None
                if f.get("id"):
                    ex_m = next((m for m in existing_media if m["id"] == f["id"]), None)
                    if ex_m is None:
                        err(["input", "files", i, "id"], "File does not exist", "INVALID_INPUT")
                        return fail()
                elif f.get("originalSource"):
                    ex_m = next((m for m in existing_media if m["_source"] == f["originalSource"]), None)
                else:
                    err(["input", "files", i, "originalSource"], "Either id or originalSource is required",
                        "INVALID_INPUT")
                    return fail()
                file_specs.append({"input": f, "existing": ex_m})

        # metafield validation
        for i, m in enumerate(inp.get("metafields") or []):
            if not m.get("key"):
                err(["input", "metafields", i, "key"], "Key can't be blank", "INVALID_METAFIELD")
                return fail()
            if m.get("value") is None:
                err(["input", "metafields", i, "value"], "Value can't be blank", "INVALID_METAFIELD")
                return fail()

        # ---------------------------------------------------------------- apply
        if creating:
            product = self._new_product(ts)
            self.products[product["_n"]] = product
        assert product is not None
        p = product
        if new_handle is not None and new_handle != p.get("handle"):
            old_handle = p.get("handle")
            self.set_handle(p, new_handle)
            if old_handle and not creating and inp.get("redirectNewHandle"):
                # "If true, then the old handle is redirected to the new one automatically."
                self.add_redirect(f"/products/{old_handle}", f"/products/{new_handle}", ts)
        for f in ("title", "descriptionHtml", "vendor", "productType", "templateSuffix", "giftCardTemplateSuffix",
                  "requiresSellingPlan", "combinedListingRole"):
            if f in inp and (inp[f] is not None or f in ("templateSuffix", "giftCardTemplateSuffix")):
                p[f] = inp[f]
        if inp.get("status") is not None:
            p["status"] = inp["status"]
        if inp.get("giftCard") is not None and creating:
            p["isGiftCard"] = bool(inp["giftCard"])
        if "tags" in inp and inp["tags"] is not None:
            p["tags"] = _normalize_tags(inp["tags"])
        if inp.get("seo") is not None:
            for k in ("title", "description"):
                if k in inp["seo"]:
                    p["seo"][k] = inp["seo"][k]
        if "category" in inp:
            p["_category"] = inp["category"]
        if inp.get("collections") is not None:
            p["_collections"] = list(inp["collections"])

        # media (list replacement)
        media_by_source: dict[str, dict[str, Any]] = {}
        if file_specs is not None:
            new_media = []
            for spec in file_specs:
                f = spec["input"]
                m = spec["existing"]
                if m is None:
                    m = self._new_media(p, f["originalSource"], f.get("alt"), ts)
                elif "alt" in f:
                    m["alt"] = f["alt"]
                    m["image"]["altText"] = f["alt"]
                    _touch(m, ts)
                new_media.append(m["_n"])
            for old in p["_media"]:
                if old not in new_media:
                    self.media.pop(old, None)
            p["_media"] = new_media
        for n in p["_media"]:
            m = self.media.get(n)
            if m:
                media_by_source[m["_source"]] = m
                media_by_source[m["id"]] = m

        # options
        if has_options:
            new_opts = []
            for pos, spec in enumerate(option_specs, start=1):
                opt = spec["existing"] or self._new_option(spec["name"], pos, ts)
                opt["name"] = spec["name"]
                opt["position"] = pos
                opt["_values"] = [ex_val or self._new_option_value(vname) for vname, ex_val in spec["values"]]
                new_opts.append(opt["_n"])
            for old in p["_options"]:
                if old not in new_opts:
                    self.options.pop(old, None)
            for n in new_opts:  # back-reference, so option look-ups never scan every product
                self.options[n]["_product"] = p["_n"]
            p["_options"] = new_opts
        elif creating:
            self.default_options(p, ts)

        # variants (list replacement)
        touched_levels: list[dict[str, Any]] = []
        if has_variants:
            new_variant_nums = []
            for pos, spec in enumerate(variant_specs, start=1):
                v_in = spec["input"]
                v = spec["existing"]
                is_new = v is None
                if v is None:
                    v = self._new_variant(p, ts)
                v["_opts"] = list(spec["combo"])
                v["title"] = " / ".join(spec["combo"]) or "Default Title"
                v["position"] = v_in.get("position") or pos
                self._apply_variant_input(v, v_in, ts, media_by_source)
                item = self.items[v["_item"]]
                if is_new:
                    touched_levels += self.stock_new_item(item, v_in.get("inventoryQuantities"), ts)
                else:
                    for q in v_in.get("inventoryQuantities") or []:
                        loc = self.location(q["locationId"])
                        lvl = self.ensure_level(item, loc, ts)
                        if self.qty(lvl, q["name"]) != int(q["quantity"]):
                            self.set_quantity(lvl, q["name"], int(q["quantity"]), ts)
                            touched_levels.append(lvl)
                _touch(v, ts)
                new_variant_nums.append(v["_n"])
            new_variant_nums.sort(key=lambda n: self.variants[n]["position"])
            for old in p["_variants"]:
                if old not in new_variant_nums:
                    self._delete_variant(self.variants[old])
            p["_variants"] = new_variant_nums
            for i, n in enumerate(p["_variants"], start=1):
                self.variants[n]["position"] = i
        elif creating:
            v = self._new_variant(p, ts)
            v["_opts"] = ["Default Title"]
            p["_variants"] = [v["_n"]]
            self.stock_new_item(self.items[v["_item"]], None, ts)

        # metafields (list replacement)
        if inp.get("metafields") is not None:
            keep = set()
            for m in inp["metafields"]:
                mf = self.upsert_metafield(p, m.get("namespace"), m["key"], m.get("type"), m["value"], ts)
                keep.add((mf["namespace"], mf["key"]))
            for k in list(p["_mf"].keys()):
                if k not in keep:
                    self.delete_metafield(p, k)

        _touch(p, ts)
        if creating:
            self.emit("products/create", lambda: wh.product_payload(self, p))
        else:
            self.emit("products/update", lambda: wh.product_payload(self, p))
        self._emit_levels(touched_levels, products=False)
        return self._operation_payload("ProductSetOperation", p, [], synchronous, ts)

    def _apply_variant_input(
        self, v: dict[str, Any], v_in: dict[str, Any], ts: float, media_by_source: dict[str, dict[str, Any]]
    ) -> None:
        if "price" in v_in and v_in["price"] is not None:
            v["price"] = money(v_in["price"])
        if "compareAtPrice" in v_in:
            v["compareAtPrice"] = money(v_in["compareAtPrice"])
        for f in ("barcode", "taxCode"):
            if f in v_in:
                v[f] = v_in[f]
        for f in ("inventoryPolicy", "taxable", "requiresComponents", "showUnitPrice"):
            if v_in.get(f) is not None:
                v[f] = v_in[f]
        if "sku" in v_in:
            v["sku"] = v_in["sku"]
        item = self.items[v["_item"]]
        ii = v_in.get("inventoryItem")
        if ii:
            if "sku" in ii:
                v["sku"] = ii["sku"]
            if ii.get("tracked") is not None:
                item["tracked"] = bool(ii["tracked"])
            if "cost" in ii:
                item["_cost"] = money(ii["cost"])
            for f in ("requiresShipping", "countryCodeOfOrigin", "provinceCodeOfOrigin", "harmonizedSystemCode"):
                if f in ii:
                    item[f] = ii[f]
            if ii.get("measurement") and ii["measurement"].get("weight"):
                item["_weight"] = dict(ii["measurement"]["weight"])
            _touch(item, ts)
        if v_in.get("file") is not None:
            f = v_in["file"]
            m = media_by_source.get(f.get("id") or "") or media_by_source.get(f.get("originalSource") or "")
            v["_media"] = [m["_n"]] if m else []
        if v_in.get("metafields") is not None:
            keep = set()
            for m in v_in["metafields"]:
                if not m.get("key") or m.get("value") is None:
                    continue
                mf = self.upsert_metafield(v, m.get("namespace"), m["key"], m.get("type"), m["value"], ts)
                keep.add((mf["namespace"], mf["key"]))
            for k in list(v["_mf"].keys()):
                if k not in keep:
                    self.delete_metafield(v, k)

    def _operation_payload(
        self, typename: str, product: dict[str, Any] | None, errors: list[dict[str, Any]], synchronous: bool,
        ts: float, deleted_id: str | None = None,
    ) -> dict[str, Any]:
        if synchronous:
            out: dict[str, Any] = {"product": product if not errors else None, "userErrors": errors,
                                   "productSetOperation": None, "productDeleteOperation": None}
            if deleted_id is not None or typename == "ProductDeleteOperation":
                out["deletedProductId"] = deleted_id
            return out
        num = self.next_id()
        op = _new_record(typename, typename, num, ts, _product=product["_n"] if product else None,
                         userErrors=errors, deletedProductId=deleted_id,
                         _ready_at=ts + self.sim.config.async_operation_seconds)
        self.operations[num] = op
        snapshot = {"__typename": typename, "id": op["id"], "status": "CREATED", "product": None,
                    "userErrors": [], "deletedProductId": None}
        return {"product": None, "userErrors": [], "productSetOperation": snapshot,
                "productDeleteOperation": snapshot, "deletedProductId": None}

    def product_update(self, values: dict[str, Any], identifier: dict[str, Any] | None) -> dict[str, Any]:
        ts = now()
        errors: list[dict[str, Any]] = []
        ref = None
        if identifier:
            ref = identifier.get("id")
            if ref is None and identifier.get("handle"):
                ref = self.handles.get(identifier["handle"])
        if ref is None:
            ref = values.get("id")
        p = self.product(ref) if ref is not None else None
        if p is None:
            errors.append({"field": ["id"], "message": "Product does not exist"})
            return {"product": None, "userErrors": errors}
        if values.get("handle") is not None:
            h = slugify(values["handle"])
            owner = self.handles.get(h)
            if owner is not None and owner != p["_n"]:
                errors.append({"field": ["handle"], "message": f"Handle '{h}' already in use. Please provide a "
                                                                "new handle."})
                return {"product": None, "userErrors": errors}
            self.set_handle(p, h)
        if "title" in values and not (values.get("title") or "").strip():
            errors.append({"field": ["title"], "message": "Title can't be blank"})
            return {"product": None, "userErrors": errors}
        self._apply_product_fields(p, values, ts)
        for m in values.get("metafields") or []:
            if m.get("id"):
                mf = self.metafields.get(parse_gid(m["id"], "Metafield") or -1)
                if mf is not None and m.get("value") is not None:
                    mf["value"] = m["value"]
                    _touch(mf, ts)
                continue
            if m.get("key") and m.get("value") is not None:
                self.upsert_metafield(p, m.get("namespace"), m["key"], m.get("type"), m["value"], ts)
        _touch(p, ts)
        self.emit("products/update", lambda: wh.product_payload(self, p))
        return {"product": p, "userErrors": []}

    def _apply_product_fields(self, p: dict[str, Any], values: dict[str, Any], ts: float) -> None:
        for f in ("title", "descriptionHtml", "vendor", "productType", "templateSuffix", "status",
                  "requiresSellingPlan", "giftCardTemplateSuffix"):
            if f in values and values[f] is not None:
                p[f] = values[f]
        if values.get("tags") is not None:
            p["tags"] = _normalize_tags(values["tags"])
        if values.get("seo") is not None:
            for k in ("title", "description"):
                if k in values["seo"]:
                    p["seo"][k] = values["seo"][k]

    def product_create(self, values: dict[str, Any], media: list[dict[str, Any]] | None) -> dict[str, Any]:
        """``productCreate``: the product with its options and a single (first-value) variant."""
        options = values.get("productOptions") or []
        inp: dict[str, Any] = {k: v for k, v in values.items()
                               if k in ("title", "descriptionHtml", "vendor", "productType", "status", "tags",
                                        "seo", "templateSuffix", "handle", "metafields", "giftCard",
                                        "requiresSellingPlan", "category")}
        if options:
            inp["productOptions"] = [{"name": o.get("name"), "values": o.get("values") or [],
                                      "position": o.get("position")} for o in options]
            inp["variants"] = [{"optionValues": [{"optionName": o.get("name"),
                                                  "name": (o.get("values") or [{}])[0].get("name")}
                                                 for o in options]}]
        if media:
            inp["files"] = [{"originalSource": m.get("originalSource"), "alt": m.get("alt")} for m in media]
        payload = self.product_set(inp, None, True)
        errs = [{"field": e["field"][1:] if e["field"][:1] == ["input"] else e["field"], "message": e["message"]}
                for e in payload["userErrors"]]
        return {"product": payload["product"], "userErrors": errs}

    def delete_product(self, p: dict[str, Any]) -> None:
        for v in self.variant_list(p):
            self._delete_variant(v)
        for n in p["_options"]:
            self.options.pop(n, None)
        for n in p["_media"]:
            self.media.pop(n, None)
        for num in list(p["_mf"].values()):
            self.metafields.pop(num, None)
        if self.handles.get(p["handle"]) == p["_n"]:
            del self.handles[p["handle"]]
        self.products.pop(p["_n"], None)
        self.emit("products/delete", {"id": p["_n"]})

    def product_delete(self, ref: Any, synchronous: bool = True) -> dict[str, Any]:
        ts = now()
        p = self.product(ref)
        if p is None:
            return {"deletedProductId": None, "productDeleteOperation": None,
                    "userErrors": [{"field": ["id"], "message": "Product does not exist"}]}
        pid = p["id"]
        self.delete_product(p)
        if synchronous:
            return {"deletedProductId": pid, "productDeleteOperation": None, "userErrors": []}
        payload = self._operation_payload("ProductDeleteOperation", None, [], False, ts, deleted_id=pid)
        return {"deletedProductId": None, "productDeleteOperation": payload["productDeleteOperation"],
                "userErrors": []}

    # ------------------------------------------------------------------------------------------------
    # metafieldsSet
    # ------------------------------------------------------------------------------------------------
    def metafields_set(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        ts = now()
        errors: list[dict[str, Any]] = []
        if len(inputs) > 25:
            return {"metafields": None, "userErrors": [{"field": ["metafields"], "code": "LESS_THAN_OR_EQUAL_TO",
                                                        "message": "Exceeded the maximum metafields input limit "
                                                                   "of 25.", "elementIndex": None}]}
        owners = []
        for i, m in enumerate(inputs):
            kind_owner = (self.product(m["ownerId"]) or self.variant(m["ownerId"]) or self.location(m["ownerId"]))
            if kind_owner is None:
                errors.append({"field": ["metafields", str(i), "ownerId"], "code": "INVALID",
                               "message": "Owner does not exist.", "elementIndex": i})
                continue
            for fld, message, code in limits.metafield_identity_errors(m.get("namespace"), m.get("key")):
                errors.append({"field": ["metafields", str(i), fld], "code": code,
                               "message": f"{fld.capitalize()} {message}", "elementIndex": i})
            ns = self.resolve_namespace(m.get("namespace"))
            existing_n = kind_owner["_mf"].get((ns, m["key"]))
            existing = self.metafields.get(existing_n) if existing_n else None
            if existing is None and not m.get("type"):
                errors.append({"field": ["metafields", str(i), "type"], "code": "BLANK",
                               "message": "Type can't be blank.", "elementIndex": i})
            if "compareDigest" in m:
                want = m["compareDigest"]
                have = self.compare_digest(existing) if existing else None
                if want != have:
                    errors.append({"field": ["metafields", str(i)], "code": "STALE_OBJECT",
                                   "message": "The resource has been updated since it was loaded. Try again "
                                              "with an updated `compareDigest` value.", "elementIndex": i})
            owners.append(kind_owner)
        if errors:
            return {"metafields": None, "userErrors": errors}
        out = []
        touched = {}
        for m, owner in zip(inputs, owners, strict=True):
            out.append(self.upsert_metafield(owner, m.get("namespace"), m["key"], m.get("type"), m["value"], ts))
            touched[owner["id"]] = owner
        for owner in touched.values():
            p = owner if owner["__typename"] == "Product" else self.products.get(owner.get("_product", -1))
            if p is not None:
                _touch(p, ts)
                self.emit("products/update", lambda p=p: wh.product_payload(self, p))
        return {"metafields": out, "userErrors": []}

    # ------------------------------------------------------------------------------------------------
    # publications
    # ------------------------------------------------------------------------------------------------
    def publish(self, ref: Any, inputs: list[dict[str, Any]], publish: bool) -> dict[str, Any]:
        ts = now()
        p = self.product(ref)
        if p is None:
            return {"publishable": None, "userErrors": [{"field": ["id"], "message": "Product does not exist"}]}
        for i, pi in enumerate(inputs):
            pub_ref = pi.get("publicationId") or pi.get("channelId")
            n = parse_gid(pub_ref, "Publication")
            if n not in self.publications:
                return {"publishable": None,
                        "userErrors": [{"field": ["input", str(i), "publicationId"],
                                        "message": "Publication does not exist"}]}
            if publish:
                p["_published"].add(n)
            else:
                p["_published"].discard(n)
        online = self._publication_nums[0]
        if online in p["_published"] and p["publishedAt"] is None:
            p["publishedAt"] = iso(ts)
        if online not in p["_published"]:
            p["publishedAt"] = None
        _touch(p, ts)
        self.emit("products/update", lambda: wh.product_payload(self, p))
        return {"publishable": p, "userErrors": []}

    # ------------------------------------------------------------------------------------------------
    # inventory (GraphQL mutations)
    # ------------------------------------------------------------------------------------------------
    def inventory_set(self, inp: dict[str, Any], version: str) -> dict[str, Any]:
        ts = now()
        errors: list[dict[str, Any]] = []

        def err(field: list[Any], msg: str, code: str) -> None:
            errors.append({"field": [str(f) for f in field], "message": msg, "code": code})

        name = inp["name"]
        if name not in ("available", "on_hand"):
            err(["input", "name"], "The quantity name must be either 'available' or 'on_hand'.", "INVALID_NAME")
        if inp["reason"] not in INVENTORY_REASONS:
            err(["input", "reason"], "The specified reason is invalid.", "INVALID_REASON")
        ignore_compare = bool(inp.get("ignoreCompareQuantity"))
        plan: list[tuple[dict[str, Any], int]] = []
        seen: set[tuple[int, int]] = set()
        for i, q in enumerate(inp["quantities"]):
            item = self.item(q["inventoryItemId"])
            loc = self.location(q["locationId"]) if str(q["locationId"]).startswith("gid://") else None
            if item is None:
                err(["input", "quantities", i, "inventoryItemId"], "The specified inventory item could not be found.",
                    "INVALID_INVENTORY_ITEM")
                continue
            if loc is None:
                err(["input", "quantities", i, "locationId"], "The specified location could not be found.",
                    "INVALID_LOCATION")
                continue
            if (item["_n"], loc["_n"]) in seen:
                err(["input", "quantities", i], "The combination of inventoryItemId and locationId must be unique.",
                    "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR")
                continue
            seen.add((item["_n"], loc["_n"]))
            lvl = self.level(item["_n"], loc["_n"])
            if lvl is None:
                err(["input", "quantities", i, "locationId"], "The specified inventory item is not stocked at the "
                    "location.", "ITEM_NOT_STOCKED_AT_LOCATION")
                continue
            quantity = int(q["quantity"])
            if quantity > 1_000_000_000:
                err(["input", "quantities", i, "quantity"], "The total quantity can't be higher than 1,000,000,000.",
                    "INVALID_QUANTITY_TOO_HIGH")
                continue
            if quantity < -1_000_000_000:
                err(["input", "quantities", i, "quantity"], "The total quantity can't be lower than -1,000,000,000.",
                    "INVALID_QUANTITY_TOO_LOW")
                continue
            if name == "on_hand" and quantity < 0:
                err(["input", "quantities", i, "quantity"], "The quantity can't be negative.",
                    "INVALID_QUANTITY_NEGATIVE")
                continue
            current = self.qty(lvl, name) if name in ALL_QUANTITY_NAMES else 0
            if version >= "2026-04":
                if "changeFromQuantity" not in q:
                    err(["input", "quantities", i, "changeFromQuantity"],
                        "The changeFromQuantity argument must be provided; pass null to skip the compare-and-set "
                        "check.", "COMPARE_QUANTITY_REQUIRED")
                    continue
                cfq = q["changeFromQuantity"]
                if cfq is not None and cfq != current:
                    err(["input", "quantities", i, "changeFromQuantity"],
                        "The changeFromQuantity value does not match persisted value.", "CHANGE_FROM_QUANTITY_STALE")
                    continue
            else:
                if "changeFromQuantity" in q:
                    cfq = q["changeFromQuantity"]
                    if cfq is not None and cfq != current:
                        err(["input", "quantities", i, "changeFromQuantity"],
                            "The changeFromQuantity value does not match persisted value.",
                            "CHANGE_FROM_QUANTITY_STALE")
                        continue
                elif q.get("compareQuantity") is not None:
                    if q["compareQuantity"] != current:
                        err(["input", "quantities", i, "compareQuantity"],
                            "The compareQuantity value does not match persisted value.", "COMPARE_QUANTITY_STALE")
                        continue
                elif not ignore_compare:
                    err(["input", "quantities", i, "compareQuantity"],
                        "The compareQuantity argument must be given to each quantity or ignored using "
                        "ignoreCompareQuantity.", "COMPARE_QUANTITY_REQUIRED")
                    continue
            plan.append((lvl, quantity))
        if errors:
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        changes = []
        touched = []
        for lvl, quantity in plan:
            before_avail = lvl["_q"]["available"]
            delta = self.set_quantity(lvl, name, quantity, ts)
            if delta == 0:
                continue
            changes.append(self._change(lvl, name, delta, self.qty(lvl, name), None))
            if name == "on_hand":
                changes.append(self._change(lvl, "available", lvl["_q"]["available"] - before_avail,
                                            lvl["_q"]["available"], None))
            touched.append(lvl)
        group = self._adjustment_group(inp, changes, ts)
        self._emit_levels(touched)
        return {"inventoryAdjustmentGroup": group, "userErrors": []}

    def inventory_adjust(self, inp: dict[str, Any], version: str) -> dict[str, Any]:
        ts = now()
        errors: list[dict[str, Any]] = []

        def err(field: list[Any], msg: str, code: str) -> None:
            errors.append({"field": [str(f) for f in field], "message": msg, "code": code})

        name = inp["name"]
        if name not in ALL_QUANTITY_NAMES or name in ("committed", "unavailable"):
            err(["input", "name"], "The specified quantity name is invalid.", "INVALID_QUANTITY_NAME")
        if inp["reason"] not in INVENTORY_REASONS:
            err(["input", "reason"], "The specified reason is invalid.", "INVALID_REASON")
        ledgers = {c.get("ledgerDocumentUri") for c in inp["changes"]}
        if len(ledgers) > 1:
            err(["input", "changes"], "All changes must have the same ledger document URI or, in the case of "
                "adjusting available, no ledger document URI.", "MAX_ONE_LEDGER_DOCUMENT")
        plan: list[tuple[dict[str, Any], int, str | None]] = []
        for i, c in enumerate(inp["changes"]):
            ledger = c.get("ledgerDocumentUri")
            if name == "available" and ledger:
                err(["input", "changes", i, "ledgerDocumentUri"], "A ledger document URI is not allowed when "
                    "adjusting available.", "INVALID_AVAILABLE_DOCUMENT")
                continue
            if name != "available" and not ledger:
                err(["input", "changes", i, "ledgerDocumentUri"], "A ledger document URI is required except when "
                    "adjusting available.", "INVALID_QUANTITY_DOCUMENT")
                continue
            if ledger and str(ledger).startswith("gid://shopify/"):
                err(["input", "changes", i, "ledgerDocumentUri"], "Internal (gid://shopify/) ledger documents are "
                    "not allowed to be adjusted via API.", "INTERNAL_LEDGER_DOCUMENT")
                continue
            item = self.item(c["inventoryItemId"])
            loc = self.location(c["locationId"]) if str(c["locationId"]).startswith("gid://") else None
            if item is None:
                err(["input", "changes", i, "inventoryItemId"], "The specified inventory item could not be found.",
                    "INVALID_INVENTORY_ITEM")
                continue
            if loc is None:
                err(["input", "changes", i, "locationId"], "The specified location could not be found.",
                    "INVALID_LOCATION")
                continue
            lvl = self.level(item["_n"], loc["_n"])
            if lvl is None:
                err(["input", "changes", i, "locationId"], "The inventory item is not stocked at the location.",
                    "ITEM_NOT_STOCKED_AT_LOCATION")
                continue
            delta = int(c["delta"])
            current = self.qty(lvl, name)
            if current + delta > 2_000_000_000:
                err(["input", "changes", i, "delta"], "The quantity can't be higher than 2,000,000,000.",
                    "INVALID_QUANTITY_TOO_HIGH")
                continue
            if current + delta < -2_000_000_000:
                err(["input", "changes", i, "delta"], "The quantity can't be lower than -2,000,000,000.",
                    "INVALID_QUANTITY_TOO_LOW")
                continue
            if version >= "2026-04" and "changeFromQuantity" not in c:
                err(["input", "changes", i, "changeFromQuantity"],
                    "The changeFromQuantity argument must be provided; pass null to skip the compare-and-set check.",
                    "CHANGE_FROM_QUANTITY_STALE")
                continue
            cfq = c.get("changeFromQuantity")
            if cfq is not None and cfq != current:
                err(["input", "changes", i, "changeFromQuantity"],
                    "The changeFromQuantity argument no longer matches the persisted quantity.",
                    "CHANGE_FROM_QUANTITY_STALE")
                continue
            plan.append((lvl, delta, ledger))
        if errors:
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        changes = []
        touched = []
        for lvl, delta, ledger in plan:
            if name == "on_hand":
                self.set_quantity(lvl, "available", lvl["_q"]["available"] + delta, ts)
                changes.append(self._change(lvl, "available", delta, lvl["_q"]["available"], ledger))
                changes.append(self._change(lvl, "on_hand", delta, self.qty(lvl, "on_hand"), ledger))
            else:
                self.set_quantity(lvl, name, lvl["_q"][name] + delta, ts)
                changes.append(self._change(lvl, name, delta, self.qty(lvl, name), ledger))
                if name != "available" and name in UNAVAILABLE_NAMES:
                    changes.append(self._change(lvl, "on_hand", delta, self.qty(lvl, "on_hand"), ledger))
            touched.append(lvl)
        group = self._adjustment_group(inp, changes, ts)
        self._emit_levels(touched)
        return {"inventoryAdjustmentGroup": group, "userErrors": []}

    def inventory_activate(self, item_ref: Any, loc_ref: Any, available: int | None,
                           on_hand: int | None) -> dict[str, Any]:
        ts = now()
        item = self.item(item_ref)
        loc = self.location(loc_ref) if str(loc_ref).startswith("gid://") else None
        if item is None:
            return {"inventoryLevel": None, "userErrors": [{"field": ["inventoryItemId"],
                                                            "message": "Inventory item does not exist"}]}
        if loc is None:
            return {"inventoryLevel": None, "userErrors": [{"field": ["locationId"],
                                                            "message": "Location does not exist"}]}
        existed = self.level(item["_n"], loc["_n"]) is not None
        lvl = self.ensure_level(item, loc, ts)
        if not existed:
            if available is not None:
                self.set_quantity(lvl, "available", int(available), ts)
            elif on_hand is not None:
                self.set_quantity(lvl, "on_hand", int(on_hand), ts)
            self.emit("inventory_levels/connect", lambda: wh.level_payload(self, lvl))
            self._emit_levels([lvl])
        return {"inventoryLevel": lvl, "userErrors": []}

    @staticmethod
    def _change(lvl: dict[str, Any], name: str, delta: int, after: int, ledger: str | None) -> dict[str, Any]:
        return {"__typename": "InventoryChange", "name": name, "delta": delta, "quantityAfterChange": after,
                "ledgerDocumentUri": ledger, "_item": lvl["_item"], "_loc": lvl["_loc"]}

    def _adjustment_group(self, inp: dict[str, Any], changes: list[dict[str, Any]], ts: float) -> dict[str, Any]:
        num = self.next_id()
        group = _new_record("InventoryAdjustmentGroup", "InventoryAdjustmentGroup", num, ts,
                            reason=inp["reason"], referenceDocumentUri=inp.get("referenceDocumentUri"),
                            _changes=changes, staffMember=None)
        self.adjustment_groups[num] = group
        return group

    def _emit_levels(self, levels: list[dict[str, Any]], products: bool = True) -> None:
        seen_products: dict[int, dict[str, Any]] = {}
        seen_levels = set()
        ts = now()
        for lvl in levels:
            if id(lvl) in seen_levels:
                continue
            seen_levels.add(id(lvl))
            self.emit("inventory_levels/update", lambda lvl=lvl: wh.level_payload(self, lvl))
            item = self.items.get(lvl["_item"])
            v = self.variants.get(item["_variant"]) if item else None
            if v is not None:
                _touch(v, ts)
                p = self.products.get(v["_product"])
                if p is not None:
                    seen_products[p["_n"]] = p
        if products and self.cfg.products_update_on_inventory_change:
            for p in seen_products.values():
                _touch(p, ts)
                self.emit("products/update", lambda p=p: wh.product_payload(self, p))

    # ------------------------------------------------------------------------------------------------
    # webhook subscriptions
    # ------------------------------------------------------------------------------------------------
    def subscription_create(self, topic_enum: str, sub: dict[str, Any]) -> dict[str, Any]:
        ts = now()
        uri = sub.get("uri") or sub.get("callbackUrl")
        if not uri:
            return {"webhookSubscription": None,
                    "userErrors": [{"field": ["webhookSubscription", "uri"], "message": "Address can't be blank"}]}
        if not (uri.startswith(("http://", "https://", "pubsub://", "arn:aws:events:"))):
            return {"webhookSubscription": None,
                    "userErrors": [{"field": ["webhookSubscription", "uri"], "message": "Address is invalid"}]}
        topic = wh.topic_from_enum(topic_enum)
        needed = _TOPIC_SCOPES.get(topic.split("/", 1)[0])
        if needed:
            granted = set(self.granted_scopes())
            granted |= {"read_" + g[len("write_"):] for g in granted if g.startswith("write_")}
            if not any(n in granted for n in needed):
                return {"webhookSubscription": None, "userErrors": [{
                    "field": ["webhookSubscription"],
                    "message": f"You do not have permission to create or update webhooks with {topic} topic. "
                               f"This topic requires the {' or '.join(needed)} access scope."}]}
        for s in self.subscriptions.values():
            if s["_topic"] == topic and s["uri"] == uri:
                return {"webhookSubscription": None,
                        "userErrors": [{"field": ["webhookSubscription", "callbackUrl"],
                                        "message": "Address for this topic has already been taken"}]}
        num = self.next_id()
        rec = _new_record(
            "WebhookSubscription", "WebhookSubscription", num, ts,
            topic=topic_enum, _topic=topic, uri=uri, callbackUrl=uri if uri.startswith("http") else None,
            format=sub.get("format") or "JSON", includeFields=list(sub.get("includeFields") or []),
            metafieldNamespaces=list(sub.get("metafieldNamespaces") or []),
            metafields=[dict(m) for m in (sub.get("metafields") or [])], filter=sub.get("filter"),
            name=sub.get("name"), _failures=0,
        )
        self.subscriptions[num] = rec
        return {"webhookSubscription": rec, "userErrors": []}

    def subscription_update(self, ref: Any, sub: dict[str, Any]) -> dict[str, Any]:
        n = parse_gid(ref, "WebhookSubscription")
        rec = self.subscriptions.get(n) if n else None
        if rec is None:
            return {"webhookSubscription": None,
                    "userErrors": [{"field": ["id"], "message": "Webhook subscription does not exist"}]}
        uri = sub.get("uri") or sub.get("callbackUrl")
        if uri:
            rec["uri"] = uri
            rec["callbackUrl"] = uri if uri.startswith("http") else None
        for k in ("format", "filter", "name"):
            if sub.get(k) is not None:
                rec[k] = sub[k]
        for k in ("includeFields", "metafieldNamespaces"):
            if sub.get(k) is not None:
                rec[k] = list(sub[k])
        _touch(rec, now())
        return {"webhookSubscription": rec, "userErrors": []}

    def subscription_delete(self, ref: Any) -> dict[str, Any]:
        n = parse_gid(ref, "WebhookSubscription")
        rec = self.subscriptions.pop(n, None) if n else None
        if rec is None:
            return {"deletedWebhookSubscriptionId": None,
                    "userErrors": [{"field": ["id"], "message": "Webhook subscription does not exist"}]}
        return {"deletedWebhookSubscriptionId": rec["id"], "userErrors": []}

    # ------------------------------------------------------------------------------------------------
    # tokens
    # ------------------------------------------------------------------------------------------------
    def issue_token(self) -> tuple[str, float]:
        token = "shpat_" + secrets.token_hex(16)
        ttl = float(self.cfg.token_ttl)
        self.issued_tokens[token] = now() + ttl
        return token, ttl

    def token_valid(self, token: str | None) -> bool:
        if not token:
            return False
        if self.cfg.access_token and secrets.compare_digest(token, self.cfg.access_token):
            return True
        exp = self.issued_tokens.get(token)
        if exp is None:
            return False
        if exp < now():
            self.issued_tokens.pop(token, None)
            return False
        return True

    # ------------------------------------------------------------------------------------------------
    # merchant (control API) operations
    # ------------------------------------------------------------------------------------------------
    def _resolve_variant(self, spec: dict[str, Any]) -> dict[str, Any]:
        v = None
        if spec.get("variant_id") is not None:
            v = self.variant(spec["variant_id"])
        elif spec.get("inventory_item_id") is not None:
            item = self.item(spec["inventory_item_id"])
            v = self.variants.get(item["_variant"]) if item else None
        elif spec.get("sku") is not None:
            v = self.variant_by_sku(spec["sku"])
        if v is None:
            raise SimError(f"variant not found: {spec!r}", 404)
        return v

    def _resolve_location(self, ref: Any) -> dict[str, Any]:
        if ref is None:
            return self.primary_location
        loc = self.location(ref)
        if loc is None:
            raise SimError(f"location not found: {ref!r}", 404)
        return loc

    def merchant_edit_product(self, ref: Any, changes: dict[str, Any]) -> dict[str, Any]:
        ts = now()
        p = self.product(ref)
        if p is None:
            raise SimError(f"product not found: {ref!r}", 404)
        if "handle" in changes:
            h = slugify(changes["handle"])
            owner = self.handles.get(h)
            if owner is not None and owner != p["_n"]:
                raise SimError(f"handle {h!r} already in use")
            self.set_handle(p, h)
        self._apply_product_fields(p, changes, ts)
        for vc in changes.get("variants") or []:
            ident = vc.get("id") or vc.get("variant_id")
            if ident:
                v = self._resolve_variant({"variant_id": ident})
                sku_changes = True
            else:
                v = self._resolve_variant({"sku": vc.get("match_sku") or vc.get("sku")})
                sku_changes = "match_sku" in vc
            if v["_product"] != p["_n"]:
                raise SimError("variant belongs to another product")
            if "price" in vc:
                v["price"] = money(vc["price"])
            for f in ("compareAtPrice", "compare_at_price"):
                if f in vc:
                    v["compareAtPrice"] = money(vc[f])
            if "sku" in vc and sku_changes:
                v["sku"] = vc["sku"]
            for f in ("barcode", "inventoryPolicy", "taxable"):
                if f in vc:
                    v[f] = vc[f]
            if "tracked" in vc:
                self.items[v["_item"]]["tracked"] = bool(vc["tracked"])
            for m in vc.get("metafields") or []:
                self.upsert_metafield(v, m.get("namespace"), m["key"], m.get("type"), str(m["value"]), ts)
            _touch(v, ts)
        for m in changes.get("metafields") or []:
            if m.get("delete"):
                self.delete_metafield(p, (self.resolve_namespace(m.get("namespace")), m["key"]))
            else:
                self.upsert_metafield(p, m.get("namespace"), m["key"], m.get("type"), str(m["value"]), ts)
        _touch(p, ts)
        self.emit("products/update", lambda: wh.product_payload(self, p))
        return p

    def merchant_delete_product(self, ref: Any) -> str:
        p = self.product(ref)
        if p is None:
            raise SimError(f"product not found: {ref!r}", 404)
        self.delete_product(p)
        return p["id"]

    def merchant_adjust_inventory(self, spec: dict[str, Any]) -> dict[str, Any]:
        ts = now()
        v = self._resolve_variant(spec)
        loc = self._resolve_location(spec.get("location_id"))
        item = self.items[v["_item"]]
        lvl = self.level(item["_n"], loc["_n"])
        if lvl is None:
            if not spec.get("activate", True):
                raise SimError("item is not stocked at the location")
            lvl = self.ensure_level(item, loc, ts)
        name = spec.get("name", "available")
        if name not in ALL_QUANTITY_NAMES or name == "unavailable":
            raise SimError(f"invalid quantity name {name!r}")
        if "set" in spec or "available" in spec or "quantity" in spec:
            value = int(spec.get("set", spec.get("available", spec.get("quantity"))))
            self.set_quantity(lvl, name, value, ts)
        else:
            delta = int(spec.get("delta", 0))
            if name == "on_hand":
                self.set_quantity(lvl, "available", lvl["_q"]["available"] + delta, ts)
            else:
                self.set_quantity(lvl, name, lvl["_q"][name] + delta, ts)
        self._emit_levels([lvl])
        return self.level_state(lvl)

    def level_state(self, lvl: dict[str, Any]) -> dict[str, Any]:
        return {
            "inventory_item_id": gid("InventoryItem", lvl["_item"]),
            "location_id": gid("Location", lvl["_loc"]),
            **{n: self.qty(lvl, n) for n in ALL_QUANTITY_NAMES},
        }

    def place_order(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Place an order. With ``location_id`` (order or line) it is a point-of-sale order at that location;
        without, an online order: ``location_id`` is null and order routing assigns each line a location
        (``route_to`` forces one, like a routing rule). ``fulfilled: true`` creates it already fulfilled."""
        from . import orders as orders_mod

        ts = now()
        pos = spec.get("location_id") is not None or any(
            isinstance(li, dict) and li.get("location_id") for li in (spec.get("line_items") or []))
        default_loc = self._resolve_location(spec.get("location_id")) if spec.get("location_id") else None
        forced = self._resolve_location(spec["route_to"]) if spec.get("route_to") else None
        fulfilled = bool(spec.get("fulfilled"))
        lines = spec.get("line_items") or []
        if not lines:
            raise SimError("line_items is required")
        resolved = []
        need: dict[tuple[int, int], int] = {}
        for li in lines:
            v = self._resolve_variant(li)
            qty = int(li.get("quantity", 1))
            if qty <= 0:
                raise SimError("quantity must be positive")
            item = self.items[v["_item"]]
            if li.get("location_id"):
                loc = self._resolve_location(li.get("location_id"))
            elif default_loc is not None:
                loc = default_loc
            else:
                loc = orders_mod.route_line(self, item, qty, forced)
            if item["tracked"]:
                lvl = self.level(item["_n"], loc["_n"])
                if lvl is None:
                    raise SimError(f"variant {v['id']} is not stocked at {loc['id']}")
                need[(item["_n"], loc["_n"])] = need.get((item["_n"], loc["_n"]), 0) + qty
                if (v["inventoryPolicy"] == "DENY" and not spec.get("allow_oversell")
                        and lvl["_q"]["available"] < need[(item["_n"], loc["_n"])]):
                    raise SimError(f"not enough stock for {v.get('sku') or v['id']} at {loc['name']}: "
                                   f"available {lvl['_q']['available']}, ordered {need[(item['_n'], loc['_n'])]}")
            resolved.append((v, qty, loc, li))
        self.order_counter += 1
        num = self.next_id()
        order: dict[str, Any] = {
            "_n": num, "id": gid("Order", num), "name": f"#{self.order_counter}", "number": self.order_counter - 1000,
            "order_number": self.order_counter, "_created": ts, "_updated": ts, "_cancelled": None,
            "cancel_reason": None, "financial_status": spec.get("financial_status", "paid"),
            "fulfillment_status": "fulfilled" if fulfilled else None,
            "_loc": default_loc["_n"] if default_loc is not None else None,
            "source_name": "pos" if pos else "web",
            "email": spec.get("email", "customer@example.com"), "line_items": [],
            "refunds": [], "note": spec.get("note"), "tags": spec.get("tags", ""),
            "fulfillment_orders": [], "fulfillments": [], "edits": [],
        }
        touched = []
        for v, qty, loc, li in resolved:
            item = self.items[v["_item"]]
            p = self.products[v["_product"]]
            if item["tracked"]:
                lvl = self.level(item["_n"], loc["_n"])
                self.set_quantity(lvl, "available", lvl["_q"]["available"] - qty, ts)
                if not fulfilled:
                    self.set_quantity(lvl, "committed", lvl["_q"]["committed"] + qty, ts)
                touched.append(lvl)
            line = self.new_line_item(v, p, item, qty, loc, li.get("price"))
            if fulfilled:
                line["fulfilled"] = qty
            order["line_items"].append(line)
        orders_mod.create_fulfillment_orders(self, order, fulfilled)
        self.orders[num] = order
        self.emit("orders/create", lambda: wh.order_payload(self, order))
        if order["financial_status"] == "paid":
            self.emit("orders/paid", lambda: wh.order_payload(self, order))
        if not pos and not fulfilled:
            for fo in order["fulfillment_orders"]:
                self.emit("fulfillment_orders/order_routing_complete",
                          lambda fo=fo: orders_mod.routing_complete_payload(fo))
        self._emit_levels(touched, products=False)
        # Shopify: products/update "occurs whenever a product is updated, ordered, or variants are added..."
        for pn in dict.fromkeys(li["product"] for li in order["line_items"]):
            p = self.products.get(pn)
            if p is not None:
                _touch(p, ts)
                self.emit("products/update", lambda p=p: wh.product_payload(self, p))
        return order

    def new_line_item(self, v: dict[str, Any], p: dict[str, Any], item: dict[str, Any], qty: int,
                      loc: dict[str, Any], price: Any = None) -> dict[str, Any]:
        return {
            "_n": self.next_id(), "variant": v["_n"], "product": p["_n"], "sku": v.get("sku"),
            "title": p["title"], "variant_title": None if v["title"] == "Default Title" else v["title"],
            "vendor": p["vendor"], "price": money(price if price is not None else v["price"]), "quantity": qty,
            "_orig": qty, "refunded": 0, "fulfilled": 0, "_loc": loc["_n"], "tracked": bool(item["tracked"]),
            "restocked": 0, "removed": 0, "added_by_edit": 0, "removed_by_edit": 0,
        }

    def order(self, ref: Any) -> dict[str, Any]:
        n = parse_gid(ref, "Order") if not isinstance(ref, int) else ref
        o = self.orders.get(n) if n is not None else None
        if o is None:
            raise SimError(f"order not found: {ref!r}", 404)
        return o

    def _release(self, li: dict[str, Any], qty: int, restock: bool, ts: float) -> dict[str, Any] | None:
        """Release ``qty`` units of an order line. Unfulfilled units leave ``committed``; restocked units go
        back to ``available``. Returns the touched level."""
        item = self.items.get(self.variants[li["variant"]]["_item"]) if li["variant"] in self.variants else None
        if item is None or not li["tracked"]:
            return None
        lvl = self.level(item["_n"], li["_loc"])
        if lvl is None:
            return None
        unfulfilled = li["quantity"] - li["fulfilled"] - li["removed"]
        from_committed = min(qty, max(unfulfilled, 0))
        if from_committed:
            self.set_quantity(lvl, "committed", lvl["_q"]["committed"] - from_committed, ts)
            li["removed"] += from_committed
        if restock:
            self.set_quantity(lvl, "available", lvl["_q"]["available"] + qty, ts)
            li["restocked"] += qty
        return lvl

    def cancel_order(self, ref: Any, restock: bool = True, reason: str = "customer",
                     refund: bool = False) -> dict[str, Any]:
        """``orderCancel``: release the unfulfilled units (back to available when ``restock``). With ``refund``
        (a paid order refunded on cancellation) Shopify records a refund whose lines carry restock_type
        ``cancel`` (restocked) or ``no_restock``; it fires refunds/create and is listed in orders/cancelled."""
        ts = now()
        order = self.order(ref)
        if order["_cancelled"] is not None:
            raise SimError("order is already cancelled")
        touched = []
        if refund:
            lines = [{"line_item_id": li["_n"], "quantity": li["quantity"] - li["fulfilled"] - li["removed"]}
                     for li in order["line_items"] if li["quantity"] - li["fulfilled"] - li["removed"] > 0]
            if lines:
                self.refund_order(ref, {"line_items": lines, "restock": restock, "note": "order cancelled"})
        for li in order["line_items"]:
            remaining = li["quantity"] - li["fulfilled"] - li["removed"]
            if remaining > 0:
                lvl = self._release(li, remaining, restock, ts)
                if lvl is not None:
                    touched.append(lvl)
        order["_cancelled"] = ts
        order["_updated"] = ts
        order["cancel_reason"] = reason
        for fo in order.get("fulfillment_orders", []):
            if fo["status"] == "OPEN":
                fo["status"] = "CANCELLED"
        order["financial_status"] = "refunded" if order["financial_status"] == "paid" else "voided"
        self.emit("orders/cancelled", lambda: wh.order_payload(self, order))
        self.emit("orders/updated", lambda: wh.order_payload(self, order))
        self._emit_levels(touched)
        return order

    def refund_order(self, ref: Any, spec: dict[str, Any]) -> dict[str, Any]:
        ts = now()
        order = self.order(ref)
        restock = bool(spec.get("restock", True))
        lines = spec.get("line_items")
        if lines is None:
            lines = [{"line_item_id": li["_n"], "quantity": li["quantity"] - li["refunded"]}
                     for li in order["line_items"] if li["quantity"] - li["refunded"] > 0]
        plan = []
        for rl in lines:
            li = None
            if rl.get("line_item_id") is not None:
                n = parse_gid(rl["line_item_id"], "LineItem")
                li = next((x for x in order["line_items"] if x["_n"] == n), None)
            elif rl.get("variant_id") is not None or rl.get("sku") is not None:
                v = self._resolve_variant(rl)
                li = next((x for x in order["line_items"] if x["variant"] == v["_n"]), None)
            if li is None:
                raise SimError(f"line item not found: {rl!r}", 404)
            qty = int(rl.get("quantity", li["quantity"] - li["refunded"]))
            if qty <= 0 or qty > li["quantity"] - li["refunded"]:
                raise SimError(f"invalid refund quantity {qty} for line item {li['_n']}")
            loc_n = li["_loc"]
            if rl.get("location_id") is not None:
                loc_n = self._resolve_location(rl["location_id"])["_n"]
            plan.append((li, qty, loc_n))
        touched = []
        refund_lines = []
        for li, qty, loc_n in plan:
            unfulfilled = li["quantity"] - li["fulfilled"] - li["removed"]
            restock_type = "no_restock"
            if restock:
                restock_type = "cancel" if unfulfilled >= qty else "return"
            saved = li["_loc"]
            li["_loc"] = loc_n if restock else li["_loc"]
            if restock and loc_n != saved and unfulfilled > 0:
                # committed units live at the original location; release them there, restock at loc_n
                li["_loc"] = saved
                lvl = self._release(li, qty, False, ts)
                li["_loc"] = loc_n
                item = self.items.get(self.variants[li["variant"]]["_item"])
                if item is not None and li["tracked"]:
                    lvl2 = self.ensure_level(item, self.locations[loc_n], ts)
                    self.set_quantity(lvl2, "available", lvl2["_q"]["available"] + qty, ts)
                    touched.append(lvl2)
                if lvl is not None:
                    touched.append(lvl)
            else:
                lvl = self._release(li, qty, restock, ts)
                if lvl is not None:
                    touched.append(lvl)
            li["_loc"] = saved
            li["refunded"] += qty
            refund_lines.append({"_n": self.next_id(), "line": li, "quantity": qty, "restock_type": restock_type,
                                 "_loc": loc_n if restock else None})
        refund = {"_n": self.next_id(), "_created": ts, "restock": restock, "lines": refund_lines,
                  "note": spec.get("note")}
        order["refunds"].append(refund)
        order["_updated"] = ts
        if all(li["refunded"] >= li["quantity"] for li in order["line_items"]):
            order["financial_status"] = "refunded"
        else:
            order["financial_status"] = "partially_refunded"
        self.emit("refunds/create", lambda: wh.refund_payload(self, order, refund))
        self.emit("orders/updated", lambda: wh.order_payload(self, order))
        self._emit_levels(touched)
        return refund

    def fulfill_order(self, ref: Any) -> dict[str, Any]:
        ts = now()
        order = self.order(ref)
        touched = []
        shipped: dict[int, list[tuple[dict[str, Any], int]]] = {}
        for li in order["line_items"]:
            remaining = li["quantity"] - li["fulfilled"] - li["removed"]
            if remaining <= 0:
                continue
            item = self.items.get(self.variants[li["variant"]]["_item"]) if li["variant"] in self.variants else None
            if item is not None and li["tracked"]:
                lvl = self.level(item["_n"], li["_loc"])
                if lvl is not None:
                    self.set_quantity(lvl, "committed", lvl["_q"]["committed"] - remaining, ts)
                    touched.append(lvl)
            li["fulfilled"] += remaining
            shipped.setdefault(li["_loc"], []).append((li, remaining))
        for loc_n, lines in shipped.items():
            order.setdefault("fulfillments", []).append({"_n": self.next_id(), "_loc": loc_n, "_created": ts,
                                                         "lines": lines})
        for fo in order.get("fulfillment_orders", []):
            if fo["status"] == "OPEN":
                fo["status"] = "CLOSED"
        order["fulfillment_status"] = "fulfilled"
        order["_updated"] = ts
        self.emit("orders/fulfilled", lambda: wh.order_payload(self, order))
        self.emit("orders/updated", lambda: wh.order_payload(self, order))
        self._emit_levels(touched)
        return order

    def uninstall(self) -> None:
        """Fire app/uninstalled, then revoke tokens and drop the app's webhook subscriptions (as Shopify does)."""
        self.emit("app/uninstalled", lambda: wh.shop_payload(self))
        self.installed = False
        self.issued_tokens.clear()
        self.subscriptions.clear()

    # ------------------------------------------------------------------------------------------------
    # seeding (fast path, no webhooks, no throttling)
    # ------------------------------------------------------------------------------------------------
    def seed(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        products = list(spec.get("products") or [])
        gen = spec.get("generate")
        if gen:
            prefix = spec.get("prefix", "SEED")
            nvar = int(spec.get("variants_per_product", 1))
            inv = spec.get("inventory", 10)
            start = len(self.products)
            for i in range(int(gen)):
                k = start + i + 1
                variants = []
                for j in range(nvar):
                    variants.append({"sku": f"{prefix}-{k:06d}-{j + 1}", "price": f"{10 + (k % 50)}.00",
                                     "options": [f"Option {j + 1}"] if nvar > 1 else None, "inventory": inv})
                products.append({
                    "title": f"{spec.get('title_prefix', 'Seeded Product')} {k}",
                    "vendor": spec.get("vendor", "Sim Vendor"), "productType": "Seeded",
                    "tags": ["seeded"], "options": [{"name": "Option", "values": [f"Option {j + 1}"
                                                                                  for j in range(nvar)]}]
                    if nvar > 1 else None,
                    "variants": variants,
                })
        out = []
        for pspec in products:
            out.append(self._seed_product(pspec))
        return out

    def _seed_product(self, ps: dict[str, Any]) -> dict[str, Any]:
        ts = now()
        p = self._new_product(ts)
        self.products[p["_n"]] = p
        title = ps.get("title") or "Seeded Product"
        p["title"] = title
        handle = slugify(ps["handle"]) if ps.get("handle") else self.unique_handle(slugify(title) or "product")
        if handle in self.handles:
            handle = self.unique_handle(handle)
        self.set_handle(p, handle)
        for f in ("descriptionHtml", "vendor", "productType", "templateSuffix"):
            if f in ps and ps[f] is not None:
                p[f] = ps[f]
        p["status"] = (ps.get("status") or "ACTIVE").upper()
        p["tags"] = _normalize_tags(ps.get("tags") or [])
        if ps.get("seo"):
            p["seo"].update({k: ps["seo"].get(k) for k in ("title", "description") if k in ps["seo"]})
        options = ps.get("options") or None
        variants = ps.get("variants") or [{}]
        if options:
            opt_recs = []
            for i, o in enumerate(options, start=1):
                opt = self._new_option(o["name"], i, ts)
                opt["_values"] = [self._new_option_value(v) for v in o["values"]]
                opt["_product"] = p["_n"]
                opt_recs.append(opt["_n"])
            p["_options"] = opt_recs
        else:
            self.default_options(p, ts)
        for src in ps.get("images") or []:
            src_url = src if isinstance(src, str) else src["url"]
            alt = None if isinstance(src, str) else src.get("alt")
            m = self._new_media(p, src_url, alt, ts, processed=True)
            p["_media"].append(m["_n"])
        out_vars = []
        for pos, vs in enumerate(variants, start=1):
            v = self._new_variant(p, ts)
            opts = vs.get("options") or (["Default Title"] if not options else [o["values"][0] for o in options])
            v["_opts"] = list(opts)
            v["title"] = " / ".join(opts)
            v["position"] = pos
            v["sku"] = vs.get("sku")
            v["barcode"] = vs.get("barcode")
            v["price"] = money(vs.get("price", "0.00"))
            v["compareAtPrice"] = money(vs.get("compareAtPrice") or vs.get("compare_at_price"))
            if vs.get("inventoryPolicy"):
                v["inventoryPolicy"] = vs["inventoryPolicy"]
            item = self.items[v["_item"]]
            item["tracked"] = bool(vs.get("tracked", True))
            inv = vs.get("inventory", 0)
            if isinstance(inv, dict):
                for loc_ref, q in inv.items():
                    loc = self._resolve_location(int(loc_ref) if str(loc_ref).isdigit() else loc_ref)
                    lvl = self.ensure_level(item, loc, ts)
                    self.set_quantity(lvl, "available", int(q), ts)
            else:
                locs = list(self.locations.values()) if vs.get("all_locations", True) else [self.primary_location]
                for k, loc in enumerate(locs):
                    lvl = self.ensure_level(item, loc, ts)
                    if k == 0:
                        self.set_quantity(lvl, "available", int(inv or 0), ts)
            for m in vs.get("metafields") or []:
                self.upsert_metafield(v, m.get("namespace"), m["key"], m.get("type"), str(m["value"]), ts)
            p["_variants"].append(v["_n"])
            out_vars.append({"id": v["id"], "sku": v["sku"], "inventoryItemId": gid("InventoryItem", item["_n"])})
        for m in ps.get("metafields") or []:
            self.upsert_metafield(p, m.get("namespace"), m["key"], m.get("type"), str(m["value"]), ts)
        return {"id": p["id"], "handle": p["handle"], "title": p["title"], "variants": out_vars}

    # ------------------------------------------------------------------------------------------------
    # export
    # ------------------------------------------------------------------------------------------------
    def export_product(self, p: dict[str, Any]) -> dict[str, Any]:
        self.process_media()
        out_vars = []
        for v in self.variant_list(p):
            item = self.items[v["_item"]]
            levels = []
            for loc_n, lvl in self.item_levels.get(item["_n"], {}).items():
                loc = self.locations.get(loc_n)
                levels.append({"location": {"id": gid("Location", loc_n), "name": loc["name"] if loc else None},
                               "quantities": {n: self.qty(lvl, n) for n in ALL_QUANTITY_NAMES},
                               "updatedAt": lvl["updatedAt"]})
            out_vars.append({
                "id": v["id"], "title": v["title"], "sku": v["sku"], "barcode": v["barcode"], "price": v["price"],
                "compareAtPrice": v["compareAtPrice"], "position": v["position"],
                "inventoryPolicy": v["inventoryPolicy"], "taxable": v["taxable"],
                "selectedOptions": [{"name": o["name"], "value": val} for o, val in
                                    zip(self.option_list(p), v["_opts"], strict=False)],
                "inventoryItem": {"id": item["id"], "tracked": item["tracked"], "sku": v["sku"],
                                  "unitCost": item["_cost"]},
                "inventoryQuantity": self.variant_inventory_quantity(v),
                "inventoryLevels": levels,
                "metafields": [self._export_mf(self.metafields[n]) for n in v["_mf"].values()],
                "media": [self.media[n]["id"] for n in v["_media"] if n in self.media],
                "createdAt": v["createdAt"], "updatedAt": v["updatedAt"],
            })
        return {
            "id": p["id"], "title": p["title"], "handle": p["handle"], "descriptionHtml": p["descriptionHtml"],
            "vendor": p["vendor"], "productType": p["productType"], "status": p["status"], "tags": list(p["tags"]),
            "seo": dict(p["seo"]), "templateSuffix": p["templateSuffix"], "createdAt": p["createdAt"],
            "updatedAt": p["updatedAt"], "publishedAt": p["publishedAt"],
            "publications": [gid("Publication", n) for n in sorted(p["_published"])],
            "publicationNames": [self.publications[n]["name"] for n in sorted(p["_published"])
                                 if n in self.publications],
            # What a shopper sees: ACTIVE and on the Online Store publication.
            "onlineStoreVisible": p["status"] == "ACTIVE" and self._publication_nums[0] in p["_published"],
            "redirects": [dict(r) for r in self.redirects if r["target"] == f"/products/{p['handle']}"],
            "options": [{"id": o["id"], "name": o["name"], "position": o["position"],
                         "values": [x["name"] for x in o["_values"]]} for o in self.option_list(p)],
            "variants": out_vars,
            "metafields": [self._export_mf(self.metafields[n]) for n in p["_mf"].values()],
            "media": [{"id": m["id"], "alt": m["alt"], "originalSource": m["_source"], "url": m["image"]["url"],
                       "status": m["status"], "errors": [e["message"] for e in m["mediaErrors"]]} for m in (self.media.get(n) for n in p["_media"]) if m],
            "collections": list(p["_collections"]),
        }

    @staticmethod
    def _export_mf(mf: dict[str, Any]) -> dict[str, Any]:
        return {"id": mf["id"], "namespace": mf["namespace"], "key": mf["key"], "type": mf["type"],
                "value": mf["value"], "updatedAt": mf["updatedAt"]}

    def export_state(self) -> dict[str, Any]:
        return {
            "shop": self.info(),
            "locations": [{"id": loc["id"], "name": loc["name"], "isActive": loc["isActive"]}
                          for loc in self.locations.values()],
            "publications": [{"id": p["id"], "name": p["name"]} for p in self.publications.values()],
            "redirects": [dict(r) for r in self.redirects],
            "products": [self.export_product(p) for p in self.products.values()],
            "webhookSubscriptions": [{"id": s["id"], "topic": s["topic"], "uri": s["uri"],
                                      "format": s["format"], "includeFields": s["includeFields"],
                                      "createdAt": s["createdAt"]} for s in self.subscriptions.values()],
            "orders": [wh.order_payload(self, o) for o in self.orders.values()],
            "bulkOperations": [{k: v for k, v in op.items() if not k.startswith("_")}
                               for op in self.bulk_ops.values()],
            "installed": self.installed,
            "faults": copy.deepcopy(self.faults),
        }

    def info(self) -> dict[str, Any]:
        c = self.cfg
        return {
            "name": c.name,
            "domain": c.domain,
            "shop_name": c.shop_name,
            "base_url": self.sim.base_url(c.name) if self.sim.url else None,
            "access_token": c.access_token,
            "client_id": c.client_id,
            "client_secret": c.client_secret,
            "webhook_secret": c.client_secret,
            "token_ttl": c.token_ttl,
            "plan": c.plan,
            "plan_display_name": PLANS[c.plan]["display"],
            "bucket_size": c.effective_bucket_size,
            "restore_rate": c.effective_restore_rate,
            "scopes": self.granted_scopes(),
            "configured_scopes": list(c.scopes),
            "locations": [{"id": loc["id"], "name": loc["name"]} for loc in self.locations.values()],
            "installed": self.installed,
            "api_versions": self.sim.schemas.versions,
        }


def _normalize_tags(tags: Any) -> list[str]:
    if isinstance(tags, str):
        tags = tags.split(",")
    out: list[str] = []
    seen = set()
    for t in tags:
        t = str(t).strip()
        if t and t.lower() not in seen:
            seen.add(t.lower())
            out.append(t)
    return sorted(out, key=str.lower)
