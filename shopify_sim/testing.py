"""In-process helpers for tests: a simulator on a free loopback port and a webhook receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .app import Simulator
from .config import ShopConfig, SimConfig
from .control import SimControl
from .server import SimHTTPServer, start_server
from .store import ShopState


@dataclass(frozen=True)
class ShopCredentials:
    """What a store record in the PIM needs to talk to one simulated shop."""

    name: str
    domain: str
    base_url: str  # http://127.0.0.1:PORT/{domain}; the client POSTs to {base_url}/admin/api/{v}/graphql.json
    access_token: str | None  # static token (X-Shopify-Access-Token)
    client_id: str
    client_secret: str  # client-credentials grant secret; also the webhook HMAC key
    api_version: str

    @property
    def webhook_secret(self) -> str:
        return self.client_secret

    def graphql_url(self, version: str | None = None) -> str:
        return f"{self.base_url}/admin/api/{version or self.api_version}/graphql.json"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/admin/oauth/access_token"


class SimulatorServer:
    """A Shopify simulator serving HTTP on ``127.0.0.1`` in a background thread.

    >>> with SimulatorServer(shops=["a", "b"]) as sim:
    ...     creds = sim.shops["a"]            # base_url, access_token, client_id/secret
    ...     sim.control.seed("a", generate=10)
    """

    def __init__(
        self,
        shops: list[str] | tuple[str, ...] = ("shop-a", "shop-b"),
        config: SimConfig | dict[str, Any] | None = None,
        shop_overrides: dict[str, dict[str, Any]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        if isinstance(config, dict):
            cfg = SimConfig()
            cfg.update(config)
            config = cfg
        self.sim = Simulator(shops, config, shop_overrides)
        self.host = host
        self.port = port
        self._httpd: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> SimulatorServer:
        if self._httpd is None:
            self._httpd, self._thread = start_server(self.sim, self.host, self.port)
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self.sim.stop()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # access ------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self.sim.url, "server not started"
        return self.sim.url

    def base_url(self, shop: str) -> str:
        return self.sim.base_url(self.sim.shops[shop].cfg.name)

    @property
    def shops(self) -> dict[str, ShopCredentials]:
        out = {}
        for name, s in self.sim.shops.items():
            out[name] = ShopCredentials(
                name=name, domain=s.domain, base_url=self.base_url(name), access_token=s.cfg.access_token,
                client_id=s.cfg.client_id, client_secret=s.cfg.client_secret,
                api_version=self.sim.config.default_api_version,
            )
        return out

    def state(self, shop: str) -> ShopState:
        """Direct access to a shop's in-memory state (hold ``state.lock`` while mutating it)."""
        return self.sim.shops[shop]

    @property
    def control(self) -> SimControl:
        return SimControl(self.url)

    def reset(self) -> None:
        self.sim.reset()

    def wait_webhooks(self, timeout: float = 10.0) -> bool:
        return self.sim.webhooks.wait_idle(timeout)


def make_shop_config(name: str, **kwargs: Any) -> ShopConfig:
    return ShopConfig(name=name, **kwargs)


# -- webhook receiver ------------------------------------------------------------------------------------
@dataclass
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    @property
    def topic(self) -> str | None:
        return self.header("X-Shopify-Topic")

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.headers.items():
            if k.lower() == lname:
                return v
        return None

    def json(self) -> Any:
        return json.loads(self.body)

    def hmac_valid(self, secret: str) -> bool:
        digest = base64.b64encode(hmac.new(secret.encode(), self.body, hashlib.sha256).digest()).decode()
        return hmac.compare_digest(digest, self.header("X-Shopify-Hmac-Sha256") or "")


class WebhookReceiver:
    """A tiny HTTP server that records webhook POSTs. ``status`` (or ``statuses``, a queue) sets replies."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.received: list[ReceivedWebhook] = []
        self.status = 200
        self.statuses: list[int] = []
        self.delay = 0.0
        self._cv = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._cv:
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.status
                    receiver.received.append(ReceivedWebhook(self.path, dict(self.headers.items()), body, time.time()))
                    receiver._cv.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 512

        self._httpd = Server((host, port), Handler)
        self.url = f"http://{host}:{self._httpd.server_address[1]}/webhooks"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()

    def wait_for(self, count: int = 1, timeout: float = 10.0, topic: str | None = None) -> list[ReceivedWebhook]:
        """Wait until ``count`` webhooks (of ``topic``) arrived; returns them (raises on timeout)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                got = [r for r in self.received if topic is None or r.topic == topic]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"expected {count} webhooks{f' of {topic}' if topic else ''}, got {len(got)}")
                self._cv.wait(left)

    def by_topic(self, topic: str) -> list[ReceivedWebhook]:
        with self._cv:
            return [r for r in self.received if r.topic == topic]

    def clear(self) -> None:
        with self._cv:
            self.received.clear()
            self.statuses.clear()
            self.status = 200

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
