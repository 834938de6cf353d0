"""Delete processed webhook deliveries older than WEBHOOK_EVENT_RETENTION_DAYS: ``manage.py purge_webhook_events``."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inventory.retention import webhook_events_purge


class Command(BaseCommand):
    help = ("Delete processed and ignored webhook events older than the retention setting (default 30 days, "
            "minimum 2); failed ones are kept for review.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help=f"keep this many days (default {settings.WEBHOOK_EVENT_RETENTION_DAYS})")
        parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")

    def handle(self, *args, days=None, dry_run=False, **options):
        try:
            count = webhook_events_purge(days=days, dry_run=dry_run)
        except ValueError as exc:
            raise CommandError(str(exc))
        kept = days if days is not None else settings.WEBHOOK_EVENT_RETENTION_DAYS
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"{verb} {count} processed or ignored webhook event(s) older than {kept} days; "
                          f"failed ones are kept.")
