"""Approval (only approvers set a product Ready to publish) and optimistic concurrency (a save over someone else's
newer save is refused, naming their change)."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse

from pim import services
from pim.models import Product
from tests.pim.test_catalog_admin import inline, product_post

pytestmark = pytest.mark.django_db


def user_in(django_user_model, name, group):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def product():
    return services.product_create(title="Admin Hoodie", option1_name="Size", variants=[
        {"sku": "HOOD-S", "option1": "S", "price": Decimal("59")},
        {"sku": "HOOD-M", "option1": "M", "price": Decimal("59")}])


def edit_post(product, **fields):
    variants = [{"id": v.pk, "product": product.pk, "sku": v.sku, "option1": v.option1, "price": str(v.price),
                 "weight_unit": "KILOGRAMS", "position": str(v.position), "inventory_tracked": "on"}
                for v in product.variants.order_by("position")]
    data = product_post(variants=[], **{"version_seen": str(product.version), **fields})
    data.update(inline("variants", variants, initial=len(variants)))
    data.update(inline("images", [], 0))
    data.update(inline("attributes", [], 0))
    return data


def test_editor_can_send_for_review_but_not_approve(client, django_user_model, product):
    editor = user_in(django_user_model, "ed", "Catalog editor")
    with pytest.raises(ValidationError, match="approve permission"):
        services.product_update(product=product, actor=editor, workflow_state=Product.Workflow.READY)
    services.product_update(product=product, actor=editor, workflow_state=Product.Workflow.REVIEW)
    manager = user_in(django_user_model, "cm", "Catalog manager")
    services.product_update(product=product, actor=manager, workflow_state=Product.Workflow.READY)
    product.refresh_from_db()
    assert product.workflow_state == Product.Workflow.READY
    # The admin offers an editor no "Ready" choice and refuses a crafted POST.
    product.workflow_state = Product.Workflow.REVIEW
    product.save()
    client.force_login(editor)
    url = reverse("admin:pim_product_change", args=[product.pk])
    page = client.get(url).content.decode()
    assert 'value="review"' in page and 'value="ready"' not in page
    response = client.post(url, edit_post(product, workflow_state="ready"))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    product.refresh_from_db()
    assert product.workflow_state == Product.Workflow.REVIEW


def test_bulk_workflow_change_respects_approval(client, django_user_model, product):
    other = services.product_create(title="Cap", variants=[{"sku": "CAP", "price": Decimal("9")}])
    ids = [product.pk, other.pk]
    client.force_login(user_in(django_user_model, "ed", "Catalog editor"))
    changelist = reverse("admin:pim_product_changelist")
    confirm = client.post(changelist, {"action": "set_workflow_state", "_selected_action": ids})
    assert "needs the approve permission" in confirm.content.decode()
    client.post(changelist, {"action": "set_workflow_state", "_selected_action": ids, "confirmed": "yes",
                             "workflow_state": "ready"})
    assert set(Product.objects.values_list("workflow_state", flat=True)) == {"draft"}
    client.post(changelist, {"action": "set_workflow_state", "_selected_action": ids, "confirmed": "yes",
                             "workflow_state": "review"})
    assert set(Product.objects.values_list("workflow_state", flat=True)) == {"review"}


def test_second_save_of_an_old_version_is_refused_and_names_the_other_change(client, django_user_model, product):
    alice = user_in(django_user_model, "alice", "Catalog manager")
    bob = user_in(django_user_model, "bob", "Catalog manager")
    url = reverse("admin:pim_product_change", args=[product.pk])
    product.refresh_from_db()
    loaded = edit_post(product, title="Alice's title")  # both opened the page at this version
    stale = edit_post(product, title="Bob's title")
    client.force_login(alice)
    assert client.post(url, loaded).status_code == 302
    client.force_login(bob)
    response = client.post(url, stale)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Someone else saved this product" in html and "alice" in html and "title" in html
    product.refresh_from_db()
    assert product.title == "Alice's title"  # never silently overwritten
    # Reloaded, Bob's save goes through.
    assert client.post(url, edit_post(product, title="Bob's title")).status_code == 302
    product.refresh_from_db()
    assert product.title == "Bob's title"


def test_a_change_made_elsewhere_also_moves_the_version(product):
    before = Product.objects.get(pk=product.pk).version
    variant = product.variants.first()
    variant.price = Decimal("61")
    services.variant_save(variant=variant)
    services.catalog_changed(product_ids=[product.pk])
    assert Product.objects.get(pk=product.pk).version > before
    with pytest.raises(services.ConcurrentEditError):
        services.product_check_version(product_id=product.pk, expected_version=before)
