"""Faults on Shopify's side: a store down for minutes (503 with Retry-After), random 5xx on a share of requests."""

from __future__ import annotations

import time

from .catalog import (
    assign,
    create_catalog,
    edit_catalog,
    learn_buckets,
    make_stores,
    publish_audit,
    publish_figures,
)
from .harness import Env, FaultReport, converge, running, timeout_scale


def outage_timings(outage_seconds: float) -> dict[str, int | float]:
    """The circuit breaker and backoff scaled to the outage as production's defaults are to a 5-minute one
    (retry delays capped at the outage's length, circuit at most 60 s open), never shorter than the fast timings."""
    return {"SYNC_RETRY_MAX_SECONDS": max(3.0, float(outage_seconds)),
            "SYNC_CIRCUIT_MAX_OPEN_SECONDS": max(2, round(outage_seconds / 5))}


def scenario_shopify_outage(env: Env, *, products: int = 8, outage_seconds: float = 10.0, timeout: float = 120.0,
                            timings: dict[str, int | float] | None = None, stretch: bool = False) -> FaultReport:
    """One store answers 503 for ``outage_seconds`` while products are edited twice; its circuit opens, the other
    store is not delayed, and the backlog catches up after the outage.

    ``stretch`` (the test suite): when the other store has not got the second edits by the window's end, keep the
    store down until it has (up to ``outage_seconds`` × the timeout scale more), then end the outage. What is tested
    is that the other store gets the edits *while* this one is down; on a loaded machine the workers may need longer
    than the window to get there. The bench keeps the fixed window, for its figures."""
    timings = timings if timings is not None else outage_timings(outage_seconds)
    report = FaultReport("Shopify outage", {"products": products, "outage_s": outage_seconds,
                                            "circuit_max_open_s": timings.get("SYNC_CIRCUIT_MAX_OPEN_SECONDS"),
                                            "retry_max_s": timings.get("SYNC_RETRY_MAX_SECONDS")})
    with running(env, timings) as cluster:
        from channels.models import Store

        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        stores = make_stores(env)
        learn_buckets(stores.values())
        catalog = create_catalog("OUT", products)
        cluster.wait_workers()
        assign(catalog, stores.values())
        first, audit = converge(lambda: publish_audit(env, stores.values()), since=time.monotonic(), timeout=60,
                                settle=0)
        if first is None:
            report.problems.append("initial publish did not finish: " + "; ".join(audit.problems[:5]))
            return report
        a, b = stores["shop-a"], stores["shop-b"]
        before = env.control.stats("shop-a")["requests"]
        env.control.outage("shop-a", outage_seconds)
        outage_start = time.monotonic()
        outage_end = outage_start + outage_seconds
        opened = False

        def watch(until: float, *, t0: float | None = None, stop_when_seen: bool = False) -> float | None:
            """Seconds since ``t0`` (default: now) until shop-b shows the PIM's current values (None: not before
            ``until``); notes whether shop-a's circuit is seen open meanwhile."""
            nonlocal opened
            t0 = time.monotonic() if t0 is None else t0
            seen = None
            while time.monotonic() < until:
                if Store.objects.get(pk=a.pk).circuit_is_open():
                    opened = True
                if seen is None and publish_audit(env, [b]).lost == 0:
                    seen = time.monotonic() - t0
                    if stop_when_seen:
                        break
                time.sleep(0.2 if seen is not None else 0.1)
            return seen

        edit_catalog(catalog, 1, prices=False)
        wave1 = watch(outage_start + outage_seconds / 2)
        second_at = time.monotonic()
        edit_catalog(catalog, 2)
        wave2 = watch(outage_end - 0.2)
        if wave2 is None and stretch:
            limit = time.monotonic() + outage_seconds * max(1.0, timeout_scale() - 1)
            env.control.outage("shop-a", limit - time.monotonic() + 1)
            wave2 = watch(limit, t0=second_at, stop_when_seen=True)
            env.control.outage("shop-a", 0)  # over: shop-a answers again from now on
            outage_end = time.monotonic()
            env.log(f"outage stretched to {outage_end - outage_start:.1f}s for shop-b to get the edits")
        if wave1 is None and wave2 is not None:  # the first wave arrived with the second one at the latest
            wave1 = second_at - outage_start + wave2
        b_delays = [wave1, wave2]
        during = env.control.stats("shop-a")["requests"] - before
        env.log(f"outage over; shop-b delays {b_delays}, circuit opened {opened}, {during} requests to shop-a")
        time.sleep(max(0.0, outage_end - time.monotonic()))
        seconds, audit = converge(lambda: publish_audit(env, stores.values()), since=outage_end, timeout=timeout)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = audit.lost, audit.duplicated, audit.problems
        if not opened:
            report.problems.append("the circuit of shop-a never opened")
        if wave2 is None:
            report.problems.append("shop-b did not get the edits while shop-a was down")
        report.figures.update(circuit_opened=opened, other_store_delay_s=max((d or 0.0) for d in b_delays),
                              requests_during_outage=during,
                              outage_actual_s=round(outage_end - outage_start, 1),
                              requests_per_s_during_outage=during / (outage_end - outage_start),
                              **publish_figures(stores.values(), env))
    return report


def scenario_random_5xx(env: Env, *, products: int = 30, error_rate: float = 0.10, applied_share: float = 0.5,
                        timeout: float = 180.0) -> FaultReport:
    """A store answers 500/502/503/504 to ``error_rate`` of all requests while ``products`` products publish to
    it and are then edited: every product exactly once, every edit live. ``applied_share`` of the 500/502/504
    answers come after the request ran (the simulator's stricter reading: a create applied, its answer lost),
    so a client that repeated what is not safe to repeat would duplicate products."""
    report = FaultReport("random 5xx", {"products": products, "error_rate": error_rate,
                                        "applied_share": applied_share})
    with running(env) as cluster:
        cluster.start_workers(wait=False)
        cluster.start_sweepers()
        stores = {"shop-a": make_stores(env)["shop-a"]}
        learn_buckets(stores.values())
        catalog = create_catalog("ERR", products)
        cluster.wait_workers()
        env.control.error_rate("shop-a", error_rate, applied_share=applied_share)
        started = time.monotonic()
        assign(catalog, stores.values())
        published, _ = converge(lambda: publish_audit(env, stores.values()), since=started, timeout=timeout,
                                settle=0)
        edited_at = time.monotonic()
        edits = edit_catalog(catalog, 1)
        seconds, audit = converge(lambda: publish_audit(env, stores.values()), since=started, timeout=timeout)
        report.converge_seconds = seconds
        report.lost, report.duplicated, report.problems = audit.lost, audit.duplicated, audit.problems
        stats = env.control.stats("shop-a")
        report.figures.update(injected_errors=stats.get("injected_errors", 0),
                              injected_after_apply=stats.get("injected_errors_after_apply", 0),
                              requests=stats.get("requests", 0),
                              first_publish_s=published, edits=edits,
                              edits_converged_s=(time.monotonic() - edited_at) if seconds is not None else None,
                              products_per_s=(products / published) if published else 0.0,
                              **publish_figures(stores.values(), env))
    return report
