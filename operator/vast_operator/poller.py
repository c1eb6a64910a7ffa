"""One shared observer of Vast instances for all objects (docs/design.md, "One poll for all").

Each Vast account (API key) gets one poller. It lists every instance of the account with the
paginated `GET /api/v1/instances/` on an interval and publishes an immutable snapshot indexed by
instance id and by the Kubernetes UID carried in the instance label. Reconcilers read the
snapshot instead of calling Vast per object, so steady-state API calls grow with the number of
pages, not with the number of objects.

A reconciler that needs fresher data than the current snapshot (right after a rent, or before
deciding an instance is gone) asks for one newer than a given time. Those demands coalesce:
every demand made before a listing starts is served by that listing, and demanded listings start
at most one per `coalesce` seconds, so a ramp that rents every few hundred milliseconds is served
by a listing a second, not by one listing per object.

Two kinds of demand:

- **absence** (`snapshot(newer_than=t)`): only a complete listing can show that something is
  gone. The next complete listing serves every such demand.
- **presence** (`snapshot(newer_than=t, expect_label=label)`): an object that just rented wants
  to see its labelled instance. A *partial* listing, `select_filters={"label": {"in": [...]}}`
  for the labels waiting (up to `PARTIAL_LABELS`, one page), serves them at once: during a ramp of
  a thousand objects that is one page instead of forty. A partial listing is trusted only for
  what it shows: a label it does not show is answered by the next complete listing, never taken
  as absence (a filter Vast applies wrongly must not make us rent twice; UNCONFIRMED how exactly
  Vast applies `in` on labels).

Objects whose instance boots **ride along** (`watch(label)`): a partial listing that runs for
others fills its page with their labels, and the subscriber is told, so a boot is seen at the
next partial listing anyone makes, at no extra call. A watched label never starts a listing.

The periodic complete listing runs every `interval` seconds whatever the partial listings do, and
in the steady state (nobody demanding anything) it is the only call: `ceil(N/25)` pages a poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

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


# Labels per partial listing: one page of 25 rows when each object has one instance, and a
# query string of a few kilobytes.
PARTIAL_LABELS = 25


class InstanceLister(Protocol):
    async def list_instances(
        self, *, select_filters: dict[str, dict[str, Any]] | None = None
    ) -> list[Instance]: ...


@dataclass(frozen=True)
class Snapshot:
    """All instances of one account as seen by one complete listing."""

    started_at: float  # wall-clock time the listing began: nothing older is missing from it
    by_id: dict[int, Instance] = field(default_factory=dict)
    by_uid: dict[str, tuple[Instance, ...]] = field(default_factory=dict)
    # None: a complete listing. Else the labels a partial listing asked for: it shows only
    # instances with these labels, and proves nothing about what it does not show.
    labels: frozenset[str] | None = None

    @classmethod
    def build(
        cls,
        started_at: float,
        instances: Iterable[Instance],
        labels: frozenset[str] | None = None,
    ) -> Snapshot:
        by_id: dict[int, Instance] = {}
        by_uid: dict[str, list[Instance]] = {}
        for inst in instances:
            if labels is not None and inst.label not in labels:
                continue  # a row the filter should have left out: not what was asked for
            by_id[inst.id] = inst
            uid = uid_from_label(inst.label)
            if uid:
                by_uid.setdefault(uid, []).append(inst)
        return cls(started_at, by_id, {k: tuple(v) for k, v in by_uid.items()}, labels)

    @property
    def complete(self) -> bool:
        return self.labels is None

    def shows(self, label: str) -> bool:
        """A partial listing asked for `label` and shows an instance that carries it."""
        if self.labels is None or label not in self.labels:
            return False
        return any(i.label == label for i in self.by_id.values())

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
        coalesce: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._lister = lister
        self._interval = interval
        # Nobody asked for a snapshot for this long: stop listing (a key whose objects are all
        # gone must not list for ever); the next `snapshot()` starts the poller again.
        self._idle_after = idle_after if idle_after is not None else max(10 * interval, 120.0)
        # Demanded listings start at most one per `coalesce` seconds (module docstring).
        self._coalesce = coalesce
        self._on_snapshot = on_snapshot
        self._clock = clock
        self._sleep = sleep
        self._snapshot: Snapshot | None = None
        self._partial: Snapshot | None = None
        self._changed = asyncio.Condition()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Presence demands: label -> the newest `newer_than` asked for it.
        self._expected: dict[str, float] = {}
        # Ride-along labels (module docstring): label -> until when.
        self._watched: dict[str, float] = {}
        self._complete_wanted = False
        self._last_complete = float("-inf")  # when the last complete listing ended
        self._last_demanded = float("-inf")  # when the last demanded listing began
        self.last_error: VastError | None = None
        self.listings = 0
        self.partial_listings = 0
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

    def _demanded(self) -> bool:
        return self._complete_wanted or bool(self._expected)

    def _partial_labels(self) -> list[str] | None:
        """The labels for a partial listing now, or None when a complete one is due."""
        if self._snapshot is None or self._complete_wanted or not self._expected:
            return None
        if self._clock() - self._last_complete >= self._interval:
            return None  # the periodic listing is due: it serves everyone
        ordered = sorted(self._expected, key=self._expected.__getitem__)[:PARTIAL_LABELS]
        now = self._clock()
        for label, until in list(self._watched.items()):
            if until < now:
                del self._watched[label]
        asked = set(ordered)
        riders = [w for w in sorted(self._watched, key=self._watched.__getitem__) if w not in asked]
        return ordered + riders[: PARTIAL_LABELS - len(ordered)]

    def watch(self, label: str, until: float) -> None:
        """Show `label` in every partial listing made for others until `until` (a boot)."""
        self._watched[label] = max(until, self._watched.get(label, until))

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()  # a request made while listing triggers the next listing
            labels = self._partial_labels()
            if self._demanded():
                self._last_demanded = self._clock()
            if labels is None:
                await self._list_complete()
            else:
                await self._list_partial(labels)
            await self._pause()
            if self._clock() - self.last_used > self._idle_after and not self._demanded():
                log.debug("no object asked for a listing in %.0fs; poller stops", self._idle_after)
                return

    async def _pause(self) -> None:
        """Until the next listing: the interval, or the coalescing gap when someone waits."""
        while True:
            now = self._clock()
            if self._demanded():
                gap = self._last_demanded + self._coalesce - now
                if gap > 0:
                    await self._sleep(gap)
                return
            due = self._last_complete + self._interval - now
            if due <= 0:
                return
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation (stop)
            # that arrives just as the event is set.
            try:
                async with asyncio.timeout(due):
                    await self._wakeup.wait()
            except TimeoutError:
                return
            self._wakeup.clear()

    async def _list_complete(self) -> None:
        started = self._clock()
        self._complete_wanted = False
        try:
            instances = await self._lister.list_instances()
        except VastError as exc:
            self.last_error = exc
            self._last_complete = self._clock()
            log.warning("listing Vast instances failed: %s", exc)
            async with self._changed:
                self._changed.notify_all()
            return
        self._last_complete = self._clock()
        self.last_error = None
        self.listings += 1
        snapshot = Snapshot.build(started, instances)
        self._snapshot = snapshot
        for label, since in list(self._expected.items()):
            if since < started:
                del self._expected[label]  # served
        async with self._changed:
            self._changed.notify_all()
        await self._publish(snapshot)

    async def _publish(self, snapshot: Snapshot) -> None:
        """Tell the subscriber (complete and partial listings: `Snapshot.complete` says which)."""
        if self._on_snapshot is not None:
            try:
                result = self._on_snapshot(snapshot)
                if result is not None:
                    await result
            except Exception:
                log.exception("snapshot subscriber failed")

    async def _list_partial(self, labels: list[str]) -> None:
        started = self._clock()
        try:
            instances = await self._lister.list_instances(
                select_filters={"label": {"in": list(labels)}}
            )
        except VastError as exc:
            self.last_error = exc
            log.warning("listing Vast instances failed: %s", exc)
            async with self._changed:
                self._changed.notify_all()
            return
        self.last_error = None
        self.partial_listings += 1
        snapshot = Snapshot.build(started, instances, frozenset(labels))
        self._partial = snapshot
        for label in labels:
            since = self._expected.get(label)
            if since is not None and since < started:
                del self._expected[label]
                if not snapshot.shows(label):
                    self._complete_wanted = True  # not shown is not gone: ask everyone's listing
        async with self._changed:
            self._changed.notify_all()
        await self._publish(snapshot)

    def _fresh(self, newer_than: float | None, expect_label: str | None) -> Snapshot | None:
        """The newest listing that answers: the complete one if it began after `newer_than`; a
        partial one only when it shows `expect_label` and began after both."""
        snap = self._snapshot
        if snap is not None and newer_than is not None and snap.started_at <= newer_than:
            snap = None
        part = self._partial
        if (
            expect_label is not None
            and part is not None
            and (newer_than is not None or snap is not None)
            and part.started_at > max(newer_than or 0.0, snap.started_at if snap else 0.0)
            and part.shows(expect_label)
        ):
            return part
        return snap

    def _demand(self, newer_than: float | None, expect_label: str | None) -> None:
        if expect_label is not None and newer_than is not None:
            self._expected[expect_label] = max(newer_than, self._expected.get(expect_label, 0.0))
        else:
            self._complete_wanted = True
        self._wakeup.set()

    async def snapshot(
        self,
        *,
        newer_than: float | None = None,
        wait_limit: float = 120.0,
        expect_label: str | None = None,
    ) -> Snapshot:
        """A snapshot whose listing began after `newer_than` (any snapshot if None).

        With `expect_label`, a partial listing that began after `newer_than` and shows an
        instance with that label also answers (it then holds only the labels it asked for).
        """
        self.last_used = self._clock()
        self.start()
        found = self._fresh(newer_than, expect_label)
        if found is not None:
            return found
        self._demand(newer_than, expect_label)
        deadline = time.monotonic() + wait_limit
        errors_seen = 0
        async with self._changed:
            while (found := self._fresh(newer_than, expect_label)) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SnapshotUnavailable(str(self.last_error or "timed out"), self.last_error)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._changed.wait()
                if self._fresh(newer_than, expect_label) is not None:
                    continue
                if self.last_error is not None:
                    errors_seen += 1
                    if errors_seen >= 2:
                        raise SnapshotUnavailable(str(self.last_error), self.last_error)
                if expect_label not in self._expected:
                    self._demand(newer_than, expect_label if errors_seen == 0 else None)
        return found
