"""Translations per locale (issue 19): register a product's translated content in each store's enabled locales.

A store's locales come from Shopify (``shopLocales``, cached in ``StoreLocale``). After a product is published
(and whenever its translations are edited) a ``TranslationSyncJob`` — an outbox row per (store, product), same
an ``outbox`` kind (``TRANSLATION_JOB``) — reads the content digests Shopify wants (``translatableResourcesByIds``) and calls
``translationsRegister`` once per resource: the product (title, body_html, meta_title, meta_description), each
translated option (name) and option value (name). A locale the product has no translation for, or an empty
field, is not sent: Shopify shows the default language (the product page lists these fallbacks per store).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from outbox.kinds import OutboxKind, Outcome
from outbox.services import (
    outbox_dispatch,
    outbox_dispatch_on_commit,
    outbox_execute,
    outbox_record,
    outbox_sweep_kind,
)
from pim.models import Product, ProductTranslation

from .clients import client_for_store
from .models import ChannelAssignment, Store, StoreLocale, TranslationSyncJob
from .shopify import translations_api as api
from .shopify.ids import to_gid

logger = logging.getLogger(__name__)

PRODUCT_KEYS = {"title": "title", "body_html": "description_html", "meta_title": "seo_title",
                "meta_description": "seo_description"}


def store_locales_refresh(*, store: Store, client=None) -> list[StoreLocale]:
    """Read the store's locales from Shopify and cache them; return them. Raises ShopifyError."""
    client = client or client_for_store(store)
    now = timezone.now()
    rows = api.shop_locales(client)
    with transaction.atomic():
        StoreLocale.objects.filter(store=store).exclude(locale__in=[r["locale"] for r in rows]).delete()
        for r in rows:
            StoreLocale.objects.update_or_create(store=store, locale=r["locale"], defaults={
                "name": r["name"][:100], "primary": r["primary"], "published": r["published"], "fetched_at": now})
    return list(StoreLocale.objects.filter(store=store))


def store_translation_locales(*, store: Store) -> list[str]:
    """The locales the PIM translates into for ``store``: enabled (published) and not the shop's default."""
    return list(StoreLocale.objects.filter(store=store, primary=False, published=True)
                .values_list("locale", flat=True))


# --- the outbox ---------------------------------------------------------------------------------------


def translation_jobs_record(*, store_id: int, product_ids: Iterable[int]) -> list[int]:
    """Upsert one pending job per (store, product) and dispatch after commit. Runs in the caller's transaction."""
    ids = [outbox_record(kind=TRANSLATION_JOB, values={"store_id": store_id, "product_id": product_id})
           for product_id in sorted(set(product_ids))]
    outbox_dispatch_on_commit(kind=TRANSLATION_JOB, ids=ids)
    return ids


def translations_on_change(*, product_ids: list[int], store_ids: list[int] | None = None) -> None:
    """``pim.translations`` hook: record a job per store the products are published to (bound, publishing)
    and that have translations; ``store_ids`` limits it to those stores."""
    assignments = ChannelAssignment.objects.all() if store_ids is None else ChannelAssignment.objects.filter(
        store_id__in=store_ids)
    pairs = assignments.filter(product_id__in=product_ids, publish=True, store__is_active=True,
                                             product__translations__isnull=False) \
        .exclude(shopify_product_id="").values_list("store_id", "product_id").distinct()
    by_store: dict[int, list[int]] = {}
    for store_id, product_id in pairs:
        by_store.setdefault(store_id, []).append(product_id)
    for store_id, ids in by_store.items():
        translation_jobs_record(store_id=store_id, product_ids=ids)


def translation_jobs_dispatch(*, job_ids: Iterable[int], delay: float | None = None) -> int:
    """Hand pending jobs to the publish lane; a Redis failure is logged (the sweep sends them later)."""
    return outbox_dispatch(kind=TRANSLATION_JOB, ids=job_ids, delay=delay)


def translation_jobs_sweep(*, now=None) -> int:
    """Reclaim expired running jobs and re-dispatch due pending ones; return how many were dispatched."""
    return outbox_sweep_kind(kind=TRANSLATION_JOB, now=now).dispatched


def _execute(job: TranslationSyncJob) -> Outcome:
    status, detail, count, digest = product_translations_sync(store=job.store, product_id=job.product_id)
    return Outcome(status, detail, {"registered": count, "registered_hash": digest})


def translation_job_execute(*, job_id: int, worker: str | None = None) -> str:
    """Claim and run one translation job; retryable Shopify errors back off, others dead-letter. Never raises."""
    return outbox_execute(kind=TRANSLATION_JOB, row_id=job_id, worker=worker).status


def _claimable(rows, now):
    from .services import _claimable as store_claimable

    return store_claimable(rows, now)


TRANSLATION_JOB = OutboxKind(
    name="translation_job", model=TranslationSyncJob, execute=_execute, lane="publish", label="translation jobs",
    key=("store", "product"), folded=TranslationSyncJob.Status.DONE, claimable=_claimable,
)


# --- the work -----------------------------------------------------------------------------------------


def _last_hash(*, store_id: int, product_id: int) -> str:
    return (TranslationSyncJob.objects.filter(store_id=store_id, product_id=product_id,
                                              status=TranslationSyncJob.Status.DONE)
            .exclude(registered_hash="").order_by("-finished_at").values_list("registered_hash", flat=True)
            .first() or "")


def product_translations_sync(*, store: Store, product_id: int) -> tuple[str, str, int, str]:
    """Register the product's translations for the store's locales; return (status, detail, count, hash).

    Nothing is sent when the product is not published there, has no translation for the store's locales, or
    sends exactly what was registered last time for the same source content (digests). Raises ShopifyError.
    """
    assignment = ChannelAssignment.objects.filter(store=store, product_id=product_id, publish=True).first()
    product = Product.objects.filter(pk=product_id).first()
    if product is None or assignment is None or not assignment.shopify_product_id:
        return TranslationSyncJob.Status.SKIPPED, "not published in this store", 0, ""
    client = client_for_store(store)
    if not StoreLocale.objects.filter(store=store).exists():
        store_locales_refresh(store=store, client=client)
    locales = store_translation_locales(store=store)
    translations = {t.locale: t for t in ProductTranslation.objects.filter(product=product, locale__in=locales)}
    if not translations:
        return TranslationSyncJob.Status.SKIPPED, "no translation for this store's locales", 0, ""
    product_gid = to_gid("Product", assignment.shopify_product_id)
    wanted: dict[str, dict[tuple[str, str], str]] = {product_gid: {}}
    for locale, t in translations.items():
        for key, field in PRODUCT_KEYS.items():
            if getattr(t, field):
                wanted[product_gid][(key, locale)] = getattr(t, field)
    if any(t.option_names or t.option_values for t in translations.values()):
        for option in api.product_options(client, product_id=product_gid) or []:
            for locale, t in translations.items():
                if t.option_names.get(option["name"]):
                    wanted.setdefault(option["id"], {})[("name", locale)] = t.option_names[option["name"]]
                for value in option["optionValues"]:
                    if t.option_values.get(value["name"]):
                        wanted.setdefault(value["id"], {})[("name", locale)] = t.option_values[value["name"]]
    content = api.translatable_content(client, resource_ids=list(wanted))
    inputs: dict[str, list[dict]] = {}
    for resource_id, entries in wanted.items():
        for (key, locale), value in sorted(entries.items()):
            source = content.get(resource_id, {}).get(key)
            if not source or not source.get("digest"):
                continue  # nothing to translate in Shopify (empty source): the default shows
            inputs.setdefault(resource_id, []).append({"key": key, "locale": locale, "value": value,
                                                       "translatableContentDigest": source["digest"]})
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    if digest == _last_hash(store_id=store.pk, product_id=product_id):
        return TranslationSyncJob.Status.SKIPPED, "translations unchanged", 0, digest
    count = 0
    for resource_id, items in inputs.items():
        api.translations_register(client, resource_id=resource_id, translations=items)
        count += len(items)
    return TranslationSyncJob.Status.DONE, f"registered {count} translation(s) in {len(inputs)} resource(s)", \
        count, digest


def product_translation_fallbacks(*, product: Product) -> list[tuple[str, str, list[str]]]:
    """For the product page: per store it is assigned to, the locales that fall back to the default language
    ([] when every enabled locale has a translation). Returns (store name, locale, missing fields)."""
    out = []
    have = {t.locale: t for t in product.translations.all()}
    stores = Store.objects.filter(assignments__product=product, assignments__publish=True).distinct()
    for store in stores:
        for locale in store_translation_locales(store=store):
            t = have.get(locale)
            missing = [label for label, field in (("title", "title"), ("description", "description_html"),
                                                  ("SEO title", "seo_title"), ("SEO description", "seo_description"))
                       if t is None or not getattr(t, field)]
            if missing:
                out.append((store.name, locale, missing))
    return out
