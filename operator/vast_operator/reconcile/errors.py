"""Errors → condition reasons and delays: the one place that decides how long to back off."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

from ..kube import ForeignSecret
from ..poller import SnapshotUnavailable
from ..vast import errors as verr
from .conditions import Reason


class CredentialsMissing(Exception):
    """The Secret named by credentialsRef (or the operator default) is absent."""


class AccountChanged(Exception):
    """The object's key names another Vast account than the one its resources live on."""


class PassHalted(Exception):
    """The object's daemon was told to stop (kopf peering paused this replica, or deletion
    began) while a pass was under way: it creates nothing more. Another replica may be
    working on the same object now, and only a pass that stops before its intent write keeps
    the two from both creating (the settle window covers a create already sent)."""


class ReleaseFailed(Exception):
    """deletionPolicy Orphan: what stays on Vast could not be relabelled (message scrubbed)."""


class SecretMissing(CredentialsMissing):
    """A Secret the spec points at (SSH key, env value) is absent or lacks the key."""


# Seconds until the next pass after a failed one, by the reason written to Synced.
ERROR_DELAYS: dict[Reason, float] = {
    Reason.RATE_LIMITED: 30.0,
    Reason.VAST_UNAVAILABLE: 20.0,
    Reason.INVALID_CREDENTIALS: 300.0,
    Reason.CREDENTIALS_NOT_FOUND: 5.0,  # the fallback when Secrets are not watched
    Reason.INSUFFICIENT_CREDIT: 300.0,
    Reason.VAST_REJECTED: 120.0,
    Reason.INVALID_SPEC: 600.0,
    Reason.RECONCILE_ERROR: 30.0,
    Reason.ACCOUNT_CHANGED: 60.0,
    Reason.SECRET_NOT_OWNED: 120.0,
}
DEFAULT_ERROR_DELAY = 30.0
# Deletion retries: 2 s doubling per retry, capped, with ±20 % jitter.
DELETE_BACKOFF_BASE = 2.0
DELETE_BACKOFF_CAP = 120.0  # a deletion stuck on Vast errors moves within 2 min of the last
# A deletion refused for its credentials (the Secret is missing or names another account).
CREDENTIALS_RECHECK = 15.0
CREDENTIALS_REASONS = frozenset({Reason.CREDENTIALS_NOT_FOUND, Reason.ACCOUNT_CHANGED})


def classify(exc: BaseException) -> tuple[Reason, str]:
    """The Synced reason and a message (free of secrets) for an error of a pass."""
    if isinstance(exc, SnapshotUnavailable) and exc.error is not None:
        exc = exc.error
    if isinstance(exc, ForeignSecret):
        return Reason.SECRET_NOT_OWNED, str(exc)
    if isinstance(exc, AccountChanged):
        return Reason.ACCOUNT_CHANGED, str(exc)
    if isinstance(exc, ReleaseFailed):
        return Reason.DELETE_FAILED, str(exc)
    if isinstance(exc, CredentialsMissing):
        return Reason.CREDENTIALS_NOT_FOUND, str(exc)
    if isinstance(exc, verr.AuthenticationError):
        return Reason.INVALID_CREDENTIALS, "Vast rejected the API key: " + exc.message
    if isinstance(exc, verr.InsufficientCreditError):
        return Reason.INSUFFICIENT_CREDIT, "Vast account has no credit: " + exc.message
    if isinstance(exc, verr.SearchQuotaExceededError):
        reset = datetime.fromtimestamp(exc.reset_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (
            Reason.SEARCH_QUOTA_EXCEEDED,
            f"the Vast account's daily search quota is spent; searching again after {reset}",
        )
    if isinstance(exc, verr.RateLimitedError):
        return Reason.RATE_LIMITED, "Vast is rate limiting requests; backing off"
    if isinstance(exc, verr.TransientError):
        return Reason.VAST_UNAVAILABLE, f"Vast API unavailable: {exc}"
    if isinstance(exc, verr.VastError):
        return Reason.VAST_REJECTED, f"Vast refused: {exc}"
    if isinstance(exc, SnapshotUnavailable):
        return Reason.VAST_UNAVAILABLE, str(exc)
    # Not our own message: scrub any key or bearer token an error text may echo.
    return Reason.RECONCILE_ERROR, verr.scrub(f"unexpected error ({type(exc).__name__}): {exc}")


def delay_for(reason: Reason, exc: BaseException | None = None) -> float:
    """Seconds until the next pass after an error; a search quota waits for its reset."""
    if isinstance(exc, verr.SearchQuotaExceededError):
        return max(DEFAULT_ERROR_DELAY, exc.reset_at - time.time() + 1.0)
    return ERROR_DELAYS.get(reason, DEFAULT_ERROR_DELAY)


def delete_wait(reason: Reason) -> float | None:
    """How soon a failed deletion is tried again, when its reason says (else a backoff). A
    Secret a person fixes is looked at again soon: kopf runs no delete handler before the
    delay it was given, whatever the Secret watch sees, and the check costs no Vast call."""
    return CREDENTIALS_RECHECK if reason in CREDENTIALS_REASONS else None


def delete_backoff(retry: int) -> float:
    """Delay before deletion attempt `retry + 1` when the adapter named no better time."""
    base = min(DELETE_BACKOFF_CAP, DELETE_BACKOFF_BASE * float(2 ** min(retry, 8)))
    return base * random.uniform(0.8, 1.2)


EXPECTED_ERRORS = (verr.VastError, CredentialsMissing, SnapshotUnavailable)
