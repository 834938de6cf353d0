"""One process harness (issue 14): the simulator, the web server, RQ workers and the outbox sweeper as child
processes, shared by the demo, the end-to-end tests, the fault tests and the benches.

``Harness`` builds one environment for its children (this process's, plus ``DATABASE_URL``, ``REDIS_URL`` and the
timings), writes each child's output to its own log (or nowhere), waits until a worker has registered in Redis
and a web server answers, measures CPU seconds per role, and kills a role with every descendant (RQ's work horses
call ``setsid``, so a process-group kill misses them). ``close()`` ends everything it started; a caller that may
be killed installs ``exit_on_signals()`` so SIGTERM leaves no orphan behind.

Nothing here imports Django: a bench may start the processes before or after ``django.setup()``.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The README's production queue list, in priority order.
DEFAULT_QUEUES = "webhooks inventory default publish"


class HarnessError(RuntimeError):
    """A process the harness started did not come up (it exited, or did not answer in time)."""


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> list[int]:
    """Return every process below ``pid``, read from /proc (work horses that called setsid included)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))):
            children[int(fields[1])].append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (absent, or a zombie waiting for its parent)."""
    fields = _stat(pid)
    return fields is None or fields[0] == "Z"


def cpu_seconds_of(pid: int, *, with_children: bool) -> float:
    """User + system CPU seconds of ``pid``; with the children it has waited for (finished work horses)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _http_status(host: str, port: int, method: str, path: str, *, timeout: float) -> int | None:
    """The status of one request (a POST sends ``{}``), or None if it could not be made."""
    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request(method, path, body=b"{}" if method == "POST" else None,
                     headers={"Content-Type": "application/json"})
        status = conn.getresponse().status
        conn.close()
    except OSError:
        return None
    return status


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


class Harness:
    """The PIM's processes for one run: start them by role, wait until they serve, kill them, clean up.

    ``env`` is added to this process's environment for every child; ``timings`` are settings overrides (stringified);
    ``log_dir`` keeps one log per child (``None``: output discarded).
    """

    def __init__(self, *, database_url: str | None = None, redis_url: str | None = None,
                 timings: dict[str, Any] | None = None, env: dict[str, str] | None = None,
                 log_dir: Path | None = None) -> None:
        self.environ: dict[str, str] = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # a test runner's flag is not the children's
        self.environ.update({k: str(v) for k, v in (timings or {}).items()})
        self.environ.update(env or {})
        if database_url:
            self.environ["DATABASE_URL"] = database_url
        if redis_url:
            self.environ["REDIS_URL"] = redis_url
        self.redis_url = self.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        self.log_dir = log_dir
        self.procs: dict[str, list[subprocess.Popen]] = defaultdict(list)
        self.logs: list[Path] = []
        self.web_url = ""
        self.sim_url = ""
        self.sim: Any = None  # an in-process shopify_sim.testing.SimulatorServer, when started here

    # --- any process ---------------------------------------------------------------------------------------------

    def start(self, role: str, argv: list[str], *, log_name: str | None = None) -> subprocess.Popen:
        """Start ``argv`` in its own session as a process of ``role``; its output goes to its log."""
        if self.log_dir is None:
            out: Any = subprocess.DEVNULL
            proc = subprocess.Popen(argv, cwd=ROOT, env=self.environ, stdout=out, stderr=out, start_new_session=True)
        else:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = self.log_dir / (log_name or f"{role}-{len(self.logs)}.log")
            self.logs.append(log)
            # A named log is this run's alone (the demo's reports/demo/web.log); numbered ones may share a directory.
            with open(log, "wb" if log_name else "ab") as out:
                proc = subprocess.Popen(argv, cwd=ROOT, env=self.environ, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.procs[role].append(proc)
        return proc

    def manage(self, role: str, *args: str, log_name: str | None = None) -> subprocess.Popen:
        """Start ``manage.py <args>`` as a process of ``role``."""
        return self.start(role, [sys.executable, "manage.py", *args], log_name=log_name)

    def alive(self, role: str) -> int:
        """Return how many processes of ``role`` still run."""
        return sum(1 for p in self.procs.get(role, []) if p.poll() is None)

    def _where(self) -> str:
        return f" (see the logs in {self.log_dir})" if self.log_dir else ""

    # --- the simulator ------------------------------------------------------------------------------------------

    def start_simulator(self, *, shops: Iterable[str], webhook_time_scale: float | None = None,
                        timeout: float = 60.0, log_name: str | None = None) -> str:
        """Start ``python -m shopify_sim`` on a free port; return its URL once ``/_sim/health`` answers.

        Raises ``HarnessError`` if it exits or does not answer within ``timeout`` seconds."""
        port = free_port()
        argv = [sys.executable, "-m", "shopify_sim", "--port", str(port), "--shops", ",".join(shops)]
        if webhook_time_scale is not None:
            argv += ["--webhook-time-scale", str(webhook_time_scale)]
        proc = self.start("simulator", argv, log_name=log_name)
        url = f"http://127.0.0.1:{port}"

        self._wait(lambda: _http_status("127.0.0.1", port, "GET", "/_sim/health", timeout=2) == 200, [proc],
                   timeout, "the Shopify simulator")
        self.sim_url = url
        return url

    def simulator(self, shops: Iterable[str] = ("shop-a", "shop-b"), **options: Any):
        """Start an in-process ``SimulatorServer`` (its state readable here); ``close()`` stops it."""
        from shopify_sim.testing import SimulatorServer

        self.sim = SimulatorServer(shops=list(shops), **options).start()
        return self.sim

    # --- the web server -----------------------------------------------------------------------------------------

    def start_web(self, *, server: str = "gunicorn", host: str = "127.0.0.1", port: int | None = None,
                  app: str = "config.wsgi:application",
                  workers: int = 2, worker_class: str = "gthread", threads: int = 4,
                  pythonpath: list[Path] | None = None, backlog: int | None = 2048,
                  log_name: str | None = None) -> str:
        """Start the web server on loopback (``gunicorn`` or Django's ``runserver``); return its base URL.

        Call ``wait_web`` before sending it requests."""
        port = port or free_port()
        if server == "runserver":
            self.manage("web", "runserver", f"{host}:{port}", "--noreload", log_name=log_name)
        elif server == "gunicorn":
            argv = [sys.executable, "-m", "gunicorn", app, "-b", f"{host}:{port}", "-w", str(workers),
                    "-k", worker_class, "--log-level", "warning", "--chdir", str(ROOT)]
            if worker_class == "gthread":
                argv += ["--threads", str(threads)]
            if backlog:
                argv += ["--backlog", str(backlog)]
            if pythonpath:
                argv += ["--pythonpath", ",".join(str(p) for p in pythonpath)]
            self.start("web", argv, log_name=log_name)
        else:
            raise ValueError(f"unknown web server {server!r}: 'gunicorn' or 'runserver'")
        self.web_url = f"http://{host}:{port}"
        return self.web_url

    def wait_web(self, *, path: str | None = None, method: str = "GET", expect: int = 200, times: int = 1,
                 timeout: float = 60.0) -> None:
        """Wait until the web server answers ``method path`` with ``expect`` ``times`` times (so that every
        gunicorn worker has loaded Django); without ``path``, until it accepts a connection.

        Raises ``HarnessError`` if a web process exits or it does not answer within ``timeout`` seconds."""
        host, port = self.web_url.rsplit("/", 1)[1].rsplit(":", 1)
        answered = 0

        def answers() -> bool:
            nonlocal answered
            if path is None:
                try:
                    socket.create_connection((host, int(port)), timeout=1).close()
                except OSError:
                    return False
                return True
            answered += _http_status(host, int(port), method, path, timeout=10) == expect
            return answered >= times

        self._wait(answers, self.procs["web"], timeout, "the web server", interval=0.1)

    # --- RQ workers and sweepers --------------------------------------------------------------------------------

    def start_workers(self, count: int = 1, *, queues: str = DEFAULT_QUEUES, scheduler: bool = True,
                      wait: bool = True, timeout: float = 60.0, log_prefix: str | None = None,
                      role: str = "worker") -> None:
        """Start ``count`` ``manage.py rqworker <queues>`` processes as ``role`` (a second role lets a caller stop
        some of them); with ``wait``, until each has registered."""
        for _ in range(count):
            name = f"{log_prefix}-{len(self.procs[role]) + 1}.log" if log_prefix else None
            self.manage(role, "rqworker", *queues.split(), *(["--with-scheduler"] if scheduler else []),
                        log_name=name)
        if wait:
            self.wait_workers(timeout=timeout, role=role)

    def registered_worker_pids(self) -> set[int]:
        """Return the pids of the RQ workers registered in this harness's Redis database."""
        import redis
        from rq import Worker

        conn = redis.Redis.from_url(self.redis_url)
        try:
            return {w.pid for w in Worker.all(connection=conn)}
        finally:
            conn.close()

    def wait_workers(self, *, timeout: float = 60.0, role: str = "worker") -> None:
        """Wait until every worker of ``role`` started here has registered in Redis (it then takes jobs).

        A killed worker's stale registration does not count: the pids must match. Raises ``HarnessError`` if a
        worker exits or they do not register within ``timeout`` seconds."""
        procs = list(self.procs[role])
        self._wait(lambda: {p.pid for p in procs} <= self.registered_worker_pids(), procs, timeout,
                   "the RQ workers to register")

    def start_sweeper(self, interval: float = 1.0, *, command: str = "outbox_sweeper",
                      log_name: str | None = None) -> subprocess.Popen:
        """Start ``manage.py outbox_sweeper --loop`` (one covers every kind of durable work and the periodic tasks;
        ``command`` may name its old aliases)."""
        return self.manage("outbox_sweeper", command, "--loop", "--interval", f"{interval:g}", log_name=log_name)

    # --- measures and ends --------------------------------------------------------------------------------------

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by each role's processes (live descendants and finished children included),
        and by this process (``bench``: its threads and an in-process simulator). Subtract two calls for a phase."""
        used: dict[str, float] = {}
        for role, procs in self.procs.items():
            used[role] = sum(cpu_seconds_of(p.pid, with_children=True)
                             + sum(cpu_seconds_of(d, with_children=False) for d in descendants(p.pid))
                             for p in procs)
        times = os.times()
        used["bench"] = times.user + times.system
        return used

    def kill(self, *roles: str) -> int:
        """SIGKILL every process of ``roles`` (all roles if none) with its descendants at once, as a machine dying
        does; wait until they are gone and return how many processes died."""
        procs = [p for role in (roles or list(self.procs)) for p in self.procs.pop(role, [])]
        victims = [pid for p in procs for pid in (p.pid, *descendants(p.pid))]
        for pid in victims:
            _signal(pid, signal.SIGKILL)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        deadline = time.monotonic() + 10  # descendants were reparented: gone, or zombies, soon
        while time.monotonic() < deadline and not all(process_gone(pid) for pid in victims):
            time.sleep(0.02)
        return len(victims)

    def stop(self, *roles: str, grace: float = 15.0) -> None:
        """SIGTERM the process groups of ``roles`` (all if none; an RQ worker finishes its job first), newest
        first; SIGKILL what is still running after ``grace`` seconds, descendants included."""
        names = list(roles or self.procs)
        procs = [p for role in names for p in self.procs.get(role, [])]
        # Taken before the SIGTERM: a parent that exits first leaves its children to init, out of reach.
        below = [pid for p in procs for pid in descendants(p.pid)]
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in reversed(procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        self.kill(*names)
        for pid in below:
            if not process_gone(pid):
                _signal(pid, signal.SIGKILL)

    def close(self) -> None:
        """Kill every process started here and stop the in-process simulator (safe to call twice)."""
        self.kill()
        if self.sim is not None:
            self.sim.stop()
            self.sim = None

    def exit_on_signals(self) -> None:
        """End every child when this process exits or receives SIGTERM/SIGHUP (then exit 128 + signal)."""
        atexit.register(self.close)

        def ended(signum, frame):
            self.stop(grace=5)
            sys.exit(128 + signum)

        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, ended)

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, ready, procs: list[subprocess.Popen], timeout: float, what: str, *,
              interval: float = 0.2) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            exited = [p.args for p in procs if p.poll() is not None]
            if exited:
                raise HarnessError(f"{what}: a process exited at start: {exited}{self._where()}")
            time.sleep(interval)
        raise HarnessError(f"{what}: not ready within {timeout:g}s{self._where()}")
