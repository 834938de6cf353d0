"""Bulk-mutation publish benchmark (issue 17): first publish of a big catalog through bulk operations.

Seeds N products (about 4 variants each) in a child process, starts the simulator in another process (so this
process's peak RSS is the PIM's alone), then runs ``publish_request`` (which chooses the bulk path) and drives the
run's steps in this process, as the RQ jobs would. Prints:
  * the PIM's side: time spent in the run's steps (JSONL generation from the payload builder + uploads + result
    mapping + follow-ups), and this process's peak RSS (target < 300 MB);
  * API points the PIM spent (the simulator's count of the PIM's own requests) vs the per-call path;
  * Shopify's side: the requested-cost points of every bulk line, and the end-to-end time at the simulator's
    documented default rate (the shop's restore rate, see shopify_sim/README.md), next to the per-call path's
    computed throttle time for the same catalog (every productSet + metafieldsSet + publishablePublish + the
    handle lookup of a first publish, at the same 100 points/s).
The simulator runs the lines as fast as it can here (``bulk_mutation_points_per_second`` set high) and the
end-to-end figure at the default rate is computed from the points it accounted, so the bench does not take hours.

Usage: python bench/bench_bulk_publish.py [--products 50000] [--max-file-mb 100]
It uses its own database (pim_bench_bulk) and Redis database 13, and recreates both.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESTORE_RATE = 100.0  # Standard plan, points per second (https://shopify.dev/docs/api/usage/limits#rate-limits)
PER_CALL_EXTRA = 10 + 10 + 4  # metafieldsSet + publishablePublish + the handle lookup of a first publish (≈)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=50000)
    parser.add_argument("--max-file-mb", type=float, default=100)
    parser.add_argument("--db", default="pim_bench_bulk")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between steps (default 1)")
    parser.add_argument("--profile", metavar="DIR", help="write cProfile stats of the PIM's steps and of the "
                        "simulator's bulk-mutation threads into DIR (slower; for finding hot spots)")
    args = parser.parse_args()

    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {args.db}",
                    "-c", f"CREATE DATABASE {args.db}"], check=True, capture_output=True)
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{args.db}",
           "REDIS_URL": "redis://127.0.0.1:6379/13", "LOG_LEVEL": "WARNING",
           "BULK_PUBLISH_POLL_SECONDS": "0", "BULK_PUBLISH_THRESHOLD": "300",
           "BULK_PUBLISH_MAX_FILE_BYTES": str(int(args.max_file_mb * 1024 * 1024)),
           "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    os.environ.update(env)
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    print(f"Seeding {args.products} products (child process) ...", flush=True)
    t = time.monotonic()
    subprocess.run([py, "manage.py", "seed_catalog", "--products", str(args.products), "--seed", "7",
                    "--no-progress"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    print(f"  seeded in {time.monotonic() - t:.0f} s")

    port = _free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"simulator": {"bulk_mutation_points_per_second": 1e9, "request_log_size": 100},
                   "shops": {"bench": {"plan": "standard"}}}, fh)
        config_path = fh.name
    sim_cmd = [py, "-m", "shopify_sim"]
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
        env["BULK_BENCH_PROFILE_DIR"] = os.path.abspath(args.profile)
        sim_cmd = [py, str(ROOT / "bench" / "_profiled_sim.py")]
    sim = subprocess.Popen([*sim_cmd, "--port", str(port), "--config", config_path], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/_sim/health", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        _run(args, base)
    finally:
        sim.terminate()
        sim.wait(timeout=30)
        os.unlink(config_path)


def _run(args, base: str) -> None:
    import django

    django.setup()
    import django_rq

    django_rq.get_connection("default").flushdb()
    from channels import bulk_publish, bulk_publish_results, services
    from channels.bulk_models import BulkPublishOperation, BulkPublishRun
    from channels.bulk_publish import bulk_publish_step
    from channels.models import ChannelAssignment, Store, SyncJob
    from pim.models import Product, Variant

    store = Store.objects.create(name="bench", shop_domain="bench.myshopify.com",
                                 api_base_url=f"{base}/bench.myshopify.com", access_token="shpat_sim_bench")
    ChannelAssignment.objects.bulk_create(
        [ChannelAssignment(store=store, product_id=pk) for pk in Product.objects.values_list("pk", flat=True)],
        batch_size=5000)
    products, variants = Product.objects.count(), Variant.objects.count()
    print(f"Catalog: {products} products, {variants} variants; RSS before publish {_rss_mb():.0f} MB", flush=True)

    phases = _time_phases(bulk_publish, bulk_publish_results)
    from django.db import connection

    queries = [0]

    def count_queries(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    counting = connection.execute_wrapper(count_queries)
    counting.__enter__()
    cpu0 = _cpu_seconds()
    t0 = time.monotonic()
    services.publish_request(store=store)
    run = BulkPublishRun.objects.get(store=store)
    pim_seconds = time.monotonic() - t0
    request_queries, request_seconds = queries[0], pim_seconds
    wall = time.monotonic()
    steps = 0
    profile = None
    if args.profile:
        import cProfile

        profile = cProfile.Profile()
    while run.status not in ("done", "failed"):
        BulkPublishRun.objects.filter(pk=run.pk).update(next_step_at=None)
        t = time.monotonic()
        if profile is not None:
            profile.enable()
        bulk_publish_step(run_id=run.pk)
        if profile is not None:
            profile.disable()
        pim_seconds += time.monotonic() - t
        steps += 1
        run.refresh_from_db()
        if steps % 50 == 0:
            print(f"  step {steps}: {run.status} {run.progress}; PIM side {pim_seconds:.0f} s, RSS {_rss_mb():.0f} MB",
                  flush=True)
        time.sleep(args.poll)  # between polls (BULK_PUBLISH_POLL_SECONDS in production); not counted as PIM time
    wall = time.monotonic() - wall
    cpu = _cpu_seconds() - cpu0
    counting.__exit__(None, None, None)
    if profile is not None:
        profile.dump_stats(os.path.join(args.profile, "pim-steps.pstats"))
    stats = requests.get(f"{base}/_sim/shops/bench/stats", timeout=10).json()
    ops = requests.get(f"{base}/_sim/shops/bench/bulk_operations", timeout=60).json()["bulkOperations"]
    ops = [op for op in ops if op.get("type") == "MUTATION"]
    line_points = sum(float(op["points"] or 0) for op in ops)
    pset_points = sum(float(op["points"] or 0) for op in ops if "productSet" in (op.get("query") or ""))
    done = SyncJob.objects.filter(store=store, status="done").count()
    per_call_points = pset_points + products * PER_CALL_EXTRA
    print(f"Run {run.pk}: {run.status}, lines {run.progress}, failed {run.failed_lines}, jobs done {done}")
    print("  operations: " + ", ".join(f"{o.kind}#{o.index} {o.line_count} lines {o.file_bytes / 1e6:.1f} MB"
                                       for o in BulkPublishOperation.objects.filter(run=run)))
    print(f"PIM side (generation + upload + mapping + follow-ups): {pim_seconds:.1f} s over {steps} steps "
          f"({products / pim_seconds:.0f} products/s); wall {wall:.0f} s with the simulator as fast as it can")
    work = sum(phases.values())
    print("  of which: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items())
          + f"; recording the jobs (publish_request) {request_seconds:.1f} s; polling and bookkeeping "
            f"{pim_seconds - work - request_seconds:.1f} s")
    print(f"  per-product work (generation + mapping + follow-ups + finish): {work:.1f} s "
          f"({products / max(work, 1e-9):.0f} products/s, {1000 * work / products:.1f} ms/product)")
    steps_queries = queries[0] - request_queries
    print(f"  database queries: {request_queries} recording the jobs (publish_request), {steps_queries} in the run's "
          f"steps ({steps_queries / products:.3f} per product; an executemany counts once)")
    print(f"  CPU time of the PIM process over the run: {cpu:.1f} s ({1000 * cpu / products:.1f} ms/product; "
          f"the rest of the PIM side is waiting: the database, the simulator's answers, a loaded machine)")
    print(f"Peak RSS of the PIM process: {_rss_mb():.0f} MB (target < 300 MB)")
    spent = float(stats.get("cost_actual") or 0)
    print(f"API points spent by the PIM: {spent:.0f} ({spent / products:.3f} per product; requests "
          f"{stats.get('requests')}) vs per call ≈ {per_call_points / products:.1f} per product")
    print(f"Shopify's side: {line_points:.0f} requested-cost points over all bulk lines "
          f"({pset_points / products:.1f} per productSet line)")
    print(f"End-to-end at the simulator's default rate (restore rate {RESTORE_RATE:.0f} points/s): "
          f"{line_points / RESTORE_RATE / 3600:.2f} h + PIM side {pim_seconds / 60:.1f} min")
    print(f"Per-call path, computed throttle time for the same catalog: {per_call_points / RESTORE_RATE / 3600:.2f} h "
          f"({per_call_points:.0f} points at {RESTORE_RATE:.0f}/s)")


def _time_phases(bulk_publish, bulk_publish_results) -> dict[str, float]:
    """Wrap the run's per-product phases with timers (bench only): what the PIM side spends per product, apart
    from the polls, which depend on how long Shopify takes and how often the worker looks."""
    phases: dict[str, float] = {}

    def timed(module, name: str, label: str) -> None:
        original = getattr(module, name)
        phases[label] = 0.0

        def wrapper(*args, **kwargs):
            t = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                phases[label] += time.monotonic() - t

        setattr(module, name, wrapper)

    timed(bulk_publish, "_start_product_set_operations", "JSONL generation + upload")
    timed(bulk_publish_results, "_map_file", "result mapping")
    timed(bulk_publish, "_start_follow_ups", "follow-up files + upload")
    timed(bulk_publish, "_finish", "finishing the jobs")
    return phases


if __name__ == "__main__":
    main()
