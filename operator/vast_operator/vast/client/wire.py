"""What `Transport` does on the wire besides one plain request: redirects and `Retry-After`.

Redirects. httpx is asked never to follow them itself; `send` follows 301/302/303/307/308 (at
most `MAX_REDIRECTS` hops) only while the target keeps the configured origin (scheme, host and
port of the base URL), e.g. Vast answering `/api/v0/users/current` with a redirect to
`/api/v0/users/current/`. Every hop it follows is same-origin, so the Authorization header goes
along; a redirect to any other origin is refused with `PermanentError` before anything is sent
there, so the key never leaves the origin. Method and body follow the `requests` library, which
Vast's CLI uses: 307/308 keep both; 302 and 303 become a GET, and 301 turns a POST into a GET
(both without a body); a 301 on PUT or DELETE keeps its method but drops the body. Hops are one
attempt: they are not paced separately and errors name the first route.

`decode` turns an answer into its JSON body or a `vast_operator.vast.errors` class (through
`classify_response`), with `retry_after` set from a 429's or 503's `Retry-After` (delay-seconds
or an HTTP date); `transport_error` maps an httpx failure.
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any

import httpx

from ..errors import (
    PermanentError,
    TransientError,
    VastError,
    classify_response,
    header,
    scrub,
)

__all__ = [
    "MAX_REDIRECTS",
    "REDIRECT_STATUSES",
    "Origin",
    "decode",
    "origin_of",
    "retry_after",
    "send",
    "transport_error",
]

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_AFTER_STATUSES = frozenset({429, 503})
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int | None]


def origin_of(url: httpx.URL) -> Origin:
    """(scheme, host, port) with the scheme's default port filled in."""
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme))


def redirected(method: str, status: int) -> tuple[str, bool]:
    """The method of the next hop and whether the body goes along (`requests`' rules)."""
    if status in (307, 308):
        return method, True
    if status in (302, 303) and method != "HEAD":
        return "GET", False
    if status == 301 and method == "POST":
        return "GET", False
    return method, False


async def send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None,
    body: Any,
    headers: Mapping[str, str],
    http_timeout: httpx.Timeout,
    route: str,
) -> httpx.Response:
    """Send one request and follow same-origin redirects (see the module docstring)."""
    target = httpx.URL(url)
    home = origin_of(target)
    response = await http.request(
        method,
        target,
        params=dict(params) if params else None,
        json=body,
        headers=headers,
        timeout=http_timeout,
        follow_redirects=False,
    )
    hops = 0
    while response.status_code in REDIRECT_STATUSES and "location" in response.headers:
        status = response.status_code
        if hops >= MAX_REDIRECTS:
            raise PermanentError(f"more than {MAX_REDIRECTS} redirects", status=status, route=route)
        try:
            target = response.url.join(response.headers["location"])
        except httpx.InvalidURL:
            raise PermanentError("redirect to an invalid URL", status=status, route=route) from None
        if origin_of(target) != home:
            raise PermanentError(
                "redirect to another origin refused (the key is only sent to the base URL)",
                status=status,
                route=route,
            )
        method, keep_body = redirected(method, status)
        body = body if keep_body else None
        hops += 1
        response = await http.request(
            method, target, json=body, headers=headers, timeout=http_timeout, follow_redirects=False
        )
    return response


def retry_after(response: httpx.Response, now: float) -> float | None:
    """Seconds to wait that a 429 or 503 asked for (`Retry-After`), or None.

    `now` is the wall clock (epoch seconds), for the HTTP-date form.
    """
    if response.status_code not in RETRY_AFTER_STATUSES:
        return None
    raw = header(response.headers, "Retry-After")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None


def decode(response: httpx.Response, route: str, secrets: Iterable[str], now: float) -> Any:
    """The JSON body of a success; any other answer raises its `VastError` (`now`: wall clock)."""
    status = response.status_code
    content = response.content
    if 200 <= status < 300:
        try:
            data = json.loads(content) if content.strip() else None
        except ValueError:
            raise TransientError("answer is not JSON", status=status, route=route) from None
        if isinstance(data, dict) and data.get("success") is False:
            raise _error_from(response, data, route, secrets, now)
        return data
    if 300 <= status < 400:  # a redirect that `send` does not follow (no Location, 304, ...)
        raise PermanentError("unexpected redirect", status=status, route=route)
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    raise _error_from(response, data, route, secrets, now)


def _error_from(
    response: httpx.Response, data: Any, route: str, secrets: Iterable[str], now: float
) -> VastError:
    error = classify_response(
        response.status_code,
        response.content,
        route=route,
        secrets=secrets,
        headers=response.headers,
        now=now,
    )
    if isinstance(data, dict):
        contract = data.get("new_contract")
        if isinstance(contract, int) and not isinstance(contract, bool):
            error.new_contract = contract
    error.retry_after = retry_after(response, now)
    return error


def transport_error(
    exc: httpx.HTTPError, route: str, secrets: Iterable[str]
) -> tuple[VastError, bool]:
    """Map an httpx failure; the flag says whether the request may have reached Vast."""
    detail = scrub(f"{type(exc).__name__}: {exc}", secrets)[:256]
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransientError(detail, route=route), False
    if isinstance(exc, httpx.UnsupportedProtocol):
        return PermanentError(detail, route=route), False
    if isinstance(exc, httpx.TransportError | httpx.DecodingError):
        return TransientError(detail, route=route), True
    return PermanentError(detail, route=route), False
