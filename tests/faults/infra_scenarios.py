"""Faults of the PIM's own infrastructure: RQ workers SIGKILLed mid-publish, Redis flushed and restarted,
PostgreSQL connections dropped and a statement canceled mid-job."""

from __future__ import annotations

import contextlib
import time
from urllib.parse import urlsplit

from .catalog import (
    assign,
    create_catalog,
    edit_catalog,
    learn_buckets,
    make_stores,
    publish_audit,
    publish_figures,
    stock_world,
)
from .harness import SHOPS, Audit, Env, FaultReport, converge, running, wait_until
from .traffic import OrderFactory, WebhookSender, inbox_figures, stock_audit


def redis_db() -> int:
    from django.conf import settings

    path = urlsplit(settings.RQ_QUEUES["default"]["URL"]).path.strip("/")
    return int(path or 0)


def redis_restart() -> dict[str, int]:
    """What a Redis restart does to this database, without touching the other databases' clients: FLUSHDB
    (queued RQ jobs, registries, throttle budgets, cached tokens, drain flags all gone), then close every normal
    client connection whose current database is this one (redis-py and RQ reconnect). The script cache is not
    flushed (it is server-wide)."""
    import django_rq

    conn = django_rq.get_connection("default")
    db = redis_db()
    keys = conn.dbsize()
    conn.flushdb()
    me = conn.client_id()
    killed = 0
    for client in conn.client_list(_type="normal"):
        if int(client.get("db", -1)) == db and int(client["id"]) != me:
            with contextlib.suppress(Exception):
                killed += int(conn.client_kill_filter(_id=client["id"]))
    return {"keys_flushed": keys, "connections_killed": killed}


def postgres_drop() -> int:
    """Terminate every other backend of this (test) database: workers, sweepers, gunicorn."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return int(cursor.fetchone()[0])


# --- the scenarios ----------------------------------------------------------------------------------------------


def _create_in_flight(latency_ms: int):
    """A running first publish whose attempt is past the handle lookup: its productSet create is in flight."""
    from datetime import timedelta

    from django.utils import timezone

    from channels.models import ChannelAssignment, SyncAttempt

    now = timezone.now()
    window = (now - timedelta(milliseconds=1.9 * latency_ms), now - timedelta(milliseconds=1.45 * latency_ms))
    for attempt in SyncAttempt.objects.filter(outcome="running", job__status="running",
                                              started_at__range=window).select_related("job"):
        if ChannelAssignment.objects.filter(store_id=attempt.job.store_id, product_id=attempt.job.product_id,
                                            shopify_product_id="").exists():
            return attempt
    return None


def orphans_adopted(env: Env) -> int:
    """Killed attempts whose product Shopify created anyway (before the retry started): the retry adopted it."""
    from datetime import timedelta

    from django.utils.dateparse import parse_datetime

    from channels.models import SyncAttempt

    adopted = 0
    live = {shop: {p["handle"]: p for p in env.control.products(shop)} for shop in SHOPS}
    for attempt in SyncAttempt.objects.filter(outcome="running").select_related("job__store", "job__product"):
        retry = (SyncAttempt.objects.filter(job__store=attempt.job.store, job__product=attempt.job.product,
                                            started_at__gt=attempt.started_at)
                 .order_by("started_at").first())  # the job itself, or the newer job it was folded into
        node = live.get(attempt.job.store.name, {}).get(attempt.job.product.handle if attempt.job.product else "")
        if retry is None or node is None:
            continue
        created = parse_datetime(node["createdAt"])
        if attempt.started_at - timedelta(seconds=1) <= created <= retry.started_at - timedelta(seconds=1):
            adopted += 1
    return adopted


def scenario_worker_sigkill(env: Env, *, products: int = 12, latency_ms: int = 250, kills: int = 2,
                            timeout: float = 120.0) -> FaultReport:
    """SIGKILL every worker (and work horse) while products publish to two stores and edits arrive; restart them.

    The first kill waits for a first publish whose productSet create is in flight (Shopify creates the product,
    the PIM never learns its id); later kills hit the edit wave. The sweeper reclaims the jobs whose lease
    expired; the orphan product is adopted by handle, not created twice.
    """
    report = FaultReport("worker SIGKILL during publishes",
                         {"products": products, "stores": 2, "latency_ms": latency_ms, "kills": kills,
                          "workers": env.rq_workers})
    with running(env) as cluster:
        from channels.models import SyncJob

        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        stores = make_stores(env)
        learn_buckets(stores.values())
        catalog = create_catalog("KIL", products)
        cluster.wait_workers()
        for shop in SHOPS:
            env.control.latency(shop, latency_ms)
        started = time.monotonic()
        assign(catalog, stores.values())
        killed, running_at_kill, edits, targeted = 0, [], 0, 0
        for k in range(kills):
            # Publish jobs run in batches (PUBLISH_BATCH_SIZE): a batch's jobs are all running until the batch ends
            # and then all done at once, so wait for running jobs, not for a share of them done.
            if k == 0:
                wait_until(lambda: SyncJob.objects.filter(status="running").exists(), timeout=60, interval=0.02)
                targeted += bool(wait_until(lambda: _create_in_flight(latency_ms), timeout=10, interval=0.02))
            else:
                if k == 1:
                    edits += edit_catalog(catalog, 1)
                wait_until(lambda: SyncJob.objects.filter(status="running").exists(), timeout=60, interval=0.05)
            running_at_kill.append(SyncJob.objects.filter(status="running").count())
            killed += cluster.kill_workers()
            env.log(f"kill {k + 1}: {running_at_kill[-1]} jobs running")
            cluster.start_workers()
        if kills < 2:
            edits += edit_catalog(catalog, 1)
        fault_end = time.monotonic()
        seconds, audit = converge(lambda: publish_audit(env, stores.values()), since=fault_end, timeout=timeout)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = audit.lost, audit.duplicated, audit.problems
        report.figures.update(processes_killed=killed, jobs_running_at_kills=running_at_kill,
                              kill_during_create=targeted, orphan_creates_adopted=orphans_adopted(env), edits=edits,
                              total_seconds=time.monotonic() - started, **publish_figures(stores.values(), env))
    return report


def scenario_redis_restart(env: Env, *, products: int = 12, latency_ms: int = 150, skus: int = 3,
                           webhook_rate: float = 20.0, webhook_seconds: float = 6.0, timeout: float = 120.0
                           ) -> FaultReport:
    """Redis forgets everything mid-run (FLUSHDB and dropped connections, workers killed and restarted) while
    products publish (one store on the client-credentials grant, whose cached token is lost too) and order
    webhooks arrive through gunicorn. The sweepers re-dispatch from PostgreSQL."""
    report = FaultReport("Redis restart", {"products": products, "latency_ms": latency_ms, "skus": skus,
                                           "webhooks_per_s": webhook_rate, "webhook_seconds": webhook_seconds})
    with running(env) as cluster:
        from channels.models import SyncJob

        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        cluster.start_web()
        stores = make_stores(env, inventory=True, client_credentials=("shop-b",))
        world = stock_world(env, stores, skus=skus, stock=10_000)
        catalog = create_catalog("RED", products)
        learn_buckets(stores.values())
        factory = OrderFactory(world)
        deliveries, sold, refs = factory.batch(int(webhook_rate * webhook_seconds), duplicate_share=0.1)
        cluster.wait_workers()
        cluster.wait_web()
        for shop in SHOPS:
            env.control.latency(shop, latency_ms)
        started = time.monotonic()
        sender = WebhookSender(cluster.web_url, threads=4).start(deliveries, webhook_rate)
        assign(catalog, stores.values())
        wait_until(lambda: SyncJob.objects.filter(status="done").count() >= products // 2, timeout=60, interval=0.05)
        time.sleep(max(0.0, started + webhook_seconds / 2 - time.monotonic()))
        killed = cluster.kill_workers()
        wiped = redis_restart()
        env.log(f"Redis restarted: {wiped}, {killed} worker processes killed")
        cluster.start_workers()
        fault_end = time.monotonic()
        sender.join()

        def check() -> Audit:
            if not sender.done:
                return Audit(settled=False)
            return publish_audit(env, stores.values()) + stock_audit(world, sold=sold, expected_refs=refs)

        seconds, audit = converge(check, since=fault_end, timeout=timeout)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = audit.lost, audit.duplicated, audit.problems
        report.figures.update(wiped, processes_killed=killed, **publish_figures(stores.values(), env),
                              **inbox_figures(), webhooks_unique=len(refs), webhooks_sent=len(deliveries),
                              webhooks_gave_up=sender.stats.gave_up)
    return report


def scenario_postgres_drop(env: Env, *, products: int = 12, latency_ms: int = 150, skus: int = 3,
                           webhook_rate: float = 20.0, webhook_seconds: float = 6.0, drops: int = 3,
                           drop_every: float = 1.5, timeout: float = 120.0) -> FaultReport:
    """Terminate every backend of the database (workers, horses, sweepers, gunicorn) several times while products
    publish and order webhooks arrive; everyone must reconnect and nothing may be lost."""
    report = FaultReport("PostgreSQL connection drop",
                         {"products": products, "latency_ms": latency_ms, "skus": skus, "drops": drops,
                          "webhooks_per_s": webhook_rate, "webhook_seconds": webhook_seconds})
    with running(env) as cluster:
        from channels.models import SyncJob

        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        cluster.start_web()
        stores = make_stores(env, inventory=True)
        world = stock_world(env, stores, skus=skus, stock=10_000)
        catalog = create_catalog("PGD", products)
        learn_buckets(stores.values())
        deliveries, sold, refs = OrderFactory(world).batch(int(webhook_rate * webhook_seconds), duplicate_share=0.1)
        cluster.wait_workers()
        cluster.wait_web()
        for shop in SHOPS:
            env.control.latency(shop, latency_ms)
        sender = WebhookSender(cluster.web_url, threads=4).start(deliveries, webhook_rate)
        assign(catalog, stores.values())
        wait_until(lambda: SyncJob.objects.filter(status__in=["done", "running"]).count() >= 2, timeout=30,
                   interval=0.05)
        terminated = []
        for i in range(drops):
            if i == drops // 2:
                edit_catalog(catalog, 1)
            terminated.append(postgres_drop())
            env.log(f"terminated {terminated[-1]} backends")
            time.sleep(drop_every)
        fault_end = time.monotonic()
        sender.join()
        alive = {"workers": cluster.alive("worker"), "web": cluster.alive("web"),
                 "sweepers": cluster.alive("outbox_sweeper")}

        def check() -> Audit:
            if not sender.done:
                return Audit(settled=False)
            return publish_audit(env, stores.values()) + stock_audit(world, sold=sold, expected_refs=refs)

        seconds, audit = converge(check, since=fault_end, timeout=timeout)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = audit.lost, audit.duplicated, audit.problems
        if alive["workers"] < env.rq_workers or not alive["web"] or alive["sweepers"] < 1:
            report.problems.append(f"processes died: {alive}")
        report.figures.update(backends_terminated=sum(terminated), **publish_figures(stores.values(), env),
                              **inbox_figures(), webhooks_unique=len(refs), webhook_http_retries=sender.stats.retries,
                              webhooks_gave_up=sender.stats.gave_up, processes_alive=alive)
    return report


def scenario_postgres_statement_error(env: Env, *, products: int = 4, latency_ms: int = 100, timeout: float = 60.0
                                      ) -> FaultReport:
    """A transient database error inside a publish job whose connection survives it: the statement that records
    the write is canceled (as ``statement_timeout``, ``lock_timeout``, an operator's ``pg_cancel_backend`` or a
    deadlock victim would be). The job must be retried, like the inventory pipeline retries database errors,
    not dead-lettered (a dead-lettered edit waits for a manager's Replay: lost).

    This process holds a row lock on the store's channel assignments while the products are edited, so each
    job blocks on the ``UPDATE`` that follows its Shopify write; those statements are then canceled."""
    import psycopg

    report = FaultReport("PostgreSQL statement canceled mid-job", {"products": products, "latency_ms": latency_ms})
    with running(env) as cluster:
        from channels.models import SyncJob

        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        store = make_stores(env)["shop-a"]
        learn_buckets([store])
        catalog = create_catalog("CAN", products)
        cluster.wait_workers()
        assign(catalog, [store])
        first, audit = converge(lambda: publish_audit(env, [store]), since=time.monotonic(), timeout=60, settle=0)
        if first is None:
            report.problems.append("initial publish did not finish: " + "; ".join(audit.problems[:5]))
            return report
        env.control.latency("shop-a", latency_ms)
        canceled = 0
        with psycopg.connect(env.database_url) as locker, psycopg.connect(env.database_url,
                                                                            autocommit=True) as admin:
            locker.execute("SELECT id FROM channels_channelassignment WHERE store_id = %s FOR UPDATE", [store.pk])
            edit_catalog(catalog, 1, prices=False)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and canceled < min(products, env.rq_workers):
                blocked = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
                    "AND query ILIKE %s", ['UPDATE "channels_channelassignment"%']).fetchall()
                for (pid,) in blocked:
                    canceled += int(admin.execute("SELECT pg_cancel_backend(%s)", [pid]).fetchone()[0])
                time.sleep(0.1)
            locker.rollback()
        fault_end = time.monotonic()
        env.log(f"canceled {canceled} statements")
        seconds, audit = converge(lambda: publish_audit(env, [store]), since=fault_end, timeout=timeout,
                                  stuck_after=10)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = audit.lost, audit.duplicated, audit.problems
        dead = SyncJob.objects.filter(status="dead").count()
        report.lost += dead  # the edit waits for a manual Replay
        if not canceled:
            report.problems.append("no statement was canceled (no job blocked on the assignment lock)")
        report.figures.update(statements_canceled=canceled, **publish_figures([store], env))
    return report
