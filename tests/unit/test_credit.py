"""The account's credit: read at a modest cadence, shared, and a guard that stops new rents
(never running instances) when it would not pay the chosen offer for --credit-horizon."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import Clock, Harness, obj, offer

from vast_operator.credit import CreditReader
from vast_operator.reconcile.adapter import Tuning
from vast_operator.reconcile.conditions import Reason
from vast_operator.reconcile.instance import InstanceAdapter
from vast_operator.vast import errors as verr


class Balance:
    """A fake `GET /api/v0/users/current` that counts its reads."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.reads = 0
        self.fail: Exception | None = None

    async def __call__(self) -> float | None:
        self.reads += 1
        if self.fail is not None:
            raise self.fail
        return self.value


async def test_the_balance_is_read_at_most_once_per_interval_and_shared() -> None:
    clock, balance, seen = Clock(), Balance(20.0), []
    reader = CreditReader(balance, interval=60, min_interval=10, clock=clock, on_read=seen.append)
    assert await reader.balance() == 20.0
    balance.value = 5.0
    clock.advance(5)
    assert await reader.balance(max_age=1) == 20.0  # never more often than min_interval
    clock.advance(25)
    assert await reader.balance() == 20.0  # younger than the interval...
    assert await reader.balance(max_age=15) == 5.0  # ...but read when a caller wants it fresh
    assert balance.reads == 2 and seen == [20.0, 5.0]


async def test_a_failed_read_keeps_the_last_balance() -> None:
    clock, balance = Clock(), Balance(20.0)
    reader = CreditReader(balance, clock=clock)
    await reader.balance()
    balance.fail = verr.TransientError("Vast is down")
    clock.advance(61)
    assert await reader.balance() == 20.0


@pytest.fixture
async def h() -> Any:
    harness = Harness(
        adapter=InstanceAdapter(),
        plural="vastinstances",
        tuning=Tuning(poll_interval=15.0, create_settle=60.0, credit_horizon=3600.0),
    )
    harness.vast.offers = [offer(1, machine=11, price=0.5), offer(2, machine=12, price=0.5)]
    yield harness
    await harness.stop()


def spec() -> dict[str, Any]:
    return {
        "offer": {"query": {"gpuName": "RTX 4090"}},
        "maxPricePerHour": 1.0,
        "image": "pytorch/pytorch",
        "disk": 20,
    }


async def test_no_rent_while_the_credit_would_not_last_the_horizon_then_a_rent_once_added(
    h: Harness,
) -> None:
    balance = Balance(0.3)  # an hour at 0.5 $/h needs 0.50
    h.accounts.account.credit = CreditReader(balance, clock=h.clock)
    h.add(obj(spec=spec()))
    await h.reconcile()
    assert h.vast.count("create_instance") == 0
    status = h.status()
    assert status["phase"] == "Pending"
    ready = h.condition("Ready")
    assert ready["reason"] == Reason.CREDIT_LOW
    assert "$0.30" in ready["message"] and "$0.50" in ready["message"]
    assert "1h" in ready["message"]
    await h.reconcile()
    assert h.events.reasons().count(Reason.CREDIT_LOW) == 1  # one Warning, not one per pass

    balance.value = 25.0
    h.clock.advance(15)
    await h.reconcile()
    assert h.vast.count("create_instance") == 1


async def test_a_running_instance_is_never_touched_when_credit_runs_low(h: Harness) -> None:
    balance = Balance(100.0)
    h.accounts.account.credit = CreditReader(balance, clock=h.clock)
    h.add(obj(spec=spec()))
    await h.reconcile()
    h.vast._set(1000, actual_status="running", ssh_host="h", ssh_port=22)
    balance.value = 0.01
    for _ in range(3):
        await h.poll()
        await h.reconcile()
    assert h.status()["phase"] == "Running"
    assert h.vast.count("destroy_instance") == h.vast.count("stop_instance") == 0


async def test_a_horizon_of_zero_turns_the_check_off(h: Harness) -> None:
    h.tuning.credit_horizon = 0
    balance = Balance(0.01)
    h.accounts.account.credit = CreditReader(balance, clock=h.clock)
    h.add(obj(spec=spec()))
    await h.reconcile()
    assert h.vast.count("create_instance") == 1 and balance.reads == 0
