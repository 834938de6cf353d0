"""Project-wide pytest setup: no test may reach the network beyond this machine.

PostgreSQL, Redis and the Shopify simulator all listen on loopback, so connections to loopback and to
Unix sockets are allowed; anything else raises at once, so a misconfigured store can never reach a
real Shopify from the test suite.
"""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

pytest_plugins = ["shopify_sim.pytest_plugin"]

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class BlockedNetworkError(RuntimeError):
    """Raised when a test tries to open a connection that leaves this machine."""


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
        raise BlockedNetworkError(f"network access blocked in tests: {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
        raise BlockedNetworkError(f"network access blocked in tests: {address!r}")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if isinstance(host, bytes):
        host = host.decode()
    if host and host not in ("localhost",) and not host.endswith(".localhost"):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise BlockedNetworkError(f"DNS lookup blocked in tests: {host!r}") from None
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _block_network():
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    socket.getaddrinfo = _guarded_getaddrinfo
    yield
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex
    socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture(autouse=True, scope="session")
def _lane_redis_starts_empty():
    """Empty this lane's test Redis database once, before the first test.

    The test command's lane (``scripts/lane.sh``, held with flock) owns that database, but a run that was killed
    leaves RQ jobs queued in it; a drain in a later run then sees a job "waiting on a lane ahead" and yields, and
    tests of the publish lane find their jobs given back unrun. Outside a lane (no PIM_TEST_LANE) nothing is
    flushed: REDIS_URL may then be someone's own database.
    """
    if os.environ.get("PIM_TEST_LANE") and os.environ.get("REDIS_URL"):
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    yield


@pytest.fixture(autouse=True)
def _no_network_call_in_a_transaction():
    """Fail the test if our code made a Shopify call or sent an alert inside a database transaction, even when the
    caller caught the NetworkInTransaction error (the check is on in config.settings_test)."""
    from channels.shopify import netguard

    netguard.violations.clear()
    yield
    found = list(netguard.violations)
    netguard.violations.clear()
    assert not found, "network call inside a database transaction: " + "; ".join(found)


@pytest.fixture(autouse=True)
def _real_time_after_each_test():
    """Tests may move the services' clock (pim.clock); every test starts and ends on real time."""
    from pim.clock import clock_reset

    clock_reset()
    yield
    clock_reset()
