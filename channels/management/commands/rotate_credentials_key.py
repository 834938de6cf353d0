"""Re-encrypt every stored credential under the newest FIELD_ENCRYPTION_KEYS key: ``rotate_credentials_key``."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from channels.crypto import credentials_reencrypt


class Command(BaseCommand):
    help = ("Re-encrypt every stored store credential (tokens, client secrets, webhook secrets) under the first "
            "key of FIELD_ENCRYPTION_KEYS. Put the new key first, keep the old ones after it, run this, then "
            "drop the old keys.")

    def handle(self, *args, **options):
        try:
            count = credentials_reencrypt()
        except ImproperlyConfigured as exc:
            raise CommandError(f"{exc} Put the old key back in FIELD_ENCRYPTION_KEYS (after the new one).")
        keys = len(settings.FIELD_ENCRYPTION_KEYS)
        self.stdout.write(self.style.SUCCESS(
            f"{count} credential(s) re-encrypted under the newest key ({keys} key(s) configured); "
            "the older keys can now be removed."))
