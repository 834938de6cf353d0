"""Fault and load scenarios: one function per fault, parameterised by size and duration.

The pytest suite (``tests/faults/test_faults.py``) runs them small; ``bench/bench_faults.py`` runs them at the
issue's full sizes. Every scenario drives the real system: ``manage.py rqworker`` processes, the sweeper
(``outbox_sweeper --loop``), gunicorn serving ``/shopify/webhooks/`` when webhooks
are involved, PostgreSQL, Redis and the Shopify simulator over HTTP. It injects its fault, then *measures*:

* **lost**: PIM products missing in a store or whose final edit is not live; order lines whose ledger movement
  is missing; stock that shows fewer sales than were sent; events that failed; pushes or jobs dead-lettered;
  another store whose quantity lags behind the PIM.
* **duplicated**: more than one Shopify product per PIM product (same handle, ``-1`` suffixes or same SKUs);
  ledger movements nobody asked for; stock that shows more sales than were sent; a store below the PIM.
* **time to converge**: from the end of the fault until every check above passes and no job, event or push is
  waiting any more.

Each scenario returns a ``FaultReport``; the caller asserts ``lost == duplicated == 0`` and a bound on the time.

The caller provides an ``Env``: the simulator (``SimulatorServer``), the database URL the subprocesses must use
(this process must be connected to the same database), the Redis URL, and a directory for process logs. The
database and the Redis database must be empty of PIM data and are left with the scenario's data.

This module is the index: ``SCENARIOS`` by key, and the names callers use. The code is split by family:
``harness`` (Env, Cluster, FaultReport, converge), ``catalog`` (stores, catalog, publish checks, stock world),
``traffic`` (signed webhooks, the sender, stock checks), ``infra_scenarios`` (workers, Redis, PostgreSQL),
``shopify_scenarios`` (outage, random 5xx), ``webhook_scenarios`` (duplicated/reordered webhooks, load) and
``gap_scenarios`` (issue 18's hours-long gap).
"""

from __future__ import annotations

from collections.abc import Callable

from .harness import FAST_TIMINGS, SHOPS, Env, FaultReport
from .infra_scenarios import (
    scenario_postgres_drop,
    scenario_postgres_statement_error,
    scenario_redis_restart,
    scenario_worker_sigkill,
)
from .shopify_scenarios import outage_timings, scenario_random_5xx, scenario_shopify_outage
from .webhook_scenarios import scenario_webhook_load, scenario_webhooks_duplicated_reordered

__all__ = [
    "FAST_TIMINGS", "SCENARIOS", "SHOPS", "Env", "FaultReport", "outage_timings", "scenario_postgres_drop",
    "scenario_postgres_statement_error", "scenario_random_5xx", "scenario_redis_restart", "scenario_shopify_outage",
    "scenario_webhook_load", "scenario_webhooks_duplicated_reordered", "scenario_worker_sigkill",
]

SCENARIOS: dict[str, Callable[..., FaultReport]] = {
    "sigkill": scenario_worker_sigkill,
    "redis": scenario_redis_restart,
    "postgres": scenario_postgres_drop,
    "pgcancel": scenario_postgres_statement_error,
    "outage": scenario_shopify_outage,
    "5xx": scenario_random_5xx,
    "webhooks": scenario_webhooks_duplicated_reordered,
    "load": scenario_webhook_load,
}
