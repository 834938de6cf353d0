"""The fault suite's harness: the environment (``Env``), the PIM's processes (``Cluster``: RQ workers, the
sweeper, gunicorn) and the measures every scenario shares (``FaultReport``, ``Audit``, ``converge``). The scenarios
themselves are in the ``*_scenarios`` modules; ``scenarios.SCENARIOS`` lists them."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_PATH = "/shopify/webhooks/"
SAMPLES = ROOT / "shopify_sim" / "samples"
SHOPS = ("shop-a", "shop-b")

# Short timings so leases, retries and the circuit breaker play out in seconds (the e2e suite's, plus the
# inventory leases). This process and every subprocess use the same values.
FAST_TIMINGS: dict[str, int | float] = {
    "SYNC_JOB_LEASE_SECONDS": 4,
    "SYNC_RETRY_MAX_SECONDS": 3.0,
    "SYNC_REDISPATCH_AFTER_SECONDS": 2,
    "SYNC_CIRCUIT_THRESHOLD": 3,
    "SYNC_CIRCUIT_MAX_OPEN_SECONDS": 2,
    "SYNC_JOB_MAX_ATTEMPTS": 8,
    "WEBHOOK_LEASE_SECONDS": 4,
    "INVENTORY_LEASE_SECONDS": 4,
    "INVENTORY_CHECK_DELAY_SECONDS": 0.5,
    "SHOPIFY_READ_TIMEOUT": 10.0,
    # The sweeper queues the nightly drift sweep once a day after this hour (a Redis key remembers it): at 0 it
    # runs at the start of every scenario, concurrently with the faults, whatever the time of day.
    "DRIFT_SWEEP_HOUR": 0,
}


# --- the environment and the processes ------------------------------------------------------------------------


@dataclass
class Env:
    """Where a scenario runs: the simulator, the database and Redis the subprocesses share with this process."""

    sim: Any  # shopify_sim.testing.SimulatorServer
    database_url: str
    redis_url: str
    log_dir: Path
    timings: dict[str, int | float] = field(default_factory=lambda: dict(FAST_TIMINGS))
    rq_workers: int = 2
    # The queues each RQ worker listens to, in priority order (README's production command by default).
    worker_queues: str = "webhooks inventory default publish"
    gunicorn_workers: int = 2
    gunicorn_threads: int = 4
    verbose: bool = False
    _control: Any = None

    @property
    def control(self):
        if self._control is None:
            self._control = self.sim.control
        return self._control

    def log(self, message: str) -> None:
        if self.verbose:
            print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (RQ work horses call setsid: a process-group kill misses them)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children[ppid].append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cpu_seconds(pid: int, *, with_children: bool) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: children waited for (finished work horses)
    return ticks / os.sysconf("SC_CLK_TCK")


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """The PIM's processes for one scenario: RQ workers, the sweeper and (optionally) gunicorn."""

    def __init__(self, env: Env, timings: dict[str, int | float]):
        from django.conf import settings

        self.env = env
        self.procs: dict[str, list[subprocess.Popen]] = defaultdict(list)
        self.logs: list[Path] = []
        self.web_url = ""
        self.environ = {
            **os.environ,
            **{k: str(v) for k, v in timings.items()},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": env.database_url,
            "REDIS_URL": env.redis_url,
            "DEBUG": "0",
            "SECRET_KEY": "faults-" + uuid.uuid4().hex,
            # The store credentials were encrypted by this process: the others need its key.
            "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        env.log_dir.mkdir(parents=True, exist_ok=True)

    # processes ---------------------------------------------------------------------------------------------
    def _start(self, role: str, argv: list[str]) -> subprocess.Popen:
        log = self.env.log_dir / f"{role}-{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=self.environ, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs[role].append(proc)
        return proc

    def start_workers(self, count: int | None = None, *, wait: bool = True) -> None:
        count = count or self.env.rq_workers
        for _ in range(count):
            self._start("worker", [sys.executable, "manage.py", "rqworker", *self.env.worker_queues.split(),
                                   "--with-scheduler"])
        if wait:
            self.wait_workers(count)

    def wait_workers(self, count: int, timeout: float = 20.0) -> None:
        import django_rq
        from rq import Worker

        conn = django_rq.get_connection("default")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if Worker.count(connection=conn) >= count:
                return
            dead = [p for p in self.procs["worker"] if p.poll() is not None]
            if dead:
                raise RuntimeError(f"an RQ worker exited at start (see {self.env.log_dir})")
            time.sleep(0.1)
        raise RuntimeError(f"RQ workers did not register within {timeout}s (see {self.env.log_dir})")

    def start_sweepers(self, interval: float = 1.0) -> None:
        # One outbox_sweeper covers every kind of durable work and the apps' periodic tasks (issue 14).
        self._start("outbox_sweeper", [sys.executable, "manage.py", "outbox_sweeper", "--loop", "--interval",
                                       str(interval)])

    def start_web(self) -> str:
        """Start gunicorn on loopback serving the project; return its base URL once it answers."""
        port = free_port()
        self._start("web", [
            sys.executable, "-m", "gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{port}",
            "-w", str(self.env.gunicorn_workers), "-k", "gthread", "--threads", str(self.env.gunicorn_threads),
            "--backlog", "2048", "--log-level", "warning", "--chdir", str(ROOT),
        ])
        self.web_url = f"http://127.0.0.1:{port}"
        return self.web_url

    def wait_web(self, timeout: float = 30.0) -> None:
        """Wait until every gunicorn worker has loaded Django (unsigned posts answer 401)."""
        deadline = time.monotonic() + timeout
        port = urlsplit(self.web_url).port
        ok = 0
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("POST", WEBHOOK_PATH, body=b"{}", headers={"Content-Type": "application/json"})
                status = conn.getresponse().status
                conn.close()
                if status == 401:
                    ok += 1
                    if ok >= 2 * self.env.gunicorn_workers:
                        return
                    continue
            except OSError:
                pass
            if any(p.poll() is not None for p in self.procs["web"]):
                raise RuntimeError(f"gunicorn exited (see {self.env.log_dir})")
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not answer")

    def kill_workers(self) -> int:
        """SIGKILL every RQ worker and its work horse and scheduler at once (a machine dying); return how many
        processes died."""
        workers = self.procs.pop("worker", [])
        victims = []
        for proc in workers:
            victims += [proc.pid, *_descendants(proc.pid)]
        for pid in victims:
            _signal(pid, signal.SIGKILL)
        for proc in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        deadline = time.monotonic() + 10  # the work horses were the workers' children: gone or zombies soon
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() and not _zombie(pid)
                                                  for pid in victims):
            time.sleep(0.02)
        return len(victims)

    def alive(self, role: str) -> int:
        return sum(1 for p in self.procs.get(role, []) if p.poll() is None)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by each role's processes (their live descendants and finished children
        included), and by this process (``bench``: the scenario itself, its sending threads and an in-process
        simulator). Take the difference of two calls to see where a phase's CPU went."""
        used: dict[str, float] = {}
        for role, procs in self.procs.items():
            used[role] = sum(_cpu_seconds(p.pid, with_children=True)
                             + sum(_cpu_seconds(d, with_children=False) for d in _descendants(p.pid))
                             for p in procs)
        times = os.times()
        used["bench"] = times.user + times.system
        return used

    def close(self) -> None:
        victims = []
        for procs in self.procs.values():
            for proc in procs:
                victims += [proc.pid, *_descendants(proc.pid)]
        for pid in victims:
            _signal(pid, signal.SIGKILL)
        for procs in self.procs.values():
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
        self.procs.clear()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@contextlib.contextmanager
def running(env: Env, timings: dict[str, int | float] | None = None):
    """Apply the timings to this process's settings and yield a ``Cluster`` that is torn down afterwards."""
    from django.test import override_settings

    timings = {**env.timings, **(timings or {})}
    with override_settings(**timings), Cluster(env, timings) as cluster:
        yield cluster


# --- reports ----------------------------------------------------------------------------------------------------


@dataclass
class FaultReport:
    scenario: str
    params: dict[str, Any]
    lost: int = 0
    duplicated: int = 0
    converge_seconds: float | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.converge_seconds is not None and not self.problems

    def summary(self) -> str:
        conv = f"{self.converge_seconds:.1f} s" if self.converge_seconds is not None else "NOT CONVERGED"
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        figures = ", ".join(f"{k}={_fmt(v)}" for k, v in self.figures.items())
        text = (f"{self.scenario} ({params}): lost={self.lost} duplicated={self.duplicated} converged in {conv}"
                f"\n    {figures}")
        if self.problems:
            text += "\n    problems: " + "; ".join(self.problems[:20])
            if len(self.problems) > 20:
                text += f"; ... ({len(self.problems) - 20} more)"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "params": self.params, "lost": self.lost, "duplicated": self.duplicated,
                "converge_seconds": self.converge_seconds, "figures": self.figures, "problems": self.problems}


def _oneline(text: str, limit: int = 140) -> str:
    return " ".join((text or "").split())[:limit]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


@dataclass
class Audit:
    """One look at the system: what is lost or duplicated so far, and whether anything is still moving."""

    lost: int = 0
    duplicated: int = 0
    settled: bool = True
    problems: list[str] = field(default_factory=list)

    def __add__(self, other: Audit) -> Audit:
        return Audit(self.lost + other.lost, self.duplicated + other.duplicated, self.settled and other.settled,
                     self.problems + other.problems)

    @property
    def clean(self) -> bool:
        return self.settled and not self.lost and not self.duplicated and not self.problems


# Waits are upper bounds, not figures: on a loaded machine (another copy of the suite beside this one) the same work
# takes longer, so the tests stretch every wait by this factor; the benches run with 1 (bench_faults sets it).
def timeout_scale() -> float:
    return float(os.environ.get("PIM_TEST_TIMEOUT_SCALE", "3"))


def converge(check: Callable[[], Audit], *, since: float, timeout: float, interval: float = 0.5,
             settle: float = 1.0, stuck_after: float = 30.0) -> tuple[float | None, Audit]:
    """Poll ``check`` until it is clean; return (seconds since ``since`` when it first was, final audit).

    A clean audit is confirmed once more after ``settle`` seconds (a late duplicate would show there). A check
    that raises (the simulator slow to answer under load) counts as not settled yet. Gives up (None) at
    ``timeout``, or when nothing has been waiting any more for ``stuck_after`` seconds while something is still
    wrong (a dead-lettered job stays dead).
    """

    def look() -> Audit:
        try:
            return check()
        except Exception as exc:
            return Audit(settled=False, problems=[f"check failed: {type(exc).__name__}: {exc}"])

    deadline = time.monotonic() + timeout * timeout_scale()
    stuck_since = None
    audit = look()
    while time.monotonic() < deadline:
        if audit.clean:
            elapsed = time.monotonic() - since
            time.sleep(settle)
            audit = look()
            if audit.clean:
                return elapsed, audit
            continue
        if audit.settled:
            stuck_since = stuck_since or time.monotonic()
            if time.monotonic() - stuck_since > stuck_after:
                break
        else:
            stuck_since = None
        time.sleep(interval)
        audit = look()
    return None, audit


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout * timeout_scale()
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
