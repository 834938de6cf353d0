"""Onboarding read-back of what issue 19 publishes: a bound product's Shopify category and its translations.

Run after ``reconcile_store --apply`` (or ``--import-missing``): ``manage.py import_shopify_extras --store X``.
The PIM is the master, so only what the PIM does not hold yet is taken: a product without a Shopify category gets
Shopify's; a locale the product has no translation for gets Shopify's title, description and SEO texts. Option
name / value translations are not read back yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from channels.clients import client_for_store
from channels.models import ChannelAssignment, Store
from channels.shopify import taxonomy_api, translations_api
from channels.shopify.ids import to_gid
from channels.translations import PRODUCT_KEYS, store_locales_refresh, store_translation_locales
from pim.models import ProductTaxonomy, ProductTranslation, TaxonomyCategory

BATCH = 250


@dataclass
class ExtrasReport:
    categories: int = 0
    translations: int = 0
    kept_pim: int = 0


def shopify_extras_import(*, store: Store) -> ExtrasReport:
    """Read the Shopify category and translations of every product bound in ``store`` into the PIM where the PIM
    has none; return the counts. Network first, then one short transaction per batch. Raises ShopifyError."""
    client = client_for_store(store)
    store_locales_refresh(store=store, client=client)
    locales = store_translation_locales(store=store)
    report = ExtrasReport()
    bound = list(ChannelAssignment.objects.filter(store=store).exclude(shopify_product_id="")
                 .values_list("product_id", "shopify_product_id"))
    for start in range(0, len(bound), BATCH):
        chunk = {to_gid("Product", sid): pid for pid, sid in bound[start:start + BATCH]}
        categories = taxonomy_api.product_categories(client, product_ids=list(chunk))
        texts = {loc: translations_api.translations_read(client, resource_ids=list(chunk), locale=loc)
                 for loc in locales}
        now = timezone.now()
        with transaction.atomic():
            have_category = set(ProductTaxonomy.objects.filter(product_id__in=chunk.values())
                                .values_list("product_id", flat=True))
            for gid, category in categories.items():
                pid = chunk[gid]
                if not category:
                    continue
                if pid in have_category:
                    report.kept_pim += 1
                    continue
                TaxonomyCategory.objects.get_or_create(id=category["id"], defaults={
                    "name": category["name"], "full_name": category["fullName"], "level": category["level"],
                    "is_leaf": category["isLeaf"], "fetched_at": now})
                ProductTaxonomy.objects.create(product_id=pid, category_id=category["id"])
                report.categories += 1
            have_locale = set(ProductTranslation.objects.filter(product_id__in=chunk.values())
                              .values_list("product_id", "locale"))
            for locale, by_resource in texts.items():
                for gid, values in by_resource.items():
                    pid = chunk.get(gid)
                    fields = {field: values[key] for key, field in PRODUCT_KEYS.items() if values.get(key)}
                    if pid is None or not fields:
                        continue
                    if (pid, locale) in have_locale:
                        report.kept_pim += 1
                        continue
                    translation = ProductTranslation(product_id=pid, locale=locale, **fields)
                    translation._change_reason = f"Read back from {store.name}"[:100]
                    translation.full_clean()
                    translation.save()
                    report.translations += 1
    return report
