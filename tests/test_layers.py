"""The explicit interfaces between layers: a lower layer's slot that nothing fills is an error at start-up (system
check) and at the first use, never a silent no-op."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from channels import hooks as channel_hooks
from outbox.periodic import periodic_tasks
from pim import hooks as pim_hooks


def test_the_slots_are_filled_by_the_apps_above(monkeypatch):
    assert pim_hooks.catalog_changed_check() == []
    assert channel_hooks.drift_hooks_check() == []
    assert [name for name, _ in periodic_tasks()] == [
        "alerts", "scheduled publish batches", "inventory", "webhook subscriptions", "orders",
        "full inventory syncs", "inventory reconciliation", "nightly drift sweep"]
    # A single run (not --loop) runs the apps' own sweeps, not the scheduled jobs.
    assert [name for name, _ in periodic_tasks(loop=False)] == ["inventory", "webhook subscriptions", "orders",
                                                                "full inventory syncs"]


def test_an_unfilled_catalog_slot_fails_loudly(monkeypatch):
    monkeypatch.setattr(pim_hooks, "_catalog_changed", None)
    assert [e.id for e in pim_hooks.catalog_changed_check()] == ["pim.E001"]
    with pytest.raises(ImproperlyConfigured, match="channels"):
        pim_hooks.catalog_changed_notify(product_ids=[1])


def test_an_unfilled_drift_slot_fails_loudly(monkeypatch):
    monkeypatch.setattr(channel_hooks, "_drift", None)
    assert [e.id for e in channel_hooks.drift_hooks_check()] == ["channels.E002"]
    with pytest.raises(ImproperlyConfigured, match="conflicts"):
        channel_hooks.drift_hooks()
