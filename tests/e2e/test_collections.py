"""Categories → collections end to end (issue 19): real RQ workers, PostgreSQL, the simulator over HTTP."""

from django.db import transaction

from channels import collections, services
from channels.models import CollectionMapping, CollectionSyncJob, StoreCollection
from conflicts import review
from conflicts.models import Conflict
from pim import categories

from .conftest import make_product, wait_for


def settled() -> bool:
    services.sync_jobs_sweep()
    collections.collection_jobs_sweep()
    from channels.models import SyncJob

    busy = ["pending", "running"]
    return not SyncJob.objects.filter(status__in=busy).exists() and not CollectionSyncJob.objects.filter(
        status__in=busy).exists()


def members(sim, shop, title):
    coll = next((c for c in sim.control.collections(shop) if c["title"] == title), None)
    if coll is None:
        return None
    products = {p["id"]: p["handle"] for p in sim.control.products(shop)}
    return sorted(products[i] for i in coll["productIds"])


def test_category_to_new_and_existing_collection_membership_follows_changes(shopify_sim, sim_stores, workers):
    a, b = sim_stores
    clothing = categories.category_create(name="Clothing", description_html="<p>All we wear</p>")
    tees = categories.category_create(name="Tees", parent=clothing)
    tee = make_product(title="Trail Tee", sku_prefix="TT")
    cap = make_product(title="Cap", sku_prefix="CP")
    categories.product_categories_set(product_id=tee.pk, category_ids=[tees.pk])
    categories.product_categories_set(product_id=cap.pk, category_ids=[clothing.pk])
    # shop-b already has a custom collection the merchant made, and a smart one.
    existing = shopify_sim.control.create_collection("shop-b", title="Tee shop", handle="tee-shop")
    shopify_sim.control.create_collection("shop-b", title="On sale", ruleSet={
        "appliedDisjunctively": False, "rules": [{"column": "TAG", "relation": "EQUALS", "condition": "sale"}]})
    assert collections.store_collections_refresh(store=b) == 2
    assert StoreCollection.objects.get(store=b, title="On sale").is_smart

    collections.collection_mapping_save(mapping=CollectionMapping(store=a, category=clothing))
    collections.collection_mapping_save(mapping=CollectionMapping(
        store=b, category=tees, mode=CollectionMapping.Mode.EXISTING,
        existing=StoreCollection.objects.get(store=b, title="Tee shop")))
    for product in (tee, cap):
        services.assignment_set(product=product, store=a)
    services.assignment_set(product=tee, store=b)
    wait_for(lambda: members(shopify_sim, "shop-a", "Clothing") == ["cap", "trail-tee"], timeout=30,
             what="membership in shop-a")
    wait_for(lambda: members(shopify_sim, "shop-b", "Tee shop") == ["trail-tee"], what="membership in shop-b")
    wait_for(settled, timeout=30, what="publish and membership")

    # A new collection in shop-a (subcategories included), marked as the PIM's; the existing one in shop-b.
    made = next(c for c in shopify_sim.control.collections("shop-a") if c["title"] == "Clothing")
    assert made["handle"] == "clothing" and made["descriptionHtml"] == "<p>All we wear</p>"
    assert made["metafields"] == {"pim.category_id": str(clothing.pk)}
    assert members(shopify_sim, "shop-a", "Clothing") == ["cap", "trail-tee"]
    assert members(shopify_sim, "shop-b", "Tee shop") == ["trail-tee"]
    assert CollectionMapping.objects.get(store=b).shopify_collection_id == existing["id"].rsplit("/", 1)[1]
    calls = [r for r in shopify_sim.control.requests("shop-a") if r["operation_name"] == "CollectionCreate"]
    assert len(calls) == 1

    # The cap leaves its category: it leaves the collection. The tee leaves store b: it leaves b's collection.
    categories.product_categories_set(product_id=cap.pk, category_ids=[])
    services.assignment_set(product=tee, store=b, publish=False)
    wait_for(lambda: members(shopify_sim, "shop-a", "Clothing") == ["trail-tee"], what="cap removed in shop-a")
    wait_for(lambda: members(shopify_sim, "shop-b", "Tee shop") == [], what="tee removed in shop-b")
    wait_for(settled, timeout=30, what="quiet")
    # Nothing changed since: a new run sends nothing; a drift check only reads.
    mapping_a = CollectionMapping.objects.get(store=a)
    shopify_sim.control.clear_requests("shop-a")
    with transaction.atomic():
        collections.collection_jobs_record(mapping_ids=[mapping_a.pk])
    wait_for(settled, what="idle run")
    assert shopify_sim.control.requests("shop-a") == []
    assert CollectionSyncJob.objects.filter(mapping=mapping_a).first().result == "membership unchanged in the PIM"
    with transaction.atomic():
        collections.collection_jobs_record(mapping_ids=[mapping_a.pk], check_drift=True)
    wait_for(settled, what="drift-check run")
    ops = {r["operation_name"] for r in shopify_sim.control.requests("shop-a")}
    assert ops == {"CollectionProducts"}, ops


def test_merchant_membership_change_is_a_conflict_overwritten_or_held_then_accepted(
        shopify_sim, sim_stores, workers, django_user_model):
    a, _ = sim_stores
    shirts = categories.category_create(name="Shirts")
    tee = make_product(title="Trail Tee", sku_prefix="TT")
    polo = make_product(title="Polo", sku_prefix="PO")
    categories.product_categories_set(product_id=tee.pk, category_ids=[shirts.pk])
    mapping = collections.collection_mapping_save(mapping=CollectionMapping(store=a, category=shirts))
    services.assignment_set(product=tee, store=a)
    services.assignment_set(product=polo, store=a)
    wait_for(lambda: members(shopify_sim, "shop-a", "Shirts") == ["trail-tee"], timeout=30, what="first publish")
    wait_for(settled, timeout=30, what="quiet")
    coll_id = next(c["id"] for c in shopify_sim.control.collections("shop-a") if c["title"] == "Shirts")
    tee_gid = f"gid://shopify/Product/{a.assignments.get(product=tee).shopify_product_id}"
    polo_gid = f"gid://shopify/Product/{a.assignments.get(product=polo).shopify_product_id}"

    # Overwrite (the default): the merchant's removal is recorded and the PIM puts the tee back.
    shopify_sim.control.collection_remove("shop-a", coll_id, [tee_gid])
    with transaction.atomic():
        collections.collection_jobs_record(mapping_ids=[mapping.pk], check_drift=True)
    wait_for(lambda: members(shopify_sim, "shop-a", "Shirts") == ["trail-tee"], what="tee put back")
    conflict = Conflict.objects.get(field=f"collection:{mapping.pk}", product=tee)
    assert (conflict.status, conflict.shopify_before, conflict.policy_applied) == (
        "open", "not in the collection", "overwrite")

    # Hold: the merchant adds the polo; it stays there, the job is held, a manager accepts it into the category.
    a.default_conflict_policy = "hold"
    a.save()
    shopify_sim.control.collection_add("shop-a", coll_id, [polo_gid])
    with transaction.atomic():
        collections.collection_jobs_record(mapping_ids=[mapping.pk], check_drift=True)
    wait_for(settled, what="held run")
    assert CollectionSyncJob.objects.filter(mapping=mapping).first().status == "held"
    assert members(shopify_sim, "shop-a", "Shirts") == ["polo", "trail-tee"]
    held = Conflict.objects.get(field=f"collection:{mapping.pk}", product=polo)
    assert held.status == "held" and held.shopify_before == "in the collection"
    manager = django_user_model.objects.create_user("cm", password="pw-cm-12345")
    review.conflict_accept(conflict=held, actor=manager)
    assert set(polo.categories.all()) == {shirts}
    assert polo.category_links.get().history.first().history_user == manager
    wait_for(settled, what="after accept")
    assert members(shopify_sim, "shop-a", "Shirts") == ["polo", "trail-tee"]
    assert CollectionSyncJob.objects.filter(mapping=mapping).first().status in ("skipped", "done")


def test_a_tag_rule_publishes_and_unpublishes_and_collections_follow(shopify_sim, sim_stores, workers):
    from channels.assignment_rules import assignment_rule_save
    from channels.models import AssignmentRule
    from pim import services as pim_services

    a, _ = sim_stores
    sale = categories.category_create(name="Sale")
    tee = make_product(title="Trail Tee", sku_prefix="TT")
    categories.product_categories_set(product_id=tee.pk, category_ids=[sale.pk])
    collections.collection_mapping_save(mapping=CollectionMapping(store=a, category=sale))
    assignment_rule_save(rule=AssignmentRule(store=a, kind="tag", value="clearance"))
    wait_for(settled, what="nothing matches yet")
    assert not a.assignments.exists()  # the rule matched nothing, so nothing was assigned

    pim_services.product_update(product=tee, tags="summer, clearance")
    wait_for(lambda: members(shopify_sim, "shop-a", "Sale") == ["trail-tee"], timeout=30,
             what="rule publishes the tee and its collection follows")
    pim_services.product_update(product=tee, tags="summer")
    wait_for(lambda: members(shopify_sim, "shop-a", "Sale") == [], timeout=30, what="tee leaves with the tag")
    live = next(p for p in shopify_sim.control.products("shop-a") if p["handle"] == "trail-tee")
    assert live["status"] == "DRAFT"
