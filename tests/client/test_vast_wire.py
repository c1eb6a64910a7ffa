"""The wire as Vast really speaks it, against an in-process transport: redirects, the daily
search quota and `Retry-After`.

A `FakeClock` drives both the limiter (monotonic) and the client's wall clock, so waits are
read off the recorded sleeps instead of being slept.
"""

from __future__ import annotations

import email.utils
import json
import pickle
from collections.abc import Callable

import httpx
import pytest

from vast_operator.vast import (
    OfferQuery,
    PermanentError,
    RateLimitedError,
    RateLimiter,
    SearchQuotaExceededError,
    TransientError,
    VastClient,
    VolumeOfferQuery,
    classify_response,
)

KEY = "wire-test-key-0123456789abcdef"
OTHER_KEY = "wire-test-other-key-fedcba9876543210"
BASE = "https://vast.test"
WALL0 = 1_790_000_000.0  # an epoch second (2026-09)
Handler = Callable[[httpx.Request], httpx.Response]
USER = {"id": 1, "email": "a@b.c"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def make_client(
    handler: Handler,
    clock: FakeClock | None = None,
    *,
    key: str = KEY,
    limiter: RateLimiter | None = None,
    **kwargs: object,
) -> VastClient:
    clock = clock or FakeClock()
    if limiter is None:
        limiter = RateLimiter(
            scale=0, requests_per_second=None, clock=clock.monotonic, sleep=clock.sleep
        )
    return VastClient(
        BASE,
        key,
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        limiter=limiter,
        sleep=clock.sleep,
        wall_clock=clock.wall,
        **kwargs,  # type: ignore[arg-type]
    )


def body_of(request: httpx.Request) -> object:
    return json.loads(request.content) if request.content else None


# --- redirects ---------------------------------------------------------------------------------


async def test_a_redirect_to_the_slashed_path_is_followed_with_the_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/v0/users/current":
            return httpx.Response(308, headers={"Location": "/api/v0/users/current/"})
        return httpx.Response(200, json=USER)

    async with make_client(handler) as client:
        user = await client.current_user()
    assert user.id == 1
    assert [r.url.path for r in seen] == ["/api/v0/users/current", "/api/v0/users/current/"]
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in seen)


async def test_the_volume_list_follows_a_redirect_and_keeps_its_query() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/v0/volumes":
            slashed = request.url.copy_with(path="/api/v0/volumes/")
            return httpx.Response(301, headers={"Location": str(slashed)})
        return httpx.Response(200, json={"volumes": [{"id": 7}]})

    async with make_client(handler) as client:
        volumes = await client.list_volumes()
    assert [v.id for v in volumes] == [7]
    assert seen[0].url.path == "/api/v0/volumes"  # the CLI's slash-less path goes first
    assert seen[1].url.path == "/api/v0/volumes/"
    assert dict(seen[1].url.params) == {"owner": "me", "type": "local_volume"}
    assert seen[1].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("status", "method", "next_method", "keeps_body"),
    [
        (307, "PUT", "PUT", True),
        (308, "POST", "POST", True),
        (302, "POST", "GET", False),
        (302, "PUT", "GET", False),
        (303, "PUT", "GET", False),
        (301, "POST", "GET", False),
        (301, "PUT", "PUT", False),  # requests keeps a PUT's method on 301 but drops the body
    ],
)
async def test_redirected_methods_and_bodies_follow_the_requests_library(
    status: int, method: str, next_method: str, keeps_body: bool
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(status, headers={"Location": "/moved/"})
        return httpx.Response(200, json={"success": True})

    from vast_operator.vast.client.transport import _Mode

    async with make_client(handler) as client:
        await client._request(method, "/api/v0/thing/", _Mode.SAFE, body={"a": 1})
    assert [r.method for r in seen] == [method, next_method]
    assert body_of(seen[0]) == {"a": 1}
    assert body_of(seen[1]) == ({"a": 1} if keeps_body else None)
    assert seen[1].url.path == "/moved/"


@pytest.mark.parametrize(
    "location",
    [
        "https://elsewhere.test/api/v0/users/current/",  # another host
        "http://vast.test/api/v0/users/current/",  # a downgrade to http
        "https://vast.test:8443/api/v0/users/current/",  # another port
        "//elsewhere.test/api/v0/users/current/",  # scheme-relative, another host
    ],
)
async def test_a_redirect_to_another_origin_is_refused_and_never_sent(location: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": f"{location}?api_key={KEY}"})

    async with make_client(handler) as client:
        with pytest.raises(PermanentError, match="another origin") as caught:
            await client.current_user()
    assert len(seen) == 1  # nothing went to the other origin, so neither did the key
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)
    assert caught.value.status == 302


async def test_the_default_https_port_is_the_same_origin() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("current"):
            return httpx.Response(301, headers={"Location": f"{BASE}:443/api/v0/users/current/"})
        return httpx.Response(200, json=USER)

    async with make_client(handler) as client:
        assert (await client.current_user()).id == 1


async def test_a_redirect_loop_stops_after_five_hops() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(307, headers={"Location": f"/hop/{len(seen)}/"})

    async with make_client(handler) as client:
        with pytest.raises(PermanentError, match="redirects"):
            await client.current_user()
    assert len(seen) == 6  # the request and five redirects


async def test_a_redirect_without_a_location_is_still_an_error() -> None:
    async with make_client(lambda r: httpx.Response(302)) as client:
        with pytest.raises(PermanentError, match="unexpected redirect"):
            await client.current_user()


# --- daily search quota --------------------------------------------------------------------------

QUOTA_BODY = {"success": False, "error": "search_quota_exceeded", "msg": "Daily search quota"}


def quota_handler(seen: list[httpx.Request], reset: str | None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path in ("/api/v0/bundles/", "/api/v0/volumes/search/"):
            headers = {} if reset is None else {"X-RateLimit-Reset": reset}
            return httpx.Response(429, json=QUOTA_BODY, headers=headers)
        return httpx.Response(200, json={"volumes": []})

    return handler


async def test_a_spent_search_quota_is_not_retried_and_closes_search_until_the_reset() -> None:
    clock = FakeClock()
    seen: list[httpx.Request] = []
    reset = WALL0 + 3600
    limiter = RateLimiter(
        scale=0, requests_per_second=None, clock=clock.monotonic, sleep=clock.sleep
    )
    handler = quota_handler(seen, str(int(reset)))
    async with make_client(handler, clock, limiter=limiter, max_retries=3) as client:
        with pytest.raises(SearchQuotaExceededError) as caught:
            await client.search_offers(OfferQuery())
        assert len(seen) == 1 and clock.sleeps == []  # not retried
        assert caught.value.reset_at == reset
        assert isinstance(caught.value, RateLimitedError) and not caught.value.retryable

        clock.now += 1800  # half way: refused without going to Vast
        with pytest.raises(SearchQuotaExceededError) as again:
            await client.search_offers(OfferQuery())
        assert len(seen) == 1
        assert again.value.reset_at == pytest.approx(reset)

        await client.list_volumes()  # other routes are not held back
        assert len(seen) == 2

        async with make_client(handler, clock, key=OTHER_KEY, limiter=limiter) as other:
            with pytest.raises(SearchQuotaExceededError):
                await other.search_offers(OfferQuery())  # another account asks Vast itself
        assert len(seen) == 3

        clock.now += 1801  # after the reset the search goes out again
        with pytest.raises(SearchQuotaExceededError):
            await client.search_offers(OfferQuery())
        assert len(seen) == 4


async def test_the_volume_search_quota_without_a_reset_header_holds_until_utc_midnight() -> None:
    clock = FakeClock()
    seen: list[httpx.Request] = []
    async with make_client(quota_handler(seen, None), clock) as client:
        with pytest.raises(SearchQuotaExceededError) as caught:
            await client.search_volume_offers(VolumeOfferQuery())
        midnight = (WALL0 // 86400 + 1) * 86400
        assert caught.value.reset_at == midnight
        assert caught.value.route == "POST /api/v0/volumes/search/"
        clock.now += midnight - WALL0 - 1
        with pytest.raises(SearchQuotaExceededError):
            await client.search_volume_offers(VolumeOfferQuery())
        assert len(seen) == 1


def test_the_quota_reset_header_is_epoch_seconds_like_the_cli_reads_it() -> None:
    body = json.dumps(QUOTA_BODY)
    route = "POST /api/v0/bundles/"
    at = classify_response(
        429, body, route=route, headers={"X-RateLimit-Reset": "1790003600"}, now=WALL0
    )
    assert isinstance(at, SearchQuotaExceededError) and at.reset_at == 1790003600
    # A value too small to be an epoch second is read as seconds from now.
    soon = classify_response(
        429, body, route=route, headers={"x-ratelimit-reset": "120"}, now=WALL0
    )
    assert isinstance(soon, SearchQuotaExceededError) and soon.reset_at == WALL0 + 120
    plain = classify_response(429, "API requests too frequent", route=route, now=WALL0)
    assert type(plain) is RateLimitedError
    clone = pickle.loads(pickle.dumps(at))
    assert isinstance(clone, SearchQuotaExceededError) and clone.reset_at == at.reset_at


# --- Retry-After -------------------------------------------------------------------------------


def flaky(status: int, retry_after: str | None, failures: int = 1) -> tuple[Handler, list[int]]:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) <= failures:
            headers = {} if retry_after is None else {"Retry-After": retry_after}
            return httpx.Response(status, text="API requests too frequent", headers=headers)
        return httpx.Response(200, json=USER)

    return handler, calls


async def test_a_429_waits_exactly_its_retry_after_seconds() -> None:
    clock = FakeClock()
    handler, calls = flaky(429, "7")
    async with make_client(handler, clock) as client:
        assert (await client.current_user()).id == 1
    assert len(calls) == 2
    assert clock.sleeps == [7.0]  # the limiter held the route for exactly what Vast asked


async def test_a_503_with_an_http_date_waits_until_that_date() -> None:
    clock = FakeClock()
    date = email.utils.formatdate(WALL0 + 12, usegmt=True)
    handler, calls = flaky(503, date)
    async with make_client(handler, clock) as client:
        assert (await client.current_user()).id == 1
    assert len(calls) == 2
    assert clock.sleeps == [12.0]


async def test_a_retry_after_longer_than_a_minute_is_not_waited_out_inline() -> None:
    clock = FakeClock()
    handler, calls = flaky(429, "600", failures=2)
    async with make_client(handler, clock, max_retries=3) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.current_user()
        assert len(calls) == 1 and clock.sleeps == []
        assert caught.value.retry_after == 600
        # The route stays deferred (capped at a minute) for the next caller.
        with pytest.raises(RateLimitedError):
            await client.current_user()
        assert clock.sleeps == [60.0]


async def test_a_retry_after_defers_the_route_for_the_next_caller_too() -> None:
    clock = FakeClock()
    handler, calls = flaky(503, "9")
    async with make_client(handler, clock, max_retries=0) as client:
        with pytest.raises(TransientError) as caught:
            await client.current_user()
        assert caught.value.retry_after == 9
        assert (await client.current_user()).id == 1
    assert len(calls) == 2
    assert clock.sleeps == [9.0]


async def test_retry_after_on_other_statuses_is_ignored() -> None:
    clock = FakeClock()
    handler, calls = flaky(502, "45")
    async with make_client(handler, clock, backoff_base=1.0, backoff_max=1.0) as client:
        assert (await client.current_user()).id == 1
    assert len(calls) == 2
    assert len(clock.sleeps) == 1 and clock.sleeps[0] <= 1.0  # our own jittered backoff
