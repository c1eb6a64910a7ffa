"""`Transport`: the one place under `VastClient` that talks to httpx.

Every call of every API area goes through `_request`. It paces the call
with the process-wide `RateLimiter` (keyed by route template and key identity), sends the key
only as `Authorization: Bearer`, turns every failure into a `vast_operator.vast.errors` class,
retries what is safe to retry and reports each attempt to an optional observer (for metrics).

Retry policy, by what a call does to Vast:

- SAFE (reads and idempotent changes: list, get, start/stop/label, destroy, delete, update):
  retried on 429 and on transient failures (5xx, timeouts, dropped connections).
- CREATE (rent, create volume/endpoint/workergroup): retried on 429 (Vast did not act) and on
  failures that happened before the request was sent (connect error, pool timeout). Any other
  transient failure may have allocated, so it is never retried here and surfaces as
  `CreateOutcomeUnknownError`; the caller must look for the labelled resource first.
- UNSAFE (reboot, attach an SSH key): like CREATE but surfaces as plain `TransientError`.

Backoff is exponential with full jitter (`uniform(0, min(backoff_max, backoff_base * 2**n))`),
bounded by `max_retries` and by `retry_budget` seconds per call. After a 429 the whole route is
deferred in the shared limiter, so concurrent callers of that route back off too.

A 429 or 503 with `Retry-After` waits exactly that long instead (the route is deferred by it),
and only when it is at most `retry_after_max` seconds (60, like the CLI); a longer wait is not
retried here: the error carries `retry_after` and the route is deferred by `retry_after_max`.
A 429 `search_quota_exceeded` is never retried: the route is closed for the key until the
quota's reset (`SearchQuotaExceededError.reset_at`), and calls of it fail at once until then.

Redirects are followed within the base URL's origin only (`wire`).

Logs (`vast_operator.vast`, DEBUG) carry the route template, status and outcome only: never the
key, a URL, a query string or a body.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from importlib import metadata
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ..errors import (
    CreateOutcomeUnknownError,
    RateLimitedError,
    SearchQuotaExceededError,
    TransientError,
    UnexpectedResponseError,
    VastError,
)
from ..ratelimit import RateLimiter, default_limiter, identity_of
from . import wire

__all__ = [
    "DEFAULT_BACKOFF_BASE",
    "DEFAULT_BACKOFF_MAX",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_RETRY_AFTER_MAX",
    "DEFAULT_RETRY_BUDGET",
    "DEFAULT_TIMEOUT",
    "RequestObserver",
    "Transport",
]

DEFAULT_BASE_URL = "https://console.vast.ai"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_MAX_RETRIES = 4
DEFAULT_BACKOFF_BASE = 1.0
DEFAULT_BACKOFF_MAX = 30.0
DEFAULT_RETRY_BUDGET = 120.0
DEFAULT_RETRY_AFTER_MAX = 60.0
# A spent daily quota closes its route until the reset Vast names, but at least a minute (a reset
# stamp already past, clocks apart) and at most a day (a daily quota, whatever the header says).
QUOTA_HOLD_MIN = 60.0
QUOTA_HOLD_MAX = 86400.0

log = logging.getLogger("vast_operator.vast")

ModelT = TypeVar("ModelT", bound=BaseModel)


class RequestObserver(Protocol):
    """Called once per HTTP attempt, e.g. to export metrics.

    `outcome` is ``ok`` or the failing error's `outcome` (``rate_limited``, ``transient``,
    ``not_found``, ``outcome_unknown``, ...); `seconds` is the time on the wire.
    """

    def __call__(self, route: str, method: str, outcome: str, seconds: float) -> None: ...


class _Mode(enum.Enum):
    SAFE = "safe"
    CREATE = "create"
    UNSAFE = "unsafe"


def _package_version() -> str:
    try:
        return metadata.version("vast-operator")
    except metadata.PackageNotFoundError:
        return "0"


class Transport:
    """One API key's connection to Vast: pacing, retries, error mapping and parsing.

    The API areas (`offers`, `instances`, ...) are mixins over this class; `VastClient` joins
    them. `aclose()` and `async with` close only the http client this object created itself.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        http: httpx.AsyncClient | None = None,
        limiter: RateLimiter | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        retry_budget: float = DEFAULT_RETRY_BUDGET,
        retry_after_max: float = DEFAULT_RETRY_AFTER_MAX,
        on_request: RequestObserver | None = None,
        user_agent: str | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not api_key or any(ch.isspace() for ch in api_key):
            raise ValueError("api_key must be a non-empty string without whitespace")
        retry = (max_retries, backoff_base, backoff_max, retry_budget, retry_after_max)
        if min(retry) < 0:
            raise ValueError("retry settings must be >= 0")
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._identity = identity_of(api_key)
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient()
        self._limiter = limiter if limiter is not None else default_limiter()
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._retry_budget = retry_budget
        self._retry_after_max = retry_after_max
        self._wall_clock = wall_clock
        self._on_request = on_request
        self._rng = rng if rng is not None else random.Random()
        self._sleep = sleep
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": user_agent or f"vast-operator/{_package_version()}",
            "Accept": "application/json",
        }

    @property
    def identity(self) -> str:
        """A non-secret name of the API key (hash prefix), for logs and metrics labels."""
        return self._identity

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- the one place that talks to httpx ----------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        mode: _Mode,
        *,
        ids: Mapping[str, int] | None = None,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """Send one logical call (with retries) and return its decoded JSON body."""
        route = f"{method} {path}"
        url = self._base_url + path.format(**{k: int(v) for k, v in (ids or {}).items()})
        deadline = time.monotonic() + self._retry_budget
        attempt = 0
        while True:
            self._refuse_if_closed(route)
            sent = True
            status: int | None = None
            try:
                # One call of the route in flight; the next one waits one interval after this
                # one's answer (ratelimit.py says why that, not the send, is the safe mark).
                async with self._limiter.slot(self._identity, route):
                    self._refuse_if_closed(route)
                    started = time.monotonic()
                    response = await wire.send(
                        self._http,
                        method,
                        url,
                        params=params,
                        body=body,
                        headers=self._headers,
                        http_timeout=self._timeout,
                        route=route,
                    )
            except httpx.HTTPError as exc:
                error, sent = wire.transport_error(exc, route, (self._api_key,))
            except VastError as exc:  # a redirect that is not followed
                error, status = exc, exc.status
            else:
                status = response.status_code
                try:
                    data = wire.decode(response, route, (self._api_key,), self._wall_clock())
                except VastError as exc:
                    error = exc
                else:
                    self._report(
                        route,
                        method=method,
                        outcome="ok",
                        started=started,
                        status=status,
                        attempt=attempt,
                    )
                    return data
            delay = self._retry_delay(error, sent, mode, attempt, deadline)
            if delay is None and mode is _Mode.CREATE and sent and _may_have_acted(error):
                error = _outcome_unknown(error)
            self._report(
                route,
                method=method,
                outcome=error.outcome,
                started=started,
                status=status,
                attempt=attempt,
            )
            self._hold_route(error, route, delay)
            if delay is None:
                raise error
            attempt += 1
            if isinstance(error, RateLimitedError) or error.retry_after is not None:
                self._limiter.defer(self._identity, route, delay)
            else:
                await self._sleep(delay)

    def _refuse_if_closed(self, route: str) -> None:
        """Fail at once while a spent search quota keeps `route` closed for this key."""
        remaining = self._limiter.closed_for(self._identity, route)
        if remaining > 0:
            raise SearchQuotaExceededError(
                "daily search quota exceeded (not sent until it resets)",
                status=429,
                code="search_quota_exceeded",
                route=route,
                reset_at=self._wall_clock() + remaining,
            )

    def _hold_route(self, error: VastError, route: str, delay: float | None) -> None:
        """Hold every caller of `route` back as Vast asked (a quota reset, a long Retry-After)."""
        if isinstance(error, SearchQuotaExceededError):
            hold = error.reset_at - self._wall_clock()
            self._limiter.close(
                self._identity, route, min(max(hold, QUOTA_HOLD_MIN), QUOTA_HOLD_MAX)
            )
        elif delay is None and error.retry_after is not None:
            self._limiter.defer(
                self._identity, route, min(error.retry_after, self._retry_after_max)
            )

    def _retry_delay(
        self, error: VastError, sent: bool, mode: _Mode, attempt: int, deadline: float
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up (the policy above)."""
        if attempt >= self._max_retries:
            return None
        retry = (isinstance(error, RateLimitedError) and error.retryable) or (
            isinstance(error, TransientError) and (mode is _Mode.SAFE or not sent)
        )
        if not retry:
            return None
        if error.retry_after is not None:
            if error.retry_after > self._retry_after_max:
                return None
            delay = error.retry_after
        else:
            ceiling = min(self._backoff_max, self._backoff_base * (2**attempt))
            delay = self._rng.uniform(0.0, ceiling)
        if time.monotonic() + delay > deadline:
            return None
        return delay

    def _report(
        self,
        route: str,
        *,
        method: str,
        outcome: str,
        started: float,
        status: int | None,
        attempt: int,
    ) -> None:
        seconds = time.monotonic() - started
        log.debug(
            "vast %s -> %s %s in %.3fs (attempt %d)",
            route,
            status if status is not None else "-",
            outcome,
            seconds,
            attempt + 1,
        )
        if self._on_request is not None:
            try:
                self._on_request(route, method, outcome, seconds)
            except Exception:
                log.exception("request observer failed")

    def _model(self, model: type[ModelT], data: Any, route: str) -> ModelT:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise UnexpectedResponseError(
                f"answer does not fit {model.__name__} ({exc.error_count()} errors)",
                status=200,
                route=route,
            ) from None

    def _rows(self, model: type[ModelT], rows: Any, route: str) -> list[ModelT]:
        if rows is None:
            return []
        if not isinstance(rows, list):
            raise UnexpectedResponseError(
                f"expected a list of {model.__name__}", status=200, route=route
            )
        parsed: list[ModelT] = []
        for row in rows:
            try:
                parsed.append(model.model_validate(row))
            except ValidationError:
                log.warning("vast %s: skipped a %s row without a valid id", route, model.__name__)
        return parsed


def _field(data: Any, name: str) -> Any:
    return data.get(name) if isinstance(data, dict) else None


def _required(data: Any, name: str, route: str) -> Any:
    """`data[name]`, which may be null; no such field is malformed, never "nothing there"."""
    if not isinstance(data, dict) or name not in data:
        raise UnexpectedResponseError(f"answer has no {name!r} field", status=200, route=route)
    return data[name]


def _created_id(data: Any, keys: tuple[str, ...], route: str) -> int:
    for key in keys:
        value = _field(data, key)
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    raise CreateOutcomeUnknownError("created without an id in the answer", status=200, route=route)


def _may_have_acted(error: VastError) -> bool:
    return isinstance(error, TransientError) and not isinstance(error, CreateOutcomeUnknownError)


def _outcome_unknown(error: VastError) -> CreateOutcomeUnknownError:
    unknown = CreateOutcomeUnknownError(
        f"outcome unknown, look for the resource before retrying ({error.message})",
        status=error.status,
        code=error.code,
        route=error.route,
        new_contract=error.new_contract,
        retry_after=error.retry_after,
    )
    unknown.__cause__ = error
    return unknown
