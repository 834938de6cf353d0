"""Shopify's product category end to end (issue 19): read from the shop, chosen in the PIM, live in the store."""

from channels import services
from channels.taxonomy import taxonomy_import
from pim.models import ProductTaxonomy, TaxonomyCategory

from .conftest import jobs_settled, make_product, wait_for

TEES = "gid://shopify/TaxonomyCategory/aa-1-13-8"


def test_taxonomy_category_reaches_the_store_and_a_change_is_republished(shopify_sim, sim_stores, workers):
    a, _ = sim_stores
    assert taxonomy_import(store=a, search="clothing tops") >= 13
    assert TaxonomyCategory.objects.get(pk=TEES).full_name.endswith("Clothing Tops > T-Shirts")
    product = make_product()
    ProductTaxonomy.objects.create(product=product, category_id=TEES)
    services.assignment_set(product=product, store=a)
    wait_for(jobs_settled, what="publish")
    gid = f"gid://shopify/Product/{a.assignments.get().shopify_product_id}"

    def live_category():
        body = shopify_sim.control.graphql("shop-a", "query($id: ID!) { product(id: $id) { category { id fullName } } }",
                                           {"id": gid}).json()
        return body["data"]["product"]["category"]

    assert live_category() == {"id": TEES,
                               "fullName": "Apparel & Accessories > Clothing > Clothing Tops > T-Shirts"}
    hoodies = "gid://shopify/TaxonomyCategory/aa-1-13-13"
    from pim import services as pim_services

    ProductTaxonomy.objects.filter(product=product).update(category_id=hoodies)
    pim_services.catalog_changed(product_ids=[product.pk])
    wait_for(lambda: live_category()["id"] == hoodies, what="new category live")
