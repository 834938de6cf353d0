"""Read Shopify's standard product taxonomy from a shop into the PIM, so the admin can search it (issue 19).

The product admin chooses a product's Shopify category by searching the categories read here (an autocomplete
over ``pim.TaxonomyCategory``); the publish sends the chosen id as ``ProductSetInput.category``.
"""

from __future__ import annotations

from django.utils import timezone

from pim.models import TaxonomyCategory

from .clients import client_for_store
from .models import Store
from .shopify import taxonomy_api


def taxonomy_import(*, store: Store, search: str | None = None) -> int:
    """Read the taxonomy (or the categories matching ``search`` and everything below them) from ``store``'s shop
    and upsert it; return how many categories were read. Network: run from a worker. Raises ShopifyError."""
    client = client_for_store(store)
    now = timezone.now()
    if search:
        found = list(taxonomy_api.taxonomy_categories_iter(client, search=search))
        nodes = found + [n for f in found if not f["isLeaf"]
                         for n in taxonomy_api.taxonomy_categories_iter(client, descendants_of=f["id"])]
    else:
        nodes = list(taxonomy_api.taxonomy_categories_all(client))
    rows = {n["id"]: TaxonomyCategory(id=n["id"], name=n["name"][:255], full_name=n["fullName"][:1000],
                                      level=n["level"], is_leaf=n["isLeaf"], fetched_at=now)
            for n in nodes if not n.get("isArchived")}
    TaxonomyCategory.objects.bulk_create(list(rows.values()), batch_size=1000, update_conflicts=True,
                                         unique_fields=["id"], update_fields=["name", "full_name", "level",
                                                                              "is_leaf", "fetched_at"])
    return len(rows)
