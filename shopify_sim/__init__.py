"""A local Shopify Admin GraphQL API simulator (see README.md).

Public API:
- :class:`shopify_sim.testing.SimulatorServer` - in-process server on a free loopback port
- :class:`shopify_sim.control.SimControl` - client for the ``/_sim/`` control API
- :class:`shopify_sim.testing.WebhookReceiver` - records webhook deliveries in tests
- :class:`shopify_sim.app.Simulator`, :class:`shopify_sim.config.SimConfig`, :class:`shopify_sim.config.ShopConfig`
- ``python -m shopify_sim --port 8765 --shops a,b``
"""

from .app import Simulator
from .config import PLANS, ShopConfig, SimConfig
from .control import SimControl, SimControlError

__all__ = ["PLANS", "ShopConfig", "SimConfig", "SimControl", "SimControlError", "Simulator", "SimulatorServer",
           "WebhookReceiver"]


def __getattr__(name: str):  # lazy: testing imports the HTTP server
    if name in ("SimulatorServer", "WebhookReceiver"):
        from . import testing

        return getattr(testing, name)
    raise AttributeError(name)
