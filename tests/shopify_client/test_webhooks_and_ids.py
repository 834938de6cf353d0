"""Webhook HMAC verification and GID helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from channels.shopify import ids
from channels.shopify.webhooks import compute_webhook_hmac, verify_webhook_hmac

SECRET = "hush-its-a-secret"
BODY = b'{"id":820982911946154508,"title":"Example T-Shirt"}'
# Computed outside Python: printf '<BODY>' | openssl dgst -sha256 -hmac '<SECRET>' -binary | base64
KNOWN_HMAC = "ZFoaCo1QI4nVdKPhkbOSA6HvxXxK83iCo2SN8E4Jwhc="


def test_known_vector():
    independent = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
    assert independent == KNOWN_HMAC
    assert compute_webhook_hmac(raw_body=BODY, secret=SECRET) == KNOWN_HMAC
    assert verify_webhook_hmac(raw_body=BODY, secret=SECRET, header_value=KNOWN_HMAC) is True


@pytest.mark.parametrize(
    ("body", "secret", "header"),
    [
        (BODY.replace(b"Example", b"Examp1e"), SECRET, KNOWN_HMAC),  # tampered body
        (BODY + b" ", SECRET, KNOWN_HMAC),  # re-serialised / whitespace changed
        (BODY, "another-secret", KNOWN_HMAC),  # wrong secret
        (BODY, SECRET, None),  # header missing
        (BODY, SECRET, ""),
        (BODY, SECRET, "not base64 at all"),
        (BODY, "", KNOWN_HMAC),  # no secret configured
    ],
)
def test_rejections(body, secret, header):
    assert verify_webhook_hmac(raw_body=body, secret=secret, header_value=header) is False


def test_gid_round_trip():
    assert ids.to_gid("Product", 123) == "gid://shopify/Product/123"
    assert ids.to_gid("Product", "123") == "gid://shopify/Product/123"
    assert ids.to_gid("Product", "gid://shopify/Product/5") == "gid://shopify/Product/5"
    assert ids.gid_to_id("gid://shopify/ProductVariant/456") == 456
    assert ids.gid_to_id("gid://shopify/ProductVariant/456", resource="ProductVariant") == 456
    assert ids.gid_resource("gid://shopify/InventoryItem/9") == "InventoryItem"
    assert ids.product_gid(1) == "gid://shopify/Product/1"
    assert ids.variant_gid(2) == "gid://shopify/ProductVariant/2"
    assert ids.inventory_item_gid(3) == "gid://shopify/InventoryItem/3"
    assert ids.location_gid(4) == "gid://shopify/Location/4"
    assert ids.is_gid("gid://shopify/Product/1") and not ids.is_gid("123")


def test_inventory_level_gid():
    gid = "gid://shopify/InventoryLevel/905684977?inventory_item_id=808950810"
    assert ids.inventory_level_ids(gid) == (905684977, 808950810)
    assert ids.parse_gid(gid).params == {"inventory_item_id": "808950810"}


@pytest.mark.parametrize(
    ("call", "arg"),
    [
        (ids.gid_to_id, "123"),
        (ids.gid_to_id, "gid://shopify/Product/abc"),
        (ids.parse_gid, "https://example.com"),
        (ids.inventory_level_ids, "gid://shopify/Product/1"),
    ],
)
def test_bad_gids(call, arg):
    with pytest.raises(ValueError):
        call(arg)


def test_wrong_resource():
    with pytest.raises(ValueError):
        ids.gid_to_id("gid://shopify/Product/1", resource="ProductVariant")
    with pytest.raises(ValueError):
        ids.to_gid("Product", "gid://shopify/ProductVariant/1")
    with pytest.raises(ValueError):
        ids.to_gid("Product", "12a")
