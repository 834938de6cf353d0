from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from channels.models import Store
from conflicts.alerts import drift_alert_check
from conflicts.compare import Drift, drift_compare
from conflicts.models import Conflict, DriftAlert
from conflicts.recording import conflicts_record
from conflicts.review import conflicts_purge

LAST = {
    "title": "Tee",
    "tags": ["a", "b"],
    "description": "<p>Soft</p>",
    "images": [["https://cdn.example.com/1.jpg", "Front"]],
    "metafields": {"pim.material": ["single_line_text_field", "Cotton"]},
    "variants": {"T-S": {"options": ["S"], "price": "10.00", "compare_at_price": None, "barcode": None}},
}


def live(**changes):
    import copy

    value = copy.deepcopy(LAST)
    value.update(changes)
    return value


def test_no_drift_when_equal():
    assert drift_compare(last=LAST, live=live(), pim=LAST, variant_ids={}) == []


def test_title_and_price_edits_are_drift():
    edited = live(title="Tee (merchant)")
    edited["variants"]["T-S"]["price"] = "9.00"
    drifts = drift_compare(last=LAST, live=edited, pim=LAST, variant_ids={"T-S": "55"})
    assert {(d.field, d.sku, d.shopify_variant_id) for d in drifts} == {("title", "", ""), ("variant.price", "T-S", "55")}
    price = next(d for d in drifts if d.field == "variant.price")
    assert (price.last_written, price.live, price.pim) == ("10.00", "9.00", "10.00")


def test_live_value_equal_to_new_pim_value_is_not_drift():
    pim = live(title="New title")
    assert drift_compare(last=LAST, live=live(title="New title"), pim=pim, variant_ids={}) == []


def test_image_urls_rewritten_by_shopify_are_not_drift_but_alt_edits_are():
    cdn = live(images=[["https://cdn.shopify.com/s/files/1/abc.jpg", "Front"]])
    assert drift_compare(last=LAST, live=cdn, pim=LAST, variant_ids={}) == []
    alt = live(images=[["https://cdn.shopify.com/s/files/1/abc.jpg", "Back"]])
    assert [d.field for d in drift_compare(last=LAST, live=alt, pim=LAST, variant_ids={})] == ["images"]


def test_metafield_and_deleted_and_added_variants():
    edited = live(metafields={"pim.material": ["single_line_text_field", "Wool"]}, variants={"T-X": {"options": ["X"]}})
    fields = sorted(d.field + ":" + d.sku for d in drift_compare(last=LAST, live=edited, pim=LAST, variant_ids={}))
    assert fields == ["metafield:pim.material:", "variant.exists:T-S", "variant.exists:T-X"]


@pytest.mark.django_db
def test_one_open_conflict_per_field_and_repeated_edit_updates_it():
    store = Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="x")
    conflicts_record(store=store, product=None, shopify_product_id="1", source="webhook",
                     drifts=[Drift("title", "Tee", "Tee 2", "Tee")])
    conflicts_record(store=store, product=None, shopify_product_id="1", source="webhook",
                     drifts=[Drift("title", "Tee", "Tee 3", "Tee")])
    conflict = Conflict.objects.get()
    assert conflict.shopify_before == "Tee 3" and conflict.occurrences == 2
    assert conflict.policy_applied == "overwrite" and conflict.status == "open"


@pytest.mark.django_db
def test_hold_policy_holds_and_sweep_never_holds():
    store = Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="x", default_conflict_policy="hold")
    _, hold = conflicts_record(store=store, product=None, shopify_product_id="1", source="sweep",
                               drifts=[Drift("vendor", "A", "B", "A")])
    assert hold is False
    _, hold = conflicts_record(store=store, product=None, shopify_product_id="2", source="publish",
                               drifts=[Drift("vendor", "A", "B", "A")])
    assert hold is True
    assert Conflict.objects.get(shopify_product_id="2").status == "held"


@pytest.mark.django_db
def test_drift_alert_once_per_window(settings, django_capture_on_commit_callbacks):
    settings.DRIFT_ALERT_THRESHOLD = 3
    settings.DRIFT_ALERT_EMAILS = ["ops@example.com"]
    store = Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="x")
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(5):
            conflicts_record(store=store, product=None, shopify_product_id=str(i), source="sweep",
                             drifts=[Drift("title", "a", "b", "a")])
    assert len(mail.outbox) == 1 and "Drift alert" in mail.outbox[0].subject
    assert drift_alert_check(store=store) is False


@pytest.mark.django_db
def test_a_drift_alert_is_sent_after_commit_never_inside_the_transaction(settings, django_capture_on_commit_callbacks):
    settings.DRIFT_ALERT_THRESHOLD = 2
    settings.DRIFT_ALERT_EMAILS = ["ops@example.com"]
    store = Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="x")
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for i in range(3):
            conflicts_record(store=store, product=None, shopify_product_id=str(i), source="sweep",
                             drifts=[Drift("title", "a", "b", "a")])
        assert mail.outbox == []  # recorded, not sent: the transaction may still roll back
    assert DriftAlert.objects.filter(store=store).count() == 1 and mail.outbox == []
    for callback in callbacks:
        callback()
    assert len(mail.outbox) == 1 and "Drift alert" in mail.outbox[0].subject


@pytest.mark.django_db
def test_purge_keeps_open_and_recent(settings):
    settings.CONFLICT_RETENTION_DAYS = 10  # below the minimum: 30 days are kept anyway
    store = Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="x")
    old = timezone.now() - timedelta(days=40)
    recent = timezone.now() - timedelta(days=20)
    Conflict.objects.create(store=store, shopify_product_id="1", field="title", policy_applied="overwrite",
                            status="accepted", resolved_at=old)
    Conflict.objects.create(store=store, shopify_product_id="2", field="title", policy_applied="overwrite",
                            status="overwritten", resolved_at=recent)
    Conflict.objects.create(store=store, shopify_product_id="3", field="title", policy_applied="overwrite")
    assert conflicts_purge() == 1
    assert set(Conflict.objects.values_list("shopify_product_id", flat=True)) == {"2", "3"}


@pytest.mark.django_db
def test_nightly_sweep_is_queued_once_a_day(settings):
    import datetime as dt

    import django_rq

    from conflicts.sweep import drift_sweep_schedule

    settings.DRIFT_SWEEP_HOUR = 2
    connection = django_rq.get_connection("default")
    connection.delete("pim:drift-sweep:2026-01-05")
    queue = django_rq.get_queue("default")
    queue.empty()
    early = dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.UTC)
    night = dt.datetime(2026, 1, 5, 2, 30, tzinfo=dt.UTC)
    assert drift_sweep_schedule(now=early) is False
    assert drift_sweep_schedule(now=night) is True
    assert drift_sweep_schedule(now=night) is False  # another sweeper, same day
    assert [j.func_name for j in queue.jobs] == ["conflicts.tasks.drift_sweep_all"]
    queue.empty()


def test_publish_compare_is_pure_and_keys_variants_by_id():
    """The compare stage touches neither the database (this test has no database: any query would raise) nor Shopify: it takes what was written, the live product and
    the plan, and returns drifts keyed by the variant's snapshot key (its PIM id), matched through Shopify ids."""
    from conflicts.compare import publish_compare

    last = {"title": "Tee", "variants": {"7": {"sku": "", "options": ["S"], "price": "10.00"},
                                         "8": {"sku": "", "options": ["M"], "price": "10.00"}}}
    node = {"title": "Tee", "variants": [
        {"id": "gid://shopify/ProductVariant/71", "sku": "", "price": "9.00",
         "selectedOptions": [{"name": "Size", "value": "S"}]},
        {"id": "gid://shopify/ProductVariant/81", "sku": "", "price": "10.00",
         "selectedOptions": [{"name": "Size", "value": "M"}]}]}
    result = publish_compare(last=last, plan_snapshot=last, live_node=node, keys_by_shopify_id={"71": "7", "81": "8"})
    assert [(d.field, d.key, d.shopify_variant_id, d.live) for d in result.drifts] == [
        ("variant.price", "7", "71", "9.00")]
    assert result.last_with_live["variants"]["7"]["price"] == "9.00" and last["variants"]["7"]["price"] == "10.00"


def test_the_field_registry_is_the_one_list():
    from channels.mapping import FIELDS, POLICY_FIELDS, PUBLISH_GROUPS, acceptable
    from channels.models import PUBLISH_FIELDS
    from conflicts.models import CONFLICT_FIELDS

    assert CONFLICT_FIELDS == POLICY_FIELDS and PUBLISH_FIELDS == PUBLISH_GROUPS
    groups = {g for f in FIELDS for g in f.groups}
    assert groups == {key for key, _ in PUBLISH_GROUPS}  # every group the store can pick carries a field
    assert acceptable("variant.price") and acceptable("metafield:pim.material") and not acceptable("images")
