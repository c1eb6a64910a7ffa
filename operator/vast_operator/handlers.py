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
from collections.abc import Mapping
from typing import Any

import kopf

from .api.common import GROUP, VERSION
from .context import OperatorContext

log = logging.getLogger("vast_operator.handlers")

KINDS = ("vastinstances", "vastvolumes", "vastendpoints")


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    ctx: OperatorContext = memo.ctx
    ctx.configure_kopf(settings)
    await ctx.start()


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


async def _run_daemon(
    plural: str, body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo
) -> None:
    ctx: OperatorContext = memo.ctx
    uid = str(body.metadata.uid)
    wake = ctx.wakeup(uid)
    reconciler = ctx.reconciler(plural)
    try:
        while not stopped:
            wake.clear()
            async with ctx.lock(uid):
                if stopped:
                    break
                try:
                    delay = await reconciler.reconcile(body)
                except Exception:
                    log.exception(
                        "reconcile of %s/%s failed", body.metadata.namespace, body.metadata.name
                    )
                    ctx.metrics.reconcile_errors.labels(kind=plural).inc()
                    delay = 30.0
            ctx.metrics.reconciles.labels(kind=plural).inc()
            await _wait(stopped, wake, delay * random.uniform(0.9, 1.1))
    finally:
        ctx.forget(uid)


@kopf.daemon(GROUP, VERSION, "vastinstances", id="reconcile", cancellation_timeout=None)
async def instance_daemon(
    body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any
) -> None:
    await _run_daemon("vastinstances", body, stopped, memo)


@kopf.daemon(GROUP, VERSION, "vastvolumes", id="reconcile", cancellation_timeout=None)
async def volume_daemon(
    body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any
) -> None:
    await _run_daemon("vastvolumes", body, stopped, memo)


@kopf.daemon(GROUP, VERSION, "vastendpoints", id="reconcile", cancellation_timeout=None)
async def endpoint_daemon(
    body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any
) -> None:
    await _run_daemon("vastendpoints", body, stopped, memo)


def _on_event(plural: str, body: Mapping[str, Any], memo: kopf.Memo, type_: str | None) -> None:
    ctx: OperatorContext = memo.ctx
    if type_ == "DELETED":
        ctx.object_deleted(body)
    else:
        ctx.observe_object(plural, body)


@kopf.on.event(GROUP, VERSION, "vastinstances")
def instance_event(body: kopf.Body, memo: kopf.Memo, type: str | None, **_: Any) -> None:
    _on_event("vastinstances", body, memo, type)


@kopf.on.event(GROUP, VERSION, "vastvolumes")
def volume_event(body: kopf.Body, memo: kopf.Memo, type: str | None, **_: Any) -> None:
    _on_event("vastvolumes", body, memo, type)


@kopf.on.event(GROUP, VERSION, "vastendpoints")
def endpoint_event(body: kopf.Body, memo: kopf.Memo, type: str | None, **_: Any) -> None:
    _on_event("vastendpoints", body, memo, type)


async def _delete(plural: str, body: kopf.Body, memo: kopf.Memo, retry: int) -> None:
    ctx: OperatorContext = memo.ctx
    uid = str(body.metadata.uid)
    async with ctx.lock(uid):
        done, message = await ctx.reconciler(plural).delete(body)
    if not done:
        if message.startswith("waiting"):
            delay = 5.0  # waiting for another object to let go: look again soon, not later
        else:
            delay = min(300.0, 2.0 * (2 ** min(retry, 8))) * random.uniform(0.8, 1.2)
        raise kopf.TemporaryError(message, delay=delay)


@kopf.on.delete(GROUP, VERSION, "vastinstances", id="destroy", retries=None)
async def instance_delete(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    await _delete("vastinstances", body, memo, retry)


@kopf.on.delete(GROUP, VERSION, "vastvolumes", id="destroy", retries=None)
async def volume_delete(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    await _delete("vastvolumes", body, memo, retry)


@kopf.on.delete(GROUP, VERSION, "vastendpoints", id="destroy", retries=None)
async def endpoint_delete(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    await _delete("vastendpoints", body, memo, retry)
