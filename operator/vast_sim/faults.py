"""Fault injection: a queue of faults that the next matching requests suffer.

A fault names a route ("PUT /api/v0/asks/{id}/", a concrete path such as
"GET /api/v0/instances/123/", or "*" for every Vast route), a kind and a count. Each matching
request consumes one count, first fault first.

Kinds: HTTP answers (429 in three styles, 500, 502, 503, 504, `search_quota`: the daily quota's
429), transport trouble (`timeout`, `slow`, `drop`), and world faults the handler applies:
`offer_vanish` / `create_error_allocates` / `listing_lag` on the create route (a listing lag
keeps the new instance out of `GET /api/v1/instances/` for `seconds`) and `missing_rows` on the
instance list (the listing leaves out `ids`). `retry_after` adds a Retry-After header to a 429
or 503 fault.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass
from typing import Any

from vast_sim.paths import canonical_route

CREATE_ROUTE = "PUT /api/v0/asks/{id}/"
LIST_ROUTE = "GET /api/v1/instances/"
SEARCH_ROUTE = "POST /api/v0/bundles/"

HTTP_KINDS = frozenset(
    {"429_detail", "429_json", "429_text", "500", "502", "503", "504", "search_quota"}
)
TRANSPORT_KINDS = frozenset({"timeout", "slow", "drop"})
CREATE_KINDS = frozenset({"offer_vanish", "create_error_allocates", "listing_lag"})
LIST_KINDS = frozenset({"missing_rows"})
# Faults the handler applies to the world (the request is served, differently).
HANDLER_KINDS = CREATE_KINDS | LIST_KINDS
FAULT_KINDS = HTTP_KINDS | TRANSPORT_KINDS | HANDLER_KINDS
# The one route a handler fault can apply to, and the default route of the others.
BOUND_ROUTES = {
    **{kind: CREATE_ROUTE for kind in CREATE_KINDS},
    **{kind: LIST_ROUTE for kind in LIST_KINDS},
}
DEFAULT_ROUTES = {**BOUND_ROUTES, "search_quota": SEARCH_ROUTE}


@dataclass
class Fault:
    id: int
    route: str
    kind: str
    remaining: int  # -1: forever
    seconds: float | None = None
    status: int | None = None
    ids: list[int] | None = None
    retry_after: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultQueue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(
        self,
        kind: str,
        route: str | None = None,
        count: int = 1,
        seconds: float | None = None,
        status: int | None = None,
        ids: list[int] | None = None,
        retry_after: float | None = None,
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        if route is None or route == "":
            route = DEFAULT_ROUTES.get(kind, "*")
        route = canonical_route(route)
        bound = BOUND_ROUTES.get(kind)
        if bound is not None and route not in ("*", bound):
            raise ValueError(f"fault {kind!r} only applies to {bound}")
        if seconds is not None and seconds < 0:
            raise ValueError("seconds must be >= 0")
        if kind == "listing_lag" and seconds is None:
            raise ValueError("a listing_lag fault needs seconds")
        if kind == "missing_rows" and not ids:
            raise ValueError("a missing_rows fault needs ids (the instance ids to leave out)")
        if retry_after is not None and retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        if count == 0 or count < -1:
            raise ValueError("count must be >= 1, or -1 for every request")
        fault = Fault(
            next(self._ids),
            route,
            kind,
            count,
            seconds,
            status,
            None if ids is None else [int(i) for i in ids],
            retry_after,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, route: str, concrete: str) -> Fault | None:
        """The first fault matching this request, consuming one of its counts."""
        with self._lock:
            for fault in self._faults:
                if fault.route not in ("*", route, concrete):
                    continue
                bound = BOUND_ROUTES.get(fault.kind)
                if bound is not None and route != bound:
                    continue
                if fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults = []
