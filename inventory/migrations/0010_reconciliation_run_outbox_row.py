"""Reconciliation runs are rows of the outbox (issue 14): ``error`` is renamed ``last_error`` (its data kept) and
the row gets the outbox's ``max_attempts`` column (the kind reads RECONCILIATION_MAX_ATTEMPTS, not the column)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0009_webhook_inbox_moved_to_webhooks'),
    ]

    operations = [
        migrations.RenameField(model_name='reconciliationrun', old_name='error', new_name='last_error'),
        migrations.AddField(
            model_name='reconciliationrun',
            name='max_attempts',
            field=models.PositiveIntegerField(default=8),
        ),
    ]
