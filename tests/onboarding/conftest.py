"""Fixtures of the onboarding tests: a store on the simulator (over HTTP) and an overlapping catalog."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from channels.models import ChannelAssignment, Store
from pim import services as pim_services
from pim.models import Product

SHOP = "shop-a"


@pytest.fixture(autouse=True)
def _fast_bulk_polling(settings):
    settings.ONBOARDING_BULK_POLL_SECONDS = 0.02


@pytest.fixture
def store(shopify_sim, db) -> Store:
    creds = shopify_sim.shops[SHOP]
    return Store.objects.create(
        name="Shop A", shop_domain=creds.domain, api_base_url=creds.base_url, access_token=creds.access_token,
        api_version=creds.api_version,
    )


@pytest.fixture
def report(tmp_path):
    return tmp_path / "report"


def make_product(handle: str, skus: list[str], *, title: str | None = None, price: str = "20.00",
                 **fields) -> Product:
    """A READY PIM product; several SKUs make a Size option (S, M, L...)."""
    sizes = ["S", "M", "L", "XL", "XXL"]
    if len(skus) > 1:
        variants = [{"sku": sku, "option1": sizes[i], "price": Decimal(price)} for i, sku in enumerate(skus)]
        fields.setdefault("option1_name", "Size")
    else:
        variants = [{"sku": skus[0], "price": Decimal(price)}]
    return pim_services.product_create(
        title=title or handle.replace("-", " ").title(), handle=handle, workflow_state=Product.Workflow.READY,
        status=Product.Status.ACTIVE, variants=variants, **fields,
    )


def shopify_spec(handle: str, skus: list[str | None], *, title: str | None = None, price: str = "20.00",
                 **extra) -> dict:
    """A simulator seed spec mirroring ``make_product``'s option layout."""
    sizes = ["S", "M", "L", "XL", "XXL"]
    spec = {"title": title or handle.replace("-", " ").title(), "handle": handle, **extra}
    if len(skus) > 1:
        spec["options"] = [{"name": "Size", "values": sizes[: len(skus)]}]
        spec["variants"] = [{"sku": sku, "price": price, "options": [sizes[i]]} for i, sku in enumerate(skus)]
    else:
        spec["variants"] = [{"sku": skus[0], "price": price}]
    return spec


@pytest.fixture
def overlap(store, sim_control):
    """A PIM catalog and a Shopify catalog that overlap in every way onboarding must recognise.

    Shopify (11 products)                            PIM (9 products)
    classic-tee   TEE-S, TEE-M (other title, price)  classic-tee   TEE-S, TEE-M        -> matched by handle
    zip-hoodie    HOOD-1                             hoodie        HOOD-1 (unpublished) -> matched by SKU
    cozy-socks    SOCK-1                             socks         SOCK-1 (published)   -> matched by SKU
    tote-bag      BAG-1                              bag (store handle tote-bag) BAG-1  -> matched by handle
    mug           MUG-9                              mug           MUG-1               -> ambiguous (SKUs)
    cap-red       CAP-1                              cap           CAP-1               -> ambiguous (SKU twice
    cap-blue      CAP-1                                                                    in Shopify): 2
    wallet        WAL-1                              wallet WAL-1; purse (store handle wallet) PUR-1
                                                                                      -> ambiguous (handle)
    scarf         SCARF-1, SCARF-2 (images, metafields, stock)                         -> Shopify-only
    gift-card     (no SKU)                                                             -> Shopify-only
    freebie       FREE-1 at price 0                                                    -> Shopify-only
                                                 poster        POS-1               -> PIM-only
    """
    pim = {
        "tee": make_product("classic-tee", ["TEE-S", "TEE-M"], title="Classic Tee", price="25.00",
                            description_html="<p>Soft cotton.</p>", vendor="Acme"),
        "hoodie": make_product("hoodie", ["HOOD-1"], price="59.00"),
        "socks": make_product("socks", ["SOCK-1"], price="9.00"),
        "bag": make_product("bag", ["BAG-1"], price="30.00"),
        "mug": make_product("mug", ["MUG-1"]),
        "cap": make_product("cap", ["CAP-1"]),
        "wallet": make_product("wallet", ["WAL-1"]),
        "purse": make_product("purse", ["PUR-1"]),
        "poster": make_product("poster", ["POS-1"]),
    }
    Product.objects.filter(pk=pim["socks"].pk).update(first_published_at=timezone.now())
    ChannelAssignment.objects.create(product=pim["bag"], store=store, handle_override="tote-bag")
    ChannelAssignment.objects.create(product=pim["purse"], store=store, handle_override="wallet")
    shopify = sim_control.seed(SHOP, products=[
        shopify_spec("classic-tee", ["TEE-S", "TEE-M"], title="Classic Tee (old)", price="22.00", vendor="Acme"),
        shopify_spec("zip-hoodie", ["HOOD-1"], price="59.00"),
        shopify_spec("cozy-socks", ["SOCK-1"], price="9.00"),
        shopify_spec("tote-bag", ["BAG-1"], price="30.00"),
        shopify_spec("mug", ["MUG-9"]),
        shopify_spec("cap-red", ["CAP-1"]),
        shopify_spec("cap-blue", ["CAP-1"]),
        shopify_spec("wallet", ["WAL-1"]),
        {
            "title": "Wool Scarf", "handle": "scarf", "vendor": "Knitters", "productType": "Scarves",
            "tags": ["winter", "wool"], "descriptionHtml": "<p>Warm.</p>", "status": "ACTIVE",
            "options": [{"name": "Color", "values": ["Red", "Grey"]}],
            "variants": [
                {"sku": "SCARF-1", "price": "35.00", "compareAtPrice": "40.00", "barcode": "123",
                 "options": ["Red"], "inventory": {"Main Warehouse": 4, "Retail Store": 2}},
                {"sku": "SCARF-2", "price": "35.00", "options": ["Grey"], "inventory": {"Main Warehouse": 7}},
            ],
            "images": [{"url": "https://cdn.example.com/scarf-red.jpg", "alt": "Red scarf"},
                       "https://cdn.example.com/scarf-grey.jpg"],
            "metafields": [
                {"namespace": "custom", "key": "material", "type": "single_line_text_field", "value": "Merino"},
                {"namespace": "custom", "key": "care", "type": "rich_text_field", "value": "{}"},
            ],
        },
        shopify_spec("gift-card", [None], price="25.00"),
        shopify_spec("freebie", ["FREE-1"], price="0.00"),
    ])
    return {"pim": pim, "shopify": {p["handle"]: p for p in shopify}}
