"""The process harness (``demo.harness``) itself: workers register, a kill leaves no process behind (work horses
included), a worker that cannot start is reported, and a harness ended by SIGTERM ends its children."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import django_rq
import pytest

from demo.harness import ROOT, Harness, HarnessError, descendants, process_gone

from .conftest import e2e_harness, wait_for

pytestmark = pytest.mark.e2e


def test_workers_register_and_a_kill_leaves_no_process(transactional_db, redis_clean):
    harness = e2e_harness()
    try:
        harness.start_workers(1, queues="default")
        harness.start_sweeper(1)
        (worker,) = harness.procs["worker"]
        assert worker.pid in harness.registered_worker_pids()
        # A job that runs long: the worker forks a work horse for it (which calls setsid).
        job = django_rq.get_queue("default").enqueue(time.sleep, 120)
        wait_for(lambda: job.get_status(refresh=True) == "started", timeout=30, what="the job to start")
        started = [p.pid for ps in harness.procs.values() for p in ps]
        pids = started + [d for pid in started for d in descendants(pid)]
        assert len(pids) >= 3  # the worker, its work horse, the sweeper
        assert harness.alive("outbox_sweeper") == 1
        killed = harness.kill()
        assert killed == len(pids)
        assert [pid for pid in pids if not process_gone(pid)] == []
        assert harness.procs == {}
    finally:
        harness.close()


def test_stop_ends_a_busy_worker_after_its_grace(transactional_db, redis_clean):
    harness = e2e_harness()
    try:
        harness.start_workers(1, queues="default")
        (worker,) = harness.procs["worker"]
        job = django_rq.get_queue("default").enqueue(time.sleep, 120)
        wait_for(lambda: job.get_status(refresh=True) == "started", timeout=30, what="the job to start")
        pids = [worker.pid, *descendants(worker.pid)]
        harness.stop(grace=1)  # SIGTERM: RQ's warm shutdown waits for the job, so the grace runs out
        assert [pid for pid in pids if not process_gone(pid)] == []
    finally:
        harness.close()


def test_a_worker_that_cannot_start_is_reported(transactional_db, redis_clean):
    harness = e2e_harness()
    try:
        harness.manage("worker", "rqworker", "--no-such-option")
        with pytest.raises(HarnessError, match="exited at start"):
            harness.wait_workers(timeout=60)
    finally:
        harness.close()


def test_sigterm_to_the_owner_ends_its_children(tmp_path):
    owner = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from demo.harness import Harness
        harness = Harness()
        harness.exit_on_signals()
        child = harness.start("sleeper", [sys.executable, "-c", "import time; time.sleep(120)"])
        print(child.pid, flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", owner], stdout=subprocess.PIPE, text=True)
    try:
        child = int(proc.stdout.readline())
        assert not process_gone(child)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
        wait_for(lambda: process_gone(child), timeout=10, what="the owner's child to end")
    finally:
        proc.kill()
        proc.wait()


def test_a_failed_start_names_the_log(tmp_path):
    with Harness(log_dir=tmp_path) as harness:
        harness.start("web", [sys.executable, "-c", "raise SystemExit(3)"])
        harness.web_url = "http://127.0.0.1:9"
        with pytest.raises(HarnessError, match=str(tmp_path)):
            harness.wait_web(timeout=30)
        assert (tmp_path / "web-0.log").exists()
