"""Deletions take turns per kind and account (delete_gate.py): a waiting deletion holds nothing
of ours, so a thousand deleted together no longer each hold a copy of their object while the
delete route lets one through every 3 s."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from vast_operator.delete_gate import DeleteGate, gate_key
from vast_operator.handlers import shed


def body(namespace: str, secret: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"image": "x"}
    if secret is not None:
        spec["credentialsRef"] = {"name": secret}
    return {"metadata": {"namespace": namespace, "name": "o"}, "spec": spec}


def test_the_key_is_the_kind_the_namespace_and_the_secret() -> None:
    key = gate_key("vastinstances", body("a", "key"))
    assert key == ("vastinstances", "a", "key")
    assert key != gate_key("vastinstances", body("b", "key"))
    assert key != gate_key("vastvolumes", body("a", "key"))
    assert gate_key("vastinstances", kopf.Body(body("a", "key"))) == key  # as kopf hands it
    # The operator's default key is one Vast account, whatever the namespace.
    assert gate_key("vastinstances", body("a", None)) == gate_key("vastinstances", body("b", None))


async def test_no_more_than_width_work_at_once_and_turns_go_in_order() -> None:
    gate = DeleteGate(width=2)
    key = ("vastinstances", "a", "key")
    inside: set[int] = set()
    most = 0
    entered: list[int] = []
    release = asyncio.Event()

    async def deletion(i: int) -> None:
        nonlocal most
        async with gate.turn(key):
            entered.append(i)
            inside.add(i)
            most = max(most, len(inside))
            await release.wait()
            inside.discard(i)

    tasks = [asyncio.create_task(deletion(i)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert entered == [0, 1] and gate.waiting(key) == 5
    release.set()
    await asyncio.gather(*tasks)
    assert most == 2 and entered == [0, 1, 2, 3, 4]
    assert gate.waiting(key) == 0 and not gate._slots  # nothing kept once all are through


async def test_a_full_key_never_holds_up_another() -> None:
    gate = DeleteGate(width=1)
    busy = asyncio.Event()

    async def hold() -> None:
        async with gate.turn(("vastinstances", "a", "key")):
            await busy.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    async with asyncio.timeout(1):
        async with gate.turn(("vastinstances", "b", "key")):
            pass
        async with gate.turn(("vastvolumes", "a", "key")):
            pass
    busy.set()
    await holder


async def test_a_cancelled_wait_gives_its_place_back() -> None:
    gate = DeleteGate(width=1)
    key = ("vastinstances", "a", "key")
    busy = asyncio.Event()

    async def hold() -> None:
        async with gate.turn(key):
            await busy.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert gate.waiting(key) == 1
    busy.set()
    await holder
    assert gate.waiting(key) == 0 and not gate._slots


def test_kopfs_body_is_kept_without_managed_fields() -> None:
    """The event handler sheds `managedFields` from the dict kopf keeps as the live body."""
    raw: dict[str, Any] = {
        "metadata": {"name": "o", "managedFields": [{"manager": "kopf"}], "uid": "u"},
        "spec": {"image": "x"},
    }
    live = kopf.Body(raw)
    shed(live)
    assert "managedFields" not in raw["metadata"]
    assert dict(live.metadata) == {"name": "o", "uid": "u"} and live.spec == {"image": "x"}
