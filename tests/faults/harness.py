"""The fault suite's harness: the environment (``Env``), the PIM's processes (``Cluster``: RQ workers, the
sweeper, gunicorn) and the measures every scenario shares (``FaultReport``, ``Audit``, ``converge``). The scenarios
themselves are in the ``*_scenarios`` modules; ``scenarios.SCENARIOS`` lists them."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo.harness import Harness

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


class Cluster(Harness):
    """The PIM's processes for one scenario (``demo.harness``): RQ workers on the ``Env``'s queues, the sweeper and
    (optionally) gunicorn, on the scenario's database, Redis and timings."""

    def __init__(self, env: Env, timings: dict[str, int | float]):
        from django.conf import settings

        super().__init__(database_url=env.database_url, redis_url=env.redis_url, timings=timings, log_dir=env.log_dir,
                         env={
                             "DJANGO_SETTINGS_MODULE": "config.settings",
                             "DEBUG": "0",
                             "SECRET_KEY": "faults-" + uuid.uuid4().hex,
                             # The store credentials were encrypted by this process: the others need its key.
                             "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
                             "ALLOWED_HOSTS": "127.0.0.1,localhost",
                             "SECURE_SSL_REDIRECT": "0",
                             "LOG_LEVEL": "WARNING",
                         })
        self.env = env
        env.log_dir.mkdir(parents=True, exist_ok=True)

    def start_workers(self, count: int | None = None, *, wait: bool = True, **options) -> None:
        super().start_workers(count or self.env.rq_workers, queues=self.env.worker_queues, wait=wait, **options)

    def start_sweepers(self, interval: float = 1.0) -> None:
        # One outbox_sweeper covers every kind of durable work and the apps' periodic tasks (issue 14).
        self.start_sweeper(interval)

    def start_web(self, **options) -> str:
        """Start gunicorn (gthread, the ``Env``'s size) on loopback serving the project; return its base URL."""
        return super().start_web(workers=self.env.gunicorn_workers, threads=self.env.gunicorn_threads, **options)

    def wait_web(self, timeout: float = 30.0) -> None:
        """Wait until every gunicorn worker has loaded Django (unsigned posts answer 401)."""
        super().wait_web(path=WEBHOOK_PATH, method="POST", expect=401, times=2 * self.env.gunicorn_workers,
                         timeout=timeout)

    def kill_workers(self) -> int:
        """SIGKILL every RQ worker and its work horse and scheduler at once (a machine dying); return how many
        processes died."""
        return self.kill("worker")


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
