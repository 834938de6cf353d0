"""The outbox: jobs are recorded with the edit, coalesce, and reach RQ only after commit."""

from decimal import Decimal

import pytest
from django.db import transaction

from channels import services
from channels.models import ChannelAssignment, Store, SyncJob
from pim import services as pim_services
from pim.models import Product

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stores(db):
    a = Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="shpat_a")
    b = Store.objects.create(name="B", shop_domain="b.myshopify.com", access_token="shpat_b")
    return a, b


@pytest.fixture
def product():
    return pim_services.product_create(
        title="Tee", option1_name="Size", workflow_state=Product.Workflow.READY,
        variants=[{"sku": "T-S", "option1": "S", "price": Decimal("10")}],
    )


@pytest.fixture
def dispatched(monkeypatch):
    sent: list[list[int]] = []
    monkeypatch.setattr(services, "sync_jobs_dispatch", lambda *, job_ids, delay=None: sent.append(list(job_ids)))
    return sent


def test_one_job_per_store_and_edits_coalesce(stores, product, dispatched):
    a, b = stores
    services.assignment_set(product=product, store=a)
    services.assignment_set(product=product, store=b)
    assert SyncJob.objects.filter(status="pending").count() == 2
    for title in ("Tee 2", "Tee 3", "Tee 4"):
        pim_services.product_update(product=product, title=title)
    jobs = SyncJob.objects.filter(status="pending")
    assert jobs.count() == 2  # coalesced: still one per store
    assert set(jobs.values_list("store__name", flat=True)) == {"A", "B"}
    assert all(j.last_edit_at >= j.first_edit_at for j in jobs)
    assert dispatched, "jobs were dispatched after commit"


def test_job_is_recorded_in_the_same_transaction_and_dispatched_after_commit(stores, product, dispatched):
    a, _ = stores
    ChannelAssignment.objects.create(product=product, store=a)
    with pytest.raises(RuntimeError), transaction.atomic():
        pim_services.product_update(product=product, title="Rolled back")
        assert SyncJob.objects.count() == 1
        raise RuntimeError("edit fails later in the request")
    assert SyncJob.objects.count() == 0
    assert dispatched == []
    with transaction.atomic():
        pim_services.product_update(product=product, title="Kept")
        assert dispatched == []  # not before commit
    assert SyncJob.objects.count() == 1 and len(dispatched) == 1


def test_running_job_does_not_absorb_new_edits(stores, product, dispatched):
    a, _ = stores
    services.assignment_set(product=product, store=a)
    SyncJob.objects.update(status="running")
    pim_services.product_update(product=product, title="During publish")
    assert SyncJob.objects.filter(status="pending").count() == 1
    assert SyncJob.objects.filter(status="running").count() == 1


def test_inactive_store_gets_no_jobs(stores, product, dispatched):
    a, b = stores
    b.is_active = False
    b.save()
    ChannelAssignment.objects.create(product=product, store=a)
    ChannelAssignment.objects.create(product=product, store=b)
    pim_services.product_update(product=product, title="x")
    assert list(SyncJob.objects.values_list("store__name", flat=True)) == ["A"]


def test_dispatch_survives_redis_down(stores, product, settings):
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "publish": {"URL": "redis://127.0.0.1:1/0"}}
    a, _ = stores
    services.assignment_set(product=product, store=a)  # must not raise
    job = SyncJob.objects.get()
    assert job.status == "pending" and job.dispatched_at is None


def test_backoff_follows_the_schedule_for_hours_and_is_capped(settings):
    settings.SYNC_RETRY_SCHEDULE = [1, 5, 30, 60, 300, 1800, 7200, 21600]
    settings.SYNC_RETRY_MAX_SECONDS = 21600
    values = [services.backoff_seconds(n) for n in range(1, 12)]
    assert 0.5 <= values[0] <= 1
    assert 900 <= values[5] <= 1800
    assert all(10800 <= v <= 21600 for v in values[7:])  # the last entry repeats
    # With the default 9 attempts, the 8 waits add up to more than a two-hour outage even at minimum jitter.
    assert sum(0.5 * v for v in settings.SYNC_RETRY_SCHEDULE[: settings.SYNC_JOB_MAX_ATTEMPTS - 1]) > 2 * 3600
    settings.SYNC_RETRY_MAX_SECONDS = 3
    assert all(services.backoff_seconds(n) <= 3 for n in range(1, 12))



@pytest.fixture
def publish_queue():
    import django_rq

    queue = django_rq.get_queue("publish")

    def wipe():
        queue.empty()
        queue.connection.delete(queue.intermediate_queue_key, "outbox:drain-queued:publish")

    wipe()
    yield queue
    wipe()


def _sweep_after_redispatch_delay():
    from datetime import timedelta

    from django.utils import timezone

    SyncJob.objects.update(dispatched_at=timezone.now() - timedelta(hours=1))
    return services.sync_jobs_sweep()


def test_sweeper_does_not_push_a_drain_again_while_one_waits_in_the_queue(stores, product, publish_queue):
    """A backlog slower than SYNC_REDISPATCH_AFTER_SECONDS: each sweep used to push every waiting job again, so the
    publish queue filled with copies that kept the workers from the webhooks queue (the postgres fault bench). The
    outbox wakes one drain per lane: sweeps re-send the job but the queue keeps the one waiting drain."""
    a, b = stores
    services.assignment_set(product=product, store=a)
    services.assignment_set(product=product, store=b)
    first = list(publish_queue.job_ids)
    assert len(first) == 1 and first[0].startswith("drain-publish-")
    for _ in range(3):
        assert _sweep_after_redispatch_delay().dispatched == 2  # counted as sent: a drain waits for them
    assert publish_queue.job_ids == first
    assert all(job.status == "pending" and job.dispatched_at is not None for job in SyncJob.objects.all())


def test_sweeper_wakes_a_drain_again_when_the_queue_lost_it(stores, product, publish_queue):
    a, _ = stores
    services.assignment_set(product=product, store=a)
    (lost,) = publish_queue.job_ids
    conn = publish_queue.connection
    # Redis forgot the drain job (restart without persistence) while its flag survived: the sweep wakes a new one.
    conn.delete(publish_queue.key, publish_queue.intermediate_queue_key, f"rq:job:{lost}")
    assert publish_queue.job_ids == []
    _sweep_after_redispatch_delay()
    (woken,) = publish_queue.job_ids
    assert woken != lost and woken.startswith("drain-publish-")
