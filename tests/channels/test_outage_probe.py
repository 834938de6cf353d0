"""Issue 18: a Shopify outage of hours dead-letters nothing. The half-open circuit's probe is the store's oldest job
whatever its backoff, so in an outage it fails at the circuit's pace (at most SYNC_CIRCUIT_MAX_OPEN_SECONDS apart):
on the full-size outage bench it used its 8 attempts in 5 minutes and was dead-lettered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from channels import services
from channels.models import SyncJob

from .conftest import make_product

pytestmark = pytest.mark.django_db(transaction=True)


def probe(job: SyncJob) -> None:
    services._probe_half_open(timezone.now())  # what the sweep does before dispatching
    services.sync_job_execute(job_id=job.pk, worker="test")


def test_the_probe_of_a_long_outage_is_not_dead_lettered_before_its_schedule_has_run(sim_store, shopify_sim,
                                                                                     settings):
    settings.SYNC_CIRCUIT_MAX_OPEN_SECONDS = 0  # half-open again at once: probes back to back
    product = make_product(title="Probe Tee", sku_prefix="PRB")
    services.assignment_set(product=product, store=sim_store)
    job = SyncJob.objects.get()
    shopify_sim.control.outage("shop-a", 3600)
    for _ in range(2 * job.max_attempts):
        probe(job)
    job.refresh_from_db()
    assert job.status == "pending" and job.attempts == 2 * job.max_attempts, (job.status, job.attempts)
    assert "503" in job.last_error

    # The outage ends: the next probe publishes it.
    shopify_sim.control.clear_faults("shop-a")
    probe(job)
    job.refresh_from_db()
    assert job.status == "done"


def test_a_job_failing_longer_than_its_whole_schedule_is_dead_lettered(sim_store, shopify_sim, settings):
    settings.SYNC_CIRCUIT_MAX_OPEN_SECONDS = 0
    product = make_product(title="Poison Tee", sku_prefix="PSN")
    services.assignment_set(product=product, store=sim_store)
    job = SyncJob.objects.get()
    shopify_sim.control.outage("shop-a", 3600)
    # Its edit is older than the schedule's 8 waits at their shortest (4.3 h with the default schedule).
    SyncJob.objects.filter(pk=job.pk).update(first_edit_at=F("first_edit_at") - timedelta(hours=5))
    for _ in range(job.max_attempts):
        probe(job)
    job.refresh_from_db()
    assert job.status == "dead" and job.attempts == job.max_attempts
