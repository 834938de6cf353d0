"""Conflict review as a catalog manager works through it: values on the confirmation page, money shown as money,
Release only for held conflicts, onboarding differences acknowledged in bulk, the next conflict opening after one."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from channels.models import Store
from conflicts.models import Conflict

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:conflicts_conflict_changelist"


@pytest.fixture
def store():
    return Store.objects.create(name="South", shop_domain="south.myshopify.com", access_token="shpat_x")


@pytest.fixture
def manager(client, django_user_model):
    user = django_user_model.objects.create_user("cm", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Catalog manager"))
    client.force_login(user)
    return user


def make(store, n, **fields):
    values = {"field": "variant.price", "pim_value": '"19.9"', "last_written_value": '"19.9"',
              "shopify_before": '"24.5"', "policy_applied": "overwrite", "sku": f"SKU-{n}", **fields}
    return Conflict.objects.create(store=store, shopify_product_id=str(n), **values)


def test_confirmation_shows_the_values_as_money_and_what_happens(client, manager, store):
    conflict = make(store, 1)
    page = client.post(reverse(CHANGELIST), {"action": "accept", "_selected_action": [conflict.pk]})
    html = page.content.decode()
    assert page.status_code == 200
    assert "19.90" in html and "24.50" in html  # the prices, as money
    assert "The Shopify value becomes the PIM value." in html
    listing = client.get(reverse(CHANGELIST)).content.decode()
    assert "Shopify before the sync" in listing and "24.50" in listing


def test_release_is_offered_only_for_held_conflicts(client, manager, store):
    open_one = make(store, 1)
    held = make(store, 2, status=Conflict.Status.HELD)
    page = client.get(reverse("admin:conflicts_conflict_change", args=[open_one.pk])).content.decode()
    assert 'value="release"' not in page and 'value="hold"' in page
    page = client.get(reverse("admin:conflicts_conflict_change", args=[held.pk])).content.decode()
    assert 'value="release"' in page and 'value="hold"' not in page
    confirm = client.post(reverse(CHANGELIST), {"action": "release", "_selected_action": [open_one.pk]})
    assert "None of the selected conflicts qualify" in confirm.content.decode()


def test_onboarding_differences_are_marked_and_acknowledged_in_bulk(client, manager, store):
    synced = [make(store, n, source=Conflict.Source.ONBOARDING, synced_at=timezone.now()) for n in range(1, 4)]
    not_live = make(store, 4, source=Conflict.Source.ONBOARDING)
    regular = make(store, 5, source=Conflict.Source.WEBHOOK, synced_at=timezone.now())
    listing = client.get(reverse(CHANGELIST)).content.decode()
    assert listing.count(">onboarding</strong>") == 4
    ids = [c.pk for c in [*synced, not_live, regular]]
    confirm = client.post(reverse(CHANGELIST), {"action": "acknowledge", "_selected_action": ids}).content.decode()
    assert confirm.count('name="_selected_action"') == 3  # only the live onboarding differences qualify
    client.post(reverse(CHANGELIST), {"action": "acknowledge", "_selected_action": ids, "confirmed": "yes"})
    statuses = dict(Conflict.objects.values_list("pk", "status"))
    assert all(statuses[c.pk] == Conflict.Status.OVERWRITTEN for c in synced)
    assert statuses[not_live.pk] == statuses[regular.pk] == Conflict.Status.OPEN
    assert all(c.resolved_by_id == manager.pk for c in Conflict.objects.filter(pk__in=[s.pk for s in synced]))


def test_after_resolving_from_its_page_the_next_open_conflict_opens(client, manager, store):
    older = make(store, 1)
    newer = make(store, 2)
    done = client.post(reverse(CHANGELIST), {"action": "hold", "_selected_action": [newer.pk], "_next": "1",
                                             "confirmed": "yes"})
    assert done.status_code == 302
    assert done.url == reverse("admin:conflicts_conflict_change", args=[older.pk])
    last = client.post(reverse(CHANGELIST), {"action": "hold", "_selected_action": [older.pk], "_next": "1",
                                             "confirmed": "yes"})
    assert last.url == reverse(CHANGELIST)


def test_acknowledge_refuses_what_is_not_an_onboarding_difference(store, manager):
    from django.core.exceptions import ValidationError

    from conflicts import review

    with pytest.raises(ValidationError, match="onboarding"):
        review.conflict_acknowledge(conflict=make(store, 1), actor=manager)
    with pytest.raises(ValidationError, match="not live"):
        review.conflict_acknowledge(conflict=make(store, 2, source="onboarding"), actor=manager)
