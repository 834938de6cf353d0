"""``python -m shopify_sim --port 8765 --shops a,b [--config file.json]``"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .app import Simulator
from .config import SimConfig, load_config_file
from .server import start_server


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shopify_sim", description="Local Shopify Admin API simulator")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--shops", default="", help="comma-separated shop names; 'a' serves a.myshopify.com")
    ap.add_argument("--config", help="JSON file: {\"simulator\": {...}, \"shops\": {\"a\": {...}}}")
    ap.add_argument("--webhook-time-scale", type=float, help="multiply webhook retry delays (e.g. 0.001)")
    ap.add_argument("--verbose", action="store_true", help="log every HTTP request")
    args = ap.parse_args(argv)

    config, overrides = (load_config_file(args.config) if args.config else (SimConfig(), {}))
    if args.webhook_time_scale is not None:
        config.webhook_time_scale = args.webhook_time_scale
    if args.verbose:
        config.verbose = True
    names = [s.strip() for s in args.shops.split(",") if s.strip()]
    if not names and not overrides:
        names = ["shop-a", "shop-b"]
    sim = Simulator(names, config, overrides)
    httpd, thread = start_server(sim, args.host, args.port)
    print(f"Shopify simulator listening on {sim.url}  (API versions: {', '.join(sim.schemas.versions)}; "
          f"default {config.default_api_version})")
    print(f"Control API: {sim.url}/_sim/  (GET {sim.url}/_sim/shops)")
    for shop in sim.shops.values():
        c = shop.cfg
        print(f"- shop {c.name!r}: {c.domain}")
        print(f"    base URL       {sim.base_url(c.name)}")
        print(f"    GraphQL        {sim.base_url(c.name)}/admin/api/{config.default_api_version}/graphql.json")
        print(f"    access token   {c.access_token}   (header X-Shopify-Access-Token)")
        print(f"    client id      {c.client_id}")
        print(f"    client secret  {c.client_secret}   (client-credentials grant; webhook HMAC key)")
        print(f"    plan           {c.plan}: bucket {c.effective_bucket_size:g} points, "
              f"restore {c.effective_restore_rate:g}/s; locations: "
              + ", ".join(f"{loc['name']} ({loc['id']})" for loc in shop.locations.values()))
    sys.stdout.flush()

    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    stop.wait()
    httpd.shutdown()
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
