"""Drift alerts: tell managers once per window when a store collects too many new conflicts."""

from __future__ import annotations

import logging
from datetime import timedelta

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from channels.models import Store
from channels.shopify.netguard import network_call_check
from pim.clock import clock_now

from .models import Conflict, DriftAlert

logger = logging.getLogger(__name__)

def drift_alert_check(*, store: Store, now=None) -> bool:
    """Notify once per window when the store's new conflicts in the window pass DRIFT_ALERT_THRESHOLD.

    Records the window's ``DriftAlert`` now; logs, emails DRIFT_ALERT_EMAILS and posts to DRIFT_ALERT_WEBHOOK_URL
    (if set) after the surrounding transaction commits (at once outside one). Returns True if it alerted.
    """
    now = now or clock_now()
    hours = settings.DRIFT_ALERT_WINDOW_HOURS
    window_start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=now.hour % hours)
    count = Conflict.objects.filter(store=store, detected_at__gte=now - timedelta(hours=hours)).count()
    if count < settings.DRIFT_ALERT_THRESHOLD:
        return False
    try:
        with transaction.atomic():
            DriftAlert.objects.create(store=store, window_start=window_start, conflicts=count)
    except IntegrityError:
        return False  # already alerted in this window
    message = (f"Drift alert: store {store.name} has {count} new conflicts in the last {hours} h "
               f"(threshold {settings.DRIFT_ALERT_THRESHOLD}). Review them in the admin.")
    store_name = store.name
    transaction.on_commit(lambda: _drift_alert_send(store_name=store_name, count=count, message=message))
    return True


def _drift_alert_send(*, store_name: str, count: int, message: str) -> None:
    """Log and send a drift alert (email, chat webhook); never raises for a broken channel."""
    logger.warning(message)
    network_call_check(what=f"drift alert for {store_name}")
    if settings.DRIFT_ALERT_EMAILS:
        send_mail(f"[PIM] Drift alert for {store_name}", message, None, settings.DRIFT_ALERT_EMAILS,
                  fail_silently=True)
    if settings.DRIFT_ALERT_WEBHOOK_URL:
        try:
            requests.post(settings.DRIFT_ALERT_WEBHOOK_URL, json={"store": store_name, "conflicts": count,
                                                                  "text": message}, timeout=(3, 5))
        except requests.RequestException as exc:  # never the exception text: it repeats the URL's secret path
            from config.logsafe import url_for_log

            logger.warning("drift alert webhook to %s failed: %s", url_for_log(settings.DRIFT_ALERT_WEBHOOK_URL),
                           type(exc).__name__)
