"""What stands between an authenticated request and its handler: the per-route rate limits and
the daily search quota (both strict features), and the answers of HTTP faults."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import HTMLResponse, JSONResponse, Response

from vast_sim.faults import Fault
from vast_sim.metering import (
    PER_IP_ROUTES,
    SEARCH_ROUTES,
    next_utc_midnight,
    quota_exceeded,
    retry_after_value,
    style_for,
    too_frequent,
)

if TYPE_CHECKING:
    from vast_sim.app import Call


def admit(call: Call) -> Response | None:
    """None when the call may proceed; else the 429 Vast would answer."""
    sim, config = call.sim, call.sim.config
    if config.enforces("rate_limits"):
        identity = call.ip if call.route in PER_IP_ROUTES else call.identity
        wait = sim.limiter.check(call.route, identity)
        if wait is not None:
            threshold = None if call.route in PER_IP_ROUTES else sim.limiter.interval(call.route)
            retry_after = wait if config.retry_after else None
            return too_frequent(style_for(call.route), threshold, retry_after)
    if call.route in SEARCH_ROUTES and config.enforces("search_quota"):
        reset = sim.quota.take(call.identity, max(0, config.search_quota))
        if reset is not None:
            return quota_exceeded(reset)
    return None


def fault_response(fault: Fault, call: Call) -> Response:
    """The answer of an HTTP fault (429 styles, the search quota, 5xx)."""
    kind, sim = fault.kind, call.sim
    retry_after = fault.retry_after
    threshold = sim.limiter.interval(call.route) or 1.0
    if retry_after is None and sim.config.retry_after:
        retry_after = threshold
    if kind == "search_quota":
        return quota_exceeded(next_utc_midnight(call.world.now()))
    if kind.startswith("429_"):
        return too_frequent(kind.removeprefix("429_"), threshold, retry_after)
    response: Response
    if kind == "500":
        response = JSONResponse(
            {"success": False, "error": "server_error", "msg": "Internal Server Error"},
            status_code=500,
        )
    else:
        titles = {"502": "502 Bad Gateway", "503": "503 Service Temporarily Unavailable"}
        title = titles.get(kind, "504 Gateway Time-out")
        html = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        response = HTMLResponse(html, status_code=int(kind))
    if kind == "503" and retry_after is not None:
        response.headers["Retry-After"] = retry_after_value(retry_after)
    return response
