"""URL layout, authentication, versions, client-credentials tokens."""

from __future__ import annotations

import time

import requests

Q = "{ shop { name } }"


def test_url_layout_and_host_header_routing(shopify_sim, http):
    creds = shopify_sim.shops["shop-a"]
    assert creds.base_url == f"{shopify_sim.url}/shop-a.myshopify.com"
    r = http.post(f"{creds.base_url}/admin/api/2026-07/graphql.json", json={"query": Q},
                  headers={"X-Shopify-Access-Token": creds.access_token})
    assert r.status_code == 200 and r.json()["data"]["shop"]["name"] == "Sim Shop shop-a"
    assert r.headers["X-Shopify-API-Version"] == "2026-07"
    r = http.post(f"{shopify_sim.url}/admin/api/2026-07/graphql.json", json={"query": Q},
                  headers={"X-Shopify-Access-Token": shopify_sim.shops["shop-b"].access_token,
                           "Host": "shop-b.myshopify.com"})
    assert r.status_code == 200 and r.json()["data"]["shop"]["name"] == "Sim Shop shop-b"
    r = http.post(f"{shopify_sim.url}/nope.myshopify.com/admin/api/2026-07/graphql.json", json={"query": Q})
    assert r.status_code == 404


def test_each_shop_has_its_own_token(gql):
    r = gql(Q, shop="shop-a", token="shpat_sim_shop-b", raw=True)
    assert r.status_code == 401
    assert r.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
    assert gql(Q, shop="shop-a", token="", raw=True).status_code == 401


def test_versions(gql):
    for v in ("2026-01", "2026-04", "2026-10"):
        r = gql(Q, version=v, raw=True)
        assert r.status_code == 200 and r.headers["X-Shopify-API-Version"] == v
    r = gql(Q, version="2025-07", raw=True)  # unsupported -> oldest supported
    assert r.status_code == 200 and r.headers["X-Shopify-API-Version"] == "2026-01"
    assert gql(Q, version="banana", raw=True).status_code == 404


def test_bad_bodies(shopify_sim, http):
    creds = shopify_sim.shops["shop-a"]
    h = {"X-Shopify-Access-Token": creds.access_token, "Content-Type": "application/json"}
    r = http.post(creds.graphql_url(), data="not json", headers=h)
    assert r.status_code == 400
    r = http.post(creds.graphql_url(), json={"variables": {}}, headers=h)
    assert r.status_code == 400


def test_client_credentials_token_issue_and_expiry(shopify_sim, sim_control, http):
    sim_control.config("shop-a", token_ttl=1, access_token="")
    creds = shopify_sim.shops["shop-a"]
    # form-encoded, as Shopify documents
    r = http.post(creds.token_url, data={"grant_type": "client_credentials", "client_id": creds.client_id,
                                         "client_secret": creds.client_secret})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "scope", "expires_in"}
    assert body["access_token"].startswith("shpat_") and body["expires_in"] == 1
    assert "write_products" in body["scope"].split(",")
    token = body["access_token"]
    h = {"X-Shopify-Access-Token": token}
    assert http.post(creds.graphql_url(), json={"query": Q}, headers=h).status_code == 200
    # the static token is disabled for this shop now
    assert http.post(creds.graphql_url(), json={"query": Q},
                     headers={"X-Shopify-Access-Token": "shpat_sim_shop-a"}).status_code == 401
    time.sleep(1.2)
    assert http.post(creds.graphql_url(), json={"query": Q}, headers=h).status_code == 401
    # JSON body works too; a new token is issued
    r = http.post(creds.token_url, json={"grant_type": "client_credentials", "client_id": creds.client_id,
                                         "client_secret": creds.client_secret})
    token2 = r.json()["access_token"]
    assert token2 != token
    assert http.post(creds.graphql_url(), json={"query": Q},
                     headers={"X-Shopify-Access-Token": token2}).status_code == 200
    assert sim_control.expire_tokens("shop-a") >= 1
    assert http.post(creds.graphql_url(), json={"query": Q},
                     headers={"X-Shopify-Access-Token": token2}).status_code == 401


def test_client_credentials_errors(shopify_sim):
    creds = shopify_sim.shops["shop-a"]
    r = requests.post(creds.token_url, data={"grant_type": "client_credentials", "client_id": creds.client_id,
                                             "client_secret": "wrong"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"
    r = requests.post(creds.token_url, data={"grant_type": "authorization_code"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    # other shop's credentials do not work here
    other = shopify_sim.shops["shop-b"]
    r = requests.post(creds.token_url, data={"grant_type": "client_credentials", "client_id": other.client_id,
                                             "client_secret": other.client_secret}, timeout=10)
    assert r.status_code == 400


def test_cli_starts_and_prints_credentials(tmp_path):
    import json
    import os
    import subprocess
    import sys

    cfg = tmp_path / "sim.json"
    cfg.write_text(json.dumps({"shops": {"x": {"plan": "plus", "access_token": "shpat_custom"}}}))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.getcwd() + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "shopify_sim", "--port", "0", "--shops", "a",
                             "--config", str(cfg)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        lines = [proc.stdout.readline() for _ in range(16)]
        text = "".join(lines)
        assert "listening on http://127.0.0.1:" in text
        url = lines[0].split("listening on ", 1)[1].split()[0]
        assert "shpat_sim_a" in text and "shpat_custom" in text and "x.myshopify.com" in text
        r = requests.post(f"{url}/x.myshopify.com/admin/api/2026-07/graphql.json", json={"query": Q},
                          headers={"X-Shopify-Access-Token": "shpat_custom"}, timeout=10)
        assert r.status_code == 200
        assert r.json()["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 20000.0
    finally:
        proc.terminate()
        proc.wait(10)
