"""An applied full sync records how many sets it queued (issue 15): its sets run as outbox batches on the workers and
the run is finished when the last of them is (a run without the figure never got that far and is not finished
by the sweep)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0010_reconciliation_run_outbox_row'),
    ]

    operations = [
        migrations.AddField(
            model_name='inventorysyncrun',
            name='sets_queued',
            field=models.PositiveIntegerField(blank=True, null=True, help_text='Sets queued by an applied run (its batches run on the workers).'),
        ),
    ]
