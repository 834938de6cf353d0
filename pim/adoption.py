"""Catalogs adopted from a Shopify store: what Shopify allows that the PIM's own rules do not.

Products created in the PIM keep the PIM's stricter rules (ASCII handles, a required and unique SKU per
variant). A product adopted from a store (``Product.origin == "shopify"``, its variants ``adopted``) keeps what
Shopify allows: handles in any script (Shopify supports UTF-8 handles since 2017), variants without a SKU and
SKUs shared by several variants. Those SKU problems are not stored as flags (they would go stale when a manager
fixes them): they are computed here, for the admin's filters and columns.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet

from .validators import HANDLE_MAX_LENGTH

# Unicode letters and digits (and "_", which Shopify keeps) in runs joined by single hyphens.
ADOPTED_HANDLE_RE = re.compile(r"^[^\W]+(?:-[^\W]+)*$")

MISSING_SKU = "missing"
SHARED_SKU = "shared"
SKU_ISSUES = {
    MISSING_SKU: "No SKU: orders are matched by the Shopify variant id only; give it a unique SKU",
    SHARED_SKU: "Shared SKU: another variant has the same SKU; give each variant its own",
}


def validate_adopted_handle(value: str) -> None:
    """Refuse a handle of an adopted product that Shopify itself would not keep.

    Allows letters and digits of any script (lowercase where the script has case), "_" and single hyphens.
    Raises ValidationError.
    """
    if not value:
        return
    if len(value) > HANDLE_MAX_LENGTH:
        raise ValidationError(f"A handle can have at most {HANDLE_MAX_LENGTH} characters.", code="handle_length")
    if value != value.lower() or not ADOPTED_HANDLE_RE.match(value):
        raise ValidationError(
            "A handle may only contain lowercase letters (of any script), digits, underscores and single "
            "hyphens, and cannot start or end with a hyphen.",
            code="handle_format",
        )


def _shared_sku_exists() -> Exists:
    from .models import Variant

    return Exists(Variant.objects.filter(sku=OuterRef("sku")).exclude(sku="").exclude(pk=OuterRef("pk")))


def variants_with_sku_issue(*, queryset: QuerySet, issue: str | None = None) -> QuerySet:
    """Narrow a Variant queryset to variants with a missing (``"missing"``) or shared (``"shared"``) SKU.

    ``issue`` None means either. Raises ValueError for an unknown issue.
    """
    if issue not in (None, MISSING_SKU, SHARED_SKU):
        raise ValueError(f"unknown SKU issue {issue!r}")
    annotated = queryset.annotate(_sku_shared=_shared_sku_exists())
    missing = Q(sku="")
    shared = Q(_sku_shared=True)
    condition = missing if issue == MISSING_SKU else shared if issue == SHARED_SKU else missing | shared
    return annotated.filter(condition)


def products_with_sku_issue(*, queryset: QuerySet, issue: str | None = None) -> QuerySet:
    """Narrow a Product queryset to products having at least one variant with the SKU ``issue``."""
    from .models import Variant

    flagged = variants_with_sku_issue(queryset=Variant.objects.filter(product_id=OuterRef("pk")), issue=issue)
    return queryset.filter(Exists(flagged))


def variant_sku_issue(*, sku: str, shared: bool) -> str:
    """Return the SKU issue key of one variant ("" when none), given whether another variant has its SKU."""
    if not sku:
        return MISSING_SKU
    return SHARED_SKU if shared else ""


def annotate_sku_shared(queryset: QuerySet) -> QuerySet:
    """Annotate a Variant queryset with ``_sku_shared`` (another variant has the same non-empty SKU)."""
    return queryset.annotate(_sku_shared=_shared_sku_exists())
