"""Random sequences over the real loop with the VastVolume and VastEndpoint adapters and the
fakes: creates whose answer is lost after Vast acted, listings that miss rows once, resources
deleted behind the operator's back, operator restarts, time. After every step: at most one
volume (or endpoint) of the object exists; at the end deletion finishes and nothing is left."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from fakes import KEY, FakeAccounts, Harness, make_account, obj
from pydantic import SecretStr

from vast_operator.reconcile.endpoint import EndpointAdapter
from vast_operator.reconcile.loop import ManagedLoop
from vast_operator.reconcile.volume import VolumeAdapter
from vast_operator.vast import errors as verr
from vast_operator.vast.models import VolumeOffer

EXAMPLES = int(os.environ.get("SOAK_PROPERTY_EXAMPLES", "100"))
ACTIONS = st.sampled_from(
    [
        "reconcile",
        "reconcile",
        "reconcile",
        "poll",
        "advance",
        "advance_long",
        "lost_answer",
        "heal",
        "missing_rows_once",
        "gone_behind",
        "operator_restarts",
        "delete_attempt",
    ]
)
VOLUME = {"size": 50}
ENDPOINT = {
    "endpointName": "llm",
    "workergroups": [
        {
            "name": "g",
            "templateHash": "3f19d5a7c2b84e6d9a0b1c2d3e4f5a6b",
            "searchParams": "gpu_name=RTX_4090",
        }
    ],
}


def ours(h: Harness) -> dict[int, Any]:
    if h.plural == "vastvolumes":
        return {i: v for i, v in h.vast.volumes.items() if v.label == "k8s_uidx"}
    return {i: e for i, e in h.vast.endpoints.items() if e.endpoint_name == "llm"}


async def step(h: Harness, action: str, choice: int) -> None:
    vast, key = (
        h.vast,
        "create_volume_after" if h.plural == "vastvolumes" else "create_endpoint_after",
    )
    if action == "reconcile":
        await h.reconcile()
    elif action == "poll":
        await h.poll()
    elif action == "advance":
        h.clock.advance(1 + choice % 20)
    elif action == "advance_long":
        h.clock.advance(60 + choice % 200)
    elif action == "lost_answer":  # Vast creates it, the answer never arrives
        vast.fail[key] = verr.CreateOutcomeUnknownError("502", route="PUT /x")
    elif action == "heal":
        vast.fail.clear()
    elif action == "missing_rows_once":
        vast.hidden = set(ours(h))
        await h.poll()
        h.clock.advance(0.5)
        vast.hidden = set()
    elif action == "gone_behind" and ours(h):
        victim = sorted(ours(h))[choice % len(ours(h))]
        (vast.volumes if h.plural == "vastvolumes" else vast.endpoints).pop(victim)
    elif action == "operator_restarts":
        await h.accounts.account.poller.stop()
        h.accounts = FakeAccounts(make_account(vast, h.tuning.poll_interval))
        h.loop = ManagedLoop(
            h.adapter, h.accounts, h.kube, h.events, SecretStr(KEY), h.tuning, clock=h.clock
        )
    elif action == "delete_attempt":
        await h.delete()


def run(plural: str, actions: list[tuple[str, int]]) -> None:
    async def scenario() -> None:
        if plural == "vastvolumes":
            h = Harness(adapter=VolumeAdapter(), plural=plural)
            h.vast.volume_offers = [
                VolumeOffer(id=31, machine_id=12, disk_space=500, storage_cost=0.1)
            ]
            h.add(obj(spec=dict(VOLUME)))
        else:
            h = Harness(adapter=EndpointAdapter(), plural=plural)
            h.add(obj(spec=dict(ENDPOINT)))
        try:
            for action, choice in actions:
                await step(h, action, choice)
                assert len(ours(h)) <= 1, (action, sorted(ours(h)))
            h.vast.fail.clear()
            for _ in range(40):
                result = await h.delete()
                if result.done:
                    break
                h.clock.advance(result.wait_seconds or 30)
                await h.poll()
            else:
                raise AssertionError(f"deletion never finished: {h.status()}")
            assert ours(h) == {}, "left on Vast after deletion"
        finally:
            await h.stop()

    asyncio.run(scenario())


SEQUENCES = st.lists(st.tuples(ACTIONS, st.integers(0, 1000)), min_size=3, max_size=60)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SEQUENCES)
def test_random_volume_sequences_never_make_two_or_leak(actions: list[tuple[str, int]]) -> None:
    run("vastvolumes", actions)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SEQUENCES)
def test_random_endpoint_sequences_never_make_two_or_leak(actions: list[tuple[str, int]]) -> None:
    run("vastendpoints", actions)
