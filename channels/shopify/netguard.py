"""No network call inside a database transaction: the check our HTTP callers run before each request.

A transaction held open across a Shopify read or an alert post keeps row locks (and a connection) for as long as
the other side takes, and a rollback cannot take the request back. The Shopify client (GraphQL calls, token
requests, bulk downloads) and the alert senders call ``network_call_check`` first.

Off by default: a production worker must not fail over it. The test settings turn ``NETWORK_IN_TRANSACTION_CHECK``
on; the check then raises ``NetworkInTransaction`` and records the offence in ``violations`` (the test suite fails
the test at teardown, even when the caller catches the error and retries). The atomic blocks Django's ``TestCase``
opens around a test (pytest-django's ``db`` fixture) carry ``_from_testcase`` and are not counted;
``transactional_db`` tests have none, so both kinds of test see only the transactions our code opened.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

#: Offences seen since the last ``violations.clear()`` (what, database alias).
violations: list[str] = []


class NetworkInTransaction(RuntimeError):
    """A network call was about to be made while a database transaction is open."""


def _enabled() -> bool:
    try:
        from django.conf import settings

        return bool(settings.configured and getattr(settings, "NETWORK_IN_TRANSACTION_CHECK", False))
    except Exception:  # Django absent or misconfigured: the client also runs without it
        return False


def open_transaction_alias() -> str | None:
    """Return the alias of a database connection inside a transaction our code opened, else None."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if any(not getattr(block, "_from_testcase", False) for block in conn.atomic_blocks):
            return conn.alias
    return None


def network_call_check(*, what: str) -> None:
    """Raise NetworkInTransaction if the check is on and a database transaction is open; else do nothing."""
    if not _enabled():
        return
    alias = open_transaction_alias()
    if alias is None:
        return
    message = (f"{what} inside a database transaction (database {alias!r}): read before the transaction, "
               "send after commit (transaction.on_commit)")
    violations.append(message)
    logger.error("%s", message)
    raise NetworkInTransaction(message)
