"""Secrets: credentials under a key list (MultiFernet) with a re-encrypt command; logs never carry a webhook
URL's path or query."""

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from channels.models import Store
from conflicts.alerts import drift_alert_check
from conflicts.models import Conflict
from inventory.subscriptions import webhook_subscriptions_register

pytestmark = pytest.mark.django_db


def raw_token(store: Store, column: str = "access_token") -> str:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM channels_store WHERE id = %s', [store.pk])
        return cursor.fetchone()[0]


def test_keys_rotate_and_every_credential_is_reencrypted(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    store = Store.objects.create(name="R", shop_domain="r.myshopify.com", access_token="shpat_rotate_me",
                                 webhook_secret="api-secret")
    assert Fernet(old.encode()).decrypt(raw_token(store).encode()) == b"shpat_rotate_me"
    # New key in front: old values still decrypt.
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert Store.objects.get(pk=store.pk).access_token == "shpat_rotate_me"
    call_command("rotate_credentials_key")
    for column in ("access_token", "webhook_secret"):
        assert Fernet(new.encode()).decrypt(raw_token(store, column).encode())
    # Old key dropped: everything still readable.
    settings.FIELD_ENCRYPTION_KEYS = [new]
    reloaded = Store.objects.get(pk=store.pk)
    assert (reloaded.access_token, reloaded.webhook_secret) == ("shpat_rotate_me", "api-secret")


def test_a_credential_no_key_fits_stops_the_command_with_a_clear_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    Store.objects.create(name="L", shop_domain="l.myshopify.com", access_token="shpat_lost")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="old key back"):
        call_command("rotate_credentials_key")
    with pytest.raises(ImproperlyConfigured):
        Store.objects.get(name="L")


SECRET_PATH = "T0001/B0002/SECRETPATHxyz"
SECRET_QUERY = "token=SECRETQUERYabc"


def test_the_drift_alert_webhook_url_is_never_logged(settings, caplog, django_capture_on_commit_callbacks):
    settings.DRIFT_ALERT_THRESHOLD = 1
    settings.DRIFT_ALERT_WEBHOOK_URL = f"http://127.0.0.1:9/services/{SECRET_PATH}?{SECRET_QUERY}"  # refused
    store = Store.objects.create(name="D", shop_domain="d.myshopify.com", access_token="t")
    Conflict.objects.create(store=store, shopify_product_id="1", field="title", policy_applied="overwrite")
    with caplog.at_level(logging.DEBUG), django_capture_on_commit_callbacks(execute=True):
        assert drift_alert_check(store=store)
    assert "SECRETPATH" not in caplog.text and "SECRETQUERY" not in caplog.text
    assert "drift alert webhook to http://127.0.0.1:9 failed" in caplog.text


def test_the_webhook_subscription_url_is_never_logged(shopify_sim, caplog):
    creds = shopify_sim.shops["shop-a"]
    store = Store.objects.create(name="W", shop_domain=creds.domain, api_base_url=creds.base_url,
                                 access_token=creds.access_token)
    with caplog.at_level(logging.DEBUG):
        webhook_subscriptions_register(
            store=store, callback_url=f"https://pim.example.com/hooks/{SECRET_PATH}?{SECRET_QUERY}",
            topics=["ORDERS_CREATE"])
    assert "pim.example.com" in caplog.text  # the warning names the host
    assert "SECRETPATH" not in caplog.text and "SECRETQUERY" not in caplog.text
