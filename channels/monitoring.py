"""Conditions an operator must hear about, checked by the sweeper and raised through ``channels.alerts``.

Built in (publishing): new dead-lettered sync jobs, and sustained edit-to-live latency (p95 of the jobs finished in
the last ``ALERT_LATENCY_MINUTES`` above ``ALERT_LATENCY_P95_SECONDS``, or a pending job waiting longer than that).
Apps above ``channels`` add their own conditions with ``alert_check_register`` in ``AppConfig.ready()`` (inventory:
failed webhook deliveries, dead inventory pushes). Each condition alerts once per store and window.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q

from pim.clock import clock_now

from .alerts import alert_raise, alert_window_start
from .models import Store, SyncJob
from .selectors import percentile

AlertCheck = Callable[[datetime], int]
_checks: dict[str, AlertCheck] = {}


def alert_check_register(*, name: str, check: AlertCheck) -> None:
    """Add (or replace) condition ``name``: a function of ``now`` that raises alerts and returns how many."""
    _checks[name] = check


def alerts_check(*, now: datetime | None = None) -> int:
    """Evaluate every condition (built-in and registered); return how many alerts were raised now."""
    now = now or clock_now()
    raised = sync_dead_letters_check(now) + sync_latency_check(now)
    for check in _checks.values():
        raised += check(now)
    return raised


def sync_dead_letters_check(now: datetime) -> int:
    """Alert per store when sync jobs were dead-lettered in the current alert window."""
    since = alert_window_start(now=now)
    raised = 0
    rows = (SyncJob.objects.filter(status=SyncJob.Status.DEAD, updated_at__gte=since).values("store")
            .annotate(n=Count("pk")))
    stores = Store.objects.in_bulk([r["store"] for r in rows])
    for row in rows:
        store = stores[row["store"]]
        raised += alert_raise(kind="sync_dead_letters", store=store, now=now,
                              message=f"{row['n']} sync job(s) for {store.name} were dead-lettered since "
                                      f"{since:%H:%M} UTC; see Sync jobs (status dead) and replay them once fixed.")
    return raised


def sync_latency_check(now: datetime) -> int:
    """Alert per store when publishing is slow: recent p95 edit-to-live, or the oldest pending job, is above
    ALERT_LATENCY_P95_SECONDS (with at least ALERT_LATENCY_MIN_JOBS finished for the percentile)."""
    limit_ms = settings.ALERT_LATENCY_P95_SECONDS * 1000
    since = now - timedelta(minutes=settings.ALERT_LATENCY_MINUTES)
    raised = 0
    for store in Store.objects.filter(is_active=True):
        latencies = list(SyncJob.objects.filter(store=store, finished_at__gte=since, latency_ms__isnull=False)
                         .values_list("latency_ms", flat=True))
        p95 = percentile(latencies, 0.95) if len(latencies) >= settings.ALERT_LATENCY_MIN_JOBS else None
        oldest = SyncJob.objects.filter(store=store).aggregate(
            t=Min("first_edit_at", filter=Q(status__in=[SyncJob.Status.PENDING, SyncJob.Status.RUNNING])))["t"]
        waiting_ms = (now - oldest).total_seconds() * 1000 if oldest else 0
        if (p95 or 0) > limit_ms or waiting_ms > limit_ms:
            detail = []
            if p95 and p95 > limit_ms:
                detail.append(f"p95 edit-to-live {p95 / 1000:.0f} s over the last {settings.ALERT_LATENCY_MINUTES} min")
            if waiting_ms > limit_ms:
                detail.append(f"oldest waiting edit {waiting_ms / 1000:.0f} s old")
            raised += alert_raise(kind="sync_latency", store=store, now=now,
                                  message=f"Publishing to {store.name} is slow: {', '.join(detail)} (threshold "
                                          f"{settings.ALERT_LATENCY_P95_SECONDS} s). See the sync health page.")
    return raised


def alerts_check_when_due() -> str | None:
    """The sweeper's periodic task: evaluate the alerts for one sweeper per ALERT_CHECK_SECONDS across machines
    (a Redis key with that expiry); return a note when alerts were raised."""
    import django_rq
    from django.conf import settings

    if not django_rq.get_connection("default").set("pim:alerts-check", "1", nx=True,
                                                    ex=max(1, settings.ALERT_CHECK_SECONDS)):
        return None
    raised = alerts_check()
    return f"raised {raised} alert(s)" if raised else None
