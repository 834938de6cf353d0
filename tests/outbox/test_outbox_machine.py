"""The outbox module itself (issue 14): claim under a lease, backoff, dead letter, sweep, lost dispatch, replay and
coalescing, on a test kind whose rows are translation jobs and whose execute the test controls."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import django_rq
import pytest
from django.db import connection, transaction
from django.utils import timezone

from channels.models import Store, TranslationSyncJob
from outbox import kinds as outbox_kinds_module
from outbox import services as outbox
from outbox.kinds import OutboxKind, Outcome
from pim import services as pim_services
from tests.e2e.conftest import redis_clean  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


class Retryable(Exception):
    retryable = True


class Terminal(Exception):
    retryable = False


@pytest.fixture
def world():
    store = Store.objects.create(name="A", shop_domain="a.myshopify.com", access_token="shpat_a")
    products = [pim_services.product_create(title=f"P{i}", option1_name="Size",
                                            variants=[{"sku": f"P{i}", "option1": "S", "price": Decimal("1")}])
                for i in range(3)]
    return store, products


@pytest.fixture
def kind(monkeypatch):
    """A registered test kind on the ``default`` lane; ``behaviour`` decides what executing a row does."""
    behaviour = {"run": lambda row: Outcome("done", "ok", {"registered": 1})}
    k = OutboxKind(name="test_kind", model=TranslationSyncJob, execute=lambda row: behaviour["run"](row),
                   lane="default", key=("store", "product"), folded="done")
    monkeypatch.setattr(outbox_kinds_module, "_kinds", {"test_kind": k})
    object.__setattr__(k, "behaviour", behaviour)  # a frozen dataclass: the test's handle on execute
    return k


def record(kind, store, product, *, dispatch: bool = False) -> int:
    with transaction.atomic():
        pk = outbox.outbox_record(kind=kind, values={"store_id": store.pk, "product_id": product.pk})
        if dispatch:
            outbox.outbox_dispatch_on_commit(kind=kind, ids=[pk])
        return pk


def test_record_coalesces_into_the_waiting_row_of_its_key(kind, world):
    store, (p1, p2, _) = world
    first = record(kind, store, p1)
    assert record(kind, store, p1) == first
    assert record(kind, store, p2) != first
    assert TranslationSyncJob.objects.filter(status="pending").count() == 2
    # Once running, a new change gets a new waiting row (the running one does not absorb it).
    TranslationSyncJob.objects.filter(pk=first).update(status="running")
    assert record(kind, store, p1) != first


def test_two_workers_never_claim_the_same_row_and_a_locked_row_is_skipped_not_waited_on(kind, world):
    store, (p1, p2, _) = world
    a, b = record(kind, store, p1), record(kind, store, p2)
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        with transaction.atomic():
            list(TranslationSyncJob.objects.select_for_update().filter(pk=a))
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        claimed = outbox.outbox_claim(kind=kind, worker="w1")  # a is locked by another transaction: take b
        assert claimed is not None and claimed.pk == b
        assert outbox.outbox_claim(kind=kind, worker="w2") is None  # b is leased, a still locked
    finally:
        release.set()
        holder.join()
    row_b = TranslationSyncJob.objects.get(pk=b)
    assert (row_b.status, row_b.worker, row_b.attempts) == ("running", "w1", 1)
    assert row_b.lease_until > timezone.now()
    second = outbox.outbox_claim(kind=kind, worker="w2")
    assert second.pk == a and outbox.outbox_claim(kind=kind, worker="w1") is None


def test_success_records_status_result_and_fields(kind, world):
    store, (p1, *_) = world
    pk = record(kind, store, p1)
    assert outbox.outbox_execute(kind=kind, row_id=pk, worker="w").status == "done"
    row = TranslationSyncJob.objects.get(pk=pk)
    assert (row.status, row.result, row.registered, row.lease_until) == ("done", "ok", 1, None)
    assert outbox.outbox_execute(kind=kind, row_id=pk).status == outbox.NOT_CLAIMED  # idempotent


def test_retryable_failure_backs_off_on_the_schedule_then_dead_letters(kind, world, settings, monkeypatch):
    settings.SYNC_RETRY_SCHEDULE = [10, 100]
    settings.SYNC_RETRY_MAX_SECONDS = 50
    monkeypatch.setattr(outbox, "outbox_dispatch", lambda **kw: 0)
    store, (p1, *_) = world
    pk = record(kind, store, p1)
    TranslationSyncJob.objects.filter(pk=pk).update(max_attempts=3)

    def fail(row):
        raise Retryable("502 from Shopify")

    kind.behaviour["run"] = fail
    before = timezone.now()
    assert outbox.outbox_execute(kind=kind, row_id=pk).status == outbox.RETRY
    row = TranslationSyncJob.objects.get(pk=pk)
    assert row.status == "pending" and row.attempts == 1 and "502" in row.last_error
    assert before + timedelta(seconds=5) <= row.next_attempt_at <= timezone.now() + timedelta(seconds=10)
    # Not due yet: the drain does not take it.
    assert outbox.outbox_claim(kind=kind, worker="w") is None
    assert outbox.outbox_execute(kind=kind, row_id=pk).status == outbox.RETRY
    row = TranslationSyncJob.objects.get(pk=pk)
    assert row.next_attempt_at <= timezone.now() + timedelta(seconds=50)  # capped by SYNC_RETRY_MAX_SECONDS
    assert outbox.outbox_execute(kind=kind, row_id=pk).status == "dead"  # third attempt of three
    row = TranslationSyncJob.objects.get(pk=pk)
    assert (row.status, row.attempts, row.lease_until) == ("dead", 3, None) and row.finished_at


def test_a_terminal_error_dead_letters_at_once_and_replay_requeues_it(kind, world, monkeypatch):
    sent = []
    monkeypatch.setattr(outbox, "outbox_dispatch", lambda *, kind, ids, delay=None: sent.append(list(ids)))
    store, (p1, *_) = world
    pk = record(kind, store, p1)

    def fail(row):
        raise Terminal("userErrors: bad value")

    kind.behaviour["run"] = fail
    assert outbox.outbox_execute(kind=kind, row_id=pk).status == "dead"
    assert TranslationSyncJob.objects.get(pk=pk).attempts == 1
    with transaction.atomic():
        assert outbox.outbox_replay(kind=kind, ids=[pk]) == 1
        assert sent == []  # dispatched after commit
    assert sent == [[pk]]
    row = TranslationSyncJob.objects.get(pk=pk)
    assert (row.status, row.attempts) == ("pending", 0) and "bad value" in row.last_error
    assert outbox.outbox_replay(kind=kind, ids=[pk]) == 0  # only dead rows replay


def test_a_retried_row_folds_into_a_newer_waiting_row_of_its_key(kind, world, monkeypatch):
    monkeypatch.setattr(outbox, "outbox_dispatch", lambda **kw: 0)
    store, (p1, *_) = world
    old = record(kind, store, p1)
    row = outbox.outbox_claim(kind=kind, worker="w")
    newer = record(kind, store, p1)  # a change while the old row runs
    assert newer != old
    status = outbox.outbox_requeue(kind=kind, row=row, next_at=timezone.now(), error="502")
    assert status == "done"
    assert TranslationSyncJob.objects.get(pk=old).result == f"folded into {newer}"
    assert TranslationSyncJob.objects.filter(status="pending").count() == 1


def test_sweep_reclaims_an_expired_lease(kind, world, monkeypatch):
    monkeypatch.setattr(outbox, "outbox_dispatch", lambda **kw: 0)
    store, (p1, *_) = world
    pk = record(kind, store, p1)
    outbox.outbox_claim(kind=kind, worker="dead-worker:1")
    assert outbox.outbox_sweep_kind(kind=kind).reclaimed == 0  # lease still valid
    TranslationSyncJob.objects.filter(pk=pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert outbox.outbox_sweep_kind(kind=kind).reclaimed == 1
    row = TranslationSyncJob.objects.get(pk=pk)
    assert (row.status, row.lease_until) == ("pending", None) and "dead-worker:1" in row.last_error
    assert outbox.outbox_claim(kind=kind, worker="w").pk == pk


@pytest.mark.usefixtures("redis_clean")
def test_sweep_resends_a_lost_dispatch_and_the_drain_runs_it(kind, world, monkeypatch):
    store, (p1, p2, _) = world
    wake = outbox.outbox_wake

    def redis_down(**kw):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(outbox, "outbox_wake", redis_down)
    a = record(kind, store, p1, dispatch=True)  # must not raise: recorded, not dispatched
    assert TranslationSyncJob.objects.get(pk=a).dispatched_at is None
    monkeypatch.setattr(outbox, "outbox_wake", wake)
    b = record(kind, store, p2, dispatch=True)  # dispatched: one drain job waits on the lane
    queue = django_rq.get_queue("default")
    assert [j.func_name for j in queue.jobs] == ["outbox.tasks.outbox_drain"]
    report = outbox.outbox_sweep_kind(kind=kind)
    assert report.dispatched == 1  # only the lost one; b's hand-off is recent
    assert TranslationSyncJob.objects.get(pk=a).dispatched_at is not None
    assert len(queue.jobs) == 1  # still one waiting drain for the lane
    assert outbox.outbox_drain(lane="default", worker="w") == 2
    assert set(TranslationSyncJob.objects.filter(pk__in=[a, b]).values_list("status", flat=True)) == {"done"}


def test_every_channels_kind_is_registered_with_its_lane():
    from outbox.kinds import outbox_kinds

    assert {(k.name, k.lane) for k in outbox_kinds()} >= {
        ("sync_job", "publish"), ("collection_job", "publish"), ("translation_job", "publish")}


def test_every_inventory_kind_is_registered_on_the_inventory_lane():
    from outbox.kinds import outbox_kinds

    assert {(k.name, k.lane) for k in outbox_kinds()} >= {
        ("inventory_push", "inventory"), ("reconciliation_run", "inventory"), ("webhook_event", "webhooks"),
        ("inventory_sync_set", "default")}


def test_a_kind_with_a_replay_hook_redoes_the_dead_row_its_own_way(kind, world, monkeypatch):
    monkeypatch.setattr(outbox, "outbox_dispatch", lambda **kw: 0)
    store, (p1, p2, _) = world
    pk = record(kind, store, p1)
    TranslationSyncJob.objects.filter(pk=pk).update(status="dead", attempts=3)
    redone = []

    def replay(row):
        redone.append(row.pk)
        TranslationSyncJob.objects.filter(pk=row.pk).update(status="done", result="replayed another way")
        return True

    object.__setattr__(kind, "replay", replay)
    with transaction.atomic():
        assert outbox.outbox_replay(kind=kind, ids=[pk]) == 1
    row = TranslationSyncJob.objects.get(pk=pk)
    assert redone == [pk] and (row.status, row.attempts, row.result) == ("done", 3, "replayed another way")


def test_a_drain_job_may_run_as_long_as_the_longest_lease_of_its_lane(kind, settings):
    settings.RQ_DEFAULT_TIMEOUT = 300
    settings.OUTBOX_DRAIN_SECONDS = 2
    assert outbox._drain_timeout("default") == 300  # the test kind's lease (SYNC_JOB_LEASE_SECONDS) is shorter
    object.__setattr__(kind, "lease_seconds", lambda: 1800.0)
    assert outbox._drain_timeout("default") == 1802


def test_a_lease_is_taken_once_until_it_expires_or_by_its_owner(world):
    from outbox.leases import lease_release, lease_take
    from pim.clock import clock_advance

    store, _ = world
    rows = Store.objects.filter(pk=store.pk)
    take = {"rows": rows, "field": "circuit_open_until", "seconds": 60}  # any nullable datetime column will do
    assert lease_take(**take) and not lease_take(**take)  # one conditional UPDATE: the second taker loses
    clock_advance(seconds=61)  # on the services' clock
    assert lease_take(**take)
    lease_release(rows=rows, field="circuit_open_until")
    assert Store.objects.get(pk=store.pk).circuit_open_until is None and lease_take(**take)


def test_a_sweep_leaves_alone_a_row_its_worker_finished_after_the_sweep_read_it(kind, world, monkeypatch):
    """The sweep's re-queue is conditional: between reading the expired rows and re-queueing one, its worker may
    finish it (or another sweeper re-queue it and a worker claim it); that row must not be put back or run twice."""
    monkeypatch.setattr(outbox, "outbox_dispatch", lambda **kw: 0)
    store, (p1, *_) = world
    pk = record(kind, store, p1)
    row = outbox.outbox_claim(kind=kind, worker="slow-worker:1")
    TranslationSyncJob.objects.filter(pk=pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    stale = TranslationSyncJob.objects.get(pk=pk)  # what the sweep read
    outbox.outbox_succeed(kind=kind, row=row, outcome=Outcome("done", "late but done"))
    from django.db.models import Q

    now = timezone.now()
    assert outbox.outbox_requeue(kind=kind, row=stale, next_at=now, error="lease expired",
                                 expect=Q(status="running", lease_until__lt=now)) == outbox.NOT_REQUEUED
    assert TranslationSyncJob.objects.get(pk=pk).status == "done"


def test_a_batch_kind_drain_may_run_a_lease_per_row_of_its_batch(kind, settings):
    settings.RQ_DEFAULT_TIMEOUT = 300
    settings.OUTBOX_DRAIN_SECONDS = 2
    object.__setattr__(kind, "lease_seconds", lambda: 120.0)
    object.__setattr__(kind, "execute_batch", lambda rows: {})
    object.__setattr__(kind, "batch_size", lambda: 25)
    assert outbox._drain_timeout("default") == 3002


def _two_claims_of_one_row(kind, world, monkeypatch):
    """Worker w1 claims a row, its lease expires, the sweep puts it back and w2 claims it: (first, second)."""
    monkeypatch.setattr(outbox, "outbox_dispatch", lambda **kw: 0)
    store, (p1, *_) = world
    pk = record(kind, store, p1)
    first = outbox.outbox_claim(kind=kind, worker="slow:1")
    TranslationSyncJob.objects.filter(pk=pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert outbox.outbox_sweep_kind(kind=kind).reclaimed == 1
    second = outbox.outbox_claim(kind=kind, worker="fresh:2")
    assert second is not None and second.pk == first.pk and (second.worker, second.attempts) == ("fresh:2", 2)
    return first, second


def _state(pk):
    return TranslationSyncJob.objects.filter(pk=pk).values("status", "worker", "attempts", "result",
                                                          "last_error").get()


@pytest.mark.parametrize("finish", ["succeed", "succeed_many", "retry", "dead"])
def test_a_stale_finisher_does_not_overwrite_the_row_another_worker_claimed_again(kind, world, monkeypatch, caplog,
                                                                                   finish):
    """Issue #14's re-claim race: every finishing write matches the claim (worker and attempt), so the first
    worker finishing late writes nothing (logged) and the second one's finish is recorded."""
    first, second = _two_claims_of_one_row(kind, world, monkeypatch)
    before = _state(first.pk)
    if finish == "succeed":
        reported = outbox.outbox_succeed(kind=kind, row=first, outcome=Outcome("done", "late"))
    elif finish == "succeed_many":
        reported = outbox.outbox_succeed_many(kind=kind, items=[(first, Outcome("done", "late"), None)])
    else:
        reported = outbox.outbox_fail(kind=kind, row=first, exc=(Retryable if finish == "retry" else Terminal)("502"),
                                      retryable=finish == "retry").status
    assert _state(first.pk) == before and before["status"] == "running" and before["worker"] == "fresh:2"
    assert reported in (False, [], "stale")
    assert "lost the row" in caplog.text

    assert outbox.outbox_succeed(kind=kind, row=second, outcome=Outcome("done", "ok")) is True
    assert _state(first.pk)["status"] == "done" and _state(first.pk)["result"] == "ok"


def test_a_stale_finisher_does_not_finish_a_row_the_sweep_put_back(kind, world, monkeypatch):
    monkeypatch.setattr(outbox, "outbox_dispatch", lambda **kw: 0)
    store, (p1, *_) = world
    pk = record(kind, store, p1)
    row = outbox.outbox_claim(kind=kind, worker="slow:1")
    TranslationSyncJob.objects.filter(pk=pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert outbox.outbox_sweep_kind(kind=kind).reclaimed == 1
    reported = outbox.outbox_succeed(kind=kind, row=row, outcome=Outcome("done", "late"))
    assert _state(pk)["status"] == "pending" and reported is False  # still waiting for its next claim
    outbox.outbox_release(kind=kind, rows=[row])  # a stale release does not undo the next claim's attempt either
    assert _state(pk)["attempts"] == 1


def test_a_batch_success_writes_the_rows_it_still_holds_and_skips_the_re_claimed_one(kind, world, monkeypatch):
    monkeypatch.setattr(outbox, "outbox_dispatch", lambda **kw: 0)
    store, (p1, p2, _) = world
    a, b = record(kind, store, p1), record(kind, store, p2)
    rows = outbox.outbox_claim_batch(kind=kind, worker="batch:1", limit=2)
    assert sorted(r.pk for r in rows) == sorted([a, b])
    TranslationSyncJob.objects.filter(pk=b).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert outbox.outbox_sweep_kind(kind=kind).reclaimed == 1
    assert outbox.outbox_claim(kind=kind, worker="other:2", row_id=b) is not None
    written = outbox.outbox_succeed_many(kind=kind, items=[(r, Outcome("done", "batch"), None) for r in rows])
    assert [r.pk for r in written] == [a]
    assert _state(a)["status"] == "done" and (_state(b)["status"], _state(b)["worker"]) == ("running", "other:2")


def test_a_row_run_alone_that_raises_not_run_is_given_back_without_using_an_attempt(kind, world, monkeypatch):
    """``execute`` raising ``NotRun`` (what the row needs is not there yet) releases the row for ``retry_after``
    seconds, as a batch's ``NotRun`` does: never a retry counted, never a dead letter however often it happens."""
    from outbox.kinds import NotRun

    monkeypatch.setattr(outbox, "outbox_dispatch", lambda **kw: 0)
    store, (p1, *_) = world
    pk = record(kind, store, p1)
    TranslationSyncJob.objects.filter(pk=pk).update(max_attempts=2)

    def not_yet(row):
        raise NotRun("a sale may be in flight", retry_after=30)

    kind.behaviour["run"] = not_yet
    for _ in range(3):  # more times than the row's max attempts
        before = timezone.now()
        outcome = outbox.outbox_execute(kind=kind, row_id=pk)
        assert (outcome.status, outcome.detail) == (outbox.RELEASED, "a sale may be in flight")
        row = TranslationSyncJob.objects.get(pk=pk)
        assert (row.status, row.attempts, row.lease_until) == ("pending", 0, None)
        assert before + timedelta(seconds=29) <= row.next_attempt_at <= timezone.now() + timedelta(seconds=30)
    kind.behaviour["run"] = lambda row: Outcome("done", "ok", {"registered": 1})
    assert outbox.outbox_execute(kind=kind, row_id=pk).status == "done"
