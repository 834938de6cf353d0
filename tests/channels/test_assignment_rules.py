"""Assignment rules (issue 19): tag / category / vendor / type rules kept in step; manual assignments untouched."""

import pytest

from channels.assignment_rules import assignment_rule_save
from channels.models import AssignmentRule, ChannelAssignment, Store, SyncJob
from pim import categories
from pim import services as pim_services
from pim.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="shpat_x")


def product(title, **fields):
    return pim_services.product_create(title=title, workflow_state=Product.Workflow.READY,
                                       variants=[{"sku": title.upper(), "price": "5.00"}], **fields)


def assigned(store):
    return dict(ChannelAssignment.objects.filter(store=store).values_list("product__title", "publish"))


def test_tag_rule_assigns_on_match_and_unpublishes_on_loss_but_leaves_manual_ones(store):
    sale, plain, manual = product("Sale", tags="sale, summer"), product("Plain"), product("Manual", tags="sale")
    ChannelAssignment.objects.create(store=store, product=manual)  # assigned by hand before the rule
    assignment_rule_save(rule=AssignmentRule(store=store, kind="tag", value="SALE"))
    assert assigned(store) == {"Sale": True, "Manual": True}
    assert SyncJob.objects.filter(store=store, product=sale, status="pending").exists()
    assert ChannelAssignment.objects.get(product=sale).history.first().history_change_reason == (
        "Assignment rule: matches")

    pim_services.product_update(product=plain, tags="sale")
    assert assigned(store)["Plain"] is True
    pim_services.product_update(product=sale, tags="summer")
    pim_services.product_update(product=manual, tags="")
    assert assigned(store) == {"Sale": False, "Manual": True, "Plain": True}  # manual stays as set by hand
    pim_services.product_update(product=sale, tags="sale")
    assert assigned(store)["Sale"] is True


def test_category_vendor_and_type_rules(store):
    clothing = categories.category_create(name="Clothing")
    tees = categories.category_create(name="Tees", parent=clothing)
    tee, mug, boot = product("Tee"), product("Mug", vendor="Acme"), product("Boot", product_type="Shoes")
    assignment_rule_save(rule=AssignmentRule(store=store, kind="category", category=clothing))
    assignment_rule_save(rule=AssignmentRule(store=store, kind="vendor", value="acme"))
    assignment_rule_save(rule=AssignmentRule(store=store, kind="product_type", value="shoes"))
    assert assigned(store) == {"Mug": True, "Boot": True}
    categories.product_categories_set(product_id=tee.pk, category_ids=[tees.pk])
    assert assigned(store)["Tee"] is True
    categories.product_categories_set(product_id=tee.pk, category_ids=[])
    assert assigned(store)["Tee"] is False
    assert SyncJob.objects.filter(store=store, product=tee, status="pending").count() == 1
    assert mug and boot


def test_a_bulk_category_edit_queues_publishes_only_for_products_a_rule_moves(store):
    shoes = categories.category_create(name="Shoes")
    boots = categories.category_create(name="Boots")
    assignment_rule_save(rule=AssignmentRule(store=store, kind="category", category=shoes))
    already = [product(f"Old {i}") for i in range(3)]
    for p in already:
        ChannelAssignment.objects.create(store=store, product=p, shopify_product_id=str(900 + p.pk))
    SyncJob.objects.all().delete()
    categories.products_category_add(product_ids=[p.pk for p in already], category=boots)  # no rule on boots
    assert not SyncJob.objects.exists()
    newcomer = product("New")
    SyncJob.objects.all().delete()
    categories.products_category_add(product_ids=[newcomer.pk, *[p.pk for p in already]], category=shoes)
    assert list(SyncJob.objects.values_list("product__title", flat=True)) == ["New"]
