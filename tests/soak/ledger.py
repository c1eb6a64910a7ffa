"""What the soak asked for: every object it created, with its price caps over time.

The invariant checker judges the simulator against this record (and against what the API server
holds): which uid a label names, which cap applied when an instance was rented, which names a
volume or endpoint of an object carries, and whether an object was deleted with policy Orphan.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

INSTANCES, VOLUMES, ENDPOINTS = "vastinstances", "vastvolumes", "vastendpoints"
KINDS = (INSTANCES, VOLUMES, ENDPOINTS)


@dataclass
class Obj:
    kind: str
    ns: str
    name: str
    uid: str
    created: float
    # (time, cap) in order: the spec's maxPricePerHour from that time on (None: no own cap).
    caps: list[tuple[float, float | None]] = field(default_factory=list)
    vast_name: str | None = None  # a volume's Vast name or an endpoint's endpointName
    orphan: bool = False  # deletionPolicy Orphan at the time of deletion
    delete_requested: float | None = None
    adopted_ids: set[int] = field(default_factory=set)
    secret: str | None = None  # its own credentials Secret (None: the operator's default key)
    account: int = 0  # which Vast account that Secret names now

    @property
    def key(self) -> str:
        return f"{self.ns}/{self.name}"

    def cap_between(self, start: float, end: float) -> float | None:
        """The highest cap the spec had at any moment in [start, end] (None: none set then)."""
        best: float | None = None
        seen_none = False
        for i, (t, cap) in enumerate(self.caps):
            until = self.caps[i + 1][0] if i + 1 < len(self.caps) else float("inf")
            if until < start or t > end:
                continue
            if cap is None:
                seen_none = True
            elif best is None or cap > best:
                best = cap
        return None if seen_none else best


class Ledger:
    """Thread-safe: the driver writes, the checker reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_uid: dict[str, Obj] = {}
        self.step = 0

    def add(self, obj: Obj) -> None:
        with self._lock:
            self.by_uid[obj.uid] = obj

    def get(self, uid: str) -> Obj | None:
        with self._lock:
            return self.by_uid.get(uid)

    def all(self) -> list[Obj]:
        with self._lock:
            return list(self.by_uid.values())

    def by_vast_name(self, kind: str) -> dict[str, Obj]:
        with self._lock:
            return {o.vast_name: o for o in self.by_uid.values() if o.kind == kind and o.vast_name}
