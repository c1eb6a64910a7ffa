"""Faults injected at the simulator: every object still converges, and only once."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness import Kubectl, OperatorProcess, VastView, instance_manifest, wait_for

KIND = "vastinstances"
CREATE = "PUT /api/v0/asks/{id}/"
LIST = "GET /api/v1/instances/"


def uid_of(k: Kubectl, name: str) -> str:
    return str(k.get(KIND, name)["metadata"]["uid"])  # type: ignore[index]


def settled_market(sim: Any) -> None:
    """Wait until no destroyed instance still unloads: their GPUs come back to the market when
    they are gone, which would change which machine is cheapest under the test's feet."""

    def settled() -> bool:
        rows: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 25}
        with sim.client() as http:
            while True:
                page = http.get("/api/v1/instances/", params=params).raise_for_status().json()
                rows.extend(page.get("instances") or [])
                if not page.get("next_token"):
                    break
                params["after_token"] = page["next_token"]
        return not any(r.get("cur_state") == "unloaded" for r in rows)

    wait_for("destroyed instances to finish unloading", settled, timeout=60)


def cheapest_machine(sim: Any, gpu: str = "RTX 4090") -> int:
    """The machine the operator will pick first (cheapest matching verified offer)."""
    settled_market(sim)
    with sim.client() as http:
        body = {
            "gpu_name": {"eq": gpu},
            "num_gpus": {"eq": 1},
            "verified": {"eq": True},
            "rentable": {"eq": True},
            "external": {"eq": False},
            "rented": {"eq": False},
            "order": [["dph_total", "asc"]],
            "allocated_storage": 16.0,
            "limit": 5,
        }
        offers = http.post("/api/v0/bundles/", json=body).raise_for_status().json()["offers"]
    return int(offers[0]["machine_id"])


@pytest.mark.parametrize("kind", ["429_detail", "429_json", "429_text", "500", "503", "drop"])
def test_rate_limits_and_server_errors_on_every_route_converge(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any, kind: str
) -> None:
    sim.admin.fault(kind, route="*", count=6)
    k.apply(instance_manifest("flaky"))
    k.wait_phase(KIND, "flaky", "Running")
    assert len(vast.instances_for(uid_of(k, "flaky"))) == 1
    assert sim.admin.faults() == []  # every injected fault was actually hit


def test_create_timeout_without_allocation_rents_exactly_once(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    sim.admin.fault("timeout", route=CREATE, count=1, seconds=4)
    k.apply(instance_manifest("timeout"))
    k.wait_phase(KIND, "timeout", "Running", timeout=150)
    assert len(vast.instances_for(uid_of(k, "timeout"))) == 1


def test_create_that_answers_late_is_adopted_not_duplicated(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    # Vast acts on the rent after our client gave up (3 s): the worst case for duplicates.
    sim.admin.fault("slow", route=CREATE, count=1, seconds=5)
    k.apply(instance_manifest("late"))
    status = k.wait_phase(KIND, "late", "Running", timeout=150)
    rented = vast.instances_for(uid_of(k, "late"))
    assert [i["id"] for i in rented] == [status["instanceId"]]


def test_create_error_that_still_allocates_leaves_one_instance(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    sim.admin.fault("create_error_allocates", count=1)
    k.apply(instance_manifest("alloc"))
    status = k.wait_phase(KIND, "alloc", "Running", timeout=150)
    rented = vast.instances_for(uid_of(k, "alloc"))
    assert [i["id"] for i in rented] == [status["instanceId"]]


def test_offer_taken_between_search_and_create_moves_to_next_offer(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    sim.admin.fault("offer_vanish", count=1)
    k.apply(instance_manifest("race"))
    k.wait_phase(KIND, "race", "Running")
    reasons = [e.get("reason") for e in k.events()]
    assert "OfferGone" in reasons
    assert len(vast.instances_for(uid_of(k, "race"))) == 1


@pytest.mark.parametrize("bad_status", ["exited", "offline", "unknown"])
def test_failed_instance_is_replaced_on_another_machine(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any, bad_status: str
) -> None:
    # offline and unknown are waited for (offlineGrace) before the replacement: keep it short.
    placement = {"bootTimeout": "30s", "maxAttempts": 3, "offlineGrace": "2s"}
    k.apply(instance_manifest("replace", placement=placement))
    first = k.wait_phase(KIND, "replace", "Running")
    sim.admin.set_status(first["instanceId"], bad_status)
    second = wait_for(
        "a replacement instance running",
        lambda: (
            s
            if (s := k.status(KIND, "replace")).get("phase") == "Running"
            and s.get("instanceId") != first["instanceId"]
            else None
        ),
    )
    assert second["machineId"] != first["machineId"]
    assert first["machineId"] in second["failedMachines"]
    assert second["attempts"] == 2
    rented = vast.instances_for(uid_of(k, "replace"))
    assert [i["id"] for i in rented] == [second["instanceId"]]
    assert "Replacing" in [e.get("reason") for e in k.events()]


def test_host_that_never_finishes_loading_is_abandoned_after_boot_timeout(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    stuck = cheapest_machine(sim)
    sim.admin.never_boot(stuck)
    try:
        k.apply(instance_manifest("stuck", placement={"bootTimeout": "4s", "maxAttempts": 3}))
        status = k.wait_phase(KIND, "stuck", "Running", timeout=120)
        assert status["machineId"] != stuck
        assert stuck in status["failedMachines"]
    finally:
        sim.admin.never_boot(stuck, enabled=False)


def test_oci_error_is_treated_as_a_failed_start(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    broken = cheapest_machine(sim)
    sim.admin.oci_error(broken)
    try:
        k.apply(instance_manifest("oci"))
        status = k.wait_phase(KIND, "oci", "Running", timeout=120)
        assert status["machineId"] != broken
        assert broken in status["failedMachines"]
    finally:
        sim.admin.oci_error(broken, enabled=False)


def test_gives_up_after_max_attempts_with_a_reason(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    k.apply(instance_manifest("fragile", placement={"bootTimeout": "30s", "maxAttempts": 1}))
    first = k.wait_phase(KIND, "fragile", "Running")
    sim.admin.set_status(first["instanceId"], "exited")
    k.wait_phase(KIND, "fragile", "Failed")
    ready = k.condition(KIND, "fragile", "Ready")
    assert ready is not None and ready["reason"] == "MaxAttemptsReached"
    assert "exited" in ready["message"]
    assert vast.instances_for(uid_of(k, "fragile")) == []


def test_instance_destroyed_behind_our_back_is_noticed_and_rented_again(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    k.apply(instance_manifest("lost"))
    first = k.wait_phase(KIND, "lost", "Running")
    sim.admin.destroy_instance(first["instanceId"])
    second = wait_for(
        "a new instance",
        lambda: (
            s
            if (s := k.status(KIND, "lost")).get("phase") == "Running"
            and s.get("instanceId") != first["instanceId"]
            else None
        ),
    )
    assert first["instanceId"] in second["retiredInstanceIds"]
    assert "InstanceLost" in [e.get("reason") for e in k.events()]
    assert len(vast.instances_for(uid_of(k, "lost"))) == 1


def test_an_offline_blip_keeps_the_instance_and_its_disk(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    k.apply(instance_manifest("blip", placement={"bootTimeout": "30s", "offlineGrace": "10m"}))
    first = k.wait_phase(KIND, "blip", "Running")
    instance_id = first["instanceId"]
    sim.admin.set_status(instance_id, "offline")  # the host's heartbeat stops
    cond = wait_for(
        "Ready reason HostUnreachable",
        lambda: (
            c
            if (c := k.condition(KIND, "blip", "Ready")) and c["reason"] == "HostUnreachable"
            else None
        ),
    )
    assert "offlineGrace" in cond["message"]
    time.sleep(5)  # well past the operator's poll interval: it would have destroyed it before
    sim.admin.set_status(instance_id, "running")  # back
    wait_for(
        "Ready again", lambda: (c := k.condition(KIND, "blip", "Ready")) and c["status"] == "True"
    )
    status = k.status(KIND, "blip")
    assert status["instanceId"] == instance_id
    assert "unreachableSince" not in status
    assert instance_id in {i["id"] for i in vast.instances()}
    assert "failedMachines" not in status
