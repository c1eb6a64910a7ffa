"""Instance lifecycle and market semantics, driven through `World` with a hand-set clock."""

from __future__ import annotations

from typing import Any

import pytest
from sim_test_support import Clock

from vast_sim.errors import VastError
from vast_sim.lifecycle import OCI_ERROR_MSG
from vast_sim.world import World

BODY = {"image": "pytorch/pytorch:latest", "disk": 20, "label": "job-1"}


def single_gpu_offer(world: World, **filters: Any) -> dict[str, Any]:
    query = {"num_gpus": {"eq": 1}, "order": [["dph_total", "asc"]], **filters}
    return world.search_offers(query)[0]


def rent(world: World, offer: dict[str, Any], **body: Any) -> int:
    result = world.create_instance(offer["id"], {**BODY, **body})
    assert result["success"] is True
    assert isinstance(result["instance_api_key"], str)
    return int(result["new_contract"])


def status(world: World, inst_id: int) -> Any:
    row = world.instance_row(inst_id)
    assert row is not None
    return row["actual_status"]


def test_boot_goes_null_then_loading_then_running(world: World, clock: Clock) -> None:
    offer = single_gpu_offer(world)
    inst_id = rent(world, offer, env={"-p 8000:8000": "1", "TZ": "UTC"})
    row = world.instance_row(inst_id)
    assert row is not None
    assert row["actual_status"] is None
    assert row["intended_status"] == "running"
    assert row["cur_state"] == "running"
    assert row["ports"] is None
    assert row["machine_id"] == offer["machine_id"]
    assert row["host_id"] == offer["host_id"]
    assert row["gpu_name"] == offer["gpu_name"]
    assert row["num_gpus"] == 1
    assert row["label"] == "job-1"
    assert row["extra_env"] == [["-p 8000:8000", "1"], ["TZ", "UTC"]]
    assert row["ssh_host"].endswith(".vast.ai") and isinstance(row["ssh_port"], int)
    assert row["direct_port_start"] == -1 and row["direct_port_end"] == -1

    clock.advance(2.5)  # 20% of the 10 s boot
    assert status(world, inst_id) == "loading"
    clock.advance(7.4)
    assert status(world, inst_id) == "loading"
    clock.advance(0.2)
    row = world.instance_row(inst_id)
    assert row is not None
    assert row["actual_status"] == "running"
    assert row["status_msg"].startswith("success")
    if offer["direct_port_count"]:
        assert set(row["ports"]) == {"22/tcp", "8000/tcp"}
        host_port = row["ports"]["22/tcp"][0]["HostPort"]
        assert isinstance(host_port, str) and host_port.isdigit()
        assert row["direct_port_start"] <= int(host_port) <= row["direct_port_end"]
    assert row["dph_total"] == pytest.approx(
        offer["dph_base"] + offer["storage_cost"] * 20 / 720, abs=1e-5
    )


def test_renting_takes_the_offer_and_destroying_returns_the_gpus(
    world: World, clock: Clock
) -> None:
    offer = single_gpu_offer(world)
    machine = world.machines[offer["machine_id"]]
    free_before = machine.free_gpus
    inst_id = rent(world, offer)
    assert machine.free_gpus == free_before - 1
    assert offer["id"] not in {o["id"] for o in world.search_offers({"limit": 10000})}
    with pytest.raises(VastError) as err:
        world.create_instance(offer["id"], BODY)
    assert err.value.status == 404
    assert err.value.body == {
        "success": False,
        "error": "invalid_args",
        "msg": f"error 404/3603: no_such_ask Instance type by id {offer['id']} is not available.",
        "ask_id": offer["id"],
    }
    assert world.destroy_instance(inst_id) is True
    # Unloading: still listed (cur_state "unloaded"), the GPUs not yet back, no second destroy.
    row = world.instance_row(inst_id)
    assert row is not None
    assert (row["cur_state"], row["next_state"], row["intended_status"]) == (
        "unloaded",
        "unloaded",
        "stopped",
    )
    assert machine.free_gpus == free_before - 1
    assert world.destroy_instance(inst_id) is False
    with pytest.raises(VastError) as gone:
        world.manage_instance(inst_id, {"state": "running"})
    assert gone.value.status == 404
    clock.advance(world.config.unload_seconds)
    assert world.instance_row(inst_id) is None
    assert machine.free_gpus == free_before
    assert world.destroy_instance(inst_id) is False
    # The capacity is back on the market under a fresh offer id (offer ids are one-shot).
    again = [
        o for o in world.search_offers({"limit": 10000}) if o["machine_id"] == machine.machine_id
    ]
    assert any(o["num_gpus"] == 1 for o in again)
    assert offer["id"] not in {o["id"] for o in again}


def test_stop_releases_gpus_and_start_reschedules(world: World, clock: Clock) -> None:
    machines_with_one_gpu = [m for m in world.machines.values() if m.total_gpus == 1]
    machine = machines_with_one_gpu[0]
    offer = world.search_offers({"machine_id": {"eq": machine.machine_id}})[0]
    inst_id = rent(world, offer)
    clock.advance(10)
    assert status(world, inst_id) == "running"

    world.manage_instance(inst_id, {"state": "stopped"})
    row = world.instance_row(inst_id)
    assert row is not None
    assert (row["actual_status"], row["intended_status"], row["cur_state"]) == (
        "stopped",
        "stopped",
        "stopped",
    )
    assert row["ports"] is None
    assert machine.free_gpus == 1

    # Somebody else rents the GPU while we are stopped: start waits in "scheduling".
    other = world.search_offers({"machine_id": {"eq": machine.machine_id}})[0]
    other_id = rent(world, other)
    world.manage_instance(inst_id, {"state": "running"})
    row = world.instance_row(inst_id)
    assert row is not None
    assert (row["actual_status"], row["intended_status"], row["next_state"]) == (
        "stopped",
        "running",
        "running",
    )
    assert "Scheduling" in row["status_msg"]

    world.destroy_instance(other_id)
    clock.advance(0.1)
    assert status(world, inst_id) == "stopped"  # the other rental is still unloading
    clock.advance(world.config.unload_seconds)
    assert status(world, inst_id) == "loading"
    clock.advance(5)
    assert status(world, inst_id) == "running"


def test_label_and_bad_updates(world: World) -> None:
    inst_id = rent(world, single_gpu_offer(world))
    assert world.manage_instance(inst_id, {"label": "renamed"})["success"] is True
    row = world.instance_row(inst_id)
    assert row is not None and row["label"] == "renamed"
    for body, code in (({"state": "paused"}, 400), ({"label": "x" * 2000}, 400), ({}, 400)):
        with pytest.raises(VastError) as err:
            world.manage_instance(inst_id, body)
        assert err.value.status == code
    with pytest.raises(VastError) as err:
        world.manage_instance(424242, {"state": "stopped"})
    assert err.value.status == 404
    assert err.value.body["error"] == "no_such_instance"


def test_reboot_and_recycle(world: World, clock: Clock) -> None:
    inst_id = rent(world, single_gpu_offer(world))
    clock.advance(10)
    world.reboot_instance(inst_id)
    assert status(world, inst_id) == "rebooting"
    clock.advance(3)
    assert status(world, inst_id) == "loading"
    clock.advance(3)
    assert status(world, inst_id) == "running"
    world.recycle_instance(inst_id)
    assert status(world, inst_id) is None
    clock.advance(10)
    assert status(world, inst_id) == "running"


def test_never_boot_machine_stays_loading(world: World, clock: Clock) -> None:
    offer = single_gpu_offer(world)
    world.set_machine_flag(offer["machine_id"], "never_boot", True)
    inst_id = rent(world, offer)
    clock.advance(10_000)
    assert status(world, inst_id) == "loading"


def test_oci_error_machine_ends_in_created_with_the_error(world: World, clock: Clock) -> None:
    offer = single_gpu_offer(world)
    world.set_machine_flag(offer["machine_id"], "oci_error", True)
    inst_id = rent(world, offer)
    clock.advance(10)
    row = world.instance_row(inst_id)
    assert row is not None
    assert row["actual_status"] == "created"
    assert row["status_msg"] == OCI_ERROR_MSG
    assert "OCI runtime create failed" in row["status_msg"]


@pytest.mark.parametrize("forced", ["exited", "offline", "unknown", "created"])
def test_forced_status_sticks_until_the_next_action(
    world: World, clock: Clock, forced: str
) -> None:
    inst_id = rent(world, single_gpu_offer(world))
    clock.advance(10)
    world.force_status(inst_id, forced, "host went away")
    clock.advance(1000)
    row = world.instance_row(inst_id)
    assert row is not None
    assert (row["actual_status"], row["status_msg"]) == (forced, "host went away")
    world.manage_instance(inst_id, {"state": "stopped"})
    assert status(world, inst_id) == "stopped"


def test_unschedulable_offer_creates_a_stopped_instance_unless_cancel_unavail(
    world: World,
) -> None:
    machine = next(m for m in world.machines.values() if m.total_gpus >= 2)
    offers = world.search_offers({"machine_id": {"eq": machine.machine_id}, "limit": 100})
    whole = next(o for o in offers if o["num_gpus"] == machine.total_gpus)
    single = next(o for o in offers if o["num_gpus"] == 1)
    rent(world, single)  # now the whole-machine offer cannot be scheduled
    with pytest.raises(VastError) as err:
        world.create_instance(whole["id"], {**BODY, "cancel_unavail": True})
    assert err.value.status == 410
    assert err.value.body["error"] == "no_such_ask"
    inst_id = rent(world, whole, cancel_unavail=False)
    row = world.instance_row(inst_id)
    assert row is not None
    assert (row["actual_status"], row["intended_status"]) == ("stopped", "running")


def test_create_validation_errors(world: World) -> None:
    offer = single_gpu_offer(world)
    cases = [
        ({"disk": 20}, "invalid_args"),  # no image
        ({**BODY, "disk": 2}, "invalid_args"),
        ({**BODY, "disk": 10**6}, "invalid_args"),
        ({**BODY, "runtype": "telnet"}, "invalid_args"),
        ({**BODY, "price": offer["min_bid"] / 10}, "invalid_price"),
        ({**BODY, "template_hash_id": "nope"}, "invalid_args"),
        ({**BODY, "volume_info": {"create_new": False, "volume_id": 5, "mount_path": "/w"}}, None),
    ]
    for body, error in cases:
        with pytest.raises(VastError) as err:
            world.create_instance(offer["id"], body)
        assert err.value.status == 400, body
        if error:
            assert err.value.body["error"] == error
        assert err.value.body["ask_id"] == offer["id"]
    assert world.search_offers({"id": {"eq": offer["id"]}}), "failed creates take nothing"


def test_interruptible_and_template_creates(world: World) -> None:
    offer = single_gpu_offer(world)
    inst_id = rent(
        world,
        offer,
        image=None,
        template_hash_id="661d064bbda1f2a133816b6d55da07c3",
        price=offer["min_bid"] * 1.1,
        env="-e A=b -p 9000:9000",
    )
    row = world.instance_row(inst_id)
    assert row is not None
    assert row["is_bid"] is True
    assert row["image_uuid"] == "vastai/pytorch:latest"
    assert row["template_hash_id"] == "661d064bbda1f2a133816b6d55da07c3"
    env = dict(row["extra_env"])
    assert env["A"] == "b" and env["-p 9000:9000"] == "1" and env["-p 1111:1111"] == "1"
    assert world.change_bid(inst_id, None)["success"] is True


def test_insufficient_credit(world: World) -> None:
    world.set_credit(0)
    offer = single_gpu_offer(world)
    with pytest.raises(VastError) as err:
        world.create_instance(offer["id"], BODY)
    assert err.value.status == 402
    assert err.value.body["error"] == "insufficient_credit"
    assert err.value.body["msg"].startswith("Insufficient credit")


def test_volumes_are_tied_to_a_machine(world: World, clock: Clock) -> None:
    offer = single_gpu_offer(world)
    machine = world.machines[offer["machine_id"]]
    created = world.create_instance(
        offer["id"],
        {
            **BODY,
            "volume_info": {
                "create_new": True,
                "volume_id": machine.vol_offer_id,
                "size": 20,
                "mount_path": "/workspace",
                "name": "data",
            },
        },
    )
    inst_id = created["new_contract"]
    (volume,) = world.list_volumes("all_volume")
    assert volume["machine_id"] == machine.machine_id
    assert volume["instances"] == [inst_id]
    row = world.instance_row(inst_id)
    assert row is not None and row["volume_info"][0]["id"] == volume["id"]

    with pytest.raises(VastError) as err:
        world.delete_volume(volume["id"])
    assert err.value.status == 400  # still used by a live instance
    world.manage_instance(inst_id, {"state": "stopped"})
    with pytest.raises(VastError):
        world.delete_volume(volume["id"])  # stopped is not enough
    world.destroy_instance(inst_id)
    with pytest.raises(VastError):
        world.delete_volume(volume["id"])  # destroyed, but still unloading
    clock.advance(world.config.unload_seconds)
    assert world.delete_volume(volume["id"]) == {"success": True}
    with pytest.raises(VastError) as err:
        world.delete_volume(volume["id"])
    assert err.value.status == 404

    # Linking an existing volume from another machine is refused.
    vol_name = world.create_volume({"id": machine.vol_offer_id, "size": 10})["volume_name"]
    vol_id = int(vol_name.removeprefix("V."))
    elsewhere = world.search_offers({"machine_id": {"neq": machine.machine_id}, "limit": 1})[0]
    with pytest.raises(VastError):
        world.create_instance(elsewhere["id"], {**BODY, "env": {f"-v V.{vol_id}:/data": "1"}})
    same = world.search_offers({"machine_id": {"eq": machine.machine_id}, "limit": 1})
    if same:
        linked = world.create_instance(same[0]["id"], {**BODY, "env": {f"-v V.{vol_id}:/d": "1"}})
        assert world.list_volumes(None)[0]["instances"] == [linked["new_contract"]]


def test_state_round_trips_through_a_dict(world: World, clock: Clock) -> None:
    inst_id = rent(world, single_gpu_offer(world))
    world.create_endpoint({"endpoint_name": "ep"})
    world.create_account_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA user@host")
    dumped = world.to_dict()
    from vast_sim.config import SimConfig

    other = World(SimConfig(num_machines=3, seed=5), clock)
    other.load_dict(dumped)
    assert other.instance_row(inst_id) == world.instance_row(inst_id)
    assert other.list_endpoints() == world.list_endpoints()
    assert other.search_offers({}) == world.search_offers({})
    clock.advance(10)
    assert status(other, inst_id) == "running"
