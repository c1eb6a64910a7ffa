"""The market acting on a rented instance: outbids, scheduling, contract ends, price increases.

The pure rules first, then each decision through the real managed loop over FakeVast (market of
two RTX 4090 offers on machines 11 and 12; the first rent lands on machine 11).
"""

from __future__ import annotations

from typing import Any

import pytest
from fakes import Harness, instance_harness, instance_spec, obj, rent_and_run

from vast_operator.api.instance import VastInstanceSpec
from vast_operator.reconcile.instance.contract import (
    accepts_increase,
    contract_state,
    increase_total,
)
from vast_operator.reconcile.instance.market import (
    current_bid,
    is_outbid,
    waiting_for_gpus,
    winning_bid,
)
from vast_operator.vast.models import Instance, PendingPriceIncrease

FIRST = 1000
SECOND = 1001
# 20 GB at $0.1/GB/month: $0.002778/h of storage.
STORAGE = {"storage_cost": 0.1, "disk_space": 20.0}
STORAGE_HOURLY = 0.1 * 20 / 720


def row(**fields: Any) -> Instance:
    base: dict[str, Any] = {"id": 7, "actual_status": "stopped", "intended_status": "running"}
    base.update(fields)
    return Instance(**base)


def bid_spec(**extra: Any) -> dict[str, Any]:
    return instance_spec(type="interruptible", bidPerHour=0.2, **extra)


@pytest.fixture
async def h() -> Any:
    harness = await instance_harness()
    yield harness
    await harness.stop()


async def passes(h: Harness, n: int = 1, advance: float = 0.0) -> None:
    for _ in range(n):
        h.clock.advance(advance)
        await h.poll()
        await h.reconcile()


def outbid_row(min_bid: float) -> dict[str, Any]:
    """Vast stopped it while it should run, and the machine now wants `min_bid`."""
    return {"actual_status": "stopped", "intended_status": "running", "min_bid": min_bid}


def bid_row(bid: float = 0.2) -> dict[str, Any]:
    return {"is_bid": True, "min_bid": 0.1, "dph_total": round(bid + STORAGE_HOURLY, 6), **STORAGE}


# --- the rules --------------------------------------------------------------------------------


def test_an_interruptible_below_its_machines_minimum_bid_is_outbid_otherwise_scheduling() -> None:
    spec = VastInstanceSpec.model_validate(bid_spec())
    inst = row(is_bid=True, min_bid=0.5, dph_total=0.2 + STORAGE_HOURLY, **STORAGE)
    assert waiting_for_gpus(inst)
    assert current_bid(inst, spec) == pytest.approx(0.2)
    assert is_outbid(inst, current_bid(inst, spec))
    assert not is_outbid(row(is_bid=True, min_bid=0.2, **STORAGE), 0.2)  # its bid still wins
    assert not is_outbid(row(is_bid=False, min_bid=0.5), 0.2)  # on-demand: scheduling
    assert not waiting_for_gpus(row(intended_status="stopped"))  # stopped on purpose


def test_the_bid_is_raised_only_while_bid_plus_storage_stays_within_the_cap() -> None:
    inst = row(is_bid=True, min_bid=0.5, **STORAGE)
    assert winning_bid(inst, 1.0) == 0.5
    assert winning_bid(inst, 0.5) is None  # 0.5 + storage > 0.5
    assert winning_bid(inst, None) is None
    assert winning_bid(row(is_bid=True, min_bid=0.5), 1.0) is None  # storage price unknown
    assert winning_bid(row(is_bid=True, min_bid=130.0, **STORAGE), 500.0) is None  # > 128


def test_contract_state_and_price_increase_rules() -> None:
    assert contract_state(None, 100, 10) is None
    assert contract_state(200, 100, 10) == "valid"
    assert contract_state(105, 100, 10) == "expiring"
    assert contract_state(100, 100, 10) == "ended"
    inc = PendingPriceIncrease(dph_base=0.5, effective_date=1.0)
    inst = row(pending_price_increase=inc, **STORAGE)
    assert increase_total(inst) == pytest.approx(0.5 + STORAGE_HOURLY)
    assert accepts_increase(inst, 0.6)
    assert not accepts_increase(inst, 0.5)
    assert not accepts_increase(inst, None)
    assert not accepts_increase(row(pending_price_increase=PendingPriceIncrease()), 10.0)


# --- outbid -----------------------------------------------------------------------------------


async def test_an_outbid_instance_gets_its_bid_raised_to_the_machines_minimum_within_the_cap(
    h: Harness,
) -> None:
    h.add(obj(spec=bid_spec(placement={"onOutbid": "RaiseBid"})))
    instance_id = await rent_and_run(h, **bid_row())
    h.vast._set(instance_id, **outbid_row(0.5))
    await passes(h)
    assert h.vast.args("change_bid") == [(instance_id, 0.5)]
    assert h.condition("Ready")["reason"] == "BidRaised"
    assert [r for t, r, _ in h.events.seen if r == "BidRaised"] == ["BidRaised"]
    assert h.vast.instances[instance_id].actual_status == "loading"  # Vast runs it again
    assert h.status()["rentals"][0]["actedAt"]  # the new rate is billed from the re-bid
    h.vast._set(instance_id, actual_status="running")
    await passes(h, 2)
    assert h.status()["phase"] == "Running"
    assert h.vast.count("change_bid") == 1  # one money action, once
    assert h.vast.args("destroy_instance") == []
    assert "gpuWaitSince" not in h.status()


async def test_an_outbid_instance_whose_cap_forbids_a_higher_bid_waits_then_is_replaced(
    h: Harness,
) -> None:
    h.add(obj(spec=bid_spec(placement={"onOutbid": "RaiseBid", "outbidTimeout": "5m"})))
    instance_id = await rent_and_run(h, **bid_row())
    h.vast._set(instance_id, **outbid_row(0.999))  # 0.999 + storage > the $1/h cap
    await passes(h)
    ready = h.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Outbid")
    assert "above the cap $1.0000/h" in ready["message"]
    assert h.vast.count("change_bid") == 0
    assert h.status()["gpuWaitSince"]
    await passes(h, 3, advance=60)  # within the timeout: kept, with its disk
    assert h.vast.args("destroy_instance") == []
    assert h.events.reasons().count("Outbid") == 1
    await passes(h, 1, advance=4 * 60)  # past outbidTimeout
    assert h.vast.args("destroy_instance") == [instance_id]
    assert h.status()["failedMachines"] == [11]
    assert "outbidTimeout" in h.condition("Ready")["message"]
    await passes(h)
    assert h.status()["instanceId"] == SECOND
    assert h.status()["attempts"] == 1  # a market move does not use up maxAttempts


async def test_an_outbid_instance_with_on_outbid_wait_never_raises_its_bid(h: Harness) -> None:
    h.add(obj(spec=bid_spec()))
    instance_id = await rent_and_run(h, **bid_row())
    h.vast._set(instance_id, **outbid_row(0.5))
    await passes(h, 3, advance=30)
    assert h.vast.count("change_bid") == 0
    assert h.condition("Ready")["reason"] == "Outbid"
    assert "onOutbid Wait" in h.condition("Ready")["message"]


async def test_a_start_waiting_for_its_gpus_says_scheduling_and_is_replaced_after_the_timeout(
    h: Harness,
) -> None:
    h.add(obj(spec=instance_spec(placement={"schedulingTimeout": "2m"})))
    instance_id = await rent_and_run(h)
    h.vast._set(instance_id, actual_status="stopped", intended_status="running")
    await passes(h)
    ready = h.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Scheduling")
    assert h.status()["phase"] == "Loading"
    await passes(h, 1, advance=150)
    assert h.vast.args("destroy_instance") == [instance_id]
    assert "schedulingTimeout" in h.condition("Ready")["message"]


async def test_a_user_stopped_instance_is_neither_outbid_nor_scheduling(h: Harness) -> None:
    h.add(obj(spec=bid_spec(placement={"onOutbid": "RaiseBid", "outbidTimeout": "1m"})))
    instance_id = await rent_and_run(h, **bid_row())
    h.next_generation(state="Stopped")
    await passes(h, 2)
    h.vast._set(instance_id, min_bid=0.5)
    await passes(h, 2, advance=120)
    assert h.vast.count("change_bid") == 0
    assert h.vast.args("destroy_instance") == []
    assert h.status()["phase"] == "Stopped"


# --- contract end -----------------------------------------------------------------------------


async def test_an_expiring_contract_sets_its_condition_then_is_replaced_at_the_end(
    h: Harness,
) -> None:
    h.add(obj(spec=instance_spec()))
    instance_id = await rent_and_run(h, end_date=h.clock() + 30 * 3600)
    assert h.condition("ContractExpiring")["status"] == "False"
    assert h.status()["contractEnd"]
    h.vast._set(instance_id, end_date=h.clock() + 3600)  # inside the default 24h warning
    await passes(h, 2)
    cond = h.condition("ContractExpiring")
    assert (cond["status"], cond["reason"]) == ("True", "EndDateNear")
    assert h.events.reasons().count("ContractExpiring") == 1
    assert h.status()["phase"] == "Running"  # still running until the end
    h.vast._set(instance_id, actual_status="stopped", intended_status="stopped")
    await passes(h, 1, advance=3600)
    assert h.vast.args("destroy_instance") == [instance_id]
    assert "onContractEnd Replace" in h.condition("Ready")["message"]
    await passes(h)
    assert h.status()["instanceId"] == SECOND


async def test_on_contract_end_keep_leaves_the_stopped_instance_and_says_why(h: Harness) -> None:
    h.add(obj(spec=instance_spec(placement={"onContractEnd": "Keep"})))
    instance_id = await rent_and_run(h, end_date=h.clock() + 60)
    h.vast._set(instance_id, actual_status="stopped", intended_status="stopped")
    await passes(h, 3, advance=60)
    assert h.vast.args("destroy_instance") == []
    assert h.vast.count("start_instance") == 0  # an ended contract cannot be started
    assert h.status()["phase"] == "Stopped"
    assert h.condition("Ready")["reason"] == "ContractEnded"
    warnings = [r for t, r, _ in h.events.seen if t == "Warning"]
    assert warnings.count("ContractEnded") == 1  # a person must act: one Warning


# --- price increases --------------------------------------------------------------------------


async def test_a_price_increase_within_the_cap_is_accepted_with_an_event(h: Harness) -> None:
    h.add(obj(spec=instance_spec()))
    instance_id = await rent_and_run(h, **STORAGE)
    inc = PendingPriceIncrease(dph_base=0.6, dph_total=0.61, effective_date=h.clock() + 600)
    h.vast._set(instance_id, pending_price_increase=inc)
    await passes(h, 2)
    assert h.vast.args("answer_price_increase") == [(instance_id, True)]
    assert h.events.reasons().count("PriceIncreaseAccepted") == 1
    assert h.status()["pricePerHour"] == 0.61


async def test_a_price_increase_above_the_cap_is_rejected_and_the_rental_replaced_at_its_end(
    h: Harness,
) -> None:
    h.add(obj(spec=instance_spec()))
    instance_id = await rent_and_run(h, **STORAGE)
    inc = PendingPriceIncrease(dph_base=1.5, dph_total=1.51, effective_date=h.clock() + 600)
    h.vast._set(instance_id, pending_price_increase=inc)
    await passes(h, 2)
    assert h.vast.args("answer_price_increase") == [(instance_id, False)]
    rejected = [m for _, r, m in h.events.seen if r == "PriceIncreaseRejected"]
    assert len(rejected) == 1 and "above the cap $1.0000/h" in rejected[0]
    assert h.condition("ContractExpiring")["status"] == "True"  # the rejection ends it
    h.vast._set(instance_id, actual_status="stopped", intended_status="stopped")
    await passes(h, 1, advance=600)
    assert h.vast.args("destroy_instance") == [instance_id]


async def test_a_price_increase_is_answered_once_even_while_vast_still_shows_it(
    h: Harness,
) -> None:
    h.add(obj(spec=instance_spec()))
    instance_id = await rent_and_run(h, **STORAGE)
    inc = PendingPriceIncrease(dph_base=1.5, dph_total=1.51, effective_date=h.clock() + 600)
    h.vast._set(instance_id, pending_price_increase=inc)
    await passes(h)
    assert h.status()["priceIncreaseAnswer"].endswith(": rejected")
    h.vast._set(instance_id, pending_price_increase=inc)  # a listing that still shows it
    await passes(h, 3)
    assert h.vast.count("answer_price_increase") == 1
    assert h.events.reasons().count("PriceIncreaseRejected") == 1


# --- a price increase that applied unanswered ---------------------------------------------------


async def test_a_host_price_rise_that_applied_unanswered_above_the_cap_is_rented_elsewhere(
    h: Harness,
) -> None:
    """The operator was down for the whole notice: Vast shows the new price, no increase."""
    h.add(obj(spec=instance_spec()))
    instance_id = await rent_and_run(h, dph_total=0.5, **STORAGE)
    h.vast._set(instance_id, dph_total=1.5)
    await passes(h, 2)
    assert h.vast.args("destroy_instance") == [instance_id]
    assert h.vast.count("create_instance") == 2  # rented again, on another machine
    assert instance_id not in [int(h.status().get("instanceId") or 0)]


async def test_with_on_contract_end_keep_an_unanswered_price_rise_stops_the_instance_and_holds(
    h: Harness,
) -> None:
    h.add(obj(spec=instance_spec(placement={"onContractEnd": "Keep"})))
    instance_id = await rent_and_run(h, dph_total=0.5, **STORAGE)
    h.vast._set(instance_id, dph_total=1.5)
    await passes(h)
    assert h.vast.args("stop_instance") == [instance_id]
    h.vast._set(instance_id, actual_status="stopped", intended_status="stopped")
    await passes(h, 3, advance=60)
    assert h.vast.count("stop_instance") == 1 and h.vast.count("start_instance") == 0
    assert h.vast.args("destroy_instance") == []
    assert h.status()["phase"] == "Stopped"
    assert h.condition("Ready")["reason"] == "PriceAboveCap"
    assert [r for t, r, _ in h.events.seen if t == "Warning"].count("PriceAboveCap") == 1


async def test_a_price_within_the_cap_or_a_cap_lowered_by_the_user_moves_nothing(
    h: Harness,
) -> None:
    """Accepted increases stay within the cap; a cap lowered below the rent price applies to
    the next rental, like the other rent-time fields."""
    h.add(obj(spec=instance_spec(maxPricePerHour=0.4)))
    instance_id = await rent_and_run(h, dph_total=0.5, **STORAGE)
    await passes(h, 3, advance=60)
    h.vast._set(instance_id, dph_total=0.9)  # a rise, but the rent price was above the cap
    await passes(h)
    assert h.vast.args("destroy_instance") == [instance_id]  # risen above both: it moves
    h2 = await instance_harness()
    try:
        h2.add(obj(spec=instance_spec()))
        other = await rent_and_run(h2, dph_total=0.5, **STORAGE)
        h2.vast._set(other, dph_total=0.9)  # a rise within the cap
        await passes(h2, 3, advance=60)
        assert h2.vast.args("destroy_instance") == [] and h2.vast.count("stop_instance") == 0
    finally:
        await h2.stop()


async def test_a_cap_lowered_below_an_accepted_increase_waits_for_the_next_rental(
    h: Harness,
) -> None:
    """Seen in the soak: an increase accepted under a $3 cap, then the cap lowered to $0.35;
    the operator agreed to that price, so the lowered cap is a rent-time change."""
    h.add(obj(spec=instance_spec(maxPricePerHour=3.0)))
    instance_id = await rent_and_run(h, dph_total=0.4, **STORAGE)
    inc = PendingPriceIncrease(dph_base=0.6, dph_total=0.62, effective_date=h.clock() + 600)
    h.vast._set(instance_id, pending_price_increase=inc)
    await passes(h)
    assert h.vast.args("answer_price_increase") == [(instance_id, True)]
    h.vast._set(instance_id, pending_price_increase=None, dph_total=0.62)  # it applied
    body = h.kube.objects[("vastinstances", "ns", "x")]
    body["spec"]["maxPricePerHour"] = 0.35
    await passes(h, 3, advance=60)
    assert h.vast.args("destroy_instance") == [] and h.vast.count("stop_instance") == 0
