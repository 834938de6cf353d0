"""Delete resolved conflicts older than CONFLICT_RETENTION_DAYS: ``manage.py purge_conflicts``."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from conflicts.review import conflicts_purge


class Command(BaseCommand):
    help = "Delete resolved conflicts older than the retention setting (default 90 days, minimum 30)."

    def handle(self, *args, **options):
        deleted = conflicts_purge()
        self.stdout.write(f"Deleted {deleted} resolved conflict(s) older than {max(30, settings.CONFLICT_RETENTION_DAYS)} days.")
