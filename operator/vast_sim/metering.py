"""Request counters, Vast's per-endpoint, per-identity rate limits and the daily search quota.

A route's limit is `DEFAULT_INTERVALS[route]` seconds per call: at most `DEFAULT_BURSTS[route]`
calls (1 unless listed) in any window of burst x interval seconds. With burst 1 that is Vast's
documented "minimum interval between requests"; offer search is 10 calls per 60 s, per IP.
Both run on the simulated clock, so `POST /_sim/clock` moves them along with everything else.
"""

from __future__ import annotations

import calendar
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from starlette.responses import JSONResponse, PlainTextResponse, Response

SEARCH_ROUTE = "POST /api/v0/bundles/"
# Every way to search offers: what the per-IP limit and the daily quota count.
SEARCH_ROUTES = frozenset({SEARCH_ROUTE, "GET /api/v0/bundles/", "PUT /api/v0/search/asks/"})

# Seconds per call of a route for one identity: the `threshold=` of the 429 examples in Vast's
# per-route OpenAPI documents (vastai 1.9.1 CLI). Offer search: "10 per minute per IP".
DEFAULT_INTERVALS: dict[str, float] = {
    SEARCH_ROUTE: 6.0,
    "GET /api/v0/bundles/": 6.0,
    "PUT /api/v0/search/asks/": 6.0,
    "PUT /api/v0/asks/{id}/": 4.5,
    "GET /api/v0/instances/{id}/": 2.0,
    "GET /api/v1/instances/": 1.0,
    "PUT /api/v0/instances/{id}/": 1.0,
    "DELETE /api/v0/instances/{id}/": 3.0,
    "PUT /api/v0/instances/reboot/{id}/": 1.0,
    "PUT /api/v0/instances/recycle/{id}/": 1.0,
    "PUT /api/v0/instances/bid_price/{id}/": 5.5,
    # UNCONFIRMED route (market_events.py); paced like a bid change.
    "PUT /api/v0/instances/price_increase/{id}/": 5.5,
    "PUT /api/v0/instances/command/{id}/": 1.5,
    "POST /api/v0/ssh/": 1.0,
    "PUT /api/v0/ssh/{id}/": 1.0,
    "DELETE /api/v0/instances/{id}/ssh/{key_id}/": 2.0,
    "GET /api/v0/volumes/": 5.5,
    "PUT /api/v0/volumes/": 5.5,
    "DELETE /api/v0/volumes/": 5.5,
    "POST /api/v0/volumes/search/": 5.5,
    "POST /api/v0/endptjobs/": 4.0,
    "GET /api/v0/endptjobs/": 3.0,
    "PUT /api/v0/endptjobs/{id}/": 2.0,
    "DELETE /api/v0/endptjobs/{id}/": 3.0,
    "POST /api/v0/workergroups/": 4.0,
    "GET /api/v0/workergroups/": 2.0,
    "PUT /api/v0/workergroups/{id}/": 2.0,
    "DELETE /api/v0/workergroups/{id}/": 3.0,
    "POST /api/v0/autojobs/": 4.0,
    "GET /api/v0/autojobs/": 2.0,
    "PUT /api/v0/autojobs/{id}/": 2.0,
    "DELETE /api/v0/autojobs/{id}/": 3.0,
    "GET /api/v0/template/": 3.0,
    "GET /api/v0/secrets/": 5.0,
    "POST /api/v0/secrets/": 3.0,
    "PUT /api/v0/secrets/": 3.0,
    "DELETE /api/v0/secrets/": 3.0,
}

# Calls allowed per window of burst x interval seconds (1 when not listed).
DEFAULT_BURSTS: dict[str, int] = {route: 10 for route in SEARCH_ROUTES}
# Routes limited per client IP, whatever the key (oas:search_offers "Rate limit per IP address").
PER_IP_ROUTES = SEARCH_ROUTES

# The 429 body style of each route, as its OpenAPI document shows it: "json" for
# {"success", "error", "msg"}, "text" for routes whose document shows no 429 (the docs' general
# "often plain text"), "detail" ({"detail": ...}) for the rest.
JSON_STYLE_ROUTES = frozenset({"DELETE /api/v0/instances/{id}/"})
TEXT_STYLE_ROUTES = frozenset(
    {
        *SEARCH_ROUTES,
        "GET /api/v0/instances/{id}/ssh/",
        "POST /api/v0/instances/{id}/ssh/",
        "GET /api/v0/ssh/",
        "DELETE /api/v0/ssh/{id}/",
        "PUT /api/v0/launch_instance/",
        "PUT /api/v0/instances/request_logs/{id}/",
        "GET /api/v0/users/current/",
        "POST /api/v0/template/",
        "PUT /api/v0/template/",
        "DELETE /api/v0/template/",
        "POST /route/",
        "POST /get_endpoint_workers/",
    }
)
RATE_LIMIT_TEXT = "API requests too frequent"


def too_frequent(style: str, threshold: float | None, retry_after: float | None = None) -> Response:
    """A 429 in one of Vast's three body styles: "detail", "json" or "text". Vast sends no
    Retry-After; `retry_after` adds one (the --retry-after flag or a fault option)."""
    text = RATE_LIMIT_TEXT
    if threshold:
        text += f" endpoint threshold={threshold:g}"
    response: Response
    if style == "detail":
        response = JSONResponse({"detail": text}, status_code=429)
    elif style == "json":
        response = JSONResponse(
            {"success": False, "error": "rate_limit_exceeded", "msg": text}, status_code=429
        )
    else:
        response = PlainTextResponse(text, status_code=429)
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after_value(retry_after)
    return response


def retry_after_value(seconds: float) -> str:
    """Whole seconds, at least 1 (HTTP's delta-seconds)."""
    return str(max(1, math.ceil(seconds)))


def style_for(route: str) -> str:
    if route in JSON_STYLE_ROUTES:
        return "json"
    if route in TEXT_STYLE_ROUTES or route not in DEFAULT_INTERVALS:
        return "text"
    return "detail"


class Counters:
    """Requests per "METHOD /route/template/" (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.routes: dict[str, int] = {}

    def count(self, route: str) -> None:
        with self._lock:
            self.total += 1
            self.routes[route] = self.routes.get(route, 0) + 1

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {"total": self.total, "routes": dict(sorted(self.routes.items()))}

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.routes = {}


class RateLimiter:
    """At most burst calls per burst x interval seconds per (route, identity); with burst 1 a
    minimum interval. Rejected calls are not recorded (they do not push the window)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._calls: dict[tuple[str, str], list[float]] = {}
        self.overrides: dict[str, float] = {}

    def interval(self, route: str) -> float:
        if route in self.overrides:
            return self.overrides[route]
        return DEFAULT_INTERVALS.get(route, 0.0)

    def intervals(self) -> dict[str, float]:
        merged = dict(DEFAULT_INTERVALS)
        merged.update(self.overrides)
        return merged

    def check(self, route: str, identity: str) -> float | None:
        """None when allowed (and recorded); else the seconds until a call would be allowed."""
        interval = self.interval(route)
        if interval <= 0:
            return None
        burst = DEFAULT_BURSTS.get(route, 1)
        window = interval * burst
        key = (route, identity)
        now = self._clock()
        with self._lock:
            recent = [t for t in self._calls.get(key, []) if now - t < window]
            if len(recent) >= burst:
                self._calls[key] = recent
                return max(recent[0] + window - now, 0.001)
            self._calls[key] = [*recent, now]
        return None

    def reset(self) -> None:
        with self._lock:
            self._calls = {}


def next_utc_midnight(now: float) -> int:
    """Epoch seconds of the UTC midnight after `now` (the quota's X-RateLimit-Reset)."""
    day = datetime.fromtimestamp(now, UTC).date() + timedelta(days=1)
    return calendar.timegm(day.timetuple())


class SearchQuota:
    """Offer searches per identity per UTC day (Vast's daily search quota)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._used: dict[tuple[str, int], int] = {}

    def take(self, identity: str, limit: int) -> int | None:
        """None when the search may run (and is counted); else the reset time (epoch s)."""
        now = self._clock()
        reset = next_utc_midnight(now)
        with self._lock:
            key = (identity, reset)
            used = self._used.get(key, 0)
            if used >= limit:
                return reset
            self._used = {k: v for k, v in self._used.items() if k[1] >= reset}
            self._used[key] = used + 1
        return None

    def used(self, identity: str) -> int:
        with self._lock:
            return self._used.get((identity, next_utc_midnight(self._clock())), 0)

    def reset(self) -> None:
        with self._lock:
            self._used = {}


def quota_exceeded(reset: int) -> Response:
    """The daily search quota's 429, in the shape the vastai CLI (1.9.1) recognises: error
    `search_quota_exceeded` in a JSON body and the reset time in X-RateLimit-Reset."""
    return JSONResponse(
        {
            "success": False,
            "error": "search_quota_exceeded",
            "msg": "Daily search quota exceeded",
        },
        status_code=429,
        headers={"X-RateLimit-Reset": str(reset)},
    )
