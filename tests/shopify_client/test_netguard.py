"""The Shopify client runs the network-in-transaction check (channels/shopify/netguard.py) before each call."""

from __future__ import annotations

import pytest
from django.db import transaction

from channels.shopify import netguard
from channels.shopify.netguard import NetworkInTransaction

from .conftest import cost_extensions

SHOP_OK = {"data": {"shop": {"id": "gid://shopify/Shop/1"}}, "extensions": cost_extensions(requested=2)}
PING = "query Ping { shop { id } }"


@pytest.mark.django_db
def test_a_call_inside_a_transaction_is_refused_before_anything_is_sent(fake, make_client):
    fake.on("Ping", SHOP_OK)
    client = make_client()
    assert client.execute(PING) == {"shop": {"id": "gid://shopify/Shop/1"}}  # outside: fine
    with transaction.atomic(), pytest.raises(NetworkInTransaction, match="Shopify call Ping"):
        client.execute(PING)
    assert len(fake.requests_for("Ping")) == 1  # nothing left from inside the transaction
    netguard.violations.clear()  # expected here
