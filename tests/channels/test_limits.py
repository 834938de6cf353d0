"""Limits and rules (issue #12): the PIM refuses, when the data is entered, what Shopify (and the simulator)
would refuse at publish time; both sides use the same numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from channels import services
from pim import services as pim_services
from pim import validators
from pim.models import Product
from shopify_sim import limits

pytestmark = pytest.mark.django_db


def test_pim_and_simulator_apply_the_same_limits():
    assert validators.TITLE_MAX_LENGTH == limits.TITLE_MAX
    assert validators.HANDLE_MAX_LENGTH == limits.HANDLE_MAX
    assert validators.MAX_TAGS == limits.TAGS_MAX and validators.TAG_MAX_LENGTH == limits.TAG_MAX_LENGTH
    assert validators.MAX_OPTIONS == limits.OPTIONS_MAX and validators.MAX_VARIANTS == limits.VARIANTS_MAX
    assert validators.OPTION_VALUE_MAX_LENGTH == limits.OPTION_VALUE_MAX
    for namespace, key in [("pim", "ok"), ("pi", "ok"), ("pim", "k"), ("pim", "bad key"), ("p" * 256, "ok"),
                           ("pim", "k" * 65), ("my-app_1", "a-b_c")]:
        sim_ok = not limits.metafield_identity_errors(namespace, key)
        pim_ok = True
        for check, value in ((validators.validate_metafield_namespace, namespace),
                             (validators.validate_metafield_key, key)):
            try:
                check(value)
            except ValidationError:
                pim_ok = False
        assert pim_ok == sim_ok, (namespace, key)


def _product(**fields):
    return pim_services.product_create(
        title="Tee", option1_name="Size", workflow_state=Product.Workflow.READY,
        variants=[{"sku": "T-S", "option1": "S", "price": Decimal("10")}], **fields,
    )


def test_too_many_or_too_long_tags_are_refused_when_entered():
    with pytest.raises(ValidationError, match="at most 250 tags"):
        _product(tags=", ".join(f"t{i}" for i in range(251)))
    with pytest.raises(ValidationError, match="at most 255 characters"):
        _product(tags="x" * 256)
    assert Product.objects.count() == 0  # nothing saved
    product = _product(tags=", ".join(f"t{i}" for i in range(250)))
    with pytest.raises(ValidationError, match="at most 250 tags"):
        pim_services.product_update(product=product, tags=product.tags + ", one-more")


def test_metafield_namespace_and_key_rules_are_checked_when_entered():
    with pytest.raises(ValidationError) as info:
        _product(attributes=[{"namespace": "pi", "key": "k", "value": "x"}])
    assert set(info.value.message_dict) == {"namespace", "key"}


def test_variant_limit_and_store_tag_override(shopify_sim):
    with pytest.raises(ValidationError, match="at most 2048 variants"):
        validators.validate_variant_count(2049)
    validators.validate_variant_count(2048)
    from channels.models import Store

    store = Store.objects.create(name="s", shop_domain="s.myshopify.com", access_token="x")
    product = _product()
    with pytest.raises(ValidationError) as info:
        services.assignment_set(product=product, store=store, tags_override=", ".join(f"t{i}" for i in range(300)))
    assert "tags_override" in info.value.message_dict
