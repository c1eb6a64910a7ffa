"""When were two operator replicas working at once? kopf peering is not leader election: a
replica resumes when it believes the higher-priority peer is gone (its keep-alive is older than
the peering lifetime, e.g. after an API-server outage) and pauses when it sees it again. This
reads each replica's log ("Resuming operations", "Pausing operations", the driver's start
markers) and the driver's kill times, and returns the windows in which two were active."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
START = re.compile(r"^===== start #\d+ (\d+) =====")


def _events(log: Path, kills: list[float]) -> list[tuple[float, bool]]:
    """(time, active from then on) of one replica, in order."""
    events: list[tuple[float, bool]] = [(t, False) for t in kills]
    for line in log.read_text(errors="replace").splitlines():
        start = START.match(line)
        if start:
            events.append((float(start.group(1)), False))
            continue
        stamp = STAMP.match(line)
        if stamp is None:
            continue
        when = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
        if "kopf._core.engines.peering: Resuming operations" in line:
            events.append((when.timestamp(), True))
        elif "Pausing operations" in line or "Operator is stopping" in line:
            events.append((when.timestamp(), False))
    return sorted(events)


def _intervals(events: list[tuple[float, bool]], end: float) -> list[tuple[float, float]]:
    spans, since = [], None
    for when, active in events:
        if active and since is None:
            since = when
        elif not active and since is not None:
            spans.append((since, when))
            since = None
    if since is not None:
        spans.append((since, end))
    return spans


def overlaps(
    logs: dict[int, Path], kills: dict[int, list[float]], end: float
) -> list[dict[str, float]]:
    """Windows in which at least two replicas were active: [{"start", "seconds"}]."""
    spans = {
        i: _intervals(_events(p, kills.get(i, [])), end) for i, p in logs.items() if p.exists()
    }
    found = []
    ids = sorted(spans)
    for a_i, a in enumerate(ids):
        for b in ids[a_i + 1 :]:
            for s1, e1 in spans[a]:
                for s2, e2 in spans[b]:
                    start, stop = max(s1, s2), min(e1, e2)
                    if stop > start:
                        found.append({"start": round(start, 3), "seconds": round(stop - start, 3)})
    return sorted(found, key=lambda w: w["start"])
