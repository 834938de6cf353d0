"""Shared by the interleaving tests (checks and sets racing a sale): place a sale in shop A exactly before a push's
Shopify read, by wrapping the client the push's module gets."""

from __future__ import annotations

from types import ModuleType

from django.test import Client

from inventory.pushes import _push_record


def sale_before_the_read(monkeypatch, world, *, module: ModuleType, deliver: bool) -> list[dict]:
    """Make the first Shopify read of the push run by ``module`` (its ``client_for_store``) happen just after a sale
    in shop A: its orders/create stored, unprocessed, when ``deliver``; still on its way otherwise. Returns the
    placed orders."""
    placed: list[dict] = []
    real = module.client_for_store

    def client_for_store(store):
        client = real(store)
        read = client.inventory_levels

        def inventory_levels(**kwargs):
            if not placed:
                placed.append(world.control.place_order("shop-a", [{"sku": world.variant.sku, "quantity": 1}]))
                if deliver:
                    response = world.post(Client(), "orders/create", placed[0], store=world.store_a)
                    assert response.status_code == 200
            return read(**kwargs)

        client.inventory_levels = inventory_levels
        return client

    monkeypatch.setattr(module, "client_for_store", client_for_store)
    return placed


def push_on_main(world, kind: str) -> int:
    """Record a push of ``kind`` for shop A's level of the world's variant at Main; return its id."""
    return _push_record(kind=kind, store_id=world.store_a.pk, variant_id=world.variant.pk, location_id=world.main.pk)


