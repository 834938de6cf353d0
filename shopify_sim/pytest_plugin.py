"""pytest fixtures for the Shopify simulator (enabled by ``pytest_plugins = ["shopify_sim.pytest_plugin"]``).

- ``shopify_sim_server`` (session): one :class:`SimulatorServer` with shops ``shop-a`` and ``shop-b``;
  webhook retry delays are compressed (``webhook_time_scale=0.001``: the 4-hour schedule takes ~14 s).
- ``shopify_sim`` (function): the same server, reset before the test (data, faults, stats, subscriptions, logs).
- ``sim_control`` (function): a :class:`SimControl` for it (already reset).
- ``webhook_receiver`` (function): a :class:`WebhookReceiver` on a free loopback port.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .control import SimControl
from .testing import SimulatorServer, WebhookReceiver

TEST_SHOPS = ("shop-a", "shop-b")


@pytest.fixture(scope="session")
def shopify_sim_server() -> Iterator[SimulatorServer]:
    server = SimulatorServer(shops=TEST_SHOPS, config={"webhook_time_scale": 0.001, "webhook_timeout": 2.0})
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def shopify_sim(shopify_sim_server: SimulatorServer) -> Iterator[SimulatorServer]:
    shopify_sim_server.sim.config.webhook_time_scale = 0.001
    shopify_sim_server.reset()
    yield shopify_sim_server
    shopify_sim_server.sim.webhooks.reset()


@pytest.fixture
def sim_control(shopify_sim: SimulatorServer) -> SimControl:
    return shopify_sim.control


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()
