"""Shared machinery of the reconcilers: the status writer, events, credentials, outcomes."""

from __future__ import annotations

import hashlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from ..accounts import Account, Accounts
from ..api.common import ANNOTATION_PAUSED, CredentialsRef
from ..kube import Kube
from ..poller import SnapshotUnavailable
from ..vast import errors as verr
from .conditions import READY, SYNCED, Reason, get_condition, set_condition

log = logging.getLogger("vast_operator.reconcile")


class EventSink(Protocol):
    def __call__(self, body: Mapping[str, Any], type_: str, reason: str, message: str) -> None: ...


def null_events(body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
    return None


def iso(ts: float) -> str:
    """RFC 3339 with microseconds: these stamps are compared with listing start times."""
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def is_paused(body: Mapping[str, Any]) -> bool:
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(ANNOTATION_PAUSED, "")).lower() in ("true", "1", "yes")


def key_fingerprint(text: str) -> str:
    return "SHA256:" + hashlib.sha256(text.strip().encode()).hexdigest()[:32]


class StatusWriter:
    """Collects status changes and writes only what differs from what is stored."""

    def __init__(self, kube: Kube, plural: str, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        self.kube = kube
        self.plural = plural
        self.namespace = str(meta.get("namespace"))
        self.name = str(meta.get("name"))
        self.generation: int | None = meta.get("generation")
        self.status: dict[str, Any] = dict(body.get("status") or {})
        self._stored: dict[str, Any] = dict(self.status)

    def get(self, key: str, default: Any = None) -> Any:
        return self.status.get(key, default)

    def set(self, **fields: Any) -> None:
        for key, value in fields.items():
            if value is None:
                self.status.pop(key, None)
            else:
                self.status[key] = value

    def condition(self, type_: str, status: bool | None, reason: str, message: str) -> None:
        self.status["conditions"] = set_condition(
            self.status.get("conditions"), type_, status, reason, message, self.generation
        )

    def synced(self, ok: bool, reason: str = Reason.RECONCILED, message: str = "") -> None:
        self.condition(SYNCED, ok, reason, message)

    def pending_patch(self) -> dict[str, Any]:
        patch: dict[str, Any] = {}
        for key, value in self.status.items():
            if self._stored.get(key) != value:
                patch[key] = value
        for key in self._stored:
            if key not in self.status:
                patch[key] = None
        return patch

    async def flush(self) -> bool:
        """Write the changes now; True when something was written."""
        patch = self.pending_patch()
        if not patch:
            return False
        await self.kube.patch_status(self.plural, self.namespace, self.name, patch)
        self._stored = dict(self.status)
        return True


class CredentialsMissing(Exception):
    """The Secret named by credentialsRef (or the operator default) is absent."""


async def resolve_api_key(
    kube: Kube, namespace: str, ref: CredentialsRef | None, default: SecretStr | None
) -> SecretStr:
    if ref is None:
        if default is None:
            raise CredentialsMissing(
                "no spec.credentialsRef and the operator has no default Vast API key"
            )
        return default
    value = await kube.get_secret_value(namespace, ref.name, ref.key)
    if not value:
        raise CredentialsMissing(
            f"Secret {namespace}/{ref.name} does not exist or has no key {ref.key!r}"
        )
    return SecretStr(value.strip())


@dataclass(frozen=True)
class Requeue:
    """When the reconciler wants to look at the object again, in seconds."""

    after: float


ERROR_DELAYS = {
    Reason.RATE_LIMITED: 30.0,
    Reason.VAST_UNAVAILABLE: 20.0,
    Reason.INVALID_CREDENTIALS: 300.0,
    Reason.CREDENTIALS_NOT_FOUND: 60.0,
    Reason.INSUFFICIENT_CREDIT: 300.0,
    Reason.VAST_REJECTED: 120.0,
    Reason.INVALID_SPEC: 600.0,
}


def record_error(w: StatusWriter, exc: Exception) -> float:
    """Record a failed call in the Synced condition and say when to try again."""
    if isinstance(exc, SnapshotUnavailable) and exc.error is not None:
        exc = exc.error
    if isinstance(exc, CredentialsMissing):
        reason, msg = Reason.CREDENTIALS_NOT_FOUND, str(exc)
    elif isinstance(exc, verr.AuthenticationError):
        reason, msg = Reason.INVALID_CREDENTIALS, "Vast rejected the API key: " + exc.message
    elif isinstance(exc, verr.InsufficientCreditError):
        reason, msg = Reason.INSUFFICIENT_CREDIT, "Vast account has no credit: " + exc.message
    elif isinstance(exc, verr.RateLimitedError):
        reason, msg = Reason.RATE_LIMITED, "Vast is rate limiting requests; backing off"
    elif isinstance(exc, verr.TransientError):
        reason, msg = Reason.VAST_UNAVAILABLE, f"Vast API unavailable: {exc}"
    elif isinstance(exc, verr.VastError):
        reason, msg = Reason.VAST_REJECTED, f"Vast refused: {exc}"
    else:
        reason, msg = Reason.VAST_UNAVAILABLE, str(exc)
    w.synced(False, reason, msg)
    return ERROR_DELAYS.get(reason, 30.0)


@dataclass
class Tuning:
    """Delays, in seconds; small in tests, sensible defaults in production."""

    poll_interval: float = 15.0
    busy_interval: float = 3.0  # while creating, loading, stopping
    idle_interval: float = 60.0  # nothing to do
    no_offer_interval: float = 60.0
    global_price_cap: float | None = None
    finalizer: str = "vast.ai/finalizer"
    # After a create whose outcome is unknown (timeout, 5xx, dropped connection), how long Vast
    # may still be acting on it: no new create until a listing that began this much later.
    create_settle: float = 65.0
    delays: dict[str, float] = field(default_factory=lambda: dict(ERROR_DELAYS))


def not_created(w: StatusWriter, exc: Exception) -> float:
    """A create that Vast refused: Synced and Ready both say why."""
    delay = record_error(w, exc)
    synced = get_condition(w.get("conditions"), SYNCED) or {}
    w.set(message=str(synced.get("message") or ""))
    w.condition(READY, False, str(synced.get("reason")), w.get("message"))
    return delay


class HasCredentials(Protocol):
    @property
    def credentials_ref(self) -> CredentialsRef | None: ...


SpecT = TypeVar("SpecT", bound=BaseModel)


class ManagedReconciler(ABC, Generic[SpecT]):
    """What every kind shares: parse the spec, honour pause and deletion, find the account,
    turn Vast errors into conditions, and write observedGeneration with the status."""

    plural: ClassVar[str]
    spec_model: ClassVar[type[BaseModel]]

    def __init__(
        self,
        accounts: Accounts,
        kube: Kube,
        events: EventSink,
        default_api_key: SecretStr | None,
        tuning: Tuning,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.accounts = accounts
        self.kube = kube
        self.events = events
        self.default_api_key = default_api_key
        self.tuning = tuning
        self.clock = clock
        self._keys_by_uid: dict[str, SecretStr] = {}

    def parse_spec(self, body: Mapping[str, Any]) -> SpecT:
        return self.spec_model.model_validate(body.get("spec") or {})  # type: ignore[return-value]

    def parse_spec_or_none(self, body: Mapping[str, Any]) -> SpecT | None:
        try:
            return self.parse_spec(body)
        except ValidationError:
            return None

    async def account(self, body: Mapping[str, Any], spec: HasCredentials | None) -> Account:
        """The Vast account of this object. The last key seen is remembered, so an object can
        still be cleaned up when its Secret went first (e.g. a namespace being deleted)."""
        meta = body["metadata"]
        ref = spec.credentials_ref if spec is not None else None
        try:
            key = await resolve_api_key(self.kube, meta["namespace"], ref, self.default_api_key)
        except CredentialsMissing:
            if meta["uid"] not in self._keys_by_uid:
                raise
            key = self._keys_by_uid[meta["uid"]]
        self._keys_by_uid[meta["uid"]] = key
        return self.accounts.get(key)

    def skip(self, body: Mapping[str, Any]) -> bool:
        """True when a pass must not act (the object is being deleted)."""
        return bool(body["metadata"].get("deletionTimestamp"))

    async def reconcile(self, body: Mapping[str, Any]) -> float:
        """One pass of the cycle; returns seconds until the next pass."""
        w = StatusWriter(self.kube, self.plural, body)
        try:
            spec = self.parse_spec(body)
        except ValidationError as exc:
            w.synced(False, Reason.INVALID_SPEC, f"spec is invalid: {exc.errors()[0]['msg']}")
            await w.flush()
            return self.tuning.delays[Reason.INVALID_SPEC]
        if self.skip(body):
            return self.tuning.idle_interval
        if is_paused(body):
            w.synced(False, Reason.PAUSED, "reconciling is paused by the vast.ai/paused annotation")
            await w.flush()
            return self.tuning.idle_interval
        try:
            delay = await self.cycle(body, spec, w)
        except (verr.VastError, CredentialsMissing, SnapshotUnavailable) as exc:
            delay = record_error(w, exc)
        w.set(observedGeneration=w.generation)
        await w.flush()
        return delay

    @abstractmethod
    async def cycle(self, body: Mapping[str, Any], spec: SpecT, w: StatusWriter) -> float:
        """Observe, create or update: one pass for a valid, unpaused, live object."""

    @abstractmethod
    async def delete(self, body: Mapping[str, Any]) -> tuple[bool, str]:
        """Destroy what the object owns; (True, why) once Vast confirms it is gone."""
