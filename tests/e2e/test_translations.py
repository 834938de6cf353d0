"""Translations end to end (issue 19): two locales reach the store with Shopify's digests; fallbacks shown."""

from channels import services
from channels.models import StoreLocale, TranslationSyncJob
from channels.translations import product_translation_fallbacks
from pim.models import ProductTranslation
from pim.translations import translations_changed

from .conftest import jobs_settled, make_product, wait_for


def settled() -> bool:
    from channels.translations import translation_jobs_sweep

    translation_jobs_sweep()
    return jobs_settled() and not TranslationSyncJob.objects.filter(status__in=["pending", "running"]).exists()


def test_two_translations_with_options_reach_the_store_and_unchanged_ones_are_not_resent(
        shopify_sim, sim_stores, workers):
    a, _ = sim_stores
    product = make_product()  # option "Size" with values S and M
    ProductTranslation.objects.create(product=product, locale="fr", title="T-shirt Trail",
                                      description_html="<p>Coton doux</p>", option_names={"Size": "Taille"},
                                      option_values={"S": "P"})
    ProductTranslation.objects.create(product=product, locale="de", title="Trail-Shirt", seo_title="Trail-Shirt")
    ProductTranslation.objects.create(product=product, locale="es", title="Camiseta")  # es is not published
    services.assignment_set(product=product, store=a)
    done = wait_for(lambda: TranslationSyncJob.objects.filter(store=a, status="done").first(), timeout=30,
                    what="translations registered")
    wait_for(settled, timeout=30, what="quiet")
    sent = {(t["locale"], t["key"], t["value"]) for t in shopify_sim.control.translations("shop-a")["translations"]}
    assert sent == {("fr", "title", "T-shirt Trail"), ("fr", "body_html", "<p>Coton doux</p>"),
                    ("fr", "name", "Taille"), ("fr", "name", "P"), ("de", "title", "Trail-Shirt"),
                    ("de", "meta_title", "Trail-Shirt")}
    assert done.registered == 6
    assert set(StoreLocale.objects.filter(store=a).values_list("locale", flat=True)) == {"en", "fr", "de", "es"}
    # The product page lists what falls back to the default language in each enabled locale.
    assert ("shop-a", "de", ["description", "SEO description"]) in product_translation_fallbacks(product=product)

    shopify_sim.control.clear_requests("shop-a")
    translations_changed(product_ids=[product.pk])
    wait_for(settled, what="unchanged translations")
    assert TranslationSyncJob.objects.filter(store=a).first().result == "translations unchanged"
    assert not [r for r in shopify_sim.control.requests("shop-a") if r["operation_name"] == "TranslationsRegister"]


def test_category_and_two_translations_come_back_through_onboarding(shopify_sim, sim_stores, workers):
    from django.core.management import call_command
    from django.utils import timezone

    from pim.models import ProductTaxonomy, TaxonomyCategory

    a, _ = sim_stores
    tees = "gid://shopify/TaxonomyCategory/aa-1-13-8"
    TaxonomyCategory.objects.create(id=tees, name="T-Shirts", full_name="Apparel & Accessories > Clothing > "
                                    "Clothing Tops > T-Shirts", fetched_at=timezone.now())
    product = make_product()
    ProductTaxonomy.objects.create(product=product, category_id=tees)
    ProductTranslation.objects.create(product=product, locale="fr", title="T-shirt Trail", seo_title="Trail FR")
    ProductTranslation.objects.create(product=product, locale="de", title="Trail-Shirt")
    services.assignment_set(product=product, store=a)
    wait_for(lambda: TranslationSyncJob.objects.filter(store=a, status="done").exists(), timeout=30,
             what="translations registered")
    wait_for(settled, what="quiet")
    # The PIM loses them (as a PIM that onboards this store would not have them); onboarding reads them back.
    ProductTaxonomy.objects.all().delete()
    ProductTranslation.objects.all().delete()
    call_command("import_shopify_extras", "--store", "shop-a")
    assert ProductTaxonomy.objects.get(product=product).category_id == tees
    back = {t.locale: (t.title, t.seo_title) for t in ProductTranslation.objects.filter(product=product)}
    assert back == {"fr": ("T-shirt Trail", "Trail FR"), "de": ("Trail-Shirt", "")}
    # Running it again keeps what the PIM now holds.
    call_command("import_shopify_extras", "--store", "shop-a")
    assert ProductTranslation.objects.filter(product=product).count() == 2
