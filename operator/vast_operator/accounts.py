"""Vast accounts in use: one client and one instance poller per API key, created on demand.

Every client shares the same HTTP connection pool and the same rate limiter: per-route limits
hold for the operator as a whole, and each account has its own requests-per-second budget, so
one account never delays another's calls. A poller nobody asks for stops listing. Keys are held
as `SecretStr` and indexed by a fingerprint, never by their text.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import httpx
from pydantic import SecretStr

from .credit import CreditReader
from .placement_queue import PlacementQueue
from .poller import InstancePoller, Snapshot
from .vast.client import RequestObserver, VastClient
from .vast.models import Endpoint, Volume, Workergroup
from .vast.ratelimit import RateLimiter

T = TypeVar("T")

# Demanded listings (after a rent, during a boot, before calling something gone) start at most
# one per 2 s: every object that asked meanwhile is served by that one listing (poller.py).
LISTING_COALESCE = 2.0


def fingerprint(api_key: SecretStr) -> str:
    return hashlib.sha256(api_key.get_secret_value().encode()).hexdigest()[:16]


class CachedList(Generic[T]):
    """A listing shared by every object of an account: one call serves all readers.

    `get(newer_than=t)` returns rows fetched by a call that began after `t` (concurrent readers
    share one call), otherwise the cached rows if younger than `ttl`.
    """

    def __init__(self, fetch: Callable[[], Awaitable[list[T]]], ttl: float) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._rows: list[T] | None = None
        self._started = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._rows = None

    async def get(self, *, newer_than: float | None = None) -> list[T]:
        async with self._lock:
            now = time.time()
            fresh = self._rows is not None and (
                (newer_than is not None and self._started > newer_than)
                or (newer_than is None and now - self._started < self._ttl)
            )
            if not fresh:
                started = time.time()
                self._rows = await self._fetch()
                self._started = started
            assert self._rows is not None
            return self._rows


@dataclass
class Account:
    fingerprint: str
    client: VastClient
    poller: InstancePoller
    volumes: CachedList[Volume]
    endpoints: CachedList[Endpoint]
    workergroups: CachedList[Workergroup]
    # Offers this operator is renting or just rented (offer id -> when), so that objects
    # with the same query do not all queue up for the same cheapest offer.
    claimed_offers: dict[int, float] = field(default_factory=dict)
    # The account's balance (GET /api/v0/users/current), read at a modest cadence.
    credit: CreditReader | None = None
    # Objects waiting to rent, and the offer searches they share (placement_queue.py).
    placement: PlacementQueue = field(init=False)

    def __post_init__(self) -> None:
        # `time.time` looked up at each call: the unit tests' harness replaces this module's time.
        self.placement = PlacementQueue(self.client.search_offers, clock=lambda: time.time())  # noqa: PLW0108

    def held_offers(self, now: float, hold: float = 120.0) -> set[int]:
        """Offers claimed within the last `hold` seconds (older claims are forgotten)."""
        for stale in [o for o, t in self.claimed_offers.items() if now - t > hold]:
            del self.claimed_offers[stale]
        return set(self.claimed_offers)

    def claim_offer(self, offer_id: int, now: float, hold: float = 120.0) -> bool:
        """Reserve an offer for one rent; False if another object holds it."""
        if offer_id in self.held_offers(now, hold):
            return False
        self.claimed_offers[offer_id] = now
        return True

    def release_offer(self, offer_id: int) -> None:
        self.claimed_offers.pop(offer_id, None)


class Accounts:
    def __init__(
        self,
        base_url: str,
        *,
        limiter: RateLimiter,
        poll_interval: float,
        http: httpx.AsyncClient | None = None,
        on_snapshot: object = None,
        on_request: RequestObserver | None = None,
        timeout: float = 30.0,
        backoff_base: float = 1.0,
        on_credit: Callable[[str, float], None] | None = None,
        credit_interval: float = 60.0,
        listing_coalesce: float = LISTING_COALESCE,
    ) -> None:
        self._listing_coalesce = listing_coalesce
        self._on_credit = on_credit
        self._credit_interval = credit_interval
        self._on_request = on_request
        self._timeout = timeout
        self._backoff_base = backoff_base
        self._base_url = base_url
        self._limiter = limiter
        self._poll_interval = poll_interval
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=10.0),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )
        self._accounts: dict[str, Account] = {}
        self._on_snapshot = on_snapshot

    def get(self, api_key: SecretStr) -> Account:
        fp = fingerprint(api_key)
        account = self._accounts.get(fp)
        if account is None:
            client = VastClient(
                self._base_url,
                api_key.get_secret_value(),
                http=self._http,
                limiter=self._limiter,
                on_request=self._on_request,
                timeout=httpx.Timeout(self._timeout, connect=min(5.0, self._timeout)),
                backoff_base=self._backoff_base,
            )
            poller = InstancePoller(
                client,
                interval=self._poll_interval,
                on_snapshot=self._snapshot_hook(fp),
                coalesce=self._listing_coalesce,
            )
            ttl = self._poll_interval
            account = Account(
                fp,
                client,
                poller,
                CachedList(client.list_volumes, ttl),
                CachedList(client.list_endpoints, ttl),
                CachedList(client.list_workergroups, ttl),
                credit=self._credit_reader(fp, client),
            )
            self._accounts[fp] = account
        return account

    def _credit_reader(self, fp: str, client: VastClient) -> CreditReader:
        async def read() -> float | None:
            return (await client.current_user()).credit

        hook = self._on_credit

        def report(value: float) -> None:
            if hook is not None:
                hook(fp, value)

        return CreditReader(read, interval=self._credit_interval, on_read=report)

    def _snapshot_hook(self, fp: str):  # type: ignore[no-untyped-def]
        hook = self._on_snapshot
        if hook is None:
            return None

        def call(snapshot: Snapshot) -> None:
            hook(fp, snapshot)  # type: ignore[operator]

        return call

    def by_fingerprint(self, fp: str) -> Account | None:
        return self._accounts.get(fp)

    def all(self) -> list[Account]:
        return list(self._accounts.values())

    async def aclose(self) -> None:
        for account in self._accounts.values():
            await account.poller.stop()
        await self._http.aclose()
