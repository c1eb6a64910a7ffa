"""The floors Vast's documented intervals impose, and the targets table of issue 15.

A ramp of N creates can be no faster than the first offer search, N rents one rent interval
apart (the rent route is paced per account) and one boot; N deletes no faster than N delete
calls one delete interval apart. The benchmark divides what it measured by these floors, so the
figure means the same at every `--rate-limit-scale`.

`PLAN` is the set of scenarios `run.py --targets` runs in one go; `rows` turns its JSON into the
table of docs/benchmarks.md (target, measured, the scale used, met or not).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from vast_sim.metering import DEFAULT_INTERVALS

SEARCH_ROUTE = "POST /api/v0/bundles/"
RENT_ROUTE = "PUT /api/v0/asks/{id}/"
DELETE_ROUTE = "DELETE /api/v0/instances/{id}/"
GET_ROUTE = "GET /api/v0/instances/{id}/"
LIST_ROUTE = "GET /api/v1/instances/"


def create_floor(n: int, scale: float, boot_seconds: float) -> float:
    """The first search, N rents spaced by the rent interval, one boot (seconds)."""
    search = DEFAULT_INTERVALS[SEARCH_ROUTE] * scale
    return search + n * DEFAULT_INTERVALS[RENT_ROUTE] * scale + boot_seconds


def delete_floor(n: int, scale: float) -> float:
    """N deletes spaced by the delete interval (seconds)."""
    return n * DEFAULT_INTERVALS[DELETE_ROUTE] * scale


# The scenarios of `run.py --targets`: each row of the targets table comes from one of them.
PLAN: tuple[dict[str, Any], ...] = (
    {"label": "n1000", "n": 1000, "rate_limit_scale": 0.05, "naive": True},
    {"label": "n100-mixed", "n": 100, "rate_limit_scale": 0.1},
    {"label": "n100-same", "n": 100, "rate_limit_scale": 0.1, "same_query": True},
    {"label": "n300", "n": 300, "rate_limit_scale": 0.1},
    {"label": "scale1-n30", "n": 30, "rate_limit_scale": 1.0},
)


def _find(result: Mapping[str, Any], n: int, *, same: bool = False) -> Mapping[str, Any] | None:
    for s in result.get("scenarios") or []:
        settings = s.get("settings") or {}
        if s["n"] == n and bool(settings.get("same_query")) == same:
            return s
    return None


def _scale(s: Mapping[str, Any] | None) -> str:
    if s is None:
        return "-"
    return f"{(s.get('settings') or {}).get('rate_limit_scale', '?'):g}"


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _row(
    figure: str, target: str, measured: Any, s: Mapping[str, Any] | None, met: bool | None
) -> dict[str, Any]:
    return {
        "figure": figure,
        "target": target,
        "measured": _fmt(measured) if not isinstance(measured, str) else measured,
        "scale": _scale(s),
        "met": met,
    }


def _le(value: Any, bound: float) -> bool | None:
    return None if value is None else bool(value <= bound)


def _g(s: Mapping[str, Any] | None, *path: str) -> Any:
    node: Any = s
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every row of the targets table, from a run of `PLAN` (missing scenarios say so)."""
    n30, n100, same = _find(result, 30), _find(result, 100), _find(result, 100, same=True)
    n300, n1000 = _find(result, 300), _find(result, 1000)
    out = []
    for s, n in ((n100, 100), (n1000, 1000)):
        ratio = _g(s, "create", "ratio_to_floor")
        out.append(_row(f"create ÷ floor, N={n}, mixed", "≤ 1.10", ratio, s, _le(ratio, 1.10)))
    ratio = _g(same, "create", "ratio_to_floor")
    running = _g(same, "create", "running")
    met = _le(ratio, 1.20)
    out.append(
        _row(
            "create ÷ floor, N=100, same GPU",
            "≤ 1.20, none left without an instance",
            f"{_fmt(ratio)} ({running} of 100 Running)" if same else None,
            same,
            None if met is None else met and running == 100,
        )
    )
    calls = _g(n1000, "create", "vast_calls_per_object")
    out.append(
        _row("Vast calls per object in the ramp, N=1000", "≤ 2.5", calls, n1000, _le(calls, 2.5))
    )
    searches = _g(n100, "create", "searches_per_object")
    out.append(
        _row("searches per object, N=100, 5 queries", "≤ 0.2", searches, n100, _le(searches, 0.2))
    )
    p95 = _g(n1000, "create", "first_status_since_created_p95_s")
    out.append(_row("first status p95 (s), N=1000", "≤ 2 s", p95, n1000, _le(p95, 2.0)))
    pages = _g(n1000, "steady", "pages_per_poll_observed")
    expected = math.ceil(1000 / 25)
    other = _g(n1000, "steady", "non_listing_calls")
    writes = _g(n1000, "steady", "k8s_object_writes_per_min")
    steady_met = None
    if pages is not None:
        steady_met = pages == expected and other == 0 and writes is not None and writes <= 100
    out.append(
        _row(
            "steady state, N=1000",
            f"{expected} pages/poll, no other route, ≤ 100 k8s writes/min",
            f"{_fmt(pages)} pages/poll, {other} other calls, {_fmt(writes, 1)} writes/min"
            if pages is not None
            else None,
            n1000,
            steady_met,
        )
    )
    naive = _g(n1000, "steady", "naive") or {}
    measured = None
    if naive:
        measured = (
            f"{_fmt(naive.get('ratio_to_ours'))} measured (Vast's GET interval caps it); "
            f"{_fmt(naive.get('ratio_wanted_to_ours'))} wanted"
        )
    out.append(
        _row(
            "naive ÷ ours, steady calls/min, N=1000",
            "reported (≥ 20 expected)",
            measured,
            n1000,
            None,
        )
    )
    for s, n in ((n30, 30), (n300, 300)):
        total = None
        if s is not None:
            total = sum(
                int(_g(s, part, "http_429") or 0) for part in ("create", "steady", "delete")
            )
        out.append(_row(f"429s, N={n}", "0", total, s, None if total is None else total == 0))
    ratio = _g(n1000, "delete", "ratio_to_floor")
    out.append(_row("delete ÷ floor, N=1000", "≤ 1.10", ratio, n1000, _le(ratio, 1.10)))
    rss = _g(n1000, "operator", "peak_rss_mb")
    ramp_rss = _g(n1000, "operator", "ramp_peak_rss_mb")
    if ramp_rss is not None:
        rss_text = (
            f"{_fmt(rss, 1)} (ramp and steady operator {_fmt(ramp_rss, 1)}; the operator "
            f"restarted after the naive window, through the delete, "
            f"{_fmt(_g(n1000, 'operator', 'delete_peak_rss_mb'), 1)})"
        )
        out.append(_row("operator peak RSS (MB), N=1000", "< 200", rss_text, n1000, rss < 200))
    else:
        out.append(
            _row(
                "operator peak RSS (MB), N=1000",
                "< 200",
                rss,
                n1000,
                None if rss is None else rss < 200,
            )
        )
    cpu = _g(n1000, "steady", "operator_cpu_percent")
    out.append(
        _row(
            "operator CPU in the steady window (% of a core), N=1000",
            "< 10",
            cpu,
            n1000,
            None if cpu is None else cpu < 10,
        )
    )
    return out


def table(target_rows: list[dict[str, Any]]) -> str:
    lines = ["| figure | target | measured | scale | met |", "|---|---|---|--:|---|"]
    for r in target_rows:
        met = {True: "yes", False: "**no**", None: "-"}[r["met"]]
        lines.append(f"| {r['figure']} | {r['target']} | {r['measured']} | {r['scale']} | {met} |")
    return "\n".join(lines)
