"""The data migration that re-keys stored snapshots from SKU to PIM variant id keeps an unchanged product skipped."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.apps import apps

from channels.models import ChannelAssignment, Store
from channels.payloads import publish_plan_build
from pim import services as pim_services

pytestmark = pytest.mark.django_db


def test_sku_keyed_snapshots_are_rekeyed_by_variant_id_and_stay_current():
    from channels.mapping import snapshot_hash

    product = pim_services.product_create(title="Tee", option1_name="Size", variants=[
        {"sku": "T-S", "option1": "S", "price": Decimal("10")}, {"sku": "T-M", "option1": "M", "price": Decimal("12")}])
    store = Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="x")
    assignment = ChannelAssignment.objects.create(product=product, store=store, shopify_product_id="1")
    plan = publish_plan_build(assignment=assignment)
    legacy = {**plan.snapshot, "variants": {}}
    for entry in plan.snapshot["variants"].values():
        entry = dict(entry)
        legacy["variants"][entry.pop("sku")] = entry  # the shape written before issue 14
    ChannelAssignment.objects.filter(pk=assignment.pk).update(
        published_snapshot=legacy, published_hash=snapshot_hash({**legacy, "_publications": ["Online Store"]}))

    migration = importlib.import_module("channels.migrations.0010_snapshot_variants_by_id")
    migration.rekey(apps, None)

    assignment.refresh_from_db()
    assert assignment.published_snapshot == plan.snapshot
    assert assignment.published_hash == plan.hash  # an unchanged product is still skipped without a call
