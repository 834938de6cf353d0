"""When a store receives catalog changes: its publish mode (issue 17, "When to publish").

- *Immediately* (the default): every change records a sync job at once (``services.sync_jobs_record_for_products``).
- *Scheduled batches*: a change marks the product as waiting on that store (``ChannelAssignment.waiting_since``);
  at each of the store's batch times the sweeper's periodic task records one job per waiting product, so every
  edit made meanwhile goes out in one publish.
- *Only on request*: a change waits until someone publishes (the admin's *Publish now*, *Publish waiting changes*
  or ``manage.py publish``).

Removing a product from a store (and deleting it) always goes out at once: it stops a sale, it is not an edit.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from pim.clock import clock_now

from .models import ChannelAssignment, Store

logger = logging.getLogger(__name__)


def _times(store: Store) -> list[time]:
    return sorted(time(int(t[:2]), int(t[3:5])) for t in store.publish_batch_times or [])


def _slots(store: Store, now: datetime, days: range) -> list[datetime]:
    zone = ZoneInfo(settings.TIME_ZONE)
    local = now.astimezone(zone)
    return [datetime.combine(local.date() + timedelta(days=d), t, tzinfo=zone) for d in days for t in _times(store)]


def store_next_batch_at(*, store: Store, now: datetime | None = None) -> datetime | None:
    """The store's next batch time after ``now`` (None without batch times)."""
    now = now or clock_now()
    return next((s for s in _slots(store, now, range(0, 2)) if s > now), None)


def store_due_batch_at(*, store: Store, now: datetime | None = None) -> datetime | None:
    """The latest batch time at or before ``now`` (today's or yesterday's), or None."""
    now = now or clock_now()
    past = [s for s in _slots(store, now, range(-1, 1)) if s <= now]
    return past[-1] if past else None


def waiting_label(*, store: Store, now: datetime | None = None) -> str:
    """How the product's state on ``store`` reads while a change waits: "waiting for the 14:00 batch"."""
    if store.publish_mode == Store.PublishMode.SCHEDULED:
        upcoming = store_next_batch_at(store=store, now=now)
        if upcoming is None:
            return "waiting: the store has no batch times (publish on request)"
        return f"waiting for the {upcoming.astimezone(ZoneInfo(settings.TIME_ZONE)):%H:%M} batch"
    return "waiting for a publish request"


def assignments_mark_waiting(*, assignment_ids: list[int]) -> int:
    """Mark changed products as waiting on their stores (keeps the first waiting time); return how many."""
    if not assignment_ids:
        return 0
    return ChannelAssignment.objects.filter(pk__in=assignment_ids, waiting_since__isnull=True).update(
        waiting_since=timezone.now())


def publish_waiting(*, store: Store | None = None, changed_before: datetime | None = None) -> list[int]:
    """Record sync jobs for every product waiting on ``store`` (or on every store), or only those changed before
    ``changed_before`` (a batch takes what was edited before its time); return the job ids."""
    from .services import publish_request

    stores = [store] if store is not None else list(Store.objects.filter(is_active=True))
    job_ids: list[int] = []
    for each in stores:
        waiting = ChannelAssignment.objects.filter(store=each, waiting_since__isnull=False)
        if changed_before is not None:
            waiting = waiting.filter(waiting_since__lte=changed_before)
        job_ids += publish_request(store=each, product_ids=list(waiting.values_list("product_id", flat=True)))
    return job_ids


def publish_batches_run(*, now: datetime | None = None) -> int:
    """Run every scheduled store's batch that is due and not yet run; return how many jobs were recorded.

    Called by every sweeper loop: a compare-and-set on the store's last batch time makes sure each batch runs once
    whatever the number of sweepers.
    """
    now = now or clock_now()
    recorded = 0
    for store in Store.objects.filter(is_active=True, publish_mode=Store.PublishMode.SCHEDULED):
        due = store_due_batch_at(store=store, now=now)
        if due is None or (store.publish_batch_last_at and store.publish_batch_last_at >= due):
            continue
        claimed = Store.objects.filter(pk=store.pk).filter(
            Q(publish_batch_last_at__isnull=True) | Q(publish_batch_last_at__lt=due)
        ).update(publish_batch_last_at=due)
        if not claimed:
            continue  # another sweeper runs this batch
        jobs = publish_waiting(store=store, changed_before=due)
        recorded += len(jobs)
        logger.info("store %s: %s batch queued %s product(s)", store.name, f"{due:%H:%M}", len(jobs))
    return recorded
