"""Webhook subscription health: Shopify drops a subscription whose deliveries keep failing; the PIM notices,
re-creates it, alerts once, and shows the state on the health page and in ``sync_status``."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from channels.models import Alert, Store
from inventory import subscriptions
from inventory.models import WebhookSubscriptionHealth
from inventory.subscriptions import WEBHOOK_TOPICS

URL = "http://127.0.0.1:9/shopify/webhooks/"  # nothing listens on port 9 (discard): every delivery fails


@pytest.fixture
def store(transactional_db, shopify_sim, settings):
    settings.ALERT_EMAILS = ["ops@example.com"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    creds = shopify_sim.shops["shop-a"]
    return Store.objects.create(name="Shop A", shop_domain=creds.domain, api_base_url=creds.base_url,
                                access_token=creds.access_token, webhook_secret=creds.webhook_secret)


def _topics(sim_control) -> dict[str, dict]:
    return {s["topic"]: s for s in sim_control.webhook_subscriptions("shop-a")}


def _register(store):
    call_command("register_webhooks", store=store.name, url=URL, stdout=io.StringIO())


def test_register_records_the_address_and_a_healthy_store_checks_clean(store, sim_control):
    _register(store)
    assert WebhookSubscriptionHealth.objects.get(store=store).callback_url == URL
    health = subscriptions.webhook_subscriptions_check(store=store, repair=True)
    assert health.state == WebhookSubscriptionHealth.State.OK
    assert health.findings == []
    assert not Alert.objects.exists()


def test_subscription_deleted_by_shopify_after_failed_deliveries_is_recreated_with_one_alert(store, sim_control,
                                                                                            shopify_sim):
    _register(store)
    assert "ORDERS_CREATE" in _topics(sim_control)
    # Deliveries to a dead address exhaust Shopify's retries; Shopify then deletes the API-made subscription.
    sim_control.seed("shop-a", products=[{"title": "Tee", "variants": [{"sku": "SUB-1", "price": "10.00",
                                                                         "inventory": 5}]}])
    sim_control.place_order("shop-a", [{"sku": "SUB-1", "quantity": 1}])
    assert shopify_sim.wait_webhooks(timeout=60)
    assert "ORDERS_CREATE" not in _topics(sim_control)

    health = subscriptions.webhook_subscriptions_check(store=store, repair=True)
    missing = [f for f in health.findings if f["problem"] == "missing"]
    assert "ORDERS_CREATE" in {f["topic"] for f in missing}
    assert all(f["repaired"] for f in missing)
    assert health.state == WebhookSubscriptionHealth.State.REPAIRED
    recreated = _topics(sim_control)["ORDERS_CREATE"]
    assert recreated["uri"] == URL and recreated["format"] == "JSON"
    # One alert for the window, whatever the number of checks that see the condition.
    assert Alert.objects.filter(store=store, kind="webhook_subscription_missing").count() == 1
    assert len(mail.outbox) == 1 and "ORDERS_CREATE" in mail.outbox[0].body
    sim_control.graphql("shop-a", "mutation($id: ID!) { webhookSubscriptionDelete(id: $id) { userErrors { message } } }",
                        {"id": recreated["id"]})
    subscriptions.webhook_subscriptions_check(store=store, repair=True)
    assert Alert.objects.filter(store=store, kind="webhook_subscription_missing").count() == 1
    assert "ORDERS_CREATE" in _topics(sim_control)


def test_filtered_subscription_is_replaced_and_other_addresses_are_left_alone(store, sim_control):
    _register(store)
    sub = _topics(sim_control)["REFUNDS_CREATE"]
    sim_control.graphql("shop-a", "mutation($id: ID!) { webhookSubscriptionDelete(id: $id) { userErrors { message } } }",
                        {"id": sub["id"]})
    sim_control.graphql(
        "shop-a",
        "mutation($s: WebhookSubscriptionInput!) { webhookSubscriptionCreate(topic: REFUNDS_CREATE, "
        "webhookSubscription: $s) { userErrors { message } } }",
        {"s": {"uri": URL, "format": "JSON", "includeFields": ["id"]}})
    other = "https://other-app.example.com/hooks?token=secret"
    sim_control.graphql(
        "shop-a",
        "mutation($s: WebhookSubscriptionInput!) { webhookSubscriptionCreate(topic: ORDERS_CANCELLED, "
        "webhookSubscription: $s) { userErrors { message } } }", {"s": {"uri": other, "format": "JSON"}})

    found = subscriptions.webhook_subscriptions_check(store=store, repair=False)
    assert [(f["topic"], f["problem"]) for f in found.findings] == [("REFUNDS_CREATE", "filtered")]
    assert found.state == WebhookSubscriptionHealth.State.PROBLEM

    fixed = subscriptions.webhook_subscriptions_check(store=store, repair=True)
    assert fixed.state == WebhookSubscriptionHealth.State.REPAIRED
    refunds = [s for s in sim_control.webhook_subscriptions("shop-a") if s["topic"] == "REFUNDS_CREATE"]
    assert len(refunds) == 1 and not refunds[0].get("includeFields")
    # The other app's subscription to the same topic is not ours to touch.
    assert any(s["uri"] == other for s in sim_control.webhook_subscriptions("shop-a"))
    assert not Alert.objects.exists()  # nothing was missing


def test_api_version_mismatch_is_reported_not_repaired(store, sim_control):
    _register(store)
    sim_control.config("shop-a", webhook_api_version="2025-10")
    health = subscriptions.webhook_subscriptions_check(store=store, repair=True)
    assert health.state == WebhookSubscriptionHealth.State.PROBLEM
    problems = {f["problem"] for f in health.findings}
    assert problems == {"api_version"}
    assert all(not f["repaired"] for f in health.findings)
    assert "2025-10" in health.findings[0]["detail"] and "2026-07" in health.findings[0]["detail"]


def test_shopify_error_is_recorded_as_a_failed_check(store, sim_control):
    _register(store)
    sim_control.invalid_token("shop-a")
    health = subscriptions.webhook_subscriptions_check(store=store, repair=True)
    assert health.state == WebhookSubscriptionHealth.State.ERROR
    assert "Auth" in health.last_error


def test_sweeper_claims_each_due_store_once(store, settings):
    WebhookSubscriptionHealth.objects.create(store=store, callback_url=URL)
    now = timezone.now()
    assert subscriptions.webhook_subscriptions_due(now=now) == [store.pk]
    assert subscriptions.webhook_subscriptions_due(now=now) == []  # claimed: the next sweep does not re-queue
    later = now + timedelta(seconds=settings.WEBHOOK_SUBSCRIPTION_CHECK_SECONDS + 1)
    assert subscriptions.webhook_subscriptions_due(now=later) == [store.pk]
    store.is_active = False
    store.save(update_fields=["is_active"])
    assert subscriptions.webhook_subscriptions_due(now=later + timedelta(days=1)) == []


def test_sweeper_with_a_configured_address_covers_stores_never_registered(store, settings):
    settings.SHOPIFY_WEBHOOK_URL = URL
    assert subscriptions.webhook_subscriptions_due() == [store.pk]
    assert subscriptions.webhook_subscriptions_target(store=store) == URL


def test_unknown_address_is_a_clear_error(store):
    with pytest.raises(subscriptions.SubscriptionTargetUnknown, match="SHOPIFY_WEBHOOK_URL"):
        subscriptions.webhook_subscriptions_check(store=store)


def test_health_page_and_sync_status_show_the_state(store, sim_control, client):
    _register(store)
    sim_control.config("shop-a", webhook_api_version="2025-10")
    subscriptions.webhook_subscriptions_check(store=store, repair=True)
    out = io.StringIO()
    call_command("sync_status", stdout=out)
    assert "Webhook subscriptions:" in out.getvalue() and "needs attention" in out.getvalue()
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    page = client.get("/admin/channels/store/health/")
    assert page.status_code == 200
    assert b"Webhook subscriptions" in page.content and b"2025-10" in page.content


def test_needed_topics_follow_the_registry():
    assert subscriptions.webhook_topics_needed() == tuple(WEBHOOK_TOPICS)
    assert "ORDERS_CREATE" in subscriptions.webhook_topics_needed()


def test_admin_action_queues_a_check_after_confirmation_and_needs_its_permission(store, client):
    import django_rq

    health = WebhookSubscriptionHealth.objects.create(store=store, callback_url=URL)
    queue = django_rq.get_queue("default")
    queue.empty()
    url = "/admin/inventory/webhooksubscriptionhealth/"
    viewer = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_webhooksubscriptionhealth"))
    client.force_login(viewer)
    client.post(url, {"action": "check_now", "_selected_action": [health.pk], "confirmed": "yes"})
    assert queue.count == 0  # view is not change
    client.force_login(get_user_model().objects.create_superuser("root", "r@example.com", "pw"))
    confirm = client.post(url, {"action": "check_now", "_selected_action": [health.pk]})
    assert confirm.status_code == 200 and queue.count == 0
    client.post(url, {"action": "check_now", "_selected_action": [health.pk], "confirmed": "yes"})
    assert [j.args for j in queue.jobs] == [(store.pk,)]
    queue.empty()
