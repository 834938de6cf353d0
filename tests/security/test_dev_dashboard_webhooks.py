"""Dev Dashboard apps (client credentials): the simulator signs their webhooks with the client secret, as
Shopify does, and the PIM accepts them without a separately pasted webhook secret."""

import django_rq
import pytest

from channels.models import Store
from inventory.models import WebhookEvent
from inventory.subscriptions import webhook_subscriptions_register
from webhooks import inbox

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_client_credentials_store_accepts_its_real_webhooks(shopify_sim, live_server):
    creds = shopify_sim.shops["shop-a"]
    store = Store.objects.create(
        name="Dev Dashboard", shop_domain=creds.domain, api_base_url=creds.base_url,
        auth_mode=Store.AuthMode.CLIENT_CREDENTIALS, client_id=creds.client_id, client_secret=creds.client_secret,
    )
    assert store.webhook_secret == ""  # nothing pasted twice
    webhook_subscriptions_register(store=store, callback_url=live_server.url + "/shopify/webhooks/",
                                            topics=["PRODUCTS_CREATE"])
    shopify_sim.control.seed("shop-a", generate=1)
    shopify_sim.control.trigger_webhooks("shop-a", topic="products/create", count=1)
    shopify_sim.wait_webhooks()
    deliveries = shopify_sim.control.deliveries(shop="shop-a", topic="products/create")
    assert deliveries and {d["response_status"] for d in deliveries} == {200}, deliveries
    assert WebhookEvent.objects.filter(store=store, topic="products/create").exists()
    django_rq.get_queue(inbox.WEBHOOKS_QUEUE).empty()
