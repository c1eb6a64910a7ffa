"""Request counters and Vast's per-endpoint, per-identity minimum-interval rate limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from starlette.responses import JSONResponse, PlainTextResponse, Response

# Minimum seconds between two calls of a route by one identity (vast-api.md §3, x-rate-limit).
DEFAULT_INTERVALS: dict[str, float] = {
    "PUT /api/v0/asks/{id}/": 4.5,
    "GET /api/v0/instances/{id}/": 2.0,
    "GET /api/v1/instances/": 1.0,
    "PUT /api/v0/instances/{id}/": 1.0,
    "DELETE /api/v0/instances/{id}/": 3.0,
    "PUT /api/v0/instances/reboot/{id}/": 1.0,
    "PUT /api/v0/instances/recycle/{id}/": 1.0,
    "PUT /api/v0/instances/bid_price/{id}/": 5.5,
    "PUT /api/v0/instances/command/{id}/": 1.5,
    "POST /api/v0/ssh/": 1.0,
    "DELETE /api/v0/instances/{id}/ssh/{key_id}/": 2.0,
    "GET /api/v0/volumes/": 5.5,
    "PUT /api/v0/volumes/": 5.5,
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

# Which of the three observed 429 body styles each route answers with.
DETAIL_STYLE_ROUTES = frozenset(
    {
        "PUT /api/v0/asks/{id}/",
        "GET /api/v0/instances/{id}/",
        "PUT /api/v0/instances/{id}/",
        "PUT /api/v0/instances/reboot/{id}/",
        "PUT /api/v0/instances/recycle/{id}/",
        "PUT /api/v0/instances/bid_price/{id}/",
    }
)
JSON_STYLE_ROUTES = frozenset({"DELETE /api/v0/instances/{id}/"})


def too_frequent(style: str, threshold: float) -> Response:
    """A 429 in one of Vast's three body styles: "detail", "json" or "text". No Retry-After."""
    text = f"API requests too frequent endpoint threshold={threshold:g}"
    if style == "detail":
        return JSONResponse({"detail": text}, status_code=429)
    if style == "json":
        return JSONResponse(
            {"success": False, "error": "rate_limit_exceeded", "msg": text}, status_code=429
        )
    return PlainTextResponse(text, status_code=429)


def style_for(route: str) -> str:
    if route in DETAIL_STYLE_ROUTES:
        return "detail"
    if route in JSON_STYLE_ROUTES:
        return "json"
    return "text"


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
    """Minimum interval between calls per (route, identity). Rejected calls do not reset it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
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
        """None when allowed (and recorded); else the threshold that was violated."""
        threshold = self.interval(route)
        if threshold <= 0:
            return None
        key = (route, identity)
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < threshold:
                return threshold
            self._last[key] = now
        return None

    def reset(self) -> None:
        with self._lock:
            self._last = {}
