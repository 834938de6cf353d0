"""The category tree (issue 19): services, recursive queries, history, and the admin."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from pim import categories
from pim.models import Category, Product, ProductCategory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw-admin-123")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def tree():
    clothing = categories.category_create(name="Clothing")
    shirts = categories.category_create(name="Shirts", parent=clothing)
    tees = categories.category_create(name="Tees", parent=shirts)
    shoes = categories.category_create(name="Shoes")
    return clothing, shirts, tees, shoes


def product(title="Tee"):
    return Product.objects.create(title=title, handle=title.lower().replace(" ", "-"))


def test_tree_queries_paths_and_handles(tree):
    clothing, shirts, tees, shoes = tree
    assert categories.category_descendant_ids(category_ids=[clothing.pk]) == {clothing.pk, shirts.pk, tees.pk}
    assert categories.category_ancestor_ids(category_ids=[tees.pk], include_self=False) == {clothing.pk, shirts.pk}
    assert categories.category_paths()[tees.pk] == "Clothing › Shirts › Tees"
    assert tees.handle == "tees"
    again = categories.category_create(name="Tees", parent=clothing)  # same name elsewhere: allowed, own handle
    assert again.handle == "tees-1"
    with pytest.raises(ValidationError):
        categories.category_create(name="Tees", parent=shirts)


def test_a_category_cannot_move_under_itself_or_a_child(tree):
    clothing, shirts, tees, _ = tree
    clothing.parent = tees
    with pytest.raises(ValidationError, match="under itself"):
        categories.category_save(category=clothing)
    assert Category.objects.get(pk=clothing.pk).parent_id is None


def test_membership_history_and_hook(tree, django_user_model):
    clothing, shirts, tees, shoes = tree
    user = django_user_model.objects.create_user("cm", password="pw-cm-12345")
    seen = []
    categories.category_changes_hook_register(name="test", hook=lambda **kw: seen.append(kw))
    try:
        p = product()
        added, removed = categories.product_categories_set(product_id=p.pk, category_ids=[tees.pk, shoes.pk],
                                                           actor=user)
        assert added == {tees.pk, shoes.pk} and removed == set()
        categories.product_categories_set(product_id=p.pk, category_ids=[tees.pk], actor=user)
        assert set(p.categories.all()) == {tees}
        assert categories.category_product_ids(category_id=clothing.pk) == {p.pk}
        assert categories.category_product_ids(category_id=clothing.pk, include_subcategories=False) == set()
        rows = ProductCategory.history.filter(product_id=p.pk).order_by("history_id")
        assert [(r.history_type, r.category_id, r.history_user_id) for r in rows] == [
            ("+", tees.pk, user.pk), ("+", shoes.pk, user.pk), ("-", shoes.pk, user.pk),
        ]
        assert seen[-1] == {"product_ids": [p.pk], "category_ids": [shoes.pk]}
        with pytest.raises(ValidationError, match="Unknown categories"):
            categories.product_categories_set(product_id=p.pk, category_ids=[999999])
    finally:
        categories._hooks.pop("test")


def test_admin_parent_choices_show_paths_and_exclude_the_subtree(admin_client, tree):
    clothing, shirts, tees, shoes = tree
    page = admin_client.get(reverse("admin:pim_category_change", args=[shirts.pk])).content.decode()
    assert "Clothing › Shirts › Tees" not in page.split('name="parent"')[1].split("</select>")[0]
    assert "Shoes" in page
    response = admin_client.post(reverse("admin:pim_category_change", args=[clothing.pk]), {
        "name": "Clothing", "parent": str(tees.pk), "handle": "clothing", "description_html": "", "position": "0",
    })
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    listing = admin_client.get(reverse("admin:pim_category_changelist")).content.decode()
    assert "Clothing › Shirts › Tees" in listing


def test_product_admin_bulk_add_to_category_confirms_then_records_history(admin_client, tree):
    _, _, tees, _ = tree
    p1, p2 = product("A"), product("B")
    url = reverse("admin:pim_product_changelist")
    page = admin_client.post(url, {"action": "add_to_category", "_selected_action": [p1.pk, p2.pk]})
    assert page.status_code == 200 and "Add to a category" in page.content.decode()
    assert not ProductCategory.objects.exists()
    admin_client.post(url, {"action": "add_to_category", "_selected_action": [p1.pk, p2.pk], "confirmed": "yes",
                            "category": str(tees.pk)})
    assert set(ProductCategory.objects.values_list("product_id", flat=True)) == {p1.pk, p2.pk}
    assert set(ProductCategory.history.values_list("history_user_id", flat=True)) == {admin_client.user.pk}
    listing = admin_client.get(url + f"?category={tees.pk}").content.decode()
    assert "Tees" in listing and ">A<" in listing.replace("</a>", "<")


def test_product_page_shows_who_changed_its_categories(admin_client, tree):
    _, _, tees, _ = tree
    p = product("Panel")
    categories.product_categories_set(product_id=p.pk, category_ids=[tees.pk], actor=admin_client.user)
    page = admin_client.get(reverse("admin:pim_product_change", args=[p.pk])).content.decode()
    assert "Category changes" in page and "added to Clothing › Shirts › Tees (admin)" in page
