"""The shared rate limiter, on a virtual clock: pacing per (key, route), globally, FIFO, 429s.

Nothing here sleeps for real; `VirtualTime` advances its clock to the next sleeper's wake-up
only when every task is blocked, so the assertions are on virtual timestamps, not durations.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable

import pytest

from vast_operator.vast.ratelimit import RateLimiter, RouteLimit, identity_of

A = identity_of("key-a")
B = identity_of("key-b")
ROUTE = "GET /api/v0/instances/{id}/"
OTHER = "PUT /api/v0/instances/{id}/"


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._seq), future))
        await future

    async def run(self, *aws: Awaitable[float]) -> list[float]:
        tasks = [asyncio.ensure_future(aw) for aw in aws]
        while not all(task.done() for task in tasks):
            for _ in range(20):  # let every runnable task reach its next await
                await asyncio.sleep(0)
            if self._sleepers and not all(task.done() for task in tasks):
                wake, _, future = heapq.heappop(self._sleepers)
                if not future.done():  # a cancelled sleeper does not move the clock
                    self.now = max(self.now, wake)
                    future.set_result(None)
        return [task.result() for task in tasks]


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


def limiter(vt: VirtualTime, **kwargs: object) -> RateLimiter:
    options: dict[str, object] = {
        "requests_per_second": None,
        "route_limits": {ROUTE: RouteLimit(2.0), OTHER: RouteLimit(1.0)},
        "clock": vt.clock,
        "sleep": vt.sleep,
    }
    options.update(kwargs)
    return RateLimiter(**options)  # type: ignore[arg-type]


async def stamped(vt: VirtualTime, lim: RateLimiter, identity: str, route: str) -> float:
    await lim.acquire(identity, route)
    return vt.now


async def test_one_route_and_key_is_paced_at_its_documented_interval(vt: VirtualTime) -> None:
    lim = limiter(vt)
    times = await vt.run(*(stamped(vt, lim, A, ROUTE) for _ in range(4)))
    assert times == [0.0, 2.0, 4.0, 6.0]


async def test_other_routes_and_other_keys_are_not_held_back(vt: VirtualTime) -> None:
    lim = limiter(vt)
    times = await vt.run(
        stamped(vt, lim, A, ROUTE),
        stamped(vt, lim, A, ROUTE),
        stamped(vt, lim, A, OTHER),
        stamped(vt, lim, B, ROUTE),
    )
    assert times == [0.0, 2.0, 0.0, 0.0]


async def test_waiters_are_served_first_come_first_served(vt: VirtualTime) -> None:
    lim = limiter(vt)
    order: list[int] = []

    async def call(n: int) -> float:
        await lim.acquire(A, ROUTE)
        order.append(n)
        return vt.now

    await vt.run(*(call(n) for n in range(6)))
    assert order == list(range(6))


async def test_the_account_bucket_caps_all_routes_of_one_key_together(vt: VirtualTime) -> None:
    lim = limiter(
        vt, requests_per_second=2.0, burst=2, route_limits={}, default_limit=RouteLimit(0)
    )
    routes = [f"GET /r{n}" for n in range(6)]
    times = await vt.run(*(stamped(vt, lim, A, route) for route in routes))
    assert times == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0]


async def test_one_accounts_burst_never_delays_another_account(vt: VirtualTime) -> None:
    lim = limiter(
        vt, requests_per_second=2.0, burst=2, route_limits={}, default_limit=RouteLimit(0)
    )
    junk = [
        stamped(vt, lim, identity_of(f"junk-{n}"), f"GET /r{m}")
        for n in range(20)
        for m in range(3)
    ]
    junk_self = [stamped(vt, lim, A, f"GET /a{m}") for m in range(10)]
    mine = stamped(vt, lim, B, "GET /mine")
    times = await vt.run(*junk, *junk_self, mine)
    assert times[-1] == 0.0  # B's call goes at once, whatever the other keys queued


async def test_scale_zero_turns_route_pacing_off(vt: VirtualTime) -> None:
    lim = limiter(vt, scale=0.0)
    times = await vt.run(*(stamped(vt, lim, A, ROUTE) for _ in range(5)))
    assert times == [0.0] * 5
    assert lim.stats().waits_total == 0


async def test_scale_shrinks_every_interval(vt: VirtualTime) -> None:
    lim = limiter(vt, scale=0.25)
    times = await vt.run(*(stamped(vt, lim, A, ROUTE) for _ in range(3)))
    assert times == [0.0, 0.5, 1.0]


async def test_routes_limited_per_ip_share_one_bucket_across_keys(vt: VirtualTime) -> None:
    search = "POST /api/v0/bundles/"
    lim = limiter(vt, route_limits={search: RouteLimit(6.0, burst=2, per_identity=False)})
    times = await vt.run(*(stamped(vt, lim, key, search) for key in (A, B, A, B)))
    assert times == [0.0, 0.0, 6.0, 12.0]


async def test_a_429_defers_every_caller_of_that_route(vt: VirtualTime) -> None:
    lim = limiter(vt)
    await vt.run(stamped(vt, lim, A, ROUTE))
    lim.defer(A, ROUTE, 10.0)
    times = await vt.run(
        stamped(vt, lim, A, ROUTE), stamped(vt, lim, A, ROUTE), stamped(vt, lim, B, ROUTE)
    )
    assert times == [10.0, 12.0, 0.0]


async def test_unknown_routes_get_the_default_interval(vt: VirtualTime) -> None:
    lim = limiter(vt, default_limit=RouteLimit(1.5))
    times = await vt.run(*(stamped(vt, lim, A, "GET /api/v0/whatever") for _ in range(3)))
    assert times == [0.0, 1.5, 3.0]


async def test_waiting_is_counted_for_metrics(vt: VirtualTime) -> None:
    lim = limiter(vt)
    await vt.run(*(stamped(vt, lim, A, ROUTE) for _ in range(3)))
    stats = lim.stats()
    assert stats.acquires_total == 3
    assert stats.waits_total == 2
    assert stats.wait_seconds_total == pytest.approx(2.0 + 4.0)
    assert lim.waits_total == 2


async def test_a_cancelled_waiter_does_not_block_the_queue(vt: VirtualTime) -> None:
    lim = limiter(vt)
    await vt.run(stamped(vt, lim, A, ROUTE))
    doomed = asyncio.ensure_future(lim.acquire(A, ROUTE))
    await asyncio.sleep(0)
    doomed.cancel()
    times = await vt.run(stamped(vt, lim, A, ROUTE))
    assert times == [2.0]


def test_identity_is_a_hash_not_the_key() -> None:
    key = "secret-api-key-123"
    assert key not in identity_of(key)
    assert identity_of(key) == identity_of(key)
    assert identity_of(key) != identity_of(key + "x")


def test_negative_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        RateLimiter(scale=-1)


# --- documented limits ---------------------------------------------------------------------------

SEARCH = "POST /api/v0/bundles/"
VOLUME_SEARCH = "POST /api/v0/volumes/search/"


async def test_offer_search_never_puts_more_than_ten_calls_in_any_minute(vt: VirtualTime) -> None:
    # The shipped table and account budget, without the production margin: the strictest case.
    lim = RateLimiter(clock=vt.clock, sleep=vt.sleep)

    async def later(delay: float, identity: str, route: str) -> float:
        await vt.sleep(delay)
        return await stamped(vt, lim, identity, route)

    for route in (SEARCH, VOLUME_SEARCH):
        start = vt.now
        waves = [(0.0, 25), (400.0, 12), (700.0, 3), (703.0, 8)]  # bursts, idle gaps, a trickle
        calls = [later(at, (A, B)[n % 2], route) for at, count in waves for n in range(count)]
        times = sorted(t - start for t in await vt.run(*calls))
        for first in times:
            in_window = [t for t in times if first <= t < first + 60.0]
            assert len(in_window) <= 10, (route, first, in_window)
        assert len([t for t in times if t < 60.0]) == 10  # and the documented 10 are used


# The `threshold=` of each route's 429 in Vast's OpenAPI documents, for the routes in the table
# (workergroups are documented under /workergroups/, the CLI's /autojobs/ are the same routes).
DOCUMENTED_THRESHOLDS = {
    "PUT /api/v0/asks/{id}/": 4.5,
    "GET /api/v0/instances/{id}/": 2.0,
    "GET /api/v1/instances/": 1.0,
    "PUT /api/v0/instances/{id}/": 1.0,
    "DELETE /api/v0/instances/{id}/": 3.0,
    "PUT /api/v0/instances/reboot/{id}/": 1.0,
    "PUT /api/v0/instances/recycle/{id}/": 1.0,
    "PUT /api/v0/instances/bid_price/{id}/": 5.5,
    "PUT /api/v0/instances/command/{id}/": 1.5,
    "DELETE /api/v0/instances/{id}/ssh/{key_id}/": 2.0,
    "GET /api/v0/volumes": 5.5,
    "DELETE /api/v0/volumes/": 5.5,
    "POST /api/v0/volumes/search/": 5.5,
    "GET /api/v0/endptjobs/": 3.0,
    "POST /api/v0/endptjobs/": 4.0,
    "PUT /api/v0/endptjobs/{id}/": 2.0,
    "DELETE /api/v0/endptjobs/{id}/": 3.0,
    "GET /api/v0/autojobs/": 2.0,
    "POST /api/v0/autojobs/": 4.0,
    "PUT /api/v0/autojobs/{id}/": 2.0,
    "DELETE /api/v0/autojobs/{id}/": 3.0,
    "POST /api/v0/bundles/": 6.0,  # "10 per minute per IP"
}


@pytest.mark.parametrize(("route", "threshold"), sorted(DOCUMENTED_THRESHOLDS.items()))
def test_no_route_is_paced_faster_than_documented(route: str, threshold: float) -> None:
    limit = RateLimiter().limit_for(route)
    assert limit.burst == 1, route
    assert limit.interval >= threshold, route


async def test_a_closed_route_stays_closed_for_that_key_only_until_it_opens(
    vt: VirtualTime,
) -> None:
    lim = limiter(vt)
    lim.close(A, SEARCH, 3600.0)
    lim.close(A, SEARCH, 10.0)  # a shorter close never reopens it early
    assert lim.closed_for(A, SEARCH) == 3600.0
    assert lim.closed_for(B, SEARCH) == 0.0  # another account is not held back
    assert lim.closed_for(A, VOLUME_SEARCH) == 0.0
    assert await vt.run(stamped(vt, lim, B, SEARCH)) == [0.0]  # nor is its pacing
    vt.now = 3600.0
    assert lim.closed_for(A, SEARCH) == 0.0


async def test_a_slot_counts_the_interval_from_the_answer_so_jitter_never_lands_inside_it(
    vt: VirtualTime,
) -> None:
    """The server notes a request anywhere between its send and its answer. With `slot`, the
    next send waits one interval after the previous answer, so even the worst case (the first
    noted at its answer, the next at its send) keeps the documented interval."""
    lim = limiter(vt)
    calls: list[tuple[float, float]] = []

    async def call(answer_after: float) -> float:
        async with lim.slot(A, ROUTE):
            sent = vt.now
            await vt.sleep(answer_after)  # on the wire; the server notes it at some point
            calls.append((sent, vt.now))
        return sent

    sends = await vt.run(*(call(d) for d in (0.5, 0.1, 0.7, 0.0)))
    assert sends == [0.0, 2.5, 4.6, 7.3]
    for (_, answered), (sent, _) in itertools.pairwise(sorted(calls)):
        assert sent - answered >= 2.0 - 1e-9  # no two arrivals closer than the interval
    # A plain acquire spaces sends only: the 0.5 s answer would have let the next one in at 2.0.
    assert sends[1] > 2.0
