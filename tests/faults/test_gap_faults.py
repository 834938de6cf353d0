"""Issue 18's fault scenario, reduced: the PIM down for 5 simulated hours (Shopify's webhook retries exhausted, the
subscriptions deleted), then recovery: subscriptions repaired, the gap replayed, stock equal to the orders' oracle
in the PIM and both stores; also while a full publish runs (``bench/bench_faults.py --only gap,gap-publish`` runs
them at full size)."""

from __future__ import annotations

import pytest

from . import gap_scenarios
from .test_faults import check

pytestmark = pytest.mark.e2e


def test_webhook_gap_of_five_hours_is_replayed(fault_env):
    report = gap_scenarios.scenario_webhook_gap(fault_env, orders=6, skus=3, outage_hours=5)
    check(report, within=90)
    assert report.figures["subscriptions_deleted"], report.summary()
    assert report.figures["deliveries"].get("failed"), report.summary()
    assert report.figures["watermark_after_outage"], report.summary()


def test_webhook_gap_during_a_full_publish(fault_env):
    report = gap_scenarios.scenario_webhook_gap(fault_env, orders=4, skus=2, outage_hours=5, publish_products=6)
    check(report, within=120)
    assert report.figures["subscriptions_deleted"], report.summary()
