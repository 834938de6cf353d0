"""Access tokens for the Admin API: a static token, or the client-credentials grant with a shared cache.

Client-credentials tokens (API-NOTES §1) are obtained by POSTing ``grant_type=client_credentials``,
``client_id`` and ``client_secret`` form-encoded to ``{base_url}/admin/oauth/access_token``; they expire
(``expires_in`` seconds, ~24 h). The token is cached in Redis for all workers, encrypted with a key
derived from the client secret (so it is not readable from Redis dumps or logs without the secret), and
refreshed at 90 % of its life by exactly one worker under a Redis lock. After a 401 the client calls
``invalidate(token)`` and fetches a fresh one once.

Redis keys (``{cid}`` = first 16 hex chars of sha256(client_id)):
``{prefix}:{shop}:token:{cid}`` (encrypted JSON, TTL = token lifetime) and
``{prefix}:{shop}:token-lock:{cid}`` (refresh lock).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass

import requests
from cryptography.fernet import Fernet, InvalidToken

from .exceptions import (
    ShopifyAuthError,
    ShopifyBadRequest,
    ShopifyError,
    ShopifyNetworkError,
    ShopifyNotFound,
    ShopifyServerError,
)
from .netguard import network_call_check

logger = logging.getLogger("channels.shopify.auth")

# Used when Shopify doesn't say how long a client-credentials token lives (documented: 24 h).
DEFAULT_TOKEN_LIFETIME = 24 * 3600
REFRESH_AT_FRACTION = 0.9
LOCK_TIMEOUT = 30.0

_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Delete the cached token only if it is still the one that failed (another worker may have refreshed).
_INVALIDATE = """
local raw = redis.call('GET', KEYS[1])
if raw and string.find(raw, ARGV[1], 1, true) then return redis.call('DEL', KEYS[1]) end
return 0
"""


def redact(text: str, secrets: list[str | None]) -> str:
    """Replace every occurrence of the given secrets in ``text`` with ``[REDACTED]``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[REDACTED]")
    return text


def token_fingerprint(token: str) -> str:
    """Return a short, non-reversible fingerprint of a token (safe to store and to log)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AccessToken:
    token: str
    obtained_at: float
    expires_at: float
    scope: str = ""

    @property
    def refresh_at(self) -> float:
        return self.obtained_at + (self.expires_at - self.obtained_at) * REFRESH_AT_FRACTION

    def __repr__(self) -> str:  # never show the token itself
        return f"AccessToken(fingerprint={token_fingerprint(self.token)}, expires_at={self.expires_at:.0f})"


class StaticTokenProvider:
    """A fixed Admin API access token (legacy custom apps); cannot be refreshed."""

    refreshable = False

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self) -> str:
        return self._token

    def invalidate(self, token: str) -> None:
        """Nothing to do: a static token can't be renewed."""

    def secrets(self) -> list[str]:
        return [self._token]


class ClientCredentialsTokenProvider:
    """Tokens from the client-credentials grant, cached in Redis and shared by all workers."""

    refreshable = True

    def __init__(
        self,
        *,
        shop_domain: str,
        base_url: str,
        client_id: str,
        client_secret: str,
        redis,
        session: requests.Session,
        timeout: tuple[float, float],
        key_prefix: str = "shopify",
        clock=time.time,
        sleep=time.sleep,
    ) -> None:
        self.shop_domain = shop_domain
        self.token_url = f"{base_url.rstrip('/')}/admin/oauth/access_token"
        self.client_id = client_id
        self._client_secret = client_secret
        self.redis = redis
        self.session = session
        self.timeout = timeout
        cid = hashlib.sha256(client_id.encode()).hexdigest()[:16]
        self.cache_key = f"{key_prefix}:{shop_domain}:token:{cid}"
        self.lock_key = f"{key_prefix}:{shop_domain}:token-lock:{cid}"
        key = hashlib.sha256(b"pim-shopify-token-cache\x00" + client_secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self._clock = clock
        self._sleep = sleep
        self._local: AccessToken | None = None
        self._mutex = threading.Lock()
        self._release_lock = redis.register_script(_RELEASE_LOCK)
        self._invalidate = redis.register_script(_INVALIDATE)
        self._seen_tokens: list[str] = []

    def secrets(self) -> list[str]:
        return [self._client_secret, *self._seen_tokens[-4:]]

    # --- public --------------------------------------------------------------------------------------------
    def get_token(self) -> str:
        """Return a valid token, refreshing it (once, across all workers) when 90 % of its life is over.

        Raises ShopifyAuthError if Shopify refuses the client credentials, ShopifyNetworkError or
        ShopifyServerError if the token endpoint can't be reached.
        """
        with self._mutex:
            now = self._clock()
            if self._local and now < self._local.refresh_at:
                return self._local.token
            cached = self._read_cache()
            if cached and now < cached.refresh_at:
                return self._use(cached)
            try:
                return self._use(self._refresh(stale=cached))
            except (ShopifyServerError, ShopifyNetworkError) as exc:
                # Early refresh failed for a transient reason: keep using a token that hasn't expired yet.
                if cached and self._clock() < cached.expires_at - 5:
                    logger.warning(
                        "shopify token refresh failed shop=%s (%s); using the current token until it expires",
                        self.shop_domain,
                        type(exc).__name__,
                    )
                    return self._use(cached)
                raise

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (Shopify answered 401 with it) unless another worker already replaced it."""
        with self._mutex:
            if self._local and self._local.token == token:
                self._local = None
            self._invalidate(keys=[self.cache_key], args=[self._marker(token)])
            logger.info(
                "shopify token invalidated shop=%s fingerprint=%s", self.shop_domain, token_fingerprint(token)
            )

    # --- internals -----------------------------------------------------------------------------------------
    def _use(self, token: AccessToken) -> str:
        self._local = token
        if token.token not in self._seen_tokens:
            self._seen_tokens.append(token.token)
        return token.token

    @staticmethod
    def _marker(token: str) -> str:
        return f'"fp":"{token_fingerprint(token)}"'

    def _read_cache(self) -> AccessToken | None:
        raw = self.redis.get(self.cache_key)
        if not raw:
            return None
        try:
            envelope = json.loads(raw)
            token = self._fernet.decrypt(envelope["enc"].encode()).decode()
            return AccessToken(
                token=token,
                obtained_at=float(envelope["obtained_at"]),
                expires_at=float(envelope["expires_at"]),
                scope=envelope.get("scope", ""),
            )
        except (ValueError, KeyError, TypeError, InvalidToken):
            logger.warning("shopify token cache unreadable shop=%s; refreshing", self.shop_domain)
            return None

    def _write_cache(self, token: AccessToken) -> None:
        envelope = {
            "enc": self._fernet.encrypt(token.token.encode()).decode(),
            "fp": token_fingerprint(token.token),
            "obtained_at": token.obtained_at,
            "expires_at": token.expires_at,
            "scope": token.scope,
        }
        ttl = max(1, int(token.expires_at - self._clock()))
        self.redis.set(self.cache_key, json.dumps(envelope, separators=(",", ":")), ex=ttl)

    def _refresh(self, *, stale: AccessToken | None) -> AccessToken:
        lock_value = uuid.uuid4().hex
        deadline = self._clock() + LOCK_TIMEOUT + 5
        while True:
            if self.redis.set(self.lock_key, lock_value, nx=True, px=int(LOCK_TIMEOUT * 1000)):
                try:
                    cached = self._read_cache()  # someone may have refreshed while we waited
                    if cached and self._clock() < cached.refresh_at and cached != stale:
                        return cached
                    token = self._request_token()
                    self._write_cache(token)
                    return token
                finally:
                    self._release_lock(keys=[self.lock_key], args=[lock_value])
            # Another worker is refreshing. A token that hasn't expired yet is still usable meanwhile.
            if stale and self._clock() < stale.expires_at - 5:
                return stale
            self._sleep(0.05)
            cached = self._read_cache()
            if cached and self._clock() < cached.refresh_at:
                return cached
            if self._clock() > deadline:
                raise ShopifyNetworkError(
                    "timed out waiting for another worker to refresh the Shopify token",
                    shop_domain=self.shop_domain,
                )

    def _request_token(self) -> AccessToken:
        started = self._clock()
        network_call_check(what=f"Shopify token request for {self.shop_domain}")
        try:
            response = self.session.post(
                self.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self._client_secret,
                },
                headers={"Accept": "application/json"},
                timeout=self.timeout,
                allow_redirects=False,  # the client secret goes to the shop's token endpoint and nowhere else
            )
        except requests.Timeout as exc:
            raise ShopifyNetworkError(
                f"timeout requesting a Shopify access token: {type(exc).__name__}",
                shop_domain=self.shop_domain,
            ) from None
        except requests.RequestException as exc:
            raise ShopifyNetworkError(
                f"cannot reach Shopify's token endpoint: {type(exc).__name__}", shop_domain=self.shop_domain
            ) from None
        status = response.status_code
        if 300 <= status < 400:
            raise ShopifyAuthError(
                f"Shopify's token endpoint answered with a redirect ({status}); not followed",
                shop_domain=self.shop_domain, status=status, operation_name="access_token",
            )
        if status >= 400:
            detail = redact(_short_body(response), [self._client_secret, self.client_id])
            kwargs = {"shop_domain": self.shop_domain, "status": status, "operation_name": "access_token"}
            if status in (400, 401, 403):
                raise ShopifyAuthError(f"Shopify refused the client credentials: {detail}", **kwargs)
            if status == 404:
                raise ShopifyNotFound(f"token endpoint not found (app not installed?): {detail}", **kwargs)
            if status == 429 or status >= 500:
                raise ShopifyServerError(f"Shopify token endpoint failed: {detail}", **kwargs)
            raise ShopifyBadRequest(f"Shopify token endpoint refused the request: {detail}", **kwargs)
        try:
            body = response.json()
            token = body["access_token"]
        except (ValueError, KeyError, TypeError):
            raise ShopifyServerError(
                "Shopify token endpoint returned no access_token", shop_domain=self.shop_domain, status=status
            ) from None
        if not isinstance(token, str) or not token:
            raise ShopifyError("Shopify token endpoint returned an empty token", shop_domain=self.shop_domain)
        try:
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except (TypeError, ValueError):
            lifetime = DEFAULT_TOKEN_LIFETIME
        result = AccessToken(
            token=token,
            obtained_at=started,
            expires_at=started + lifetime,
            scope=str(body.get("scope") or ""),
        )
        logger.info(
            "shopify token obtained shop=%s fingerprint=%s expires_in=%.0fs",
            self.shop_domain,
            token_fingerprint(token),
            lifetime,
        )
        return result


def _short_body(response: requests.Response, limit: int = 300) -> str:
    try:
        body = response.json()
        if isinstance(body, dict):
            text = body.get("error_description") or body.get("error") or body.get("errors") or body
            return str(text)[:limit]
    except ValueError:
        pass
    return (response.text or "")[:limit]
