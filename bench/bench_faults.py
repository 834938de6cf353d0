"""Fault and load bench: the scenarios of ``tests/faults`` at the issue's full sizes.

Run from the project root (PostgreSQL and Redis must be up; the Shopify simulator runs in this process):

    python bench/bench_faults.py                                   # every scenario at full size (~20+ minutes)
    python bench/bench_faults.py --only outage --outage-seconds 300
    python bench/bench_faults.py --products 60 --outage-seconds 60 --webhook-rate 500 --webhook-seconds 20  # medium

Scenarios (``--only`` takes their keys): ``sigkill`` (SIGKILL every RQ worker and work horse mid-publish, restart),
``redis`` (FLUSHDB of the bench's Redis database, its client connections closed, workers killed and restarted,
while products publish and order webhooks arrive), ``postgres`` (every backend of the bench database terminated
several times mid-run), ``pgcancel`` (the statement recording a publish canceled, as a statement timeout or a
deadlock would: the job must be retried, not dead-lettered), ``outage`` (a store answers 503 for
``--outage-seconds``, default 5 minutes, while products are edited), ``5xx`` (10 % random 500/502/503/504 during
a publish of ``--error-products``; ``--error-applied-share`` of the 500/502/504 come after the request ran), ``webhooks``
(real orders, cancellations and refunds with duplicated, jittered and replayed-out-of-order webhooks), ``load``
(``--webhook-rate`` signed orders/create per second for ``--webhook-seconds`` to gunicorn, default 1,000/s for
a minute), ``gap`` (issue 18: the whole PIM down for ``--gap-hours`` simulated hours while both shops take
``--gap-orders`` orders each with cancellations, refunds and edits; Shopify's retries run out and its
subscriptions are deleted; then recovery: subscriptions repaired, the gap replayed) and ``gap-publish`` (the same
while a full publish of ``--gap-publish-products`` runs; neither is in the default set). Every scenario measures what was lost and what was duplicated (both must be 0) and the time to
converge after the fault ends; the load scenario also accepted/s, p50/p99 latency and the inbox drain time. A
machine that cannot take ``--webhook-rate`` falls behind: no delivery starts after ``--webhook-seconds`` plus
``--send-grace`` (default half of it), and the figures give the rate achieved, how many were sent, and the CPU
seconds of gunicorn, the RQ workers and this process (sender threads + simulator) during the send.

Processes: ``manage.py rqworker webhooks inventory default publish --with-scheduler`` (``--rq-workers``),
``outbox_sweeper --loop``, gunicorn (gthread) for the webhook endpoint. Timings
are the test suite's short ones (4 s leases, retries within seconds; ``tests/faults/scenarios.FAST_TIMINGS``);
the outage scenario scales the circuit breaker and the backoff to the outage as production's are to 5 minutes.

The bench uses its own database (``--database-url``, default ``.../pim_bench_faults``, dropped and re-created:
its name must contain "bench") and Redis database (``--redis-url``, default db 11, flushed; its clients are
disconnected by the Redis scenario).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]


def prepare(args) -> None:
    name = urlsplit(args.database_url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"refusing to drop database {name!r}: the bench database name must contain 'bench'")
    redis_db = urlsplit(args.redis_url).path.lstrip("/") or "0"
    if redis_db in ("0", "15"):
        sys.exit("use a dedicated Redis database for the bench (not 0, not the tests' 15)")
    sys.path.insert(0, str(ROOT))
    from tests.faults.scenarios import FAST_TIMINGS

    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "LOG_LEVEL": "WARNING",
        "PIM_TEST_TIMEOUT_SCALE": "1",  # --timeout is the bound here
        **{k: str(v) for k, v in FAST_TIMINGS.items()},
    })
    import psycopg

    admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def reset(sim) -> None:
    """Empty the database, the Redis database and the simulator between scenarios."""
    import django_rq
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    django_rq.get_connection("default").flushdb()
    sim.reset()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--only", default="sigkill,redis,postgres,pgcancel,outage,5xx,webhooks,load",
                        help="comma-separated scenario keys (default: all)")
    parser.add_argument("--products", type=int, default=200,
                        help="products publishing to two stores in the sigkill, redis and postgres scenarios")
    parser.add_argument("--latency-ms", type=int, default=100, help="simulated Shopify latency during those")
    parser.add_argument("--trickle-rate", type=float, default=50.0,
                        help="order webhooks per second arriving during the redis and postgres scenarios")
    parser.add_argument("--outage-seconds", type=float, default=300.0)
    parser.add_argument("--outage-products", type=int, default=50)
    parser.add_argument("--outage-timings-for", type=float, metavar="SECONDS",
                        help="scale the circuit breaker and backoff as for an outage of this length (default: the "
                             "outage's own; 300 gives production's defaults, e.g. to run a longer outage with them)")
    parser.add_argument("--error-rate", type=float, default=0.10)
    parser.add_argument("--error-products", type=int, default=200)
    parser.add_argument("--error-applied-share", type=float, default=0.5,
                        help="5xx: share of the 500/502/504 answers sent after the request ran (applied, answer lost)")
    parser.add_argument("--orders", type=int, default=200, help="orders in the duplicated/reordered webhooks scenario")
    parser.add_argument("--webhook-rate", type=float, default=1000.0, help="webhooks per second in the load scenario")
    parser.add_argument("--webhook-seconds", type=float, default=60.0)
    parser.add_argument("--send-grace", type=float, default=None,
                        help="load: seconds after --webhook-seconds during which late deliveries still start "
                             "(default: half of --webhook-seconds); the rest are reported as not sent")
    parser.add_argument("--skus", type=int, default=20, help="SKUs the load scenario's orders spread over")
    parser.add_argument("--plan", default="standard", help="Shopify plan of the simulated shops in the load scenario")
    parser.add_argument("--client-threads", type=int, default=32, help="sending threads in the load scenario")
    parser.add_argument("--gap-orders", type=int, default=100, help="orders per shop during the gap scenarios' outage")
    parser.add_argument("--gap-hours", type=float, default=5.0, help="simulated hours the PIM is down in the gap "
                                                                     "scenarios (the simulator's clock)")
    parser.add_argument("--gap-publish-products", type=int, default=200,
                        help="products being published to both stores when the PIM goes down (gap-publish)")
    parser.add_argument("--rq-workers", type=int, default=2)
    parser.add_argument("--worker-queues", default="webhooks inventory default publish",
                        help="queues of each RQ worker in priority order (default: the README's production command)")
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=1800.0, help="max seconds to wait for convergence")
    parser.add_argument("--json", metavar="PATH", help="also write the reports as JSON (e.g. bench/out/faults.json)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pim_bench_faults"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"))
    args = parser.parse_args()
    wanted = [key.strip() for key in args.only.split(",") if key.strip()]

    t_start = time.monotonic()
    prepare(args)
    from shopify_sim.testing import SimulatorServer
    from tests.faults import gap_scenarios, scenarios

    scenarios.SCENARIOS.update(gap_scenarios.SCENARIOS)
    unknown = set(wanted) - set(scenarios.SCENARIOS)
    if unknown:
        sys.exit(f"unknown scenario(s): {', '.join(sorted(unknown))}; known: {', '.join(scenarios.SCENARIOS)}")
    trickle_seconds = 20.0
    sizes = {
        "sigkill": {"products": args.products, "latency_ms": args.latency_ms, "kills": 3},
        "redis": {"products": args.products, "latency_ms": args.latency_ms, "skus": 5,
                  "webhook_rate": args.trickle_rate, "webhook_seconds": trickle_seconds},
        "postgres": {"products": args.products, "latency_ms": args.latency_ms, "skus": 5,
                     "webhook_rate": args.trickle_rate, "webhook_seconds": trickle_seconds, "drops": 5,
                     "drop_every": 3.0},
        "pgcancel": {"products": 10},
        "outage": {"products": args.outage_products, "outage_seconds": args.outage_seconds,
                   "timings": scenarios.outage_timings(args.outage_timings_for or args.outage_seconds)},
        "5xx": {"products": args.error_products, "error_rate": args.error_rate,
                "applied_share": args.error_applied_share},
        "webhooks": {"orders": args.orders, "skus": 5},
        "load": {"rate": args.webhook_rate, "seconds": args.webhook_seconds, "skus": args.skus, "plan": args.plan,
                 "client_threads": args.client_threads, "send_grace": args.send_grace},
        "gap": {"orders": args.gap_orders, "skus": 10, "outage_hours": args.gap_hours},
        "gap-publish": {"orders": args.gap_orders, "skus": 10, "outage_hours": args.gap_hours,
                        "publish_products": args.gap_publish_products},
    }
    sim = SimulatorServer(shops=list(scenarios.SHOPS), config={"webhook_time_scale": 0.001, "webhook_timeout": 5.0})
    sim.start()
    reports = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
            for key in wanted:
                reset(sim)
                env = scenarios.Env(sim=sim, database_url=args.database_url, redis_url=args.redis_url,
                                    log_dir=Path(tmp) / key, rq_workers=args.rq_workers,
                                    worker_queues=args.worker_queues,
                                    gunicorn_workers=args.gunicorn_workers, gunicorn_threads=args.gunicorn_threads,
                                    verbose=not args.quiet)
                print(f"\n== {key} {sizes[key]}", flush=True)
                started = time.monotonic()
                report = scenarios.SCENARIOS[key](env, timeout=args.timeout, **sizes[key])
                report.figures["scenario_seconds"] = time.monotonic() - started
                reports.append(report)
                print(report.summary(), flush=True)
    finally:
        sim.stop()

    print(f"\nfault and load bench ({os.cpu_count()} CPUs, {args.rq_workers} RQ workers, gunicorn "
          f"{args.gunicorn_workers}x{args.gunicorn_threads} gthread, PostgreSQL + Redis on loopback)")
    print(f"  {'scenario':40} {'lost':>5} {'dup':>5} {'converge':>10}  throughput")
    for r in reports:
        conv = f"{r.converge_seconds:8.1f} s" if r.converge_seconds is not None else "     never"
        extra = ""
        if "accepted_per_s" in r.figures:
            extra = (f"{r.figures['accepted_per_s']:.0f} accepted/s (asked {r.params['rate_per_s']:.0f}/s; "
                     f"{r.figures['sent']} of {r.figures['offered']} sent before the window closed), "
                     f"p50 {r.figures['p50_ms']:.0f} ms, p99 {r.figures['p99_ms']:.0f} ms, "
                     f"inbox drained {r.figures['inbox_drained_s'] or float('nan'):.0f} s after the last delivery")
        elif r.figures.get("products_per_s"):
            extra = f"{r.figures['products_per_s']:.1f} products/s with errors"
        elif "other_store_delay_s" in r.figures:
            extra = (f"other store delay {r.figures['other_store_delay_s']:.1f} s, "
                     f"{r.figures['requests_during_outage']} requests to the down store")
        print(f"  {r.scenario:40} {r.lost:5d} {r.duplicated:5d} {conv}  {extra}")
    failed = [r for r in reports if not r.ok]
    print(f"total bench time {time.monotonic() - t_start:.0f} s; "
          + ("all scenarios lost nothing and duplicated nothing" if not failed
             else f"FAILED: {', '.join(r.scenario for r in failed)}"))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps([r.as_dict() for r in reports], indent=2, default=str))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
