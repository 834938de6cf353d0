"""What of a URL may be logged: scheme, host and port only.

Webhook URLs carry secrets in their path or query (a Slack-style incoming webhook is a bearer credential), so
logs name only where a call went, never the rest of the address.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def url_for_log(url: str) -> str:
    """Return ``scheme://host[:port]`` of ``url`` (``<invalid url>`` when it has no host)."""
    try:
        parts = urlsplit(url or "")
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "<invalid url>"
    if not host:
        return "<invalid url>"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")
