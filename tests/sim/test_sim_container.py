"""Containers that finish: VAST_SIM_EXIT_AFTER, the admin exit route, restarts and the log."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sim_test_support import Clock

from vast_sim.app import Sim
from vast_sim.container import exit_plan
from vast_sim.errors import VastError
from vast_sim.world import World

BODY = {"image": "ghcr.io/example/trainer:1.4", "disk": 20, "runtype": "args"}


def rent(world: World, **body: Any) -> int:
    offer = world.search_offers({"num_gpus": {"eq": 1}, "order": [["dph_total", "asc"]]})[0]
    return int(world.create_instance(offer["id"], {**BODY, **body})["new_contract"])


def row(world: World, inst_id: int) -> dict[str, Any]:
    found = world.instance_row(inst_id)
    assert found is not None
    return found


def log(world: World, inst_id: int) -> str:
    return world.results[world.request_logs(inst_id, {})]


@pytest.mark.parametrize(
    ("raw", "plan"),
    [("30:0", [(30.0, 0)]), ("5:1, 7.5:0", [(5.0, 1), (7.5, 0)]), ("9", [(9.0, 0)]), ("x:1", [])],
)
def test_the_exit_plan_is_read_from_the_env(raw: str, plan: list[tuple[float, int]]) -> None:
    assert exit_plan({"VAST_SIM_EXIT_AFTER": raw}) == plan


def test_a_container_exits_on_plan_keeps_its_gpus_and_logs_its_exit(
    world: World, clock: Clock
) -> None:
    env = {"VAST_SIM_EXIT_AFTER": "30:3", "TOKEN": "t0ps3cret"}
    inst = rent(world, env=env, args=["sh", "-c", "echo training with $TOKEN; python train.py"])
    machine = world.machines[row(world, inst)["machine_id"]]
    free_while_rented = machine.free_gpus
    clock.advance(10.1)  # the 10 s boot
    assert row(world, inst)["actual_status"] == "running"
    clock.advance(29)
    assert row(world, inst)["actual_status"] == "running"
    clock.advance(2)
    exited = row(world, inst)
    assert exited["actual_status"] == "exited"
    assert exited["intended_status"] == "running"
    assert exited["status_msg"] == "Exited (3)"
    assert machine.free_gpus == free_while_rented  # strict: still reserved (and billed)
    text = log(world, inst)
    assert f"instance {inst}" in text
    assert "training with t0ps3cret" in text  # what the echo printed, as a shell would
    assert text.rstrip().endswith("Exited (3)")


def test_a_reboot_runs_the_container_again_with_the_next_planned_exit(
    world: World, clock: Clock
) -> None:
    inst = rent(world, env={"VAST_SIM_EXIT_AFTER": "5:1,5:0"})
    clock.advance(16)
    assert row(world, inst)["status_msg"] == "Exited (1)"
    world.reboot_instance(inst)
    clock.advance(3.1)  # a reboot takes 30 % of the boot
    clock.advance(3.1)
    assert row(world, inst)["actual_status"] == "running"
    clock.advance(6)
    assert row(world, inst)["status_msg"] == "Exited (0)"
    text = log(world, inst)
    assert "(run 2)" in text and text.count("Exited (") == 2


def test_without_a_plan_a_container_runs_until_told(world: World, clock: Clock) -> None:
    inst = rent(world)
    clock.advance(3600)
    assert row(world, inst)["actual_status"] == "running"
    world.exit_instance(inst, 0)
    assert row(world, inst)["status_msg"] == "Exited (0)"
    with pytest.raises(VastError):
        world.exit_instance(inst, 0)  # not running any more


async def test_the_admin_exit_route_and_the_log_over_http(api: httpx.AsyncClient, sim: Sim) -> None:
    offer = (await api.post("/api/v0/bundles/", json={"num_gpus": {"eq": 1}})).json()["offers"][0]
    inst = (await api.put(f"/api/v0/asks/{offer['id']}/", json=BODY)).json()["new_contract"]
    await api.get(f"/api/v0/instances/{inst}/")  # boot_seconds 0: running at once
    answer = await api.post(f"/_sim/instances/{inst}/exit", json={"code": 2})
    assert answer.status_code == 200, answer.text
    assert answer.json()["instance"]["actual_status"] == "exited"
    logs = (await api.put(f"/api/v0/instances/request_logs/{inst}/", json={"tail": "2"})).json()
    text = await api.get(logs["result_url"].replace("http://vast.test", ""), headers={})
    assert len(text.text.splitlines()) == 2  # tail 2: the last two lines
    assert text.text.rstrip().endswith("Exited (2)")


def test_a_failed_start_leaves_the_daemons_error_in_the_log(world: World, clock: Clock) -> None:
    inst = rent(world)
    world.set_machine_flag(row(world, inst)["machine_id"], "oci_error", True)
    clock.advance(11)
    assert row(world, inst)["actual_status"] == "created"
    assert "OCI runtime create failed" in log(world, inst)
