"""Reverting catalog records from their history: the same services as any edit (validated, recorded, published)."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from . import services
from .models import Product, Variant


@transaction.atomic
def product_revert(
    *, product: Product, version_id: int, actor: AbstractBaseUser | None, fields: dict | None = None
) -> Product:
    """Restore ``product``'s own fields from its history record ``version_id`` (``fields`` win over it).

    Saves through ``services.product_save`` (validation, handle rules, history naming ``actor`` and the
    version), checks the product with its children, and queues publishing to every store it is assigned to.
    Raises ValidationError (nothing saved) for a version of another product or a result that breaks a rule.
    """
    record = Product.history.filter(id=product.pk, history_id=version_id).first()
    if record is None:
        raise ValidationError(f"Version {version_id} is not a version of this product.")
    restored = record.instance
    for name, value in (fields or {}).items():
        setattr(restored, name, value)
    restored._state.adding = False
    restored.first_published_at = product.first_published_at  # pipeline state, never reverted
    services.product_save(product=restored, actor=actor, reason=f"Reverted to version {version_id}")
    services.product_check_integrity(product=restored)
    services.catalog_changed(product_ids=[restored.pk])
    return restored


@transaction.atomic
def variant_revert(
    *, variant: Variant, version_id: int, actor: AbstractBaseUser | None, fields: dict | None = None
) -> Variant:
    """Restore ``variant``'s fields from its history record ``version_id`` (``fields`` win over it).

    Saves through ``services.variant_save`` (validation, zero-price rule, history) and queues publishing of its
    product. Raises ValidationError (nothing saved) for a version of another variant or a broken rule.
    """
    record = Variant.history.filter(id=variant.pk, history_id=version_id).first()
    if record is None:
        raise ValidationError(f"Version {version_id} is not a version of this variant.")
    restored = record.instance
    for name, value in (fields or {}).items():
        setattr(restored, name, value)
    restored._state.adding = False
    services.variant_save(variant=restored, actor=actor, reason=f"Reverted to version {version_id}")
    services.product_check_integrity(product=restored.product)
    services.catalog_changed(product_ids=[restored.product_id])
    return restored
