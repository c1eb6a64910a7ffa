"""The market under a renter: outbids and winning back by a bid, contract end dates, host price
increases with accept/reject, each billed from the moment it happened."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sim_test_support import Clock

from vast_sim.billing import segment_cost
from vast_sim.errors import VastError
from vast_sim.market_events import CONTRACT_GRACE_SECONDS
from vast_sim.world import World

BODY = {"image": "pytorch/pytorch:latest", "disk": 20, "label": "k8s-vast-operator:obj-1"}


def row_of(world: World, inst_id: int) -> dict[str, Any]:
    row = world.instance_row(inst_id)
    assert row is not None
    return row


def rent_bid(world: World, clock: Clock, extra: float = 0.05) -> tuple[int, int, float]:
    """An interruptible bidding `extra` above its machine's minimum, booted and running."""
    offer = world.search_offers({"num_gpus": {"eq": 1}, "type": "bid"})[0]
    bid = round(float(offer["min_bid"]) + extra, 6)
    inst_id = int(world.create_instance(offer["id"], {**BODY, "price": bid})["new_contract"])
    clock.advance(11)
    assert row_of(world, inst_id)["actual_status"] == "running"
    return inst_id, int(offer["machine_id"]), bid


def rent_on_demand(world: World, clock: Clock) -> tuple[int, int]:
    offer = world.search_offers({"num_gpus": {"eq": 1}, "order": [["dph_total", "asc"]]})[0]
    inst_id = int(world.create_instance(offer["id"], BODY)["new_contract"])
    clock.advance(11)
    return inst_id, int(offer["machine_id"])


def state(row: dict[str, Any]) -> tuple[Any, Any, Any]:
    return row["actual_status"], row["intended_status"], row["cur_state"]


# --- outbid -----------------------------------------------------------------------------------


def test_a_higher_bid_stops_an_interruptible_and_a_winning_bid_runs_it_again(
    world: World, clock: Clock
) -> None:
    inst_id, machine_id, bid = rent_bid(world, clock)
    machine = world.machines[machine_id]
    free = machine.free_gpus
    result = world.outbid_machine(machine_id, bid + 0.1)
    assert result["outbid"] == [inst_id]
    row = row_of(world, inst_id)
    assert state(row) == ("stopped", "running", "stopped")  # stopped while it should run
    assert row["min_bid"] == pytest.approx(bid + 0.1)  # what it takes to win now
    assert machine.free_gpus == free  # the competitor holds the GPUs
    query = {"machine_id": {"eq": machine_id}, "num_gpus": {"eq": 1}, "type": "bid"}
    offer = world.search_offers(query)[0]
    assert offer["min_bid"] == pytest.approx(bid + 0.1)

    world.manage_instance(inst_id, {"state": "running"})  # a start does not win anything
    assert state(row_of(world, inst_id)) == ("stopped", "running", "stopped")
    world.change_bid(inst_id, bid + 0.05)  # still below
    assert row_of(world, inst_id)["actual_status"] == "stopped"
    world.change_bid(inst_id, bid + 0.1)  # equal to the competitor: wins
    assert row_of(world, inst_id)["actual_status"] == "loading"
    clock.advance(6)
    assert row_of(world, inst_id)["actual_status"] == "running"


def test_outbid_time_pays_disk_only(world: World, clock: Clock) -> None:
    inst_id, machine_id, bid = rent_bid(world, clock)
    (charge,) = [c for c in world.bill()["charges"] if c["source"] == f"instance-{inst_id}"]
    disk = charge["open"]["disk_per_hour"]
    world.outbid_machine(machine_id, bid + 1)
    clock.advance(3600)
    (charge,) = [c for c in world.bill()["charges"] if c["source"] == f"instance-{inst_id}"]
    assert charge["open"]["gpu_per_hour"] == 0.0
    assert Decimal(charge["amount"]) - Decimal(charge["closed"]) == segment_cost(disk, 3600)


def test_lowering_a_bid_below_the_minimum_is_an_outbid_at_once(world: World, clock: Clock) -> None:
    inst_id, machine_id, bid = rent_bid(world, clock)
    world.outbid_machine(machine_id, bid)  # equal: the instance keeps winning
    assert row_of(world, inst_id)["actual_status"] == "running"
    world.change_bid(inst_id, bid - 0.01)
    assert state(row_of(world, inst_id)) == ("stopped", "running", "stopped")


def test_the_competitor_leaving_gives_the_gpus_back(world: World, clock: Clock) -> None:
    inst_id, machine_id, bid = rent_bid(world, clock)
    world.outbid_machine(machine_id, bid + 1)
    assert world.outbid_machine(machine_id, None)["resumed"] == [inst_id]
    assert row_of(world, inst_id)["actual_status"] == "loading"


def test_a_new_rent_below_the_competing_bid_is_refused(world: World, clock: Clock) -> None:
    _, machine_id, bid = rent_bid(world, clock)
    world.outbid_machine(machine_id, bid + 1)
    query = {"machine_id": {"eq": machine_id}, "num_gpus": {"eq": 1}, "type": "bid"}
    offer = world.search_offers(query)[0]
    with pytest.raises(VastError) as refused:
        world.create_instance(offer["id"], {**BODY, "price": bid + 0.5})
    assert refused.value.status == 400


# --- contract end -----------------------------------------------------------------------------


def test_at_its_end_date_a_contract_stops_for_good_and_its_row_goes_after_the_grace(
    world: World, clock: Clock
) -> None:
    inst_id, machine_id = rent_on_demand(world, clock)
    machine = world.machines[machine_id]
    end = world.now() + 600
    assert world.set_end_date(machine_id, end)["end_date"] == end
    row = row_of(world, inst_id)
    assert row["end_date"] == end and row["actual_status"] == "running"
    free = machine.free_gpus
    clock.advance(601)
    row = row_of(world, inst_id)
    assert state(row) == ("stopped", "stopped", "stopped")
    assert "Contract ended" in row["status_msg"]
    assert machine.free_gpus == free + 1
    with pytest.raises(VastError) as refused:
        world.manage_instance(inst_id, {"state": "running"})
    assert refused.value.status == 400
    (charge,) = [c for c in world.bill()["charges"] if c["source"] == f"instance-{inst_id}"]
    assert charge["segments"][-1]["end"] == end  # the GPU was billed until the end, not later
    clock.advance(CONTRACT_GRACE_SECONDS)
    assert world.instance_row(inst_id) is None


# --- price increases --------------------------------------------------------------------------


def test_a_pending_price_increase_applies_when_due_unless_answered(
    world: World, clock: Clock
) -> None:
    inst_id, machine_id = rent_on_demand(world, clock)
    old = row_of(world, inst_id)
    new_gpu = round(float(old["dph_base"]) * 2, 6)
    result = world.raise_price(machine_id, new_gpu, notice_seconds=600)
    assert result["pending"] == [inst_id]
    pending = row_of(world, inst_id)["pending_price_increase"]
    disk = float(old["storage_total_cost"])
    assert pending == {
        "dph_base": new_gpu,
        "dph_total": round(new_gpu + disk, 6),
        "effective_date": world.now() + 600,
    }
    assert row_of(world, inst_id)["dph_total"] == old["dph_total"]  # not yet
    clock.advance(601)
    row = row_of(world, inst_id)
    assert row["pending_price_increase"] is None
    assert row["dph_total"] == pytest.approx(new_gpu + disk)


def test_accept_applies_the_increase_now_and_reject_ends_the_contract_when_it_would_apply(
    world: World, clock: Clock
) -> None:
    first, machine_id = rent_on_demand(world, clock)
    new_gpu = round(float(row_of(world, first)["dph_base"]) * 2, 6)
    world.raise_price(machine_id, new_gpu, notice_seconds=600)
    world.answer_price_increase(first, {"accept": True})
    assert row_of(world, first)["dph_base"] == new_gpu
    with pytest.raises(VastError) as nothing:
        world.answer_price_increase(first, {"accept": False})  # nothing pending any more
    assert nothing.value.status == 400

    world.raise_price(machine_id, new_gpu * 2, notice_seconds=600)
    due = world.now() + 600
    world.answer_price_increase(first, {"accept": False})
    row = row_of(world, first)
    assert row["dph_base"] == new_gpu and row["end_date"] == due
    clock.advance(601)
    assert state(row_of(world, first)) == ("stopped", "stopped", "stopped")


async def test_market_routes_over_http(api: httpx.AsyncClient) -> None:
    offer = (
        await api.post("/api/v0/bundles/", json={"num_gpus": {"eq": 1}, "type": "bid", "limit": 1})
    ).json()["offers"][0]
    bid = round(float(offer["min_bid"]) + 0.05, 6)
    inst = (await api.put(f"/api/v0/asks/{offer['id']}/", json={**BODY, "price": bid})).json()
    inst_id, machine_id = inst["new_contract"], offer["machine_id"]
    outbid = await api.post(f"/_sim/machines/{machine_id}/outbid", json={"price": bid + 1})
    assert outbid.json()["outbid"] == [inst_id]
    changed = await api.put(
        f"/api/v0/instances/bid_price/{inst_id}/", json={"client_id": "me", "price": bid + 1}
    )
    assert changed.json() == {"success": True}
    row = (await api.get(f"/api/v0/instances/{inst_id}/")).json()["instances"]
    assert row["actual_status"] in ("loading", "running")  # won back
    ended = await api.post(f"/_sim/machines/{machine_id}/end_date", json={"in_seconds": 3600})
    assert ended.json()["ok"] is True
    no_increase = await api.put(f"/api/v0/instances/price_increase/{inst_id}/", json={"accept": 1})
    assert no_increase.status_code == 400
    raised = await api.post(f"/_sim/machines/{machine_id}/price", json={"dph_per_gpu": 9.0})
    assert raised.json()["pending"] == []  # an interruptible's price is its bid


def test_the_market_survives_a_save_and_load(world: World, clock: Clock) -> None:
    inst_id, machine_id, bid = rent_bid(world, clock)
    world.outbid_machine(machine_id, bid + 1)
    demand_id, demand_machine = rent_on_demand(world, clock)
    world.raise_price(demand_machine, 50.0, notice_seconds=600)
    world.answer_price_increase(demand_id, {"accept": False})
    other = World(world.config, clock)
    other.load_dict(world.to_dict())
    assert state(row_of(other, inst_id)) == ("stopped", "running", "stopped")
    assert row_of(other, inst_id)["min_bid"] == pytest.approx(bid + 1)
    assert row_of(other, demand_id)["end_date"] == pytest.approx(world.now() + 600)
    other.change_bid(inst_id, bid + 1)
    assert row_of(other, inst_id)["actual_status"] == "loading"
