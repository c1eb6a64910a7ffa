"""Fault injection: a queue of faults that the next matching requests suffer.

A fault names a route ("PUT /api/v0/asks/{id}/", a concrete path such as
"GET /api/v0/instances/123/", or "*" for every Vast route), a kind and a count. Each matching
request consumes one count, first fault first.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass
from typing import Any

from vast_sim.paths import canonical_route

CREATE_ROUTE = "PUT /api/v0/asks/{id}/"

HTTP_KINDS = frozenset({"429_detail", "429_json", "429_text", "500", "502", "503", "504"})
TRANSPORT_KINDS = frozenset({"timeout", "slow", "drop"})
CREATE_KINDS = frozenset({"offer_vanish", "create_error_allocates"})
FAULT_KINDS = HTTP_KINDS | TRANSPORT_KINDS | CREATE_KINDS


@dataclass
class Fault:
    id: int
    route: str
    kind: str
    remaining: int  # -1: forever
    seconds: float | None = None
    status: int | None = None

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
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        if route is None or route == "":
            route = CREATE_ROUTE if kind in CREATE_KINDS else "*"
        route = canonical_route(route)
        if kind in CREATE_KINDS and route not in ("*", CREATE_ROUTE):
            raise ValueError(f"fault {kind!r} only applies to {CREATE_ROUTE}")
        if kind in ("slow", "timeout") and seconds is not None and seconds < 0:
            raise ValueError("seconds must be >= 0")
        if count == 0 or count < -1:
            raise ValueError("count must be >= 1, or -1 for every request")
        fault = Fault(next(self._ids), route, kind, count, seconds, status)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, route: str, concrete: str) -> Fault | None:
        """The first fault matching this request, consuming one of its counts."""
        with self._lock:
            for fault in self._faults:
                if fault.route not in ("*", route, concrete):
                    continue
                if fault.kind in CREATE_KINDS and route != CREATE_ROUTE:
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
