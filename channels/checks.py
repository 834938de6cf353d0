"""Deployment checks (``manage.py check --deploy``) for where store credentials may go."""

from __future__ import annotations

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def base_url_override_check(app_configs, **kwargs):
    """Warn when the simulator's base-URL override is on in production (credentials could leave Shopify)."""
    if getattr(settings, "SHOPIFY_ALLOW_BASE_URL_OVERRIDE", False) and not settings.DEBUG:
        return [checks.Warning(
            "SHOPIFY_ALLOW_BASE_URL_OVERRIDE is on: a store's API base URL may send its token to any host.",
            hint="Leave it off in production; it exists for the local Shopify simulator.",
            id="channels.W001",
        )]
    return []
