"""Deletions that should have moved on and did not: touch the object so kopf looks again.

kopf removes the finalizer with one PATCH after the delete handler succeeds, and wakes a delayed
delete handler with another PATCH when the delay ends. When that PATCH is answered 404 although
the object is still there, kopf takes the object for gone and waits for its next watch event,
which may never come: the finalizer stays and `kubectl delete` hangs. (The soak's case turned
out to be a namespace that was gone for good; see the last paragraph.)

This keeps, per object being deleted, when its deletion should next move (now when the handler
finished, after the delay it asked for otherwise). An object still present `grace` seconds after
that is read: unless kopf's own record of the handler (`vast.ai/destroy`) plans a run within
`grace` (kopf of this replica, or of the replica working while this one stands by, keeps it
fresh), it is touched (one annotation, `vast.ai/deletion-retry`) so kopf sees an event and runs
the delete handler again, which is idempotent. The object is forgotten when a GET (which no
admission plugin answers) says it is gone or its name is another object's.

The namespace itself can be gone while the object is still stored: the namespace controller
removes a namespace once it finds no content, and it finds none of a kind its discovery missed
(the soak saw it when a namespace was deleted across a kube-apiserver restart). Every write to
such an object, kopf's finalizer PATCH and this touch alike, is then refused with `namespaces
"..." not found`, so nothing the operator may do can let the object go. This says so once per
object, at WARNING, with whether its Vast resources are destroyed, counts it in
`vast_operator_deletions_blocked`, and keeps trying: once the namespace is created again, the
touch goes through and kopf finishes the deletion.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .kube import Kube, KubeError, NamespaceGone
from .reconcile.timefmt import iso, parse_iso

log = logging.getLogger("vast_operator.deletions")

ANNOTATION = "vast.ai/deletion-retry"
# kopf's record of the delete handler (`AnnotationsProgressStorage(prefix="vast.ai")`, handler
# id "destroy"): `delayed` is when kopf will run it again after a TemporaryError.
PROGRESS = "vast.ai/destroy"


def kopf_delayed(body: Mapping[str, Any]) -> float | None:
    """When kopf plans to run the delete handler again (epoch seconds), if it recorded it."""
    raw = ((body.get("metadata") or {}).get("annotations") or {}).get(PROGRESS)
    try:
        record = json.loads(raw) if raw else None
    except ValueError:
        return None
    delayed = record.get("delayed") if isinstance(record, dict) else None
    return parse_iso(delayed) if isinstance(delayed, str) else None


@dataclass
class Pending:
    plural: str
    namespace: str
    name: str
    due: float  # monotonic: when the deletion should have moved on (finalizer gone, or a rerun)
    finished: bool  # the last run of the handler destroyed everything the object had
    blocked: bool = False  # its namespace is gone: no write to it can succeed


class DeletionWatch:
    def __init__(
        self,
        kube: Kube,
        *,
        grace: float = 30.0,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.kube = kube
        self.grace = grace
        self.interval = interval
        self.clock = clock
        self.wall = wall
        self.touches = 0
        self._pending: dict[str, Pending] = {}
        self._task: asyncio.Task[None] | None = None

    def ran(self, plural: str, namespace: str, name: str, uid: str, wait: float) -> None:
        """The delete handler of `uid` just ran: it finished (wait 0), or asked for `wait` s."""
        blocked = uid in self._pending and self._pending[uid].blocked
        due = self.clock() + max(wait, 0.0)
        self._pending[uid] = Pending(plural, namespace, name, due, wait <= 0, blocked)

    def waiting(self, uid: str) -> None:
        """The delete handler of `uid` runs again and waits for its turn (delete_gate.py):
        kopf is on it, so it is overdue for nothing until `ran` says how that run ended."""
        item = self._pending.get(uid)
        if item is not None:
            item.due = math.inf

    def gone(self, uid: str) -> None:
        self._pending.pop(uid, None)

    def pending(self) -> int:
        return len(self._pending)

    def blocked(self) -> int:
        """Objects being deleted whose namespace is gone (their finalizer cannot be removed)."""
        return sum(1 for item in self._pending.values() if item.blocked)

    async def check(self) -> int:
        """Touch every object whose deletion is overdue by `grace`; returns how many."""
        now = self.clock()
        touched = 0
        for uid, item in list(self._pending.items()):
            if now < item.due + self.grace:
                continue
            item.due = now  # at most one touch per grace
            where = f"{item.plural} {item.namespace}/{item.name}"
            try:
                body = await self.kube.get_object(item.plural, item.namespace, item.name)
            except KubeError:
                continue
            if body is None or (body.get("metadata") or {}).get("uid") != uid:
                self._pending.pop(uid, None)  # gone, or the name is another object's now
                continue
            scheduled = kopf_delayed(body)
            if scheduled is not None and self.wall() < scheduled + self.grace:
                # kopf (of this replica or of the one working now) has the next run planned.
                item.due = now + max(scheduled - self.wall(), 0.0)
                continue
            try:
                found = await self.kube.annotate_object(
                    item.plural, item.namespace, item.name, uid, {ANNOTATION: iso(self.wall())}
                )
                item.blocked = False
            except NamespaceGone:
                self._blocked(item)
                continue
            except KubeError as exc:  # the next check reads the object again
                log.debug("could not touch %s (its deletion is overdue): %s", where, exc)
                found = False
            if found:
                touched += 1
                self.touches += 1
                log.info("%s: its deletion did not move on; touched it to be handled again", where)
        return touched

    def _blocked(self, item: Pending) -> None:
        if item.blocked:
            return
        item.blocked = True
        log.warning(
            "%s %s/%s: its deletion cannot finish: its namespace no longer exists (the namespace "
            "controller removed it while this object was in it), so Kubernetes refuses every "
            "write to it, the finalizer's removal included. %s Create the namespace again to "
            "let the deletion finish.",
            item.plural,
            item.namespace,
            item.name,
            "What it rented on Vast is destroyed."
            if item.finished
            else "What it rented on Vast is not destroyed yet; the operator keeps trying.",
        )

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:  # never let the safety net die
                log.exception("checking overdue deletions failed")
