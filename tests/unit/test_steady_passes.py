"""A running instance with nothing to do is passed at the idle interval, or sooner when time
alone brings something; any change of its row that a rule reads wakes it at the next listing."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeKube, Harness, instance_harness, instance_spec, obj, rent_and_run

from vast_operator.config import Settings
from vast_operator.context import OperatorContext
from vast_operator.poller import Snapshot, label_for
from vast_operator.vast.models import Instance, PendingPriceIncrease


@pytest.fixture
async def h() -> Any:
    harness = await instance_harness()
    yield harness
    await harness.stop()


async def running(h: Harness, **fields: Any) -> float:
    """The delay a running instance asks for after its first steady pass."""
    await rent_and_run(h, **fields)
    await h.poll()
    return await h.reconcile()


async def test_a_steady_running_instance_waits_four_polls_at_most_the_idle_interval(
    h: Harness,
) -> None:
    h.add(obj(spec=instance_spec()))
    delay = await running(h)
    assert delay == min(h.tuning.idle_interval, 4 * h.tuning.poll_interval) == 60.0


async def test_a_lifetime_ending_sooner_shortens_the_wait(h: Harness) -> None:
    h.add(obj(spec=instance_spec(lifetime="40s")))
    delay = await running(h)
    assert h.tuning.poll_interval <= delay <= 41
    assert delay < h.tuning.idle_interval


async def test_a_contract_end_warning_due_sooner_shortens_the_wait(h: Harness) -> None:
    h.add(obj(spec=instance_spec(placement={"contractEndWarning": "1h"})))
    await running(h)
    h.vast._set(int(h.status()["instanceId"]), end_date=h.clock() + 3600 + 30)
    await h.poll()
    delay = await h.reconcile()
    assert h.condition("ContractExpiring")["status"] == "False"
    assert h.tuning.poll_interval <= delay <= 31


def row(**fields: Any) -> Instance:
    base: dict[str, Any] = {"id": 1, "label": label_for("u1"), "actual_status": "running"}
    return Instance(**{**base, **fields})


@pytest.mark.parametrize(
    "change",
    [
        {"dph_total": 0.9},
        {"end_date": 5000.0},
        {"min_bid": 0.4},
        {"cur_state": "stopped"},
        {"pending_price_increase": PendingPriceIncrease(dph_total=1.2, effective_date=9e9)},
    ],
)
def test_a_change_of_any_field_a_rule_reads_wakes_the_object(change: dict[str, Any]) -> None:
    ctx = OperatorContext(Settings(metrics_port=None), FakeKube())  # type: ignore[arg-type]
    wake = ctx.wakeup("u1")
    ctx._on_snapshot("acct", Snapshot.build(0.0, [row(dph_total=0.5)]))
    wake.clear()
    ctx._on_snapshot("acct", Snapshot.build(1.0, [row(dph_total=0.5)]))
    assert not wake.is_set()  # nothing changed: nothing woken
    ctx._on_snapshot("acct", Snapshot.build(2.0, [row(**{"dph_total": 0.5, **change})]))
    assert wake.is_set()


def test_a_second_instance_for_the_object_wakes_it() -> None:
    ctx = OperatorContext(Settings(metrics_port=None), FakeKube())  # type: ignore[arg-type]
    wake = ctx.wakeup("u1")
    ctx._on_snapshot("acct", Snapshot.build(0.0, [row()]))
    wake.clear()
    ctx._on_snapshot("acct", Snapshot.build(1.0, [row(), row(id=2)]))
    assert wake.is_set()


def test_a_partial_listing_wakes_only_the_objects_it_shows_changed() -> None:
    ctx = OperatorContext(Settings(metrics_port=None), FakeKube())  # type: ignore[arg-type]
    wakes = {uid: ctx.wakeup(uid) for uid in ("u1", "u2")}
    booting = row(actual_status="loading")
    other = row(id=2, label=label_for("u2"))
    ctx._on_snapshot("acct", Snapshot.build(0.0, [booting, other]))
    for wake in wakes.values():
        wake.clear()
    asked = frozenset({label_for("u1"), label_for("u2")})
    # The boot shows in a partial listing that does not show u2: u2 is not taken as gone.
    ctx._on_snapshot("acct", Snapshot.build(1.0, [row()], labels=asked))
    assert wakes["u1"].is_set() and not wakes["u2"].is_set()
    wakes["u1"].clear()
    ctx._on_snapshot("acct", Snapshot.build(2.0, [row(), other]))  # the next complete one
    assert not wakes["u1"].is_set() and not wakes["u2"].is_set()  # no change since
