"""Issue 17: a store's publish mode (immediately, scheduled batches, on request) and the publish preview."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command

from channels import services
from channels.models import ChannelAssignment, Store, SyncJob, VariantBinding
from channels.preview import publish_preview
from channels.product_admin import assignment_state
from channels.publish_modes import publish_batches_run
from conflicts.models import Conflict
from pim import services as pim_services

from .conftest import make_product, product_set_calls, run_jobs, sim_product

pytestmark = pytest.mark.django_db(transaction=True)


def _state(product, store) -> str:
    assignment = ChannelAssignment.objects.select_related("store").get(product=product, store=store)
    jobs = list(SyncJob.objects.filter(product=product, status__in=["pending", "running", "dead", "held"]))
    return assignment_state(assignment=assignment, product=product, jobs=jobs).label


def test_scheduled_store_coalesces_edits_until_its_batch(shopify_sim, sim_store):
    sim_store.publish_mode = Store.PublishMode.SCHEDULED
    sim_store.publish_batch_times = ["14:00"]
    sim_store.save()
    product = make_product()
    services.assignment_set(product=product, store=sim_store)
    pim_services.product_update(product=product, title="Trail Tee v2")
    pim_services.product_update(product=product, title="Trail Tee v3")

    assert not SyncJob.objects.exists()
    assert _state(product, sim_store) == "waiting for the 14:00 batch"
    ChannelAssignment.objects.update(waiting_since=datetime(2026, 12, 3, 9, 0, tzinfo=UTC))  # edited at 09:00
    assert publish_batches_run(now=datetime(2026, 12, 3, 13, 59, tzinfo=UTC)) == 0

    assert publish_batches_run(now=datetime(2026, 12, 3, 14, 0, 30, tzinfo=UTC)) == 1
    assert publish_batches_run(now=datetime(2026, 12, 3, 14, 5, tzinfo=UTC)) == 0  # each batch runs once
    assert [r.status for r in run_jobs()] == ["done"]
    assert sim_product(shopify_sim, product.handle)["title"] == "Trail Tee v3"
    assert len(product_set_calls(shopify_sim)) == 1  # three edits, one publish
    assert _state(product, sim_store) == "published"


def test_on_request_store_waits_for_the_publish_command(shopify_sim, sim_store):
    sim_store.publish_mode = Store.PublishMode.ON_REQUEST
    sim_store.save()
    product = make_product()
    services.assignment_set(product=product, store=sim_store)
    assert _state(product, sim_store) == "waiting for a publish request"
    assert publish_batches_run(now=datetime(2026, 12, 3, 23, 59, tzinfo=UTC)) == 0
    assert not SyncJob.objects.exists()

    call_command("publish", "--store", sim_store.name, "--waiting")

    assert [r.status for r in run_jobs()] == ["done"]
    assert sim_product(shopify_sim, product.handle) is not None
    assert ChannelAssignment.objects.get(product=product).waiting_since is None


def test_immediate_is_the_default_and_switching_back_sends_what_waited(shopify_sim, sim_store):
    assert sim_store.publish_mode == Store.PublishMode.IMMEDIATE
    sim_store.publish_mode = Store.PublishMode.ON_REQUEST
    sim_store.save()
    product = make_product()
    services.assignment_set(product=product, store=sim_store)
    assert not SyncJob.objects.exists()
    sim_store.publish_mode = Store.PublishMode.IMMEDIATE
    services.store_save(store=sim_store)
    assert SyncJob.objects.filter(status="pending", product=product).count() == 1


def _published_with_a_merchant_edit_and_a_pim_edit(shopify_sim, sim_store):
    product = make_product()
    services.assignment_set(product=product, store=sim_store)
    run_jobs()
    live = sim_product(shopify_sim, product.handle)
    shopify_sim.control.edit_product("shop-a", live["id"], title="Trail Tee (merchant)")
    pim_services.variant_update(variant=product.variants.get(sku="TT-S"), price=Decimal("25.00"))
    SyncJob.objects.filter(status="pending").update(status="superseded")  # the preview runs before the publish
    shopify_sim.control.clear_requests("shop-a")
    return product


def _pipeline_state():
    return (list(ChannelAssignment.objects.values_list("shopify_product_id", "published_hash", "published_snapshot",
                                                       "held", "publication_ids")),
            sorted(VariantBinding.objects.values_list("variant_id", "shopify_variant_id")),
            Conflict.objects.count(), sorted(SyncJob.objects.values_list("pk", "status")))


def test_preview_shows_fields_and_conflicts_and_writes_nothing(shopify_sim, sim_store):
    product = _published_with_a_merchant_edit_and_a_pim_edit(shopify_sim, sim_store)
    before = _pipeline_state()

    report = publish_preview(store=sim_store, product_ids=[product.pk])

    assert report.source == "live"
    rows = {(r.field, r.variant): r for r in report.rows}
    assert (rows[("title", "")].shopify_now, rows[("title", "")].would_write, rows[("title", "")].conflict) == (
        "Trail Tee (merchant)", "Trail Tee", "overwrite")
    price = rows[("variant.price", "TT-S")]
    assert (price.shopify_now, price.would_write, price.conflict) == ("20.00", "25.00", "")
    assert ("variant.price", "TT-M") not in rows  # unchanged fields are not listed
    assert _pipeline_state() == before
    operations = {r.get("operation_name") for r in shopify_sim.control.requests("shop-a")}
    assert operations == {"ProductDrift"}  # one read, no mutation


def test_preview_predicts_exactly_what_the_following_publish_writes(shopify_sim, sim_store):
    product = _published_with_a_merchant_edit_and_a_pim_edit(shopify_sim, sim_store)
    predicted = publish_preview(store=sim_store, product_ids=[product.pk]).products[0]
    assert predicted.outcome == "write" and predicted.product_input is not None

    services.publish_request(store=sim_store, product_ids=[product.pk])
    assert [r.status for r in run_jobs()] == ["done"]

    sent = product_set_calls(shopify_sim)
    assert len(sent) == 1
    assert sent[0]["variables"]["input"] == json.loads(json.dumps(predicted.product_input))
    assert Conflict.objects.get().field == "title"  # the conflict the preview announced


def test_preview_from_snapshots_above_the_live_read_limit_and_the_command_saves_csv_and_json(
    shopify_sim, sim_store, settings, tmp_path
):
    product = _published_with_a_merchant_edit_and_a_pim_edit(shopify_sim, sim_store)
    settings.PUBLISH_PREVIEW_LIVE_READ_MAX = 0

    call_command("publish", "--store", sim_store.name, "--product", str(product.pk), "--dry-run", "--format",
                 "json", "--output", str(tmp_path / "p.json"))
    call_command("publish", "--store", sim_store.name, "--all", "--dry-run", "--output", str(tmp_path / "p.csv"))

    data = json.loads((tmp_path / "p.json").read_text())
    assert data["source"] == "snapshot" and shopify_sim.control.requests("shop-a") == []
    assert [(r["field"], r["variant"], r["shopify_now"], r["would_write"]) for r in data["rows"]] == [
        ("variant.price", "TT-S", "20.00", "25.00")]  # from the snapshot the merchant's title edit is not seen
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0].startswith("store,product_id,product,field") and "variant.price" in lines[1]


def test_preview_changes_admin_action_needs_its_permission_and_writes_nothing(shopify_sim, sim_store, client,
                                                                             django_user_model):
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    product = _published_with_a_merchant_edit_and_a_pim_edit(shopify_sim, sim_store)
    before = _pipeline_state()
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_product"))
    client.force_login(user)
    changelist = reverse("admin:pim_product_changelist")
    post = {"action": "preview_changes", "_selected_action": [product.pk], "confirmed": "yes",
            "store": sim_store.pk, "output": "page"}

    assert "preview_changes" not in client.get(changelist).content.decode()
    refused = client.post(changelist, post)
    assert "Trail Tee (merchant)" not in refused.content.decode()
    assert shopify_sim.control.requests("shop-a") == []  # not even a read without the permission

    user.user_permissions.add(Permission.objects.get(codename="view_channelassignment"))
    confirm = client.post(changelist, {"action": "preview_changes", "_selected_action": [product.pk]})
    assert confirm.status_code == 200 and 'name="store"' in confirm.content.decode()
    page = client.post(changelist, post).content.decode()
    assert "Trail Tee (merchant)" in page and "a live read" in page and "conflict: recorded" in page
    download = client.post(changelist, {**post, "output": "json"})
    assert download["Content-Disposition"].startswith("attachment") and json.loads(download.content)["rows"]
    assert _pipeline_state() == before
    assert {r.get("operation_name") for r in shopify_sim.control.requests("shop-a")} == {"ProductDrift"}


def test_store_action_publishes_what_waits_after_confirmation(shopify_sim, sim_store, client, django_user_model):
    from django.urls import reverse

    sim_store.publish_mode = Store.PublishMode.ON_REQUEST
    sim_store.save()
    product = make_product()
    services.assignment_set(product=product, store=sim_store)
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "pw"))
    url = reverse("admin:channels_store_changelist")
    confirm = client.post(url, {"action": "publish_waiting", "_selected_action": [sim_store.pk]})
    assert confirm.status_code == 200 and not SyncJob.objects.exists()
    client.post(url, {"action": "publish_waiting", "_selected_action": [sim_store.pk], "confirmed": "yes"})
    assert SyncJob.objects.filter(product=product, status="pending").count() == 1
    assert ChannelAssignment.objects.get(product=product).waiting_since is None
