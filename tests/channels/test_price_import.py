"""Prices by SKU from a CSV: a dry run first with line-numbered problems, only prices change, per-store overrides,
all or nothing, history and sync jobs like any edit; the admin's upload page and the command."""

import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from channels import services as channel_services
from channels.models import ChannelAssignment, Store, SyncJob, VariantOverride
from channels.price_import import prices_import
from pim import services
from pim.models import Variant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_dispatch(monkeypatch):
    monkeypatch.setattr(channel_services, "sync_jobs_dispatch", lambda *, job_ids, delay=None: len(job_ids))


@pytest.fixture
def catalog():
    store = Store.objects.create(name="North", shop_domain="north.myshopify.com", access_token="shpat_n")
    tee = services.product_create(title="Tee", option1_name="Size", variants=[
        {"sku": "TEE-S", "option1": "S", "price": Decimal("10"), "compare_at_price": Decimal("15")},
        {"sku": "TEE-M", "option1": "M", "price": Decimal("10")}])
    cap = services.product_create(title="Cap", variants=[{"sku": "00123", "price": Decimal("5")}])
    ChannelAssignment.objects.create(product=tee, store=store)
    return store, tee, cap


def price(sku):
    return Variant.objects.get(sku=sku).price


def test_dry_run_reports_and_changes_nothing_then_apply_changes_only_prices(catalog):
    store, tee, _ = catalog
    text = "SKU,Price,Compare at price\nTEE-S,12.50,\nTEE-M,10.00,14\n'00123,\"1,299.00\",\n"
    report = prices_import(text=text)
    assert not report.errors
    assert [(c.sku, c.new_price) for c in report.to_change] == [
        ("TEE-S", Decimal("12.50")), ("TEE-M", Decimal("10.00")), ("00123", Decimal("1299.00"))]
    assert price("TEE-S") == Decimal("10")  # dry run
    title_before = tee.title
    report = prices_import(text=text, apply=True)
    assert report.applied and report.summary().startswith("3 price(s) changed")
    small = Variant.objects.get(sku="TEE-S")
    assert small.price == Decimal("12.50") and small.compare_at_price is None  # empty cell clears it
    assert Variant.objects.get(sku="TEE-M").compare_at_price == Decimal("14")
    assert price("00123") == Decimal("1299.00")
    tee.refresh_from_db()
    assert tee.title == title_before
    assert small.history.first().history_change_reason == "Price upload"
    assert SyncJob.objects.filter(store=store, product=tee, status="pending").count() == 1


def test_problems_are_reported_by_line_and_nothing_changes(catalog):
    text = ("sku,price,store\n"
            "TEE-S,11,\n"          # line 2: fine
            "NOPE,5,\n"            # line 3: unknown SKU
            "TEE-M,abc,\n"         # line 4: not a number
            "00123,0,\n"           # line 5: zero price
            "00123,7,North\n"      # line 6: not assigned to North
            "TEE-S,12,\n"          # line 7: twice
            "TEE-S,9,Nowhere\n"    # line 8: unknown store
            "TEE-S,\"12,5\",North\n")   # line 9: decimal comma
    report = prices_import(text=text, apply=True)
    lines = [e.split(":")[0] for e in report.errors]
    assert lines == ["line 3", "line 4", "line 5", "line 6", "line 7", "line 8", "line 9"], report.errors
    assert "price of 0 is refused" in report.errors[2]
    assert not report.applied and price("TEE-S") == Decimal("10")


def test_store_rows_set_that_stores_override(catalog):
    store, tee, _ = catalog
    report = prices_import(text="sku,price,compare_at_price,store\nTEE-M,9.50,12,north\n", apply=True)
    assert not report.errors
    override = VariantOverride.objects.get(assignment__store=store, variant__sku="TEE-M")
    assert (override.price, override.compare_at_price) == (Decimal("9.50"), Decimal("12"))
    assert price("TEE-M") == Decimal("10")  # the PIM's own price is untouched


def test_a_shared_sku_is_refused_not_guessed(catalog):
    _, tee, _ = catalog
    cap = Variant.objects.get(sku="00123")
    Variant.objects.filter(pk=cap.pk).update(sku="TEE-S", adopted=True)  # as an adopted catalog may have it
    report = prices_import(text="sku,price\nTEE-S,11\n", apply=True)
    assert report.errors and "several variants" in report.errors[0]
    assert not report.applied


def test_a_missing_column_is_a_clear_error():
    report = prices_import(text="sku,cost\nA,1\n")
    assert report.errors == ["line 1: no 'price' column (found: sku, cost)."]


def test_command_dry_run_and_apply(catalog, tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("sku,price\nTEE-S,11\n")
    out = io.StringIO()
    call_command("import_prices", str(path), stdout=out)
    assert "1 price(s) would change" in out.getvalue() and price("TEE-S") == Decimal("10")
    call_command("import_prices", str(path), "--apply", stdout=out)
    assert price("TEE-S") == Decimal("11")
    path.write_text("sku,price\nNOPE,1\n")
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("import_prices", str(path), stdout=io.StringIO(), stderr=io.StringIO())


def test_admin_upload_checks_first_then_applies(client, django_user_model, catalog):
    user = django_user_model.objects.create_user("cm", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Catalog manager"))
    client.force_login(user)
    listing = client.get(reverse("admin:pim_product_changelist")).content.decode()
    url = reverse("admin:channels_price_upload")
    assert url in listing
    upload = SimpleUploadedFile("p.csv", b"sku,price\nTEE-S,13\nTEE-M,10\n", content_type="text/csv")
    page = client.post(url, {"file": upload}).content.decode()
    assert "1 price(s) would change, 1 unchanged" in page and 'id="apply-prices"' in page
    assert price("TEE-S") == Decimal("10")
    done = client.post(url, {"apply": "yes", "text": "sku,price\nTEE-S,13\nTEE-M,10\n"}).content.decode()
    assert "1 price(s) changed" in done and price("TEE-S") == Decimal("13")
    assert Variant.objects.get(sku="TEE-S").history.first().history_user == user


def test_admin_upload_needs_the_change_permission(client, django_user_model, catalog):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(user)
    url = reverse("admin:channels_price_upload")
    assert client.post(url, {"apply": "yes", "text": "sku,price\nTEE-S,1\n"}).status_code == 403
    assert price("TEE-S") == Decimal("10")
