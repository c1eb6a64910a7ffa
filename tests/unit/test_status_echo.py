"""After a pass writes status, the next pass waits for the watch event that brings the write
into kopf's live body. Found by the benchmark: the pass right after a rent ran on the body from
before it (no instance id), asked for a complete listing to prove the rent had landed (during a
ramp of a thousand objects, a 40-page listing every two seconds) and reported an adoption."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fakes import FakeKube

from vast_operator import handlers
from vast_operator.api.instance import VastInstanceStatus
from vast_operator.reconcile.adapter import ObjectMemory
from vast_operator.reconcile.status import StatusWriter


def stored(kube: FakeKube, version: str) -> dict[str, Any]:
    body = {"metadata": {"name": "a", "namespace": "ns", "uid": "u", "resourceVersion": version}}
    return kube.add("vastinstances", body)


async def test_each_write_names_the_versions_that_do_not_show_it() -> None:
    kube, mem = FakeKube(), ObjectMemory()
    body = stored(kube, "5")
    w = StatusWriter(kube, "vastinstances", body, VastInstanceStatus, mem.wrote)
    assert not await w.flush() and mem.older_than_write == frozenset()  # nothing to write
    w.s.phase = "Creating"  # the intent, written before the rent
    await w.flush()
    assert mem.older_than_write == {"5"}
    w.s.phase, w.s.instance_id = "Loading", 7  # the rent
    await w.flush()
    assert mem.older_than_write == {"5", "6"}  # the intent's version does not show the rent


async def test_a_write_the_api_server_found_unchanged_waits_for_nothing() -> None:
    kube, mem = FakeKube(), ObjectMemory()
    body = stored(kube, "5")

    async def unchanged(*_: Any) -> str:
        return "5"  # a merge patch that changes nothing leaves the resourceVersion as it was

    kube.patch_status = unchanged  # type: ignore[method-assign]
    w = StatusWriter(kube, "vastinstances", body, VastInstanceStatus, mem.wrote)
    w.s.phase = "Running"
    await w.flush()
    assert mem.older_than_write == frozenset()


class Body:
    def __init__(self, version: str) -> None:
        self.metadata: dict[str, Any] = {"resourceVersion": version}


class Stopped:
    def __bool__(self) -> bool:
        return False


async def test_the_next_pass_waits_until_the_body_shows_the_write() -> None:
    body, mem = Body("6"), ObjectMemory()
    mem.wrote(frozenset({"5", "6"}))

    async def event() -> None:
        await asyncio.sleep(0.2)
        body.metadata["resourceVersion"] = "7"  # kopf applies the watch event

    task = asyncio.ensure_future(event())
    await handlers._await_echo(body, mem, Stopped())  # type: ignore[arg-type]
    assert task.done() and body.metadata["resourceVersion"] == "7"
    assert mem.older_than_write == frozenset()


async def test_an_echo_that_never_comes_delays_the_pass_only_by_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handlers, "ECHO_WAIT", 0.2)
    body, mem = Body("5"), ObjectMemory()
    mem.wrote(frozenset({"5"}))
    await handlers._await_echo(body, mem, Stopped())  # type: ignore[arg-type]
    assert body.metadata["resourceVersion"] == "5" and mem.older_than_write == frozenset()
    await handlers._await_echo(Body("9"), mem, Stopped())  # nothing written: no wait at all
