from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from pim import services
from pim.models import Product, ProductAttribute, ProductImage, Variant

pytestmark = pytest.mark.django_db


def make_product(**overrides):
    data = {
        "title": "Classic Tee",
        "option1_name": "Size",
        "variants": [
            {"sku": "TEE-S", "option1": "S", "price": Decimal("20.00")},
            {"sku": "TEE-M", "option1": "M", "price": Decimal("20.00")},
        ],
        "images": [{"src": "https://cdn.example.com/tee.jpg", "alt": "Front"}],
        "attributes": [{"namespace": "pim", "key": "material", "type": "single_line_text_field", "value": "Cotton"}],
    }
    data.update(overrides)
    return services.product_create(**data)


def test_create_product_with_children_and_generated_handle():
    product = make_product()
    assert product.handle == "classic-tee"
    assert list(product.variants.values_list("sku", "position")) == [("TEE-S", 1), ("TEE-M", 2)]
    assert product.images.count() == 1
    assert product.attributes.get().value == "Cotton"


def test_handle_collision_gets_numeric_suffix():
    make_product()
    second = make_product(variants=[{"sku": "X-1", "option1": "S", "price": Decimal("5")}])
    third = make_product(variants=[{"sku": "X-2", "option1": "S", "price": Decimal("5")}])
    assert (second.handle, third.handle) == ("classic-tee-1", "classic-tee-2")


def test_handle_from_unicode_title():
    assert services.handle_from_title(title="Crème Brûlée  Mug!! ") == "creme-brulee-mug"


@pytest.mark.parametrize("handle", ["Classic-Tee", "classic tee", "-tee", "tee--2", "tée"])
def test_invalid_handle_refused_and_nothing_saved(handle):
    with pytest.raises(ValidationError) as exc:
        make_product(handle=handle)
    assert "handle" in exc.value.message_dict
    assert Product.objects.count() == 0 and Variant.objects.count() == 0


def test_handle_is_immutable_after_first_publish():
    product = make_product()
    Product.objects.filter(pk=product.pk).update(first_published_at=timezone.now())
    product.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        services.product_update(product=product, handle="new-handle")
    assert "published to a store" in exc.value.message_dict["handle"][0]
    product.refresh_from_db()
    assert product.handle == "classic-tee"
    # Other fields still change.
    services.product_update(product=product, title="Classic Tee v2")
    assert Product.objects.get(pk=product.pk).title == "Classic Tee v2"


def test_unpublished_handle_can_change():
    product = make_product()
    services.product_update(product=product, handle="tee-classic")
    assert Product.objects.get(pk=product.pk).handle == "tee-classic"


@pytest.mark.parametrize("price", [Decimal("0"), Decimal("-1")])
def test_zero_or_negative_price_refused(price):
    with pytest.raises(ValidationError) as exc:
        make_product(variants=[{"sku": "Z-1", "option1": "S", "price": price}])
    assert "price" in exc.value.message_dict
    assert not Product.objects.exists()


def test_zero_price_allowed_when_product_allows_free():
    product = make_product(allow_zero_price=True, variants=[{"sku": "FREE", "option1": "S", "price": Decimal("0")}])
    assert product.variants.get().price == 0


def test_duplicate_sku_refused():
    make_product()
    with pytest.raises(ValidationError) as exc:
        make_product(title="Other", variants=[{"sku": "TEE-S", "option1": "S", "price": Decimal("3")}])
    assert "sku" in exc.value.message_dict
    assert Product.objects.count() == 1


def test_duplicate_option_combination_refused():
    with pytest.raises(ValidationError) as exc:
        make_product(
            variants=[
                {"sku": "A", "option1": "S", "price": Decimal("3")},
                {"sku": "B", "option1": "S", "price": Decimal("3")},
            ]
        )
    assert "these option values" in str(exc.value)


def test_simple_product_has_exactly_one_variant():
    product = make_product(option1_name="", variants=[{"sku": "MUG", "price": Decimal("9")}])
    assert not product.has_options and product.variants.count() == 1
    with pytest.raises(ValidationError) as exc:
        make_product(
            title="Mug 2",
            option1_name="",
            variants=[{"sku": "M1", "price": Decimal("9")}, {"sku": "M2", "price": Decimal("9")}],
        )
    assert "simple product" in str(exc.value)
    assert Product.objects.count() == 1


def test_too_many_images_refused():
    images = [{"src": f"https://cdn.example.com/{i}.jpg"} for i in range(251)]
    with pytest.raises(ValidationError, match="at most 250 images"):
        make_product(images=images)
    assert ProductImage.objects.count() == 0


@pytest.mark.parametrize(
    ("type_name", "value", "stored"),
    [
        ("number_integer", " 42 ", "42"),
        ("number_decimal", "1.50", "1.50"),
        ("boolean", "TRUE", "true"),
        ("json", '{"b": 1, "a": [1,2]}', '{"a":[1,2],"b":1}'),
    ],
)
def test_attribute_values_are_canonicalised(type_name, value, stored):
    product = make_product(attributes=[{"namespace": "pim", "key": "k1", "type": type_name, "value": value}])
    assert product.attributes.get().value == stored


@pytest.mark.parametrize(
    ("type_name", "value"),
    [("number_integer", "4.5"), ("number_decimal", "abc"), ("boolean", "yes"), ("json", "{bad"),
     ("single_line_text_field", "two\nlines")],
)
def test_attribute_with_wrong_type_refused(type_name, value):
    with pytest.raises(ValidationError) as exc:
        make_product(attributes=[{"namespace": "pim", "key": "k1", "type": type_name, "value": value}])
    assert "value" in exc.value.message_dict
    assert not ProductAttribute.objects.exists() and not Product.objects.exists()


def test_history_records_user_and_reason():
    user = get_user_model().objects.create_user("cm", password="x")
    product = make_product()
    services.product_update(product=product, actor=user, reason="Spring copy", title="Spring Tee")
    latest = product.history.first()
    assert latest.history_user == user
    assert latest.history_change_reason == "Spring copy"
    assert latest.title == "Spring Tee"
    variant = product.variants.first()
    services.variant_update(variant=variant, actor=user, reason="Price rise", price=Decimal("25.00"))
    assert variant.history.first().history_user == user
    assert variant.history.first().history_change_reason == "Price rise"


def test_option_names_must_be_filled_in_order():
    with pytest.raises(ValidationError, match="in order"):
        make_product(option1_name="", option2_name="Size", variants=[{"sku": "A", "option2": "S", "price": 1}])
