from decimal import Decimal

import pytest

from channels.models import ChannelAssignment, Store, VariantOverride
from channels.payloads import (
    changed_sections,
    normalise_decimal,
    normalise_html,
    normalise_tags,
    publish_plan_build,
    snapshot_from_shopify,
)
from pim import services as pim_services

pytestmark = pytest.mark.django_db


def test_normalisers_ignore_shopify_reformatting():
    assert normalise_html("<p>Hello   <b>world</b></p>\n<br/>") == normalise_html("<p>Hello <b>world</b></p><br>")
    assert normalise_html('<a title="x" href="y">l</a>') == normalise_html('<a href="y" title="x">l</a>')
    assert normalise_html("<p>a</p>") != normalise_html("<p>b</p>")
    assert normalise_decimal("20") == normalise_decimal("20.00") == "20.00"
    assert normalise_tags("b, A ,a, c") == normalise_tags(["c", "A", "b"])


@pytest.fixture
def assignment():
    product = pim_services.product_create(
        title="Tee", option1_name="Size", tags="summer, new", description_html="<p>Soft</p>",
        variants=[
            {"sku": "T-S", "option1": "S", "price": Decimal("10.00")},
            {"sku": "T-M", "option1": "M", "price": Decimal("12.00"), "compare_at_price": Decimal("15")},
        ],
        images=[{"src": "https://cdn.example.com/t.jpg", "alt": "Front"}],
        attributes=[{"namespace": "pim", "key": "material", "value": "Cotton"}],
    )
    store = Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="x")
    return ChannelAssignment.objects.create(product=product, store=store)


def test_plan_applies_overrides(assignment):
    assignment.title_override = "Store Tee"
    assignment.tags_override = "outlet"
    assignment.status_override = "archived"
    assignment.save()
    VariantOverride.objects.create(assignment=assignment, variant=assignment.product.variants.get(sku="T-S"),
                                   price=Decimal("8.50"))
    plan = publish_plan_build(assignment=assignment)
    assert plan.product_input["title"] == "Store Tee"
    assert plan.product_input["tags"] == ["outlet"]
    assert plan.product_input["status"] == "ARCHIVED"
    prices = {v["sku"]: v["price"] for v in plan.product_input["variants"]}
    assert prices == {"T-S": "8.50", "T-M": "12.00"}
    assert plan.product_input["productOptions"] == [
        {"name": "Size", "position": 1, "values": [{"name": "S"}, {"name": "M"}]}
    ]
    assert plan.metafields == [{"namespace": "pim", "key": "material", "type": "single_line_text_field",
                                "value": "Cotton"}]


def test_field_selection_leaves_unselected_fields_out(assignment):
    store = assignment.store
    store.publish_fields = ["title", "prices"]
    store.save()
    plan = publish_plan_build(assignment=assignment)
    assert set(plan.product_input) == {"title", "productOptions", "variants", "handle"}
    assert "barcode" not in plan.product_input["variants"][0]
    assert "inventoryItem" not in plan.product_input["variants"][0]
    assert "files" not in plan.product_input and not plan.metafields


def test_hash_is_stable_and_sections_detect_changes(assignment):
    first = publish_plan_build(assignment=assignment)
    again = publish_plan_build(assignment=assignment)
    assert first.hash == again.hash
    pim_services.product_update(product=assignment.product, title="Tee v2")
    second = publish_plan_build(assignment=assignment)
    assert first.hash != second.hash
    assert changed_sections(first.snapshot, second.snapshot) == {"core"}
    variant = assignment.product.variants.get(sku="T-S")
    pim_services.variant_update(variant=variant, price=Decimal("11"))
    third = publish_plan_build(assignment=assignment)
    assert changed_sections(second.snapshot, third.snapshot) == {"variants"}


def test_snapshot_from_shopify_matches_what_we_wrote(assignment):
    plan = publish_plan_build(assignment=assignment)
    live_node = {
        "title": "Tee", "handle": plan.snapshot["handle"], "descriptionHtml": "<p>Soft</p>\n", "vendor": "",
        "productType": "", "tags": ["new", "summer"], "status": "DRAFT", "seo": {"title": None, "description": None},
        "options": [{"name": "Size"}],
        "variants": [
            {"sku": "T-S", "price": "10.0", "compareAtPrice": None, "barcode": None,
             "selectedOptions": [{"name": "Size", "value": "S"}], "inventoryItem": {"measurement": {"weight": None}}},
            {"sku": "T-M", "price": "12.00", "compareAtPrice": "15.0", "barcode": "",
             "selectedOptions": [{"name": "Size", "value": "M"}], "inventoryItem": {}},
        ],
        "media": [{"alt": "Front", "image": {"url": "https://cdn.example.com/t.jpg"}}],
        "metafields": [{"namespace": "pim", "key": "material", "type": "single_line_text_field", "value": "Cotton"},
                       {"namespace": "other_app", "key": "x", "type": "json", "value": "{}"}],
    }
    live = snapshot_from_shopify(node=live_node, like=plan.snapshot)
    assert live == plan.snapshot
