"""Random sequences of passes, listings, time, tenant edits and Vast faults over the real
instance loop and the in-memory fakes (the soak in miniature, deterministic and fast).

After every step: at most one live instance carries the object's label, every instance rented
was within the cap the spec had when it was rented, and nothing raised. At the end the object is
deleted, and deletion finishes with nothing of it left on Vast."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from fakes import KEY, FakeAccounts, instance_harness, make_account, obj, offer
from pydantic import SecretStr

from vast_operator.reconcile.loop import ManagedLoop
from vast_operator.vast import errors as verr

EXAMPLES = int(os.environ.get("SOAK_PROPERTY_EXAMPLES", "200"))
PRICES = (0.2, 0.45, 0.7, 1.4)
CAPS = (0.25, 0.5, 0.8, 1.5)
ACTIONS = st.sampled_from(
    [
        "reconcile",
        "reconcile",
        "reconcile",
        "poll",
        "poll",
        "advance",
        "advance_long",
        "create_times_out",
        "create_fails_but_allocates",
        "create_refused",
        "heal",
        "missing_rows_once",
        "exits",
        "destroyed_behind",
        "stop",
        "start",
        "cap",
        "lifetime",
        "offer_vanishes",
        "recreate",
        "delete_attempt",
        "operator_restarts",
    ]
)


def labelled(h: Any) -> list[Any]:
    return [i for i in h.vast.instances.values() if (i.label or "").endswith(":uid-x")]


async def step(h: Any, action: str, choice: int) -> None:
    vast = h.vast
    if action == "reconcile":
        await h.reconcile()
    elif action == "poll":
        await h.poll()
    elif action == "advance":
        h.clock.advance(1 + choice % 20)
    elif action == "advance_long":
        h.clock.advance(60 + choice % 200)
    elif action == "create_times_out":
        vast.allocate_on_failure = False
        vast.fail["create_instance"] = verr.CreateOutcomeUnknownError("timed out", route="PUT /x")
    elif action == "create_fails_but_allocates":
        vast.allocate_on_failure = True
        vast.fail["create_instance"] = verr.CreateOutcomeUnknownError("502", route="PUT /x")
    elif action == "create_refused":
        vast.allocate_on_failure = False
        vast.fail["create_instance"] = verr.OfferUnavailableError("no_such_ask", route="PUT /x")
    elif action == "heal":
        vast.fail.clear()
        vast.allocate_on_failure = False
    elif action == "missing_rows_once":
        vast.hidden = {i.id for i in labelled(h)}
        await h.poll()
        vast.hidden = set()
    elif action == "exits" and labelled(h):
        vast._set(labelled(h)[choice % len(labelled(h))].id, actual_status="exited")
    elif action == "destroyed_behind" and labelled(h):
        vast.instances.pop(labelled(h)[choice % len(labelled(h))].id)
    elif action in ("stop", "start"):
        h.next_generation(state="Stopped" if action == "stop" else "Running")
    elif action == "cap":
        h.next_generation(maxPricePerHour=CAPS[choice % len(CAPS)])
    elif action == "lifetime":
        h.next_generation(lifetime=["90s", "10m"][choice % 2])
    elif action == "recreate":
        h.next_generation(updatePolicy="Recreate", env=[{"name": "STEP", "value": str(choice)}])
    elif action == "delete_attempt":
        await h.delete()  # under whatever faults are set; the rest of the run goes on
    elif action == "operator_restarts":
        # SIGKILL and start again: what the process remembered is gone, Kubernetes and Vast stay.
        await h.accounts.account.poller.stop()
        h.accounts = FakeAccounts(make_account(vast, h.tuning.poll_interval))
        h.loop = ManagedLoop(
            h.adapter, h.accounts, h.kube, h.events, SecretStr(KEY), h.tuning, clock=h.clock
        )
    elif action == "offer_vanishes" and vast.offers:
        vast.offers.pop(choice % len(vast.offers))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(ACTIONS, st.integers(0, 1000)), min_size=5, max_size=80))
def test_random_sequences_never_double_rent_exceed_the_cap_or_leak(
    actions: list[tuple[str, int]],
) -> None:
    async def scenario() -> None:
        h = await instance_harness()
        h.vast.offers = [offer(i + 1, machine=10 + i, price=p) for i, p in enumerate(PRICES)]
        h.add(
            obj(
                spec={
                    "offer": {"query": {"gpuName": "RTX 4090"}},
                    "maxPricePerHour": 0.5,
                    "image": "pytorch/pytorch",
                    "disk": 20,
                    "placement": {"bootTimeout": "2m"},
                }
            )
        )
        seen: set[int] = set()
        try:
            for action, choice in actions:
                await step(h, action, choice)
                cap = h.kube.body(h.plural, "ns", "x")["spec"]["maxPricePerHour"]
                live = labelled(h)
                assert len(live) <= 1, (action, [i.id for i in live])
                for inst in live:
                    if inst.id not in seen:
                        seen.add(inst.id)
                        assert (inst.dph_total or 0) <= cap + 1e-9, (action, inst.dph_total, cap)
            event(f"rents: {min(h.vast.count('create_instance'), 3)}+")
            h.vast.fail.clear()
            h.vast.allocate_on_failure = False
            for _ in range(30):
                result = await h.delete()
                if result.done:
                    break
                h.clock.advance(result.wait_seconds or 30)
                await h.poll()
            else:
                raise AssertionError(f"deletion never finished: {h.status()}")
            assert labelled(h) == [], "left on Vast after deletion"
        finally:
            await h.stop()

    asyncio.run(scenario())
