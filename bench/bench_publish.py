"""Publishing benchmark: full publish, unchanged re-publish, and edit-to-live latency against the simulator.

Runs real ``manage.py rqworker`` processes on PostgreSQL and Redis against a simulated store with Shopify's
standard-plan throttle (2000-point bucket restoring 100/s; ``--plan plus``: 20,000 restoring 1,000/s), and prints:
  * full publish of N products: products/s, points per product, share of the throttle budget used (overall and
    after the initial bucket is spent), API requests by operation, THROTTLED responses, workers' CPU per product;
  * a second full publish of the unchanged catalog: jobs/s, product writes sent (should be 0), CPU per job;
  * single edits with one worker: edit-to-live latency p50/p95/p99 (target p95 < 1 s; ``--edits 0`` skips it).

Usage: python bench/bench_publish.py [--products 2000] [--workers 4] [--edits 40] [--plan standard]
                                     [--batch-size N]  (PUBLISH_BATCH_SIZE of the workers; 1 = one job at a time)
It uses its own database (--db, default pim_bench_publish) and Redis database (--redis-url, default 14), and
recreates both: give other values when another bench uses those.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--plan", default="standard")
    parser.add_argument("--db", default="pim_bench_publish")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="flushed at the start")
    parser.add_argument("--batch-size", type=int, default=None, help="PUBLISH_BATCH_SIZE for the workers")
    parser.add_argument("--media-seconds", type=float, default=None,
                        help="the simulator's media_processing_seconds (default its own, 0.3); a batch waits for "
                             "its new media, so this shows what that wait costs")
    args = parser.parse_args()

    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {args.db}",
                    "-c", f"CREATE DATABASE {args.db}"], check=True, capture_output=True)
    db_url = f"postgres://postgres@127.0.0.1:5432/{args.db}"
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": args.redis_url, "LOG_LEVEL": "WARNING",
           "SYNC_REDISPATCH_AFTER_SECONDS": "20"}
    if args.batch_size is not None:
        env["PUBLISH_BATCH_SIZE"] = str(args.batch_size)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")  # the workers need it too
    if not env.get("FIELD_ENCRYPTION_KEYS"):  # settings_test makes a key per process: share one with the workers
        from cryptography.fernet import Fernet

        env["FIELD_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import django_rq

    django_rq.get_connection("default").flushdb()

    from channels import services
    from channels.models import Store, SyncJob
    from channels.selectors import percentile
    from demo.harness import Harness, HarnessError
    from pim import services as pim_services
    from pim.catalog_seed import catalog_seed
    from pim.models import Product
    from shopify_sim.testing import SimulatorServer

    print(f"Seeding {args.products} products ...", flush=True)
    seeded = catalog_seed(products=args.products, seed=7)
    print(f"  {seeded.products} products, {seeded.variants} variants, {seeded.images} images")

    sim_config = {} if args.media_seconds is None else {"media_processing_seconds": args.media_seconds}
    with SimulatorServer(["bench"], config=sim_config, shop_overrides={"bench": {"plan": args.plan}}) as sim:
        creds = sim.shops["bench"]
        store = Store.objects.create(name="bench", shop_domain=creds.domain, api_base_url=creds.base_url,
                                     access_token=creds.access_token)
        procs = Harness(env=env)
        procs.exit_on_signals()
        try:
            # One worker stays for the edit-to-live part; the others are a role of their own, stopped before it.
            procs.start_workers(1, queues="publish")
            procs.start_workers(args.workers - 1, queues="publish", role="worker-extra")
        except HarnessError as exc:
            procs.close()
            raise SystemExit(f"{exc} (run `manage.py rqworker publish` by hand to see why)") from exc

        def cpu_seconds() -> float:
            """User + system CPU of the workers and their work horses (RQ forks one per drain job)."""
            used = procs.cpu_seconds()
            return used.get("worker", 0.0) + used.get("worker-extra", 0.0)

        def wait_all(timeout: float) -> None:
            deadline = time.monotonic() + timeout
            last_sweep = 0.0
            while time.monotonic() < deadline:
                if not SyncJob.objects.filter(status__in=["pending", "running"]).exists():
                    return
                if time.monotonic() - last_sweep > 5:
                    services.sync_jobs_sweep()
                    last_sweep = time.monotonic()
                time.sleep(0.25)
            raise SystemExit("timed out waiting for the jobs")

        try:
            print(f"load average at start: {os.getloadavg()}; PUBLISH_BATCH_SIZE="
                  f"{env.get('PUBLISH_BATCH_SIZE', 'default')}", flush=True)
            # 1. Full publish.
            cpu_before = cpu_seconds()
            own_before = time.process_time()
            started = time.monotonic()
            services.assignments_bulk_set(store=store, product_ids=Product.objects.values_list("pk", flat=True))
            wait_all(timeout=7200)
            duration = time.monotonic() - started
            cpu_full = cpu_seconds() - cpu_before
            cpu_own = time.process_time() - own_before
            stats = sim.control.stats("bench")
            done = SyncJob.objects.filter(status="done").count()
            dead = SyncJob.objects.filter(status="dead").count()
            bucket = stats["bucket"]
            capacity = bucket.get("maximumAvailable", 2000) + bucket.get("restoreRate", 100) * duration
            print("\n== Full publish ==")
            print(f"products published: {done} (dead-lettered: {dead}) in {duration:.1f}s "
                  f"-> {done / duration:.2f} products/s with {args.workers} workers")
            ops = stats["operations"]
            print(f"API requests: {stats['requests']} ({stats['requests'] / max(done, 1):.2f} per product), "
                  f"by operation: {dict(sorted(ops.items()))}, THROTTLED responses: {stats['throttled']}")
            print(f"points per product (actual cost / products published): {stats['cost_actual'] / max(done, 1):.1f}")
            print(f"cost actual: {stats['cost_actual']:.0f} points; budget available in the run "
                  f"(bucket {bucket.get('maximumAvailable')} + {bucket.get('restoreRate')}/s x {duration:.0f}s) "
                  f"= {capacity:.0f}; share used: {100 * stats['cost_actual'] / capacity:.1f} %")
            restored = bucket.get("restoreRate", 100) * duration
            after_bucket = stats["cost_actual"] - bucket.get("maximumAvailable", 2000)
            print(f"share of the restored budget used once the bucket is spent: "
                  f"{100 * after_bucket / restored:.1f} % ({after_bucket:.0f} of {restored:.0f} points)"
                  if after_bucket > 0 else "the bucket was never spent (the run used less than one bucket)")
            print(f"workers' CPU: {cpu_full:.1f} s -> {1000 * cpu_full / max(done, 1):.1f} ms per product; this process "
                  f"(the simulator's threads + the wait loop): {cpu_own:.1f} s -> {1000 * cpu_own / max(done, 1):.1f} ms "
                  f"per product; load average now {os.getloadavg()}")

            # 2. Second full publish of the unchanged catalog.
            sim.control.clear_requests("bench")
            before_stats = sim.control.stats("bench")
            before = before_stats["operations"].get("productSet", 0)
            cpu_before = cpu_seconds()
            started = time.monotonic()
            jobs = services.publish_request(store=store)
            wait_all(timeout=1800)
            republish = time.monotonic() - started
            cpu_re = cpu_seconds() - cpu_before
            after = sim.control.stats("bench")
            writes = after["operations"].get("productSet", 0) - before
            writes += after["operations"].get("metafieldsSet", 0) - stats["operations"].get("metafieldsSet", 0)
            print("\n== Second full publish (unchanged) ==")
            print(f"jobs: {len(jobs)}, skipped: {SyncJob.objects.filter(pk__in=jobs, status='skipped').count()}, "
                  f"product writes sent: {writes}, API requests: {after['requests'] - before_stats['requests']}, time {republish:.1f}s "
                  f"-> {len(jobs) / republish:.1f} jobs/s with {args.workers} workers")
            print(f"workers' CPU: {cpu_re:.1f} s -> {1000 * cpu_re / max(len(jobs), 1):.1f} ms per job; "
                  f"load average now {os.getloadavg()}")
            if not args.edits:
                return

            # 3. Edit-to-live latency with one worker.
            procs.stop("worker-extra", grace=30)
            # Under load the sweeper re-dispatches jobs that waited in RQ longer than SYNC_REDISPATCH_AFTER_SECONDS;
            # those duplicate entries are no-ops but each costs a fork: let the one worker drain them first, so
            # the edits measure the pipeline and not that backlog.
            publish_queue = django_rq.get_queue("publish")
            drain_deadline = time.monotonic() + 600
            while publish_queue.count and time.monotonic() < drain_deadline:
                time.sleep(0.5)
            time.sleep(1)  # let the bucket refill a little
            products = list(Product.objects.order_by("?")[: args.edits])
            latencies: list[int] = []
            for index, product in enumerate(products):
                pim_services.product_update(product=product, title=f"{product.title} v{index}")
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    job = SyncJob.objects.filter(product=product).order_by("-id").first()
                    if job and job.status not in ("pending", "running"):
                        break
                    time.sleep(0.01)
                if job.latency_ms is not None:
                    latencies.append(job.latency_ms)
                time.sleep(0.3)
            print("\n== Edit-to-live latency, one worker ==")
            print(f"edits: {len(latencies)}; p50 {percentile(latencies, .5)} ms, p95 {percentile(latencies, .95)} ms, "
                  f"p99 {percentile(latencies, .99)} ms, max {max(latencies) if latencies else None} ms")
            print(f"THROTTLED responses over the whole run: {sim.control.stats('bench')['throttled']}")
        finally:
            procs.stop(grace=30)


if __name__ == "__main__":
    main()
