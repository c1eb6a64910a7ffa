"""The contract between the managed loop and a kind's adapter. Read this before writing one.

The loop (`loop.ManagedLoop`) owns the lifecycle, once for every kind: it parses the spec,
honours pause and deletion, never creates before the finalizer is on the object, resolves the
Vast account (refusing a key of another account while anything is rented on the recorded one,
`status.accountFingerprint`), keeps the credentials Secret protected by a finalizer while it is
in use, waits out the settle window after a create whose outcome is unknown, turns errors into
conditions and delays, makes sure every object shows a phase and a Ready condition, emits one
Warning event per transition into a stuck state, writes `observedGeneration` and flushes status
(also after an error), and runs deletion: it re-reads the object after taking its lock, honours
`deletionPolicy: Orphan` and the "never created" shortcut, waits out the settle window, reports
`DeleteFailed`, and releases the credentials Secret when its last user is gone.

An adapter implements four verbs for one kind, over one Vast account:

- `observe(ctx, newer_than)`: find the object's external resource. Return an `Observation`.
  `newer_than` is a wall-clock time; an adapter that concludes "absent" must have looked at a
  listing that began after it (the loop passes the last create intent or the end of a settle
  window). Observe may write status facts it learned (ids, prices), and may adopt.
- `create(ctx)`: called only when `observe` found nothing, the finalizer is on the object and
  no earlier create may still land. Before the Vast call that creates anything, the adapter
  MUST call `await ctx.intend(...)`, which writes the intent (phase Creating, `creatingSince`)
  to the API server. A `CreateOutcomeUnknownError` from the client must be left to propagate:
  the loop records `outcomeUnknownSince`, and creates nothing until the settle window has
  passed and a fresh `observe` found nothing. Return a `CreateResult`.
- `update(ctx, observation)`: the resource exists; bring it in line with the spec and write
  what people need into status (phase, Ready). Return the delay until the next pass.
- `delete(ctx, newer_than)`: destroy everything the object owns. Return a `DeleteResult`;
  `done=True` only once Vast confirms it is gone.

`release(ctx)` serves `deletionPolicy: Orphan`: it marks what stays on Vast as no longer
managed. An adapter whose resources carry this operator's label (`releases_on_orphan = True`)
must relabel them, and the loop finishes the deletion only after `release` returned: a resource
left with our label would be counted as an orphan and, with `--sweep-orphans`, destroyed,
although the user chose to keep it. A release that raises is reported as `DeleteFailed` and
retried. Adapters whose resources carry no label (`releases_on_orphan = False`) are not called,
so their Orphan deletion needs neither a key nor a Vast call.

An adapter may also implement `absent(ctx, observation)`: what to do when nothing exists before
the loop considers creating (a lost resource, terminal phases, "not wanted now"). Return a
delay to stop there, or None to let the loop create.

An adapter must not: remove or add finalizers, decide on pause or Orphan, catch
`CreateOutcomeUnknownError`, swallow Vast errors it cannot act on (raise them: the loop turns
them into `Synced=False` with the right delay), or talk to another kind's Vast resources. Every
status field it writes goes through `ctx.w.s` (the kind's typed status model).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, SecretStr

from ..accounts import Account
from ..api.common import ManagedStatus
from ..kube import Kube
from .conditions import Reason
from .errors import PassHalted
from .status import StatusWriter
from .timefmt import iso

SpecT = TypeVar("SpecT", bound=BaseModel)
StatusT = TypeVar("StatusT", bound=ManagedStatus)
ResT = TypeVar("ResT")
AnySpec = TypeVar("AnySpec")  # a spec model, or None at deletion when the spec cannot be read


class EventSink(Protocol):
    def __call__(self, body: Mapping[str, Any], type_: str, reason: str, message: str) -> None: ...


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
    # Whether objects may take over existing instances by annotation (operator flag).
    allow_adoption: bool = False
    # No instance is given up on sooner than this, whatever spec.placement.bootTimeout says.
    min_boot_timeout: float = 60.0
    # Put in instance labels so that clusters sharing an account tell their rentals apart.
    cluster_id: str | None = None
    # No new rent when the account's credit would not pay the chosen offer this long (0: off).
    credit_horizon: float = 3600.0
    # BENCHMARK ONLY (--bench-observe-by-id): VastInstance observes its instance with its own
    # GET /instances/{id}/ per pass instead of the shared listing (the naive way, for ratios).
    observe_by_id: bool = False


@dataclass(frozen=True)
class Observation(Generic[ResT]):
    """What `observe` found: the external resource, or that there is none."""

    resource: ResT | None = None
    # A delay when observe already decided the pass (e.g. waiting for something else).
    requeue: float | None = None

    @property
    def exists(self) -> bool:
        return self.resource is not None


@dataclass(frozen=True)
class CreateResult(Generic[ResT]):
    """What `create` did. With `resource`, the loop goes on to `update` in the same pass."""

    requeue: float
    resource: ResT | None = None


@dataclass(frozen=True)
class DeleteResult:
    """What `delete` achieved. Not done: kopf retries after `wait_seconds` (or a backoff)."""

    done: bool
    reason: Reason
    message: str
    wait_seconds: float | None = None


@dataclass
class ObjectMemory:
    """What this process remembers about one object between passes (lost on restart)."""

    last_intent: float | None = None
    acted_on: int | None = None  # the resource of the last power action (stop, start)
    api_key: SecretStr | None = None  # last key that worked, so deletion outlives its Secret
    deleting: bool = False
    halted: Callable[[], bool] | None = None  # True once the object's daemon is told to stop
    # resourceVersions older than the last status write (StatusWriter.on_write): a body still
    # at one of them does not show that write yet (its watch event is on its way).
    older_than_write: frozenset[str] = frozenset()

    def wrote(self, versions: frozenset[str]) -> None:
        self.older_than_write = versions


@dataclass
class Ctx(Generic[AnySpec, StatusT]):
    """Everything one pass of one object may use."""

    body: Mapping[str, Any]
    spec: AnySpec
    w: StatusWriter[StatusT]
    account: Account
    kube: Kube
    tuning: Tuning
    clock: Callable[[], float]
    memory: ObjectMemory
    emit: EventSink

    @property
    def uid(self) -> str:
        return str(self.body["metadata"]["uid"])

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def being_deleted(self) -> bool:
        return bool(self.body["metadata"].get("deletionTimestamp")) or self.memory.deleting

    def event(self, reason: str, message: str, *, warning: bool = False) -> None:
        self.emit(self.body, "Warning" if warning else "Normal", reason, message)

    def acted(self, resource_id: int) -> None:
        """An action was sent: the next pass looks at a listing that began after it."""
        self.memory.last_intent = self.clock()
        self.memory.acted_on = resource_id

    async def intend(self, phase: str, reason: Reason, message: str, **fields: Any) -> None:
        """Record the intent to create, and write it to the API server before the Vast call.

        If the process dies after Vast said yes, the next pass knows to look before creating.
        A pass whose daemon was told to stop meanwhile (a search can wait long) stops here.
        """
        if self.memory.halted is not None and self.memory.halted():
            raise PassHalted(f"{self.namespace}/{self.name}: stopped before creating")
        now = self.clock()
        self.memory.last_intent = now
        for key, value in fields.items():
            setattr(self.w.s, key, value)
        self.w.s.creating_since = iso(now)
        self.w.phase(phase, reason, message)
        await self.w.flush()


class Adapter(Protocol[SpecT, StatusT, ResT]):
    """One kind's external client: four verbs over one Vast account (see the module doc)."""

    plural: ClassVar[str]
    # Status fields that, when set, mean something may exist on Vast (intent or result).
    created_markers: ClassVar[tuple[str, ...]]
    # Status field holding the external id (None while nothing is known to exist).
    id_field: ClassVar[str]
    # deletionPolicy Orphan must relabel what stays on Vast before the object may go.
    releases_on_orphan: ClassVar[bool]

    @property
    def spec_model(self) -> type[SpecT]: ...

    @property
    def status_model(self) -> type[StatusT]: ...

    async def observe(
        self, ctx: Ctx[SpecT, StatusT], newer_than: float | None
    ) -> Observation[ResT]: ...

    async def absent(
        self, ctx: Ctx[SpecT, StatusT], observation: Observation[ResT]
    ) -> float | None: ...

    async def create(self, ctx: Ctx[SpecT, StatusT]) -> CreateResult[ResT]: ...

    async def update(self, ctx: Ctx[SpecT, StatusT], observation: Observation[ResT]) -> float: ...

    async def delete(
        self, ctx: Ctx[SpecT | None, StatusT], newer_than: float | None
    ) -> DeleteResult: ...

    async def release(self, ctx: Ctx[SpecT | None, StatusT]) -> None:
        """deletionPolicy Orphan: mark what is left on Vast as no longer managed. Raise when
        that failed: the loop keeps the finalizer and tries again (see the module doc)."""
