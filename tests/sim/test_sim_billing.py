"""The simulator's own bill: GPU while the contract holds the machine, disk until destroy,
volumes at their storage price, nothing after destroy; the credit falls by exactly that."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sim_test_support import KEY, Clock

from vast_sim.billing import segment_cost
from vast_sim.errors import VastError
from vast_sim.offer_rows import HOURS_PER_MONTH
from vast_sim.world import World

BODY = {"image": "pytorch/pytorch:latest", "disk": 20, "label": "k8s-vast-operator:obj-1"}


def rent(world: World, **body: Any) -> tuple[int, dict[str, Any]]:
    offer = world.search_offers({"num_gpus": {"eq": 1}, "order": [["dph_total", "asc"]]})[0]
    inst_id = int(world.create_instance(offer["id"], {**BODY, **body})["new_contract"])
    row = world.instance_row(inst_id)
    assert row is not None
    return inst_id, row


def rates(row: dict[str, Any]) -> tuple[float, float]:
    disk = float(row["storage_total_cost"])
    return round(float(row["dph_total"]) - disk, 6), disk


def charge(world: World, inst_id: int) -> dict[str, Any]:
    (found,) = [c for c in world.bill()["charges"] if c["source"] == f"instance-{inst_id}"]
    return found


def test_running_pays_gpu_and_disk_stopped_pays_disk_destroyed_pays_nothing(
    world: World, clock: Clock
) -> None:
    inst_id, row = rent(world)
    gpu, disk = rates(row)
    clock.advance(3600)  # boots and runs for an hour: GPU + disk from the rent on
    world.manage_instance(inst_id, {"state": "stopped"})
    clock.advance(7200)  # two hours stopped: disk only
    world.manage_instance(inst_id, {"state": "running"})
    clock.advance(1800)
    world.destroy_instance(inst_id)
    clock.advance(86400)  # nothing after destroy

    expected = (
        segment_cost(gpu + disk, 3600) + segment_cost(disk, 7200) + segment_cost(gpu + disk, 1800)
    )
    found = charge(world, inst_id)
    assert Decimal(found["amount"]) == expected
    assert found["end"] is not None and found["open"] is None
    assert [s["gpu_per_hour"] for s in found["segments"]] == [gpu, 0.0, gpu]
    assert world.bill()["by_label"]["k8s-vast-operator:obj-1"] == str(expected)


def test_the_credit_falls_by_the_bill_and_admin_credit_sets_the_balance_now(
    world: World, clock: Clock
) -> None:
    before = world.credit_of()
    inst_id, row = rent(world)
    gpu, disk = rates(row)
    clock.advance(600)
    spent = segment_cost(gpu + disk, 600)
    assert Decimal(repr(world.credit_of())) == Decimal(repr(before)) - spent
    assert world.user()["credit"] == round(before - float(spent), 2)

    world.set_credit(5.0)
    clock.advance(60)
    assert Decimal(repr(world.credit_of())) == Decimal("5") - (
        segment_cost(gpu + disk, 660) - spent
    )
    world.destroy_instance(inst_id)
    left = world.credit_of()
    clock.advance(3600)
    assert world.credit_of() == left


def test_a_waiting_start_pays_disk_only_until_its_gpus_are_back(world: World, clock: Clock) -> None:
    inst_id, row = rent(world)
    _, disk = rates(row)
    world.manage_instance(inst_id, {"state": "stopped"})
    machine = world.machines[row["machine_id"]]
    taken = machine.free_gpus
    machine.free_gpus = 0  # someone else took the GPUs
    world.manage_instance(inst_id, {"state": "running"})  # scheduling: cur_state stopped
    assert world.instance_row(inst_id)["cur_state"] == "stopped"  # type: ignore[index]
    clock.advance(1000)
    found = charge(world, inst_id)
    assert found["open"]["gpu_per_hour"] == 0.0
    assert Decimal(found["amount"]) == segment_cost(disk, 1000)
    machine.free_gpus = taken


def test_a_new_bid_starts_a_new_segment_at_the_new_price(world: World, clock: Clock) -> None:
    offer = world.search_offers({"num_gpus": {"eq": 1}, "type": "bid"})[0]
    bid = round(float(offer["min_bid"]) + 0.05, 6)
    inst_id = int(world.create_instance(offer["id"], {**BODY, "price": bid})["new_contract"])
    row = world.instance_row(inst_id)
    assert row is not None
    gpu, disk = rates(row)
    clock.advance(100)
    world.change_bid(inst_id, bid + 0.1)
    clock.advance(100)
    expected = segment_cost(gpu + disk, 100) + segment_cost(round(gpu + 0.1 + disk, 6), 100)
    assert Decimal(charge(world, inst_id)["amount"]) == expected


def test_volumes_bill_storage_until_deleted(world: World, clock: Clock) -> None:
    offer = world.search_volume_offers({})[0]
    world.create_volume({"id": offer["id"], "size": 50})
    (vol,) = [c for c in world.bill()["charges"] if c["kind"] == "volume"]
    per_hour = vol["open"]["disk_per_hour"]
    assert per_hour == round(float(offer["storage_cost"]) * 50 / HOURS_PER_MONTH, 6) > 0
    clock.advance(7200)
    world.delete_volume(vol["object_id"])
    clock.advance(7200)  # nothing after the deletion
    (vol,) = [c for c in world.bill()["charges"] if c["kind"] == "volume"]
    assert Decimal(vol["amount"]) == segment_cost(per_hour, 7200)


def test_the_bill_survives_a_save_and_load(world: World, clock: Clock) -> None:
    inst_id, _ = rent(world)
    clock.advance(500)
    before = charge(world, inst_id)["amount"]
    data = world.to_dict()
    other = World(world.config, clock)
    other.load_dict(data)
    assert charge(other, inst_id)["amount"] == before


def test_credit_below_the_first_hour_is_refused_after_billing_ate_it(
    world: World, clock: Clock
) -> None:
    _, row = rent(world)
    world.set_credit(float(row["dph_total"]) * 1.5)
    clock.advance(3600)  # one hour of the first rental leaves less than one hour's worth
    offer = world.search_offers({"num_gpus": {"eq": 1}, "order": [["dph_total", "asc"]]})[0]
    with pytest.raises(VastError) as refused:
        world.create_instance(offer["id"], BODY)
    assert refused.value.status == 402


async def test_the_bill_and_the_falling_credit_over_http(api: httpx.AsyncClient) -> None:
    user = (await api.get("/api/v0/users/current")).json()
    offer = (await api.post("/api/v0/bundles/", json={"num_gpus": {"eq": 1}, "limit": 1})).json()[
        "offers"
    ][0]
    await api.put(f"/api/v0/asks/{offer['id']}/", json=BODY)
    await api.post("/_sim/clock", json={"advance": 3600})
    after = (await api.get("/api/v0/users/current")).json()
    assert after["credit"] < user["credit"]
    bill = (await api.get(f"/_sim/bill?user_id={user['id']}")).json()
    assert Decimal(bill["by_account"][str(user["id"])]) > 0
    assert KEY not in str(bill)
