"""One rate limiter for every Vast call the process makes.

Vast limits requests per endpoint and per identity, as a minimum interval between calls, and
answers 429, usually without Retry-After (https://docs.vast.ai/api; the transport defers the
route by a Retry-After when one comes, `defer`). The limiter therefore paces on two levels:

1. per (identity, route template): a small token bucket whose refill interval is the documented
   threshold of that route (`DEFAULT_ROUTE_LIMITS`; burst 1 = a plain minimum interval);
2. per identity: a requests-per-second token bucket for all routes of one account, so that one
   account (one tenant's key) can never delay another account's calls.

Identity is a short SHA-256 digest of the API key, never the key. Routes limited per client IP
rather than per key (offer search) share one identity (`"*"`).

Waiting is fair: callers of the same (identity, route) queue FIFO on an `asyncio.Lock` (whose
waiters are woken in order), and callers queue FIFO again for their account's bucket. Nobody spins:
a waiter sleeps exactly until its slot.

**The interval is counted from the previous answer, not from the previous send** (`slot`). Vast
(and the simulator) checks the interval when a request arrives, and we cannot see that moment: a
request sent exactly one interval after the previous one may arrive sooner than it did (event-loop
stalls after the limiter let it go, a server that worked through a backlog). That was the cause
of the 429s at production pacing, most of them on the listing and rent routes during ramps, where
a few milliseconds of jitter against a documented interval land a call inside it. With `slot`, a
route has at most one call in flight per identity, and the next call is sent no sooner than one
interval after the previous call's answer came back: the server saw the previous request before
it answered, so the two arrivals are at least one interval apart whatever the jitter. The cost is
one round trip per call (milliseconds against intervals of 1-6 s).

A caller that waits for one route never blocks callers of other routes. `waits_total` and
`wait_seconds_total` count the pacing for metrics.

A spent daily search quota is not a pace: `close` shuts (identity, route) until the quota's reset
and `closed_for` tells callers to fail at once instead of queueing.

`scale` multiplies every route interval (tests use 0 to turn per-route pacing off), and `clock`
and `sleep` can be replaced by a fake clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

__all__ = [
    "DEFAULT_ROUTE_LIMITS",
    "LimiterStats",
    "RateLimiter",
    "RouteLimit",
    "default_limiter",
    "identity_of",
]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

SHARED_IDENTITY = "*"


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """`burst` calls at once, then one call per `interval` seconds."""

    interval: float
    burst: int = 1
    per_identity: bool = True


# Thresholds documented in Vast's OpenAPI files (docs.vast.ai/api; the `threshold=` of each
# route's 429), read as "minimum seconds between calls for one identity". Offer search is "10 per
# minute per IP": one call per 6 s, without a burst, never puts more than 10 calls in any 60 s
# window. Volume search (threshold 5.5) is paced the same way, as it may share that limit.
DEFAULT_ROUTE_LIMITS: Mapping[str, RouteLimit] = {
    "POST /api/v0/bundles/": RouteLimit(6.0, per_identity=False),
    "POST /api/v0/volumes/search/": RouteLimit(6.0, per_identity=False),
    "PUT /api/v0/asks/{id}/": RouteLimit(4.5),
    "GET /api/v0/instances/{id}/": RouteLimit(2.0),
    "GET /api/v1/instances/": RouteLimit(1.0),
    "PUT /api/v0/instances/{id}/": RouteLimit(1.0),
    "DELETE /api/v0/instances/{id}/": RouteLimit(3.0),
    "PUT /api/v0/instances/reboot/{id}/": RouteLimit(1.0),
    "PUT /api/v0/instances/recycle/{id}/": RouteLimit(1.0),
    "PUT /api/v0/instances/bid_price/{id}/": RouteLimit(5.5),
    # UNCONFIRMED route (the simulator's price-increase answer); paced like a bid change.
    "PUT /api/v0/instances/price_increase/{id}/": RouteLimit(5.5),
    "PUT /api/v0/instances/command/{id}/": RouteLimit(1.5),
    "POST /api/v0/instances/{id}/ssh/": RouteLimit(1.0),
    "DELETE /api/v0/instances/{id}/ssh/{key_id}/": RouteLimit(2.0),
    "GET /api/v0/volumes": RouteLimit(5.5),
    "PUT /api/v0/volumes/": RouteLimit(5.5),
    "DELETE /api/v0/volumes/": RouteLimit(5.5),
    "POST /api/v0/endptjobs/": RouteLimit(4.0),
    "GET /api/v0/endptjobs/": RouteLimit(3.0),
    "GET /api/v0/endptjobs/{id}/": RouteLimit(3.0),
    "PUT /api/v0/endptjobs/{id}/": RouteLimit(2.0),
    "DELETE /api/v0/endptjobs/{id}/": RouteLimit(3.0),
    "POST /api/v0/autojobs/": RouteLimit(4.0),
    "GET /api/v0/autojobs/": RouteLimit(2.0),
    "PUT /api/v0/autojobs/{id}/": RouteLimit(2.0),
    "DELETE /api/v0/autojobs/{id}/": RouteLimit(3.0),
}
# "About one request per second sustained" for routes without a documented threshold.
DEFAULT_LIMIT = RouteLimit(1.0)


def identity_of(api_key: str) -> str:
    """A short, stable, non-reversible name for an API key (safe for logs and metrics)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class LimiterStats:
    acquires_total: int
    waits_total: int
    wait_seconds_total: float


class _Bucket:
    """Token bucket state; callers serialise access through the owner's lock."""

    __slots__ = ("capacity", "interval", "stamp", "tokens")

    def __init__(self, interval: float, capacity: int, now: float) -> None:
        self.interval = interval
        self.capacity = float(capacity)
        self.tokens = float(capacity)
        self.stamp = now

    def refill(self, now: float) -> None:
        if self.interval <= 0:
            self.tokens = self.capacity
        elif now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) / self.interval)
        self.stamp = max(self.stamp, now)

    def delay(self, now: float) -> float:
        """Seconds until one token is available (0 when available now)."""
        self.refill(now)
        wait = max(0.0, self.stamp - now)
        if self.tokens < 1.0 and self.interval > 0:
            wait += (1.0 - self.tokens) * self.interval
        return wait

    def take(self, now: float) -> None:
        self.refill(now)
        self.tokens -= 1.0

    def block_until(self, until: float, now: float) -> None:
        """No token before `until`, and at most one then (used after a 429)."""
        self.refill(now)
        if until <= self.stamp:
            return
        natural = 1.0
        if self.interval > 0:
            natural = self.tokens + (until - self.stamp) / self.interval
        self.tokens = min(1.0, self.capacity, natural)
        self.stamp = until


class RateLimiter:
    """Paces calls per (identity, route) and per identity; see the module docstring."""

    def __init__(
        self,
        *,
        requests_per_second: float | None = 5.0,
        burst: int = 5,
        route_limits: Mapping[str, RouteLimit] = DEFAULT_ROUTE_LIMITS,
        default_limit: RouteLimit = DEFAULT_LIMIT,
        scale: float = 1.0,
        margin: float = 0.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if scale < 0:
            raise ValueError("scale must be >= 0")
        self._route_limits = dict(route_limits)
        self._default_limit = default_limit
        self._scale = scale
        # Spacing a little wider than documented keeps network jitter from landing a call just
        # inside Vast's minimum interval (0.05 = 5 % wider).
        self._margin = margin
        self._clock = clock
        self._sleep = sleep
        self._rps = requests_per_second
        self._burst = max(1, burst)
        self._accounts: dict[str, tuple[_Bucket, asyncio.Lock]] = {}
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._closed: dict[tuple[str, str], float] = {}
        self._acquires = 0
        self._waits = 0
        self._wait_seconds = 0.0

    def limit_for(self, route: str) -> RouteLimit:
        return self._route_limits.get(route, self._default_limit)

    def _key(self, identity: str, route: str) -> tuple[str, str]:
        limit = self.limit_for(route)
        return (identity if limit.per_identity else SHARED_IDENTITY, route)

    def _bucket(self, key: tuple[str, str]) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            limit = self.limit_for(key[1])
            interval = limit.interval * self._scale * (1.0 + self._margin)
            bucket = _Bucket(interval, limit.burst, self._clock())
            self._buckets[key] = bucket
        return bucket

    async def acquire(self, identity: str, route: str) -> float:
        """Wait for a slot on `route` for `identity`; returns the seconds waited.

        Counts the interval from this moment (the send). Calls to Vast use `slot`, which counts
        it from the answer; `acquire` stays for callers that cannot tell when a call ended."""
        key = self._key(identity, route)
        lock = self._locks.setdefault(key, asyncio.Lock())
        started = self._clock()
        async with lock:
            await self._take(identity, key)
        return self._count(started)

    @asynccontextmanager
    async def slot(self, identity: str, route: str) -> AsyncIterator[float]:
        """Hold `route` for `identity` while one call is in flight (yields the seconds waited).

        Nobody else's call of the route is sent until this one's answer is back, and then not
        before one interval has passed since that answer (the module docstring says why)."""
        key = self._key(identity, route)
        lock = self._locks.setdefault(key, asyncio.Lock())
        started = self._clock()
        async with lock:
            await self._take(identity, key)
            waited = self._count(started)
            try:
                yield waited
            finally:
                bucket = self._bucket(key)
                now = self._clock()
                if bucket.interval > 0:
                    bucket.block_until(now + bucket.interval, now)

    async def _take(self, identity: str, key: tuple[str, str]) -> None:
        bucket = self._bucket(key)
        await self._wait_for(bucket)
        budget = self._account(identity)
        if budget is not None:
            account_bucket, account_lock = budget
            async with account_lock:
                await self._wait_for(account_bucket)
                account_bucket.take(self._clock())
        bucket.take(self._clock())

    def _count(self, started: float) -> float:
        waited = max(0.0, self._clock() - started)
        self._acquires += 1
        if waited > 0:
            self._waits += 1
            self._wait_seconds += waited
        return waited

    def _account(self, identity: str) -> tuple[_Bucket, asyncio.Lock] | None:
        """The requests-per-second budget of one account (None when unlimited)."""
        if self._rps is None:
            return None
        budget = self._accounts.get(identity)
        if budget is None:
            bucket = _Bucket(1.0 / self._rps, self._burst, self._clock())
            budget = self._accounts[identity] = (bucket, asyncio.Lock())
        return budget

    async def _wait_for(self, bucket: _Bucket) -> None:
        # Each pass sleeps exactly the computed deficit; the loop only repeats when a 429
        # deferred the bucket while we slept.
        delay = bucket.delay(self._clock())
        while delay > 0:
            await self._sleep(delay)
            delay = bucket.delay(self._clock())

    def defer(self, identity: str, route: str, seconds: float) -> None:
        """Hold every caller of (identity, route) back for `seconds` (called after a 429)."""
        if seconds <= 0:
            return
        key = self._key(identity, route)
        now = self._clock()
        self._bucket(key).block_until(now + seconds, now)

    def close(self, identity: str, route: str, seconds: float) -> None:
        """Close (identity, route) for `seconds` (a spent daily search quota, not a pace).

        Keyed by the real identity even on routes paced per IP (a quota belongs to an account,
        so other keys' searches are not held back), and kept apart from the pacing buckets:
        callers ask `closed_for` and fail at once instead of queueing for hours.
        """
        key = (identity, route)
        until = self._clock() + max(0.0, seconds)
        self._closed[key] = max(until, self._closed.get(key, until))

    def closed_for(self, identity: str, route: str) -> float:
        """Seconds until (identity, route) opens again after `close` (0 when open)."""
        until = self._closed.get((identity, route))
        if until is None:
            return 0.0
        remaining = until - self._clock()
        if remaining <= 0:
            del self._closed[(identity, route)]
            return 0.0
        return remaining

    def stats(self) -> LimiterStats:
        return LimiterStats(
            acquires_total=self._acquires,
            waits_total=self._waits,
            wait_seconds_total=self._wait_seconds,
        )

    @property
    def waits_total(self) -> int:
        return self._waits

    @property
    def wait_seconds_total(self) -> float:
        return self._wait_seconds


_default: RateLimiter | None = None


def default_limiter() -> RateLimiter:
    """The process-wide limiter used by every `VastClient` that is not given one."""
    global _default  # noqa: PLW0603 - one limiter per process is the point
    if _default is None:
        _default = RateLimiter()
    return _default
