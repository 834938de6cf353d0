"""Shop locales and translations (issue 19): valid 2026-07 documents; the simulator's digests and userErrors."""

from __future__ import annotations

import uuid

import pytest

from channels.shopify import translations_api as api
from channels.shopify.client import ShopifyClient
from channels.shopify.exceptions import ShopifyUserError
from shopify_sim.testing import SimulatorServer

from .conftest import schema_errors


@pytest.mark.parametrize("name", ["SHOP_LOCALES", "PRODUCT_OPTION_IDS", "TRANSLATABLE_RESOURCES",
                                  "TRANSLATIONS_REGISTER", "TRANSLATIONS_READ"])
def test_documents_are_valid_against_2026_07(name):
    assert schema_errors(getattr(api, name)) == []


@pytest.fixture(scope="module")
def sim_client(redis_conn):
    name = f"tr-{uuid.uuid4().hex[:8]}"
    with SimulatorServer(shops=[name]) as sim:
        creds = sim.shops[name]
        yield sim, name, ShopifyClient(shop_domain=creds.domain, base_url=creds.base_url,
                                       api_version=creds.api_version, redis=redis_conn, timeout=(2.0, 10.0),
                                       access_token=creds.access_token)
    keys = list(redis_conn.scan_iter(match=f"shopify:{creds.domain}:*"))
    if keys:
        redis_conn.delete(*keys)


def test_register_needs_the_current_digest_an_enabled_locale_and_a_real_key(sim_client):
    sim, shop, client = sim_client
    assert [(x["locale"], x["primary"], x["published"]) for x in api.shop_locales(client)] == [
        ("en", True, True), ("fr", False, True), ("de", False, True), ("es", False, False)]
    pid = sim.control.seed(shop, generate=1, variants_per_product=1)[0]["id"]
    content = api.translatable_content(client, resource_ids=[pid])[pid]
    title = content["title"]
    assert title["locale"] == "en" and title["digest"]
    ok = {"key": "title", "locale": "fr", "value": "Titre", "translatableContentDigest": title["digest"]}
    assert api.translations_register(client, resource_id=pid, translations=[ok])[0]["value"] == "Titre"
    for bad, code in [({**ok, "translatableContentDigest": "nope"}, "INVALID_TRANSLATABLE_CONTENT"),
                      ({**ok, "locale": "it"}, "INVALID_LOCALE_FOR_SHOP"),
                      ({**ok, "key": "colour"}, "INVALID_KEY_FOR_MODEL")]:
        with pytest.raises(ShopifyUserError) as err:
            api.translations_register(client, resource_id=pid, translations=[bad])
        assert err.value.user_errors[0]["code"] == code
    # The merchant changes the source: the translation becomes outdated.
    sim.control.edit_product(shop, pid, title="New title")
    body = sim.control.graphql(shop, 'query($id: ID!) { translatableResource(resourceId: $id) { '
                                     'translations(locale: "fr") { key value outdated } } }', {"id": pid}).json()
    assert body["data"]["translatableResource"]["translations"] == [{"key": "title", "value": "Titre",
                                                                     "outdated": True}]
