"""The market moving under a running instance, on the control plane and the simulator: an
interruptible outbid (re-bid within its cap, or a reason and a re-placement after the
timeout), a start that waits for its GPUs, a host contract that ends, and host price increases.

Each test changes one machine of the shared simulator (a competing bid, an end date, a price)
and puts it back afterwards, so later tests see the default market.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from harness import Kubectl, OperatorProcess, VastView, instance_manifest, wait_for

KIND = "vastinstances"
# The promise: an outbid instance is re-bid, re-placed or says why within a minute.
WITHIN_A_MINUTE = 60


def interruptible(name: str, bid: float, cap: float, **placement: Any) -> dict[str, Any]:
    return instance_manifest(
        name,
        type="interruptible",
        bidPerHour=bid,
        maxPricePerHour=cap,
        placement={"bootTimeout": "30s", "maxAttempts": 3, **placement},
    )


def row(vast: VastView, instance_id: int) -> dict[str, Any]:
    (found,) = [i for i in vast.instances() if i["id"] == instance_id]
    return found


def reasons(k: Kubectl) -> list[str]:
    return [str(e.get("reason")) for e in k.events()]


def event_message(k: Kubectl, reason: str) -> str | None:
    found = [str(e.get("message")) for e in k.events() if e.get("reason") == reason]
    return found[-1] if found else None


def replaced(k: Kubectl, name: str, first: dict[str, Any]) -> dict[str, Any] | None:
    """The status once a new instance runs on another machine than `first`'s."""
    s = k.status(KIND, name)
    moved = s.get("instanceId") not in (None, first["instanceId"])
    return s if moved and s.get("phase") == "Running" else None


@contextmanager
def competing_bid(sim: Any, machine_id: int, price: float) -> Iterator[None]:
    sim.admin.outbid(machine_id, price)
    try:
        yield
    finally:
        sim.admin.outbid(machine_id, None)


@contextmanager
def end_date_in(sim: Any, machine_id: int, seconds: float) -> Iterator[None]:
    previous = sim.admin.set_end_date(machine_id, in_seconds=seconds)
    try:
        yield
    finally:
        sim.admin.set_end_date(machine_id, end_date=previous)


# --- outbid -----------------------------------------------------------------------------------


def test_an_outbid_instance_gets_its_bid_raised_within_its_cap(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    k.apply(interruptible("rebid", bid=0.45, cap=2.0, onOutbid="RaiseBid"))
    first = k.wait_phase(KIND, "rebid", "Running")
    instance_id, machine_id = first["instanceId"], first["machineId"]
    with competing_bid(sim, machine_id, 0.7):
        assert row(vast, instance_id)["actual_status"] == "stopped"
        message = wait_for(
            "the BidRaised event", lambda: event_message(k, "BidRaised"), timeout=WITHIN_A_MINUTE
        )
        assert "to $0.7000/h" in message
        status = wait_for(
            "the same instance running again",
            lambda: (
                s
                if (s := k.status(KIND, "rebid")).get("phase") == "Running"
                and s["instanceId"] == instance_id
                and row(vast, instance_id)["actual_status"] == "running"
                else None
            ),
        )
        inst = row(vast, instance_id)
        storage = float(inst["storage_total_cost"])
        assert round(float(inst["dph_total"]) - storage, 6) == 0.7  # the new bid, billed now
        assert status["pricePerHour"] == inst["dph_total"]
        assert "failedMachines" not in status
        assert reasons(k).count("BidRaised") == 1
    assert "raised its bid" in operator.logs()  # the money action is in the log (INFO)


def test_an_outbid_instance_whose_cap_forbids_a_higher_bid_says_outbid_then_moves(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    manifest = interruptible("outbid", bid=0.45, cap=0.5, onOutbid="RaiseBid", outbidTimeout="8s")
    k.apply(manifest)
    first = k.wait_phase(KIND, "outbid", "Running")
    with competing_bid(sim, first["machineId"], 1.5):
        ready = wait_for(
            "Ready reason Outbid",
            lambda: (
                c
                if (c := k.condition(KIND, "outbid", "Ready")) and c["reason"] == "Outbid"
                else None
            ),
            timeout=WITHIN_A_MINUTE,
        )
        assert ready["status"] == "False"
        assert "minimum bid is $1.5000/h" in ready["message"]
        assert "above the cap $0.5000/h" in ready["message"]
        assert "outbidTimeout" in ready["message"]
        second = wait_for("a replacement running", lambda: replaced(k, "outbid", first))
    assert second["machineId"] != first["machineId"]
    assert first["machineId"] in second["failedMachines"]
    assert second["attempts"] == 1  # a market move is not a failed attempt
    uid = str(k.get(KIND, "outbid")["metadata"]["uid"])  # type: ignore[index]
    assert [i["id"] for i in vast.instances_for(uid)] == [second["instanceId"]]
    assert "Replacing" in reasons(k) and "BidRaised" not in reasons(k)


# --- scheduling -------------------------------------------------------------------------------


def take_free_gpus(sim: Any, machine_id: int) -> list[int]:
    """Rent every free GPU of the machine directly (someone else's rentals, unlabelled)."""
    taken: list[int] = []
    with sim.client() as http:
        for _ in range(32):
            query = {"machine_id": {"eq": machine_id}, "num_gpus": {"eq": 1}, "limit": 1}
            offers = http.post("/api/v0/bundles/", json=query).raise_for_status().json()["offers"]
            if not offers:
                return taken
            body = {"image": "vastai/base-image:latest", "disk": 8, "label": "someone-else"}
            made = http.put(f"/api/v0/asks/{offers[0]['id']}/", json=body).raise_for_status()
            taken.append(int(made.json()["new_contract"]))
    raise AssertionError(f"machine {machine_id} kept offering GPUs")


def test_a_start_that_waits_for_its_gpus_says_scheduling_then_moves(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    k.apply(instance_manifest("sched", placement={"bootTimeout": "30s", "schedulingTimeout": "8s"}))
    first = k.wait_phase(KIND, "sched", "Running")
    k.patch(KIND, "sched", {"spec": {"state": "Stopped"}})
    k.wait_phase(KIND, "sched", "Stopped")
    taken = take_free_gpus(sim, first["machineId"])
    try:
        k.patch(KIND, "sched", {"spec": {"state": "Running"}})
        message = wait_for(
            "the Scheduling event",
            lambda: event_message(k, "Scheduling"),
            timeout=WITHIN_A_MINUTE,
        )
        assert "GPUs are taken" in message and "schedulingTimeout" in message
        second = wait_for("a replacement running", lambda: replaced(k, "sched", first))
        assert second["machineId"] != first["machineId"]
        assert first["machineId"] in second["failedMachines"]
    finally:
        for instance_id in taken:
            sim.admin.destroy_instance(instance_id)


# --- contract end -----------------------------------------------------------------------------


def test_an_expiring_contract_warns_then_is_replaced_at_its_end(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    k.apply(instance_manifest("contract"))
    first = k.wait_phase(KIND, "contract", "Running")
    assert k.condition(KIND, "contract", "ContractExpiring")["status"] == "False"  # type: ignore[index]
    with end_date_in(sim, first["machineId"], 20):
        cond = wait_for(
            "ContractExpiring True",
            lambda: (
                c
                if (c := k.condition(KIND, "contract", "ContractExpiring"))
                and c["status"] == "True"
                else None
            ),
            timeout=WITHIN_A_MINUTE,
        )
        assert cond["reason"] == "EndDateNear" and "onContractEnd Replace" in cond["message"]
        assert "ContractExpiring" in reasons(k)
        assert k.status(KIND, "contract")["contractEnd"]
        second = wait_for("a replacement running", lambda: replaced(k, "contract", first))
    assert second["machineId"] != first["machineId"]
    assert "ended at" in str(event_message(k, "Replacing"))
    uid = str(k.get(KIND, "contract")["metadata"]["uid"])  # type: ignore[index]
    assert [i["id"] for i in vast.instances_for(uid)] == [second["instanceId"]]


# --- price increases --------------------------------------------------------------------------


def test_a_price_increase_within_the_cap_is_accepted_and_one_above_it_rejected(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    k.apply(instance_manifest("pricey", maxPricePerHour=1.5))
    first = k.wait_phase(KIND, "pricey", "Running")
    machine_id = first["machineId"]
    old_gpu = float(row(vast, first["instanceId"])["dph_base"])
    original = sim.admin.raise_price(machine_id, old_gpu + 0.1, notice_seconds=600)["previous"]
    try:
        message = wait_for(
            "PriceIncreaseAccepted",
            lambda: event_message(k, "PriceIncreaseAccepted"),
            timeout=WITHIN_A_MINUTE,
        )
        assert "within the cap $1.5000/h" in message
        inst = wait_for(
            "the new price in effect",
            lambda: (
                r
                if float((r := row(vast, first["instanceId"]))["dph_base"])
                == round(old_gpu + 0.1, 6)
                else None
            ),
        )
        wait_for(
            "status.pricePerHour at the new price",
            lambda: k.status(KIND, "pricey").get("pricePerHour") == inst["dph_total"],
        )
        sim.admin.raise_price(machine_id, 5.0, notice_seconds=15)  # above the cap
        message = wait_for(
            "PriceIncreaseRejected",
            lambda: event_message(k, "PriceIncreaseRejected"),
            timeout=WITHIN_A_MINUTE,
        )
        assert "above the cap $1.5000/h" in message and "onContractEnd Replace" in message
        assert float(row(vast, first["instanceId"])["dph_base"]) < 5.0  # never paid
        second = wait_for("a replacement running", lambda: replaced(k, "pricey", first))
        assert second["machineId"] != machine_id
        assert second["pricePerHour"] <= 1.5
    finally:
        sim.admin.raise_price(machine_id, original, notice_seconds=0)
    assert "accepted the host's price increase" in operator.logs()
    assert "rejected the host's price increase" in operator.logs()
