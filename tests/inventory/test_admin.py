"""Admin: levels per variant, the read-only ledger, recording movements, confirmed actions that touch Shopify."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from inventory.ledger import stock_receive
from inventory.locations import location_create
from inventory.models import StockLevel, StockMovement, StoreInventory, StoreLocation, WebhookEvent
from pim import services as pim_services

from .conftest import drain


def test_levels_list_per_variant_with_a_bounded_number_of_queries(world, admin_client, django_assert_max_num_queries):
    for n in range(15):
        variant = pim_services.product_create(title=f"P{n}", variants=[{"sku": f"P-{n}", "price": "1"}]).variants.get()
        stock_receive(variant=variant, location=world.main, quantity=n + 1)
    url = reverse("admin:inventory_stocklevel_changelist")
    with django_assert_max_num_queries(12):
        response = admin_client.get(url)
    assert response.status_code == 200
    assert b"P-14" in response.content and b"Record a movement" in response.content
    assert admin_client.get(url + "?q=TEE-1").content.count(b"TEE-1") >= 1


def test_the_variant_page_shows_its_stock_per_location(world, admin_client):
    page = admin_client.get(reverse("admin:pim_variant_change", args=[world.variant.pk]))
    assert page.status_code == 200
    assert b"Main Warehouse" in page.content and b"300" in page.content


def test_the_variant_page_gets_the_stock_through_the_extension_slot_not_by_patching_pim_admin():
    from inventory.admin import StockLevelInline, variant_units_sold
    from pim.admin import VariantAdmin
    from pim.admin_extensions import variant_admin_extensions

    assert StockLevelInline not in VariantAdmin.inlines and not hasattr(VariantAdmin, "units_sold")
    assert "units_sold" not in VariantAdmin.readonly_fields
    extension = {ext.name: ext for ext in variant_admin_extensions()}["inventory"]
    assert extension.inlines == (StockLevelInline,) and extension.readonly_fields == (variant_units_sold,)


def test_the_ledger_is_read_only(world, admin_client):
    movement = StockMovement.objects.first()
    assert admin_client.get(reverse("admin:inventory_stockmovement_add")).status_code == 403
    change = reverse("admin:inventory_stockmovement_change", args=[movement.pk])
    page = admin_client.get(change)
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert admin_client.post(change, {"quantity": 999}).status_code == 403
    assert admin_client.post(reverse("admin:inventory_stockmovement_delete", args=[movement.pk]),
                             {"post": "yes"}).status_code == 403
    movement.refresh_from_db()
    assert movement.quantity == 300
    assert admin_client.get(reverse("admin:inventory_stocklevel_add")).status_code == 403


def test_recording_a_movement_goes_through_the_stock_services(world, admin_client):
    url = reverse("admin:inventory_stocklevel_record")
    response = admin_client.post(url, {"sku": "TEE-1", "location": world.main.pk, "kind": "receipt", "quantity": 7,
                                       "reason": "PO-5"})
    assert response.status_code == 302
    movement = StockMovement.objects.order_by("pk").last()
    assert (movement.kind, movement.quantity, movement.reason) == ("receipt", 7, "PO-5")
    assert movement.actor.username == "admin" and "admin" in movement.actor_label
    refused = admin_client.post(url, {"sku": "TEE-1", "location": world.main.pk, "kind": "adjustment",
                                      "quantity": -1000, "reason": "lost"})
    assert refused.status_code == 200 and b"available at this location" in refused.content
    assert StockLevel.objects.get(variant=world.variant, location=world.main).on_hand == 307


def test_store_actions_that_touch_shopify_ask_for_confirmation_first(world, admin_client):
    StoreLocation.objects.filter(store=world.store_b).delete()
    world.control.clear_requests("shop-b")
    url = reverse("admin:inventory_storeinventory_changelist")
    data = {"action": "automap_locations", "_selected_action": [world.store_b.pk]}
    page = admin_client.post(url, data)
    assert page.status_code == 200 and b"Map locations from Shopify?" in page.content
    assert world.control.requests("shop-b") == [] and not StoreLocation.objects.filter(store=world.store_b).exists()
    done = admin_client.post(url, {**data, "confirmed": "yes"})
    assert done.status_code == 302
    assert StoreLocation.objects.filter(store=world.store_b).count() == 2
    listing = admin_client.get(url)
    assert b"Shop B" in listing.content and StoreInventory.objects.count() == 2


def test_actions_need_their_permission(world, client, django_user_model):
    world.post(Client(), "orders/create", b"{broken")
    user = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.force_login(user)
    page = client.get(reverse("admin:webhooks_webhookevent_changelist"))
    assert page.status_code == 200 and b"reprocess" not in page.content
    user.user_permissions.add(Permission.objects.get(codename="reprocess_webhookevent"))
    page = client.get(reverse("admin:webhooks_webhookevent_changelist"))
    assert b"reprocess" in page.content
    assert WebhookEvent.objects.get().status == "failed"


def test_a_location_mapping_is_saved_through_the_service(world, admin_client):
    back_room = location_create(name="Back Room")
    url = reverse("admin:inventory_storelocation_add")
    response = admin_client.post(url, {"store": world.store_b.pk, "location": back_room.pk,
                                       "shopify_location_id": "gid://shopify/Location/424242",
                                       "shopify_location_name": "Back", "is_default": ""})
    assert response.status_code == 302
    assert StoreLocation.objects.get(store=world.store_b, location=back_room).shopify_location_id == "424242"
    taken = admin_client.post(url, {"store": world.store_b.pk, "location": world.retail.pk,
                                    "shopify_location_id": "424242", "shopify_location_name": "", "is_default": ""})
    assert taken.status_code == 200 and b"already mapped" in taken.content


def test_the_movement_form_finds_a_sku_in_any_case(world, admin_client):
    from inventory.models import StockLevel

    url = reverse("admin:inventory_stocklevel_record")
    before = StockLevel.objects.get(variant=world.variant, location=world.main).on_hand
    response = admin_client.post(url, {"sku": " tee-1 ", "location": world.main.pk, "kind": "receipt",
                                       "quantity": 2, "reason": "lower case"})
    assert response.status_code == 302
    assert StockLevel.objects.get(variant=world.variant, location=world.main).on_hand == before + 2


def test_sync_stock_now_sets_the_selected_products_levels_in_one_store(world, admin_client):
    from inventory.models import InventoryPush

    product = world.variant.product
    world.control.adjust_inventory("shop-b", sku=world.variant.sku, set=5)
    url = "/admin/pim/product/"
    confirm = admin_client.post(url, {"action": "sync_stock_now", "_selected_action": [product.pk]})
    assert confirm.status_code == 200 and 'name="store"' in confirm.content.decode()
    assert not InventoryPush.objects.filter(status="pending", kind="set").exists()
    done = admin_client.post(url, {"action": "sync_stock_now", "_selected_action": [product.pk], "confirmed": "yes",
                                   "store": world.store_b.pk})
    assert done.status_code == 302
    assert InventoryPush.objects.filter(store=world.store_b, kind="set", variant=world.variant,
                                        status="pending").exists()
    drain()
    assert world.shopify_available("shop-b") == world.pim_available()
