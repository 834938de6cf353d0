"""Read-side queries of the publishing pipeline: health figures per store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Min, Q
from django.utils import timezone

from .models import ChannelAssignment, Store, SyncAttempt, SyncJob


def percentile(values: list[int], share: float) -> int | None:
    """Return the nearest-rank percentile of ``values`` (None for an empty list)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(round(share * len(ordered) + 0.4999)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class HealthWindow:
    label: str
    finished: int
    retry_rate: float
    p50: int | None
    p95: int | None
    p99: int | None
    bar50: int = 0
    bar95: int = 0
    bar99: int = 0


@dataclass
class StoreHealth:
    store: Store
    circuit: str
    pending: int
    running: int
    held: int
    dead: int
    oldest_pending_seconds: float | None
    windows: list[HealthWindow] = field(default_factory=list)
    # Figures other apps add (label, value), e.g. the inventory push backlog; see HEALTH_SECTIONS.
    extras: list[tuple[str, str]] = field(default_factory=list)


# Apps above channels add per-store health figures here in their AppConfig.ready():
# a callable (store) -> [(label, value), ...]. Channels never imports them.
HEALTH_SECTIONS: list[Callable[[Store], list[tuple[str, str]]]] = []


def store_health(*, store: Store, now=None) -> StoreHealth:
    """Return the store's queue depth, oldest pending age, dead letters, retry rate and latency percentiles."""
    now = now or timezone.now()
    counts = SyncJob.objects.filter(store=store).aggregate(
        pending=Count("pk", filter=Q(status=SyncJob.Status.PENDING)),
        running=Count("pk", filter=Q(status=SyncJob.Status.RUNNING)),
        dead=Count("pk", filter=Q(status=SyncJob.Status.DEAD)),
        oldest=Min("first_edit_at", filter=Q(status=SyncJob.Status.PENDING)),
    )
    held = ChannelAssignment.objects.filter(store=store, held=True).count()
    circuit = "open" if store.circuit_is_open(now) else ("half-open" if store.circuit_failures else "closed")
    health = StoreHealth(
        store=store,
        circuit=circuit,
        pending=counts["pending"],
        running=counts["running"],
        held=held,
        dead=counts["dead"],
        oldest_pending_seconds=(now - counts["oldest"]).total_seconds() if counts["oldest"] else None,
    )
    for label, span in (("last hour", timedelta(hours=1)), ("last day", timedelta(days=1))):
        since = now - span
        latencies = list(
            SyncJob.objects.filter(store=store, finished_at__gte=since, latency_ms__isnull=False).values_list(
                "latency_ms", flat=True
            )
        )
        attempts = SyncAttempt.objects.filter(job__store=store, started_at__gte=since).aggregate(
            total=Count("pk"), retries=Count("pk", filter=Q(outcome__in=["retry", "error"]))
        )
        window = HealthWindow(
            label=label,
            finished=len(latencies),
            retry_rate=100.0 * attempts["retries"] / attempts["total"] if attempts["total"] else 0.0,
            p50=percentile(latencies, 0.50),
            p95=percentile(latencies, 0.95),
            p99=percentile(latencies, 0.99),
        )
        if window.p99:
            scale = 300 / window.p99
            window.bar50 = int(window.p50 * scale)
            window.bar95 = int((window.p95 - window.p50) * scale)
            window.bar99 = int((window.p99 - window.p95) * scale)
        health.windows.append(window)
    for section in HEALTH_SECTIONS:
        health.extras.extend(section(store))
    return health
