"""RQ tasks of the inventory app: each takes an id, reloads, and calls one service (running twice is harmless)."""

from __future__ import annotations

from .errors import InventorySyncRefused
from .full_sync import inventory_full_sync_start


def inventory_push_run(push_id: int) -> str:
    """The old task name of the inventory lane's drain (jobs queued before the outbox took pushes over):
    drains the ``inventory`` lane (running it twice is harmless)."""
    from outbox.tasks import outbox_drain

    from .queueing import INVENTORY_QUEUE

    return outbox_drain(INVENTORY_QUEUE)


def inventory_full_sync_run(store_id: int, actor_label: str = "") -> str:
    """Start an applied full inventory sync of store ``store_id`` (queued from the admin): compare, queue its sets;
    the workers run them in batches on the ``default`` lane and the last batch finishes the run."""
    from channels.models import Store

    store = Store.objects.filter(pk=store_id).first()
    if store is None:
        return "store deleted"
    try:
        run = inventory_full_sync_start(store=store, actor_label=actor_label)
    except InventorySyncRefused as exc:
        return f"refused: {exc}"
    return f"run {run.pk}: {run.differences} difference(s), {run.sets_queued or 0} set(s) queued"


def webhook_subscriptions_check_run(store_id: int) -> str:
    """Check and repair store ``store_id``'s webhook subscriptions (queued by the sweeper and the admin)."""
    from channels.models import Store

    from .subscriptions import SubscriptionTargetUnknown, webhook_subscriptions_check

    store = Store.objects.filter(pk=store_id, is_active=True).first()
    if store is None:
        return "store deleted or disabled"
    try:
        health = webhook_subscriptions_check(store=store, repair=True)
    except SubscriptionTargetUnknown as exc:
        return str(exc)
    return f"{store.name}: {health.get_state_display()} ({len(health.findings)} finding(s))"


def reconciliation_run(run_id: int) -> str:
    """Run inventory reconciliation ``run_id`` (queue ``inventory``); a run claimed elsewhere or finished is left
    alone, so running this twice changes nothing."""
    from .reconciliation import reconciliation_run_execute

    run = reconciliation_run_execute(run_id=run_id)
    return (f"run {run.pk}: {run.status}, {run.corrected} corrected, {run.skipped} skipped, {run.held} held, "
            f"{run.stale} stale")
def order_catchup_task(store_id: int) -> str:
    """Replay the orders store ``store_id`` may have missed (queued by the sweeper after a gap; see catchup.py).

    The replay merges facts idempotently, so running it twice changes stock once."""
    from channels.models import Store

    from .catchup import order_catchup_replay

    store = Store.objects.filter(pk=store_id, is_active=True).first()
    if store is None:
        return "store deleted or disabled"
    return order_catchup_replay(store=store)
