"""kopf wiring only: which function runs on which event. No decisions live here.

Each object gets one daemon that runs its reconciler's cycle, sleeping between passes for as
long as the reconciler asked, and woken early when the spec or annotations change or when the
shared poller sees its Vast instance change. Deletion is an `on.delete` handler, so kopf keeps
the finalizer until the reconciler confirms everything is destroyed. A per-object lock makes
sure a deletion never overlaps an in-flight create.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any

import kopf

from .api.common import GROUP, VERSION
from .context import OperatorContext
from .delete_gate import gate_key
from .kopf_session import BoundedSession, bounded_session, connection_limit
from .kube import lean
from .reconcile.adapter import ObjectMemory
from .reconcile.errors import DEFAULT_ERROR_DELAY, delete_backoff
from .reconcile.kinds import PLURALS

log = logging.getLogger("vast_operator.handlers")


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    ctx: OperatorContext = memo.ctx
    ctx.configure_kopf(settings)
    await ctx.start()


@kopf.on.login(errors=kopf.ErrorsMode.IGNORED)  # as kopf's own: failing, no credentials
async def login(memo: kopf.Memo, **kwargs: Any) -> BoundedSession | None:
    """kopf's own credentials lookup, then a session with a bounded pool (kopf_session.py)."""
    # On a thread, as kopf runs its own (a kubeconfig `exec` plugin may take a while).
    info = await asyncio.to_thread(lambda: kopf.login_via_client(**kwargs))
    if info is None:
        return None
    ctx: OperatorContext = memo.ctx
    return bounded_session(info, connection_limit(len(PLURALS), ctx.settings.namespaces))


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    ctx: OperatorContext = memo.ctx
    await ctx.stop()


@kopf.on.probe(id="vast")
def probe(memo: kopf.Memo, **_: Any) -> dict[str, Any]:
    ctx: OperatorContext = memo.ctx
    return ctx.health()


async def _wait(stopped: kopf.DaemonStopped, wake: asyncio.Event, delay: float) -> None:
    async def stop_wait() -> None:
        await stopped.wait()

    tasks = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop_wait())}
    try:
        await asyncio.wait(tasks, timeout=max(delay, 0.0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# After a pass that wrote status, the next one waits (at most this long) for the watch event that
# brings the written status into kopf's live body. A pass on the older body would not see what
# the last one did: right after a rent, no instance id, and it would ask for a complete listing
# to prove the rent landed (during a ramp, one every two seconds) and report an adoption.
ECHO_WAIT = 2.0
ECHO_POLL = 0.05


async def _await_echo(body: kopf.Body, mem: ObjectMemory, stopped: kopf.DaemonStopped) -> None:
    deadline = time.monotonic() + ECHO_WAIT
    # kopf updates the live body in place and signals nothing: look at it every ECHO_POLL s.
    while (  # noqa: ASYNC110
        body.metadata.get("resourceVersion") in mem.older_than_write
        and not stopped
        and time.monotonic() < deadline
    ):
        await asyncio.sleep(ECHO_POLL)
    mem.older_than_write = frozenset()


async def _run_daemon(
    plural: str, body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo
) -> None:
    ctx: OperatorContext = memo.ctx
    uid = str(body.metadata.uid)
    wake = ctx.wakeup(uid)
    loop = ctx.loop(plural)
    mem = loop.memory(uid)
    mem.halted = lambda: bool(stopped)  # a pass under way creates nothing then
    try:
        while not stopped:
            await _await_echo(body, mem, stopped)
            wake.clear()
            async with ctx.lock(uid):
                if stopped:
                    break
                try:
                    delay = await loop.reconcile(body)
                except Exception:  # a status write failed; the loop logged everything else
                    log.exception(
                        "reconcile of %s/%s failed", body.metadata.namespace, body.metadata.name
                    )
                    ctx.metrics.reconcile_errors.labels(kind=plural).inc()
                    delay = DEFAULT_ERROR_DELAY
            ctx.metrics.reconciles.labels(kind=plural).inc()
            await _wait(stopped, wake, delay * random.uniform(0.9, 1.1))
    finally:
        ctx.forget(uid)


async def _delete(plural: str, body: kopf.Body, memo: kopf.Memo, retry: int) -> None:
    ctx: OperatorContext = memo.ctx
    uid = str(body.metadata.uid)
    # Take turns for the delete route before building anything (delete_gate.py); a turn may
    # be long in coming, and DeletionWatch must not take the wait for a lost deletion.
    ctx.deletions.waiting(uid)
    async with ctx.delete_gate.turn(gate_key(plural, body)), ctx.lock(uid):
        result = await ctx.loop(plural).delete(body)
    meta = body.metadata
    if result.done:
        ctx.deletions.ran(plural, str(meta.namespace), str(meta.name), uid, 0.0)
        return
    delay = result.wait_seconds if result.wait_seconds is not None else delete_backoff(retry)
    ctx.deletions.ran(plural, str(meta.namespace), str(meta.name), uid, delay)
    raise kopf.TemporaryError(result.message, delay=delay)


def shed(body: kopf.Body) -> None:
    """Drop `managedFields` from the parsed event kopf keeps as the object's body until the next.

    kopf holds the latest watch event of every object for its whole life (the daemon's live
    body), and half of it is server-side-apply bookkeeping nothing reads: about 15 MB at a
    thousand objects. kopf has no public hook for this, so it reaches the dict behind the view
    (`Body._src`, kopf 1.x); with anything else there, the body is left as it is.
    """
    raw = getattr(body, "_src", None)
    if isinstance(raw, dict):
        lean(raw)


def _register(plural: str) -> None:
    """The daemon, the event handler and the delete handler of one kind."""

    @kopf.daemon(GROUP, VERSION, plural, id="reconcile", cancellation_timeout=None)
    async def daemon(
        body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any
    ) -> None:
        await _run_daemon(plural, body, stopped, memo)

    # async: kopf runs a sync handler on a worker thread, and these touch shared dicts (a
    # thousand objects' events then raced: "dictionary changed size during iteration").
    @kopf.on.event(GROUP, VERSION, plural)
    async def event(body: kopf.Body, memo: kopf.Memo, type: str | None, **_: Any) -> None:
        ctx: OperatorContext = memo.ctx
        shed(body)
        if type == "DELETED":
            ctx.object_deleted(plural, body)
        else:
            ctx.observe_object(plural, body)

    @kopf.on.delete(GROUP, VERSION, plural, id="destroy", retries=None)
    async def delete(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
        await _delete(plural, body, memo, retry)


for _plural in PLURALS:
    _register(_plural)
