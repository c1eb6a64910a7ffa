"""Typed errors of the Vast REST client, named by what the caller should do.

Every failure of a Vast call leaves `vast_operator.vast` as one of the classes below, never as an
httpx exception. `classify_response` is the single place that turns an HTTP status and body into
a class; the wire shapes it reads are listed in `parse_error_body` and `classify_response`
(Vast's API reference: https://docs.vast.ai/api). The API key never appears in an error:
messages are scrubbed of it (and of any `api_key=...` echo) before an error is built, and bodies
are cut to 256 characters.

What to do with each class:

- `AuthenticationError`: fix the credentials; retrying the same key will not help.
- `NotFoundError`: the instance, volume, endpoint or workergroup is gone (data, not a failure,
  for observe and delete).
- `OfferUnavailableError`: the offer was taken; pick the next offer at once.
- `InsufficientCreditError`: the account cannot pay; report it and wait.
- `RateLimitedError`: Vast said "too frequent" and our retries ran out; back off and retry later.
- `SearchQuotaExceededError` (a `RateLimitedError`): the account's daily search quota is spent;
  no search succeeds before `reset_at` (epoch seconds), so do not retry before then.
- `TransientError`: 5xx, timeout, dropped connection; retry later.
- `CreateOutcomeUnknownError`: a create call failed in a way that may still have allocated; look
  for the labelled resource before creating again.
- `PermanentError`: Vast rejected the request (other 4xx); fix the input.

`retry_after` (on any class) is the wait in seconds that Vast asked for in a `Retry-After` header
of a 429 or 503, when it sent one.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "CreateOutcomeUnknownError",
    "DeprecatedEndpointError",
    "InsufficientCreditError",
    "NotFoundError",
    "OfferUnavailableError",
    "PermanentError",
    "RateLimitedError",
    "SearchQuotaExceededError",
    "TransientError",
    "UnexpectedResponseError",
    "VastError",
    "classify_response",
    "scrub",
]

MAX_MESSAGE_CHARS = 256
REDACTED = "***"

_API_KEY_ECHO = re.compile(r"""(api_key["']?\s*[:=]\s*["']?)[^"'&\s,}]+""", re.IGNORECASE)
_BEARER_ECHO = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove every secret, `api_key=...` echo and bearer token from `text`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _API_KEY_ECHO.sub(lambda m: m.group(1) + REDACTED, text)
    return _BEARER_ECHO.sub(lambda m: m.group(1) + REDACTED, text)


class VastError(Exception):
    """Base of every error raised by the Vast client.

    Attributes:
        status: HTTP status, or None when no response arrived (timeout, connection error).
        code: Vast's machine-readable `error` field (e.g. ``no_such_ask``), when present.
        message: Vast's human text (`msg`, `message` or `detail`), scrubbed and shortened.
        route: the route template, e.g. ``PUT /api/v0/asks/{id}/`` (never a concrete URL).
        new_contract: for create calls, the instance id Vast reported despite the error; the
            caller must destroy it (design rule 1).
        retry_after: seconds Vast asked the caller to wait (`Retry-After`), or None.
    """

    retryable: ClassVar[bool] = False
    outcome: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        route: str = "",
        new_contract: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.route = route
        self.new_contract = new_contract
        self.retry_after = retry_after

    def __str__(self) -> str:
        head = " ".join(part for part in (self.route, _status_text(self.status), self.code) if part)
        return f"{head}: {self.message}" if head else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"route={self.route!r}, message={self.message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self._kwargs()))

    def _kwargs(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "code": self.code,
            "route": self.route,
            "new_contract": self.new_contract,
            "retry_after": self.retry_after,
        }


def _rebuild(cls: type[VastError], message: str, kwargs: dict[str, Any]) -> VastError:
    return cls(message, **kwargs)


def _status_text(status: int | None) -> str:
    return "" if status is None else str(status)


class AuthenticationError(VastError):
    """The API key is missing, wrong, revoked or lacks permission; fix the credentials."""

    outcome = "auth_error"


class NotFoundError(VastError):
    """The instance, volume, endpoint, workergroup or key no longer exists."""

    outcome = "not_found"


class OfferUnavailableError(VastError):
    """The offer was rented by someone else (``no_such_ask``); try the next offer."""

    outcome = "offer_unavailable"


class InsufficientCreditError(VastError):
    """The account has no credit or no billing method; nothing to retry until it is topped up."""

    outcome = "insufficient_credit"


class RateLimitedError(VastError):
    """HTTP 429 ("API requests too frequent") that outlasted the client's retries."""

    retryable = True
    outcome = "rate_limited"


class SearchQuotaExceededError(RateLimitedError):
    """HTTP 429 ``search_quota_exceeded``: the account's daily search quota is spent.

    Vast's CLI never retries it: the quota only comes back at `reset_at` (epoch seconds, from
    the ``X-RateLimit-Reset`` header, else the next UTC midnight). The client refuses further
    calls of that route for the key until then without sending them. `retryable` is False.
    """

    retryable = False
    outcome = "search_quota_exceeded"

    def __init__(self, message: str, *, reset_at: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reset_at = reset_at

    def _kwargs(self) -> dict[str, Any]:
        return {**super()._kwargs(), "reset_at": self.reset_at}


class TransientError(VastError):
    """5xx, timeout, reset or protocol error: the same call may succeed later."""

    retryable = True
    outcome = "transient"


class CreateOutcomeUnknownError(TransientError):
    """A create call failed after it may have reached Vast (timeout, 5xx, dropped connection).

    Vast may have allocated the resource. Do NOT repeat the call blindly: look for the labelled
    instance (or the named volume / endpoint) first and adopt it; create again only when it is
    certainly absent. `retryable` is False for that reason.
    """

    retryable = False
    outcome = "outcome_unknown"


class PermanentError(VastError):
    """Vast rejected the request (other 4xx, e.g. ``invalid_args``); fix the input."""

    outcome = "permanent"


class DeprecatedEndpointError(PermanentError):
    """HTTP 410 ``deprecated_endpoint``: the route was retired; this client needs updating."""

    outcome = "deprecated"


class UnexpectedResponseError(PermanentError):
    """A success response whose body does not have the documented shape."""

    outcome = "unexpected_response"


SEARCH_QUOTA_CODE = "search_quota_exceeded"
_DAY = 86400.0
_NOT_FOUND_CODES = frozenset(
    {"no_such_instance", "not_found", "no_such_volume", "no_such_workergroup", "no_such_ssh_key"}
)
_CREDIT_CODES = frozenset({"missing_billing", "insufficient_credit", "insufficient_funds"})
_CREDIT_TEXT = re.compile(r"insufficient\s+(credit|funds|balance)", re.IGNORECASE)
_LOGIN_TEXT = re.compile(r"requires login|log ?in again|session expired", re.IGNORECASE)
_NOT_FOUND_TEXT = re.compile(r"not found for user|does not exist", re.IGNORECASE)


def parse_error_body(body: bytes | str) -> tuple[str | None, str, dict[str, Any] | None]:
    """Return (code, message, parsed JSON object or None) from any error body shape.

    Shapes seen: `{"success": false, "error", "msg"}`, `{"msg"}`,
    `{"message"}`, `{"detail"}`, a JSON string, or plain text/HTML.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data: Any = json.loads(text) if text.strip() else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        raw_code = data.get("error")
        code = raw_code if isinstance(raw_code, str) else None
        for key in ("msg", "message", "detail"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return code, value, data
        return code, code or "", data
    if isinstance(data, str):
        return None, data, None
    return None, text.strip(), None


def quota_reset_at(headers: Mapping[str, str] | None, now: float) -> float:
    """When a spent daily search quota comes back, in epoch seconds.

    Vast's CLI (1.9.1, `with_quota_reset`) reads ``X-RateLimit-Reset`` as epoch seconds; a
    value too small to be one (before 2001) is taken as seconds from now. Without a usable
    header the quota resets at the next UTC midnight, as the CLI says.
    """
    raw = header(headers, "X-RateLimit-Reset")
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        value = math.nan
    if math.isfinite(value):
        return value if value >= 1e9 else now + max(0.0, value)
    return (now // _DAY + 1) * _DAY


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """One header's value, by a case-insensitive name, from any mapping (or None)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value.strip() if isinstance(value, str) else None


def classify_response(
    status: int,
    body: bytes | str,
    *,
    route: str,
    secrets: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
    now: float | None = None,
) -> VastError:
    """Map one Vast response (an error status, or 2xx with `"success": false`) to an error.

    `headers` (case-insensitive, e.g. httpx's) and `now` (epoch seconds) are read only for a
    search quota 429. The rules, in order:

    1. 429 with `search_quota_exceeded` → SearchQuotaExceededError (with `reset_at`); any other
       429, whatever the body → RateLimitedError;
    2. `auth_error`, any 401, 403 "requires login", 404 "Session expired" → AuthenticationError;
    3. `no_such_ask` in code or message (any status), or 410 on the rent route
       → OfferUnavailableError;
    4. 410 otherwise → DeprecatedEndpointError;
    5. 402, 411, `missing_billing`, "insufficient credit" → InsufficientCreditError;
    6. `no_such_*`/`not_found` codes, any other 404, "... not found for user" → NotFoundError;
    7. 408 and 5xx → TransientError;
    8. everything else (other 4xx, 2xx with `success: false`) → PermanentError.
    """
    code, message, _ = parse_error_body(body)
    message = scrub(message, secrets)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    if not message:
        message = f"HTTP {status} without a message"
    if code is not None:
        code = scrub(code, secrets)[:64]
    if status == 429 and code == SEARCH_QUOTA_CODE:
        reset_at = quota_reset_at(headers, time.time() if now is None else now)
        return SearchQuotaExceededError(
            message, status=status, code=code, route=route, reset_at=reset_at
        )
    cls = _pick_class(status, code, message, route)
    return cls(message, status=status, code=code, route=route)


def _pick_class(status: int, code: str | None, message: str, route: str) -> type[VastError]:
    if status == 429 or code == "rate_limit_exceeded":
        return RateLimitedError
    if code == "auth_error" or status == 401:
        return AuthenticationError
    if status in (403, 404) and code is None and _LOGIN_TEXT.search(message):
        return AuthenticationError
    if code == "no_such_ask" or "no_such_ask" in message:
        return OfferUnavailableError
    if status == 410:
        if code == "deprecated_endpoint" or "/asks/" not in route:
            return DeprecatedEndpointError
        return OfferUnavailableError
    if status in (402, 411) or code in _CREDIT_CODES or _CREDIT_TEXT.search(message):
        return InsufficientCreditError
    if code in _NOT_FOUND_CODES or status == 404:
        return NotFoundError
    if status == 400 and _NOT_FOUND_TEXT.search(message):
        return NotFoundError
    if status == 408 or status >= 500:
        return TransientError
    return PermanentError
