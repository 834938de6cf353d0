"""The webhook inbox (WebhookEvent, WebhookBodyClaim) now belongs to the webhooks app (issue 14): its tables and
rows stay; only the inventory app's state forgets them and its foreign keys point at webhooks.WebhookEvent."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0008_order_watermark'),
        ('webhooks', '0001_webhooks_inbox_moved_from_inventory'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[
            migrations.AlterField(
                model_name='stockmovement',
                name='webhook_event',
                field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                        related_name='movements', to='webhooks.webhookevent'),
            ),
            migrations.AlterField(
                model_name='inventorydrift',
                name='webhook_event',
                field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                        related_name='+', to='webhooks.webhookevent'),
            ),
            migrations.DeleteModel(name='WebhookBodyClaim'),
            migrations.DeleteModel(name='WebhookEvent'),
        ]),
    ]
