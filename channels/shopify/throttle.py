"""A cost budget per Shopify store, shared in Redis by every worker on every machine.

Shopify rate-limits the GraphQL Admin API with a leaky bucket per app and store: each request needs
``requestedQueryCost`` points available, is charged that, then refunded to ``actualQueryCost``; the bucket
refills at ``restoreRate`` points/s up to ``maximumAvailable`` (API-NOTES §4). This module keeps a
*conservative mirror* of that bucket in Redis, updated atomically by Lua scripts:

* ``acquire(cost)`` refills the mirror by elapsed time (Redis' clock, so machines agree), deducts the
  estimated cost — going into debt if needed, which queues callers fairly — and returns how long the caller
  must sleep before sending. While the bucket's size is still unknown only one probe request may be in
  flight; its answer teaches ``maximumAvailable``/``restoreRate``.
* ``reconcile(reservation, cost)`` refunds ``reserved - actual`` and then clamps the mirror to what Shopify
  reported (``currentlyAvailable`` minus the reservations of other requests still in flight), so the mirror
  is never more optimistic than Shopify. Reservations carry an expiry so a crashed worker's reservation
  stops counting after a while.

Redis keys (prefix default ``shopify``; ``{shop}`` is the shop domain):
``{prefix}:{shop}:budget`` (hash: avail, max, rate, ts, learned, blocked_until),
``{prefix}:{shop}:inflight`` (hash: reservation id -> "cost|expiry"),
``{prefix}:{shop}:costs`` (hash: operation name -> learned cost, see ``estimate``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from .exceptions import ShopifyBudgetWait

logger = logging.getLogger("channels.shopify.throttle")

DEFAULT_QUERY_COST = 50.0
DEFAULT_MUTATION_COST = 10.0
# Conservative guesses until the first answer tells the real bucket (the smallest bucket Shopify ever had).
INITIAL_MAXIMUM = 1000.0
INITIAL_RESTORE_RATE = 50.0
# Never ask for more than this in one request: Shopify's single-query limit.
SINGLE_QUERY_MAX_COST = 1000.0

_RESERVE = """
local budget, inflight = KEYS[1], KEYS[2]
local cost = tonumber(ARGV[1])
local rid = ARGV[2]
local init_max, init_rate = tonumber(ARGV[3]), tonumber(ARGV[4])
local max_wait, inflight_ttl, key_ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', budget, 'avail', 'max', 'rate', 'ts', 'learned', 'blocked_until')
local max = tonumber(b[2]) or init_max
local rate = tonumber(b[3]) or init_rate
local avail = tonumber(b[1]) or max
local ts = tonumber(b[4]) or now
local learned = b[5] == '1'
local blocked = tonumber(b[6]) or 0
if now > ts then avail = math.min(max, avail + (now - ts) * rate) end
if cost > max then cost = max end
local others = 0
if not learned then
  local entries = redis.call('HGETALL', inflight)
  for i = 1, #entries, 2 do
    local sep = string.find(entries[i + 1], '|', 1, true)
    if tonumber(string.sub(entries[i + 1], sep + 1)) < now then
      redis.call('HDEL', inflight, entries[i])
    else
      others = others + 1
    end
  end
end
redis.call('HSET', budget, 'avail', tostring(avail), 'ts', tostring(now), 'max', tostring(max), 'rate', tostring(rate))
redis.call('EXPIRE', budget, key_ttl)
if not learned and others > 0 then
  return {2, '0.1', tostring(cost)}
end
local wait = 0
if avail < cost then wait = (cost - avail) / rate end
if blocked > now and blocked - now > wait then wait = blocked - now end
if wait > max_wait then
  return {0, tostring(wait), tostring(cost)}
end
redis.call('HSET', budget, 'avail', tostring(avail - cost))
redis.call('HSET', inflight, rid, tostring(cost) .. '|' .. tostring(now + wait + inflight_ttl))
redis.call('EXPIRE', inflight, key_ttl)
return {1, tostring(wait), tostring(cost)}
"""

# ARGV: rid, reserved, refund (reserved - actual; may be negative), has_status,
#       currentlyAvailable, maximumAvailable, restoreRate, key_ttl
_RECONCILE = """
local budget, inflight = KEYS[1], KEYS[2]
local rid = ARGV[1]
local refund = tonumber(ARGV[3])
local has_status = ARGV[4] == '1'
local key_ttl = tonumber(ARGV[8])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', budget, 'avail', 'max', 'rate', 'ts')
local max = tonumber(b[2]) or tonumber(ARGV[6]) or 0
local rate = tonumber(b[3]) or tonumber(ARGV[7]) or 1
local avail = tonumber(b[1]) or max
local ts = tonumber(b[4]) or now
if now > ts then avail = math.min(max, avail + (now - ts) * rate) end
redis.call('HDEL', inflight, rid)
local others = 0
local entries = redis.call('HGETALL', inflight)
for i = 1, #entries, 2 do
  local v = entries[i + 1]
  local sep = string.find(v, '|', 1, true)
  if tonumber(string.sub(v, sep + 1)) < now then
    redis.call('HDEL', inflight, entries[i])
  else
    others = others + tonumber(string.sub(v, 1, sep - 1))
  end
end
avail = avail + refund
if has_status then
  max = tonumber(ARGV[6])
  rate = tonumber(ARGV[7])
  local truth = tonumber(ARGV[5]) - others
  if truth < avail then avail = truth end
  redis.call('HSET', budget, 'learned', '1')
end
if avail > max then avail = max end
redis.call('HSET', budget, 'avail', tostring(avail), 'ts', tostring(now), 'max', tostring(max), 'rate', tostring(rate))
redis.call('EXPIRE', budget, key_ttl)
return tostring(avail)
"""

_BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'blocked_until')) or 0
if until_ > current then redis.call('HSET', KEYS[1], 'blocked_until', tostring(until_)) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return tostring(until_)
"""


@dataclass(frozen=True)
class Reservation:
    """Points taken from the shared budget for one request."""

    id: str
    cost: float
    waited: float


@dataclass(frozen=True)
class CostInfo:
    """``extensions.cost`` of one answer."""

    requested_query_cost: float | None
    actual_query_cost: float | None
    maximum_available: float | None
    currently_available: float | None
    restore_rate: float | None

    @classmethod
    def from_extensions(cls, extensions: dict | None) -> CostInfo | None:
        cost = (extensions or {}).get("cost")
        if not isinstance(cost, dict):
            return None
        status = cost.get("throttleStatus") or {}
        return cls(
            requested_query_cost=_num(cost.get("requestedQueryCost")),
            actual_query_cost=_num(cost.get("actualQueryCost")),
            maximum_available=_num(status.get("maximumAvailable")),
            currently_available=_num(status.get("currentlyAvailable")),
            restore_rate=_num(status.get("restoreRate")),
        )

    @property
    def has_status(self) -> bool:
        return (
            self.maximum_available is not None
            and self.currently_available is not None
            and bool(self.restore_rate)
        )


def _num(value) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class CostBudget:
    """The shared, Redis-backed cost budget of one store (see the module docstring)."""

    def __init__(
        self,
        redis,
        shop_domain: str,
        *,
        key_prefix: str = "shopify",
        initial_maximum: float = INITIAL_MAXIMUM,
        initial_restore_rate: float = INITIAL_RESTORE_RATE,
        default_query_cost: float = DEFAULT_QUERY_COST,
        default_mutation_cost: float = DEFAULT_MUTATION_COST,
        max_wait: float = 60.0,
        inflight_ttl: float = 120.0,
        key_ttl: int = 7 * 24 * 3600,
        initial_estimates: dict[str, float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.redis = redis
        self.shop_domain = shop_domain
        base = f"{key_prefix}:{shop_domain}"
        self.budget_key = f"{base}:budget"
        self.inflight_key = f"{base}:inflight"
        self.costs_key = f"{base}:costs"
        self.initial_maximum = float(initial_maximum)
        self.initial_restore_rate = float(initial_restore_rate)
        self.default_query_cost = float(default_query_cost)
        self.default_mutation_cost = float(default_mutation_cost)
        self.max_wait = float(max_wait)
        self.inflight_ttl = float(inflight_ttl)
        self.key_ttl = int(key_ttl)
        self._sleep = sleep
        self._reserve = redis.register_script(_RESERVE)
        self._reconcile = redis.register_script(_RECONCILE)
        self._block = redis.register_script(_BLOCK)
        self._local_costs: dict[str, float] = {}
        self.initial_estimates = dict(initial_estimates or {})

    # --- estimation -------------------------------------------------------------------------------------
    def estimate(self, operation_name: str | None, *, is_mutation: bool, base: float = 0.0) -> float:
        """Return the points to reserve for an operation.

        The learned value is the last ``requestedQueryCost`` of that operation minus the ``base`` (the
        input-dependent part, e.g. productSet's per-variant cost) it was sent with; the estimate adds this
        call's ``base`` back. Operations never seen use ``initial_estimates`` (precomputed costs of our own
        documents), else the configured default for queries or mutations.
        """
        learned = None
        if operation_name:
            learned = self._local_costs.get(operation_name)
            if learned is None:
                raw = self.redis.hget(self.costs_key, operation_name)
                if raw is not None:
                    learned = float(raw)
                    self._local_costs[operation_name] = learned
        if learned is None and operation_name in self.initial_estimates:
            learned = float(self.initial_estimates[operation_name])
        if learned is None:
            default = self.default_mutation_cost if is_mutation else self.default_query_cost
            return max(1.0, min(SINGLE_QUERY_MAX_COST, max(default, base)))
        return max(1.0, min(SINGLE_QUERY_MAX_COST, learned + base))

    def remember_cost(
        self, operation_name: str | None, requested: float | None, *, base: float = 0.0
    ) -> None:
        """Store the ``requestedQueryCost`` Shopify reported for an operation (minus its ``base``)."""
        if not operation_name or requested is None:
            return
        value = max(0.0, float(requested) - base)
        if self._local_costs.get(operation_name) == value:
            return
        self._local_costs[operation_name] = value
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.costs_key, operation_name, repr(value))
        pipe.expire(self.costs_key, self.key_ttl)
        pipe.execute()

    # --- reserve / settle ---------------------------------------------------------------------------------
    def acquire(self, cost: float | Callable[[], float], *, max_wait: float | None = None) -> Reservation:
        """Reserve ``cost`` points (a number, or a callable re-evaluated after waiting for a probe), sleeping
        until the shared bucket covers them.

        Raises ShopifyBudgetWait (a ShopifyThrottled, with ``retry_after``; nothing reserved) instead of sleeping
        longer than ``max_wait`` seconds.
        """
        limit = self.max_wait if max_wait is None else float(max_wait)
        rid = uuid.uuid4().hex
        waited = 0.0
        while True:
            points = float(cost() if callable(cost) else cost)
            code, wait, granted = self._reserve(
                keys=[self.budget_key, self.inflight_key],
                args=[
                    repr(points),
                    rid,
                    repr(self.initial_maximum),
                    repr(self.initial_restore_rate),
                    repr(max(0.0, limit - waited)),
                    repr(self.inflight_ttl),
                    self.key_ttl,
                ],
            )
            code, wait, granted = int(code), float(wait), float(granted)
            if code == 1:
                if wait > 0:
                    if wait >= 1.0:
                        logger.info(
                            "shopify budget: waiting %.2fs for %.0f points shop=%s",
                            wait,
                            granted,
                            self.shop_domain,
                        )
                    else:
                        logger.debug(
                            "shopify budget: waiting %.3fs for %.0f points shop=%s",
                            wait,
                            granted,
                            self.shop_domain,
                        )
                    self._sleep(wait)
                return Reservation(id=rid, cost=granted, waited=waited + wait)
            if code == 2 and waited + wait <= limit:
                # Bucket size still unknown and a probe request is in flight: wait for its answer.
                self._sleep(wait)
                waited += wait
                continue
            raise ShopifyBudgetWait(
                f"Shopify cost budget short for {wait:.1f}s (more than the {limit:.1f}s this call may wait)",
                retry_after=max(wait, 0.1),
                shop_domain=self.shop_domain,
            )

    def reconcile(self, reservation: Reservation, cost: CostInfo | None, *, charged: bool = True) -> float:
        """Settle a reservation with the answer's cost info; return the mirror's available points.

        With cost info: refund ``reserved - actualQueryCost`` (everything if the request was throttled, i.e.
        ``actualQueryCost`` is null), learn the bucket size and rate, and clamp the mirror to Shopify's
        ``currentlyAvailable`` minus other in-flight reservations. Without cost info: keep the reservation
        spent if ``charged`` (e.g. a read timeout: Shopify may have run it), refund it otherwise.
        """
        has_status = bool(cost and cost.has_status)
        if cost is not None and (cost.actual_query_cost is not None or cost.requested_query_cost is not None):
            actual = cost.actual_query_cost if cost.actual_query_cost is not None else 0.0
            refund = reservation.cost - actual
        else:
            refund = 0.0 if charged else reservation.cost
        result = self._reconcile(
            keys=[self.budget_key, self.inflight_key],
            args=[
                reservation.id,
                repr(reservation.cost),
                repr(refund),
                "1" if has_status else "0",
                repr(cost.currently_available if has_status else 0.0),
                repr(cost.maximum_available if has_status else self.initial_maximum),
                repr(cost.restore_rate if has_status else self.initial_restore_rate),
                self.key_ttl,
            ],
        )
        return float(result)

    def block_for(self, seconds: float) -> None:
        """Make every caller of this store wait at least ``seconds`` (after an HTTP 429 Retry-After)."""
        self._block(keys=[self.budget_key], args=[repr(max(0.0, float(seconds))), self.key_ttl])

    def restore_rate(self) -> float:
        """Return the known (or initially assumed) restore rate in points per second."""
        raw = self.redis.hget(self.budget_key, "rate")
        return float(raw) if raw is not None else self.initial_restore_rate

    def snapshot(self) -> dict:
        """Return the raw mirror state (for diagnostics and tests)."""
        raw = self.redis.hgetall(self.budget_key)
        return {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()}

    def reset(self) -> None:
        """Forget everything known about this store's bucket and costs."""
        self.redis.delete(self.budget_key, self.inflight_key, self.costs_key)
        self._local_costs.clear()
