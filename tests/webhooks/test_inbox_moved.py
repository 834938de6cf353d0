"""The inbox moved from the inventory app to the webhooks app (issue 14): its rows, permissions and routes survive."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db



def test_the_move_keeps_the_tables_and_rows_and_moves_the_permissions():
    """Moving the models changes only Django's state: no table is created, renamed or dropped."""
    from django.contrib.auth.models import Permission
    from django.db import migrations

    from webhooks.models import WebhookBodyClaim, WebhookEvent

    assert WebhookEvent._meta.db_table == "inventory_webhookevent"
    assert WebhookBodyClaim._meta.db_table == "inventory_webhookbodyclaim"
    loader = MigrationExecutor(connection).loader
    for key in [("webhooks", "0001_webhooks_inbox_moved_from_inventory"),
                ("inventory", "0009_webhook_inbox_moved_to_webhooks")]:
        migration = loader.get_migration(*key)
        moves = [op for op in migration.operations if isinstance(op, migrations.SeparateDatabaseAndState)]
        assert moves and all(op.database_operations == [] for op in moves)
        schema_ops = [op for op in migration.operations if not isinstance(
            op, (migrations.SeparateDatabaseAndState, migrations.AddField, migrations.RunPython))]
        assert schema_ops == []  # only the two new outbox columns are added
    assert Permission.objects.get(codename="reprocess_webhookevent").content_type.app_label == "webhooks"
    with connection.cursor() as cursor:
        cursor.execute("SELECT worker, max_attempts FROM inventory_webhookevent LIMIT 0")


def test_the_endpoint_and_the_admin_live_in_the_webhooks_app():
    from django.urls import resolve, reverse

    assert reverse("webhooks:shopify_webhook") == "/shopify/webhooks/"
    assert resolve("/shopify/webhooks/").func.__module__ == "webhooks.views"
    assert reverse("admin:webhooks_webhookevent_changelist")


def test_each_app_registers_its_own_topics():
    from webhooks.topics import webhook_topic_handler, webhook_topic_prefetch

    assert webhook_topic_handler("app/uninstalled").__module__ == "webhooks.uninstall"
    assert webhook_topic_handler("products/update").__module__ == "conflicts.services"
    assert webhook_topic_handler("orders/create").__module__.startswith("inventory.")
    assert webhook_topic_prefetch("orders/create") is not None
    assert webhook_topic_prefetch("products/update").__module__ == "conflicts.services"  # drift read first
