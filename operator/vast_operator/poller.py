"""One shared observer of Vast instances for all objects (docs/design.md, "One poll for all").

Each Vast account (API key) gets one poller. It lists every instance of the account with the
paginated `GET /api/v1/instances/` on an interval and publishes an immutable snapshot indexed by
instance id and by the Kubernetes UID carried in the instance label. Reconcilers read the
snapshot instead of calling Vast per object, so steady-state API calls grow with the number of
pages, not with the number of objects. A reconciler that needs fresher data than the current
snapshot (right after a rent, or before deciding an instance is gone) asks for one newer than a
given time; concurrent requests share the same listing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from .vast.errors import VastError
from .vast.models import Instance

log = logging.getLogger(__name__)

LABEL_PREFIX = "k8s-vast-operator:"
# An instance whose object was deleted with deletionPolicy Orphan: left running on purpose.
RELEASED_PREFIX = "k8s-vast-operator-released:"


def label_for(uid: str, cluster: str | None = None) -> str:
    """The Vast label that ties an instance to the Kubernetes object with this UID, and to the
    cluster (`--cluster-id`) when the operator has one: `k8s-vast-operator:<uid>[@<cluster>]`."""
    return f"{LABEL_PREFIX}{uid}@{cluster}" if cluster else f"{LABEL_PREFIX}{uid}"


def released_label(uid: str) -> str:
    return f"{RELEASED_PREFIX}{uid}"


def uid_from_label(label: str | None) -> str | None:
    if label and label.startswith(LABEL_PREFIX):
        return label[len(LABEL_PREFIX) :].split("@", 1)[0] or None
    return None


def cluster_from_label(label: str | None) -> str | None:
    """The cluster id in an operator label, or None (no id: a label of an older version)."""
    if label and label.startswith(LABEL_PREFIX) and "@" in label:
        return label.split("@", 1)[1] or None
    return None


class InstanceLister(Protocol):
    async def list_instances(self) -> list[Instance]: ...


@dataclass(frozen=True)
class Snapshot:
    """All instances of one account as seen by one complete listing."""

    started_at: float  # wall-clock time the listing began: nothing older is missing from it
    by_id: dict[int, Instance] = field(default_factory=dict)
    by_uid: dict[str, tuple[Instance, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, started_at: float, instances: Iterable[Instance]) -> Snapshot:
        by_id: dict[int, Instance] = {}
        by_uid: dict[str, list[Instance]] = {}
        for inst in instances:
            by_id[inst.id] = inst
            uid = uid_from_label(inst.label)
            if uid:
                by_uid.setdefault(uid, []).append(inst)
        return cls(started_at, by_id, {k: tuple(v) for k, v in by_uid.items()})

    def for_uid(self, uid: str) -> tuple[Instance, ...]:
        return self.by_uid.get(uid, ())


class SnapshotUnavailable(Exception):
    """No listing newer than the one asked for could be made (the last error says why)."""

    def __init__(self, message: str, error: VastError | None = None) -> None:
        super().__init__(message)
        self.error = error


class InstancePoller:
    """Lists instances every `interval` seconds, or sooner when someone needs fresher data."""

    def __init__(
        self,
        lister: InstanceLister,
        *,
        interval: float,
        on_snapshot: Callable[[Snapshot], Awaitable[None] | None] | None = None,
        clock: Callable[[], float] = time.time,
        idle_after: float | None = None,
    ) -> None:
        self._lister = lister
        self._interval = interval
        # Nobody asked for a snapshot for this long: stop listing (a key whose objects are all
        # gone must not list for ever); the next `snapshot()` starts the poller again.
        self._idle_after = idle_after if idle_after is not None else max(10 * interval, 120.0)
        self._on_snapshot = on_snapshot
        self._clock = clock
        self._snapshot: Snapshot | None = None
        self._changed = asyncio.Condition()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_error: VastError | None = None
        self.listings = 0
        self.last_used = clock()

    @property
    def current(self) -> Snapshot | None:
        return self._snapshot

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="vast-instance-poller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()  # a request made while listing triggers the next listing
            started = self._clock()
            try:
                instances = await self._lister.list_instances()
            except VastError as exc:
                self.last_error = exc
                log.warning("listing Vast instances failed: %s", exc)
                async with self._changed:
                    self._changed.notify_all()
            else:
                self.last_error = None
                self.listings += 1
                snapshot = Snapshot.build(started, instances)
                self._snapshot = snapshot
                async with self._changed:
                    self._changed.notify_all()
                if self._on_snapshot is not None:
                    try:
                        result = self._on_snapshot(snapshot)
                        if result is not None:
                            await result
                    except Exception:
                        log.exception("snapshot subscriber failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._interval)
            if self._clock() - self.last_used > self._idle_after and not self._wakeup.is_set():
                log.debug("no object asked for a listing in %.0fs; poller stops", self._idle_after)
                return

    async def snapshot(
        self, *, newer_than: float | None = None, wait_limit: float = 120.0
    ) -> Snapshot:
        """A snapshot whose listing began after `newer_than` (any snapshot if None)."""
        self.last_used = self._clock()
        self.start()

        def fresh_enough() -> bool:
            snap = self._snapshot
            return snap is not None and (newer_than is None or snap.started_at > newer_than)

        if fresh_enough():
            assert self._snapshot is not None
            return self._snapshot
        self._wakeup.set()
        deadline = time.monotonic() + wait_limit
        errors_seen = 0
        async with self._changed:
            while not fresh_enough():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SnapshotUnavailable(str(self.last_error or "timed out"), self.last_error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=remaining)
                if self.last_error is not None and not fresh_enough():
                    errors_seen += 1
                    if errors_seen >= 2:
                        raise SnapshotUnavailable(str(self.last_error), self.last_error)
                    self._wakeup.set()
        assert self._snapshot is not None
        return self._snapshot
