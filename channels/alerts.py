"""Operator alerts: one per condition, per store, per window; logged, emailed and posted to a chat webhook.

Each condition has a ``kind`` (``webhook_subscription_missing``, ...). The first alert of a kind for a store in a
window (``ALERT_WINDOW_HOURS``, aligned to the epoch so every worker agrees on it) is recorded as an ``Alert`` row
and sent after the surrounding transaction commits; later ones in the same window are dropped, so a condition that
a sweeper sees every minute alerts once. Email goes to ``ALERT_EMAILS``; ``ALERT_WEBHOOK_URL`` receives a
Slack-compatible ``{"text": ...}`` JSON post. Both are optional; the log line is always written.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from pim.clock import clock_now

from .models import Alert, Store
from .shopify.netguard import network_call_check

logger = logging.getLogger(__name__)


def alert_window_start(*, now: datetime | None = None, hours: float | None = None) -> datetime:
    """Return the start of the alert window that contains ``now`` (windows of ``hours``, aligned to the epoch)."""
    now = now or clock_now()
    span = timedelta(hours=hours if hours is not None else settings.ALERT_WINDOW_HOURS).total_seconds()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + timedelta(seconds=((now - epoch).total_seconds() // span) * span)


def alert_raise(*, kind: str, message: str, store: Store | None = None, now: datetime | None = None) -> bool:
    """Record and send an alert unless one of ``kind`` for ``store`` was already raised in this window.

    Return True when this call raised it. Sending (email, chat webhook) happens after commit and never raises:
    a broken mail server must not fail the work that noticed the problem.
    """
    window = alert_window_start(now=now)
    try:
        with transaction.atomic():
            alert = Alert.objects.create(kind=kind, store=store, window_start=window, message=message)
    except IntegrityError:
        return False
    transaction.on_commit(lambda: _send(alert_id=alert.pk))
    return True


def _send(*, alert_id: int) -> None:
    alert = Alert.objects.select_related("store").filter(pk=alert_id).first()
    if alert is None:
        return
    where = f" [{alert.store.name}]" if alert.store else ""
    logger.warning("ALERT %s%s: %s", alert.kind, where, alert.message)
    network_call_check(what=f"alert {alert.kind}")  # sent from on_commit: never inside a transaction
    if settings.ALERT_EMAILS:
        try:
            send_mail(f"[PIM] {alert.kind.replace('_', ' ')}{where}", alert.message, None, settings.ALERT_EMAILS,
                      fail_silently=False)
        except Exception:  # noqa: BLE001 — an alert channel failing must not fail the caller
            logger.exception("alert email failed")
    if settings.ALERT_WEBHOOK_URL:
        try:
            requests.post(settings.ALERT_WEBHOOK_URL, json={"text": f"[PIM]{where} {alert.message}"},
                          timeout=5, allow_redirects=False)
        except requests.RequestException as exc:
            # The webhook URL carries a secret in its path: log the error's type only, never the address.
            logger.error("alert webhook failed: %s", type(exc).__name__)
