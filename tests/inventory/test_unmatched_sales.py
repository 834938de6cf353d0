"""Order lines that match no PIM variant become unmatched sales a manager sees in the admin; once the SKU exists
or is mapped, one action applies them, once. Lines whose SKU several variants share are never guessed."""

from __future__ import annotations

from io import StringIO

from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from inventory.models import ShopifyOrderLine, StockLevel, StockMovement
from inventory.order_lines import order_lines_apply
from pim import services as pim_services

from .conftest import drain, order_payload

MAIN = "Main Warehouse"


def sell_unknown(world, order_id=9901, sku="NEW-1", quantity=2, variant_id=555000111):
    line = {"id": order_id + 1, "variant_id": variant_id, "sku": sku, "quantity": quantity}
    world.post(Client(), "orders/create", order_payload(order_id, [line],
                                                        location_id=world.locations["shop-a"][MAIN]))
    drain()


def manager(perm: bool) -> Client:
    user = User.objects.create_user("manager", password="pw", is_staff=True)
    for codename in ("view_unmatchedsale",) + (("apply_shopifyorderline",) if perm else ()):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def test_an_unknown_sku_becomes_an_unmatched_sale_and_is_applied_once_when_it_exists(world, admin_client):
    sell_unknown(world)
    line = ShopifyOrderLine.objects.get()
    assert line.match == "unmatched" and "NEW-1" in line.match_note
    page = admin_client.get(reverse("admin:inventory_unmatchedsale_changelist"))
    assert page.status_code == 200 and b"NEW-1" in page.content
    # The catalog manager creates the variant; one action applies the sale.
    variant = pim_services.product_create(title="New", variants=[{"sku": "NEW-1", "price": "3"}]).variants.get()
    url = reverse("admin:inventory_unmatchedsale_changelist")
    confirm = admin_client.post(url, {"action": "apply_matches", "_selected_action": [line.pk]})
    assert confirm.status_code == 200 and b"Yes, I'm sure" in confirm.content
    assert not StockMovement.objects.filter(variant=variant).exists()
    admin_client.post(url, {"action": "apply_matches", "_selected_action": [line.pk], "confirmed": "yes"})
    level = StockLevel.objects.get(variant=variant, location=world.main)
    assert level.on_hand == -2
    line.refresh_from_db()
    assert line.match == "matched" and line.applied_by.startswith("user ")
    # Again, or a redelivery of the order: nothing more.
    assert order_lines_apply(line_ids=[line.pk], actor_label="again")["applied"] == 1
    sell_unknown(world)
    assert StockMovement.objects.filter(variant=variant).count() == 1
    assert admin_client.get(url).content.count(b"NEW-1") == 0


def test_a_line_is_mapped_by_hand_to_a_variant(world, admin_client):
    sell_unknown(world, sku="", variant_id=None)  # a custom item: no SKU, no variant
    line = ShopifyOrderLine.objects.get()
    assert "custom item" in line.match_note
    url = reverse("admin:inventory_unmatchedsale_changelist")
    wrong = admin_client.post(url, {"action": "map_to_sku", "_selected_action": [line.pk], "confirmed": "yes",
                                    "sku": "NOPE"})
    assert wrong.status_code == 200 and b"No PIM variant has SKU NOPE" in wrong.content
    admin_client.post(url, {"action": "map_to_sku", "_selected_action": [line.pk], "confirmed": "yes",
                            "sku": world.variant.sku})
    assert world.pim_available() == 298
    line.refresh_from_db()
    assert line.variant == world.variant and line.match == "matched"


def test_a_sku_shared_by_several_variants_is_not_guessed(world):
    pim_services.product_create(title="A", variants=[{"sku": "dup-1", "price": "1"}])
    pim_services.product_create(title="B", variants=[{"sku": "DUP-1", "price": "1"}])
    sell_unknown(world, sku="Dup-1")
    line = ShopifyOrderLine.objects.get()
    assert line.match == "unmatched" and "shared by several" in line.match_note
    assert not StockMovement.objects.filter(order_line=line).exists()


def test_a_sku_of_a_variant_bound_to_another_shopify_variant_is_not_guessed(world):
    sell_unknown(world, sku=world.variant.sku, variant_id=999888777)
    line = ShopifyOrderLine.objects.get()
    assert line.match == "unmatched" and "bound to another Shopify variant" in line.match_note
    assert world.pim_available() == 300


def test_applying_needs_the_permission(world):
    sell_unknown(world)
    pim_services.product_create(title="New", variants=[{"sku": "NEW-1", "price": "3"}])
    line = ShopifyOrderLine.objects.get()
    url = reverse("admin:inventory_unmatchedsale_changelist")
    client = manager(perm=False)
    page = client.get(url)
    assert page.status_code == 200 and b"apply_matches" not in page.content
    client.post(url, {"action": "apply_matches", "_selected_action": [line.pk], "confirmed": "yes"})
    line.refresh_from_db()
    assert line.match == "unmatched"


def test_health_page_and_sync_status_show_the_inventory_backlog(world, admin_client):
    sell_unknown(world)
    page = admin_client.get(reverse("admin:channels_sync_health"))
    assert b"Inventory push backlog" in page.content and b"Unmatched sales" in page.content
    out = StringIO()
    call_command("sync_status", stdout=out)
    text = out.getvalue()
    assert "Inventory push backlog: 0 pending, 0 retrying, 0 skipped in the last hour, 0 dead" in text
    assert "Unmatched sales: 1" in text
