"""Billing on the control plane and the simulator: the operator's status.accruedCost agrees
with the simulator's own bill for the same object across a stop/start and a re-placement; the
account's credit is a metric and falls; an object whose credit horizon is not covered is not
rented (CreditLow) until credit is added.

Time passes through the simulator's clock (`POST /_sim/clock`), so hours are billed in
seconds. A jump is made only once the operator has seen the state it bills, as in life,
where nothing jumps.
"""

from __future__ import annotations

import secrets
import socket
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
import pytest

from harness import Kubectl, OperatorProcess, instance_manifest, wait_for
from vast_operator.api.instance import VastInstanceStatus
from vast_operator.reconcile.instance.billing import total
from vast_operator.reconcile.timefmt import parse_iso
from vast_sim.testing import RunningSim

KIND = "vastinstances"
CENT = Decimal("0.01")
# What "to the cent" allows for: the operator places its own calls on Vast's clock to within
# the round trip of one call (milliseconds), worth far less than this at these prices.
WITHIN = Decimal("0.0001")


def status(k: Kubectl, name: str) -> VastInstanceStatus:
    return VastInstanceStatus.model_validate(k.status(KIND, name))


def label_of(k: Kubectl, name: str) -> str:
    obj = k.get(KIND, name)
    assert obj is not None
    return f"k8s-vast-operator:{obj['metadata']['uid']}"


def sim_total(sim: RunningSim, label: str, at: float | None = None) -> tuple[Decimal, float]:
    bill = sim.admin.bill(at=at)
    amounts = [Decimal(c["amount"]) for c in bill["charges"] if c["label"] == label]
    return sum(amounts, Decimal(0)), float(bill["at"])


def agree(k: Kubectl, sim: RunningSim, name: str) -> None:
    """The operator's bill (from its status records) and the simulator's, at the same moment
    on Vast's clock, agree to the cent (and within WITHIN)."""
    ours_at = status(k, name)
    theirs, at = sim_total(sim, label_of(k, name))
    ours = total(ours_at, at)
    assert abs(ours - theirs) <= WITHIN, (ours, theirs)
    assert ours.quantize(CENT, ROUND_HALF_EVEN) == theirs.quantize(CENT, ROUND_HALF_EVEN)


def wait_billed(k: Kubectl, name: str, gpu: bool, count: int = 1) -> VastInstanceStatus:
    """Until the operator has recorded `count` rentals, the last one billing its GPUs or not."""

    def seen() -> VastInstanceStatus | None:
        s = status(k, name)
        rentals = s.rentals or []
        if len(rentals) != count or rentals[-1].end is not None:
            return None
        return s if ((rentals[-1].gpu_per_hour or 0.0) > 0) == gpu else None

    return wait_for(f"{name} billed with gpu={gpu}", seen, timeout=90)


def test_accrued_cost_matches_the_simulators_bill_across_stop_start_and_replacement(
    k: Kubectl, operator: OperatorProcess, sim: RunningSim
) -> None:
    k.apply(instance_manifest("bill"))
    k.wait_phase(KIND, "bill", "Running")
    first = wait_billed(k, "bill", gpu=True)
    sim.admin.advance_clock(3600)  # an hour running
    agree(k, sim, "bill")

    k.patch(KIND, "bill", {"spec": {"state": "Stopped"}})
    k.wait_phase(KIND, "bill", "Stopped")
    wait_billed(k, "bill", gpu=False)
    sim.admin.advance_clock(2 * 3600)  # two hours stopped: the disk only
    agree(k, sim, "bill")

    k.patch(KIND, "bill", {"spec": {"state": "Running"}})
    k.wait_phase(KIND, "bill", "Running")
    wait_billed(k, "bill", gpu=True)
    sim.admin.advance_clock(1800)
    agree(k, sim, "bill")

    # Re-placement: the container exits, the operator destroys it and rents elsewhere.
    (old,) = [r.instance_id for r in first.rentals or []]
    sim.admin.set_status(old, "exited", "container exited with code 1")
    replaced = wait_billed(k, "bill", gpu=True, count=2)
    k.wait_phase(KIND, "bill", "Running")
    assert (replaced.rentals or [])[0].instance_id == old
    assert (replaced.rentals or [])[0].end is not None
    jumped = sim.admin.advance_clock(3600)
    agree(k, sim, "bill")

    # The figure status shows (written when it moves by a cent) is the simulator's bill at
    # the moment it was computed.
    def shown() -> VastInstanceStatus | None:
        s = status(k, "bill")
        at = parse_iso(s.accrued_cost_at)
        return s if at is not None and at >= jumped else None

    s = wait_for("accruedCost after the last hour", shown, timeout=60)
    at = parse_iso(s.accrued_cost_at)
    assert at is not None and s.accrued_cost is not None
    theirs, _ = sim_total(sim, label_of(k, "bill"), at=at)
    assert Decimal(repr(s.accrued_cost)) == theirs.quantize(CENT, ROUND_HALF_EVEN)
    assert s.accrued_cost > 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gauge(port: int, name: str, labels: dict[str, str]) -> float | None:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def credit_gauge(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found = {}
    for line in text.splitlines():
        if line.startswith("vast_operator_account_credit_dollars{"):
            labels, value = line.rsplit(" ", 1)
            found[labels.split('account="', 1)[1].split('"', 1)[0]] = float(value)
    return found


def test_the_credit_is_a_metric_and_falls_while_an_instance_runs(
    k: Kubectl, sim: RunningSim, operator_kubeconfig: Any, namespace: str, tmp_path: Any
) -> None:
    port = free_port()
    proc = OperatorProcess(
        kubeconfig=operator_kubeconfig,
        vast_url=sim.url,
        api_key=sim.api_key,
        namespace=namespace,
        log_path=tmp_path / "operator.log",
        extra_args=["--metrics-port", str(port), "--credit-interval", "1"],
    ).start()
    try:
        k.apply(instance_manifest("spend"))
        k.wait_phase(KIND, "spend", "Running")
        (before,) = wait_for("the credit gauge", lambda: list(credit_gauge(port).values()))
        sim.admin.advance_clock(3600)
        wait_for("the credit to fall", lambda: next(iter(credit_gauge(port).values())) < before)
        assert sim.api_key not in httpx.get(f"http://127.0.0.1:{port}/metrics").text

        def cost_shown() -> bool:
            shown = k.status(KIND, "spend").get("accruedCost")
            labels = {"object_namespace": namespace, "object_name": "spend"}
            return (
                bool(shown) and gauge(port, "vast_operator_accrued_cost_dollars", labels) == shown
            )

        wait_for("the accrued cost gauge to show status.accruedCost", cost_shown)
    finally:
        k.delete(KIND, "spend")  # while this operator runs: nothing is left rented
        k.wait_gone(KIND, "spend")
        proc.stop()


@pytest.mark.operator_args("--credit-horizon", "36000", "--credit-interval", "1")
def test_no_rent_while_credit_does_not_cover_the_horizon_then_a_rent_once_credit_is_added(
    k: Kubectl, operator: OperatorProcess, sim: RunningSim
) -> None:
    # An account of its own, with enough credit for Vast's first hour but not for 10 hours.
    account = sim.admin.create_account("sim-" + secrets.token_hex(16), credit=2.0)
    k.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "poor"},
            "stringData": {"api-key": account["api_key"]},
        }
    )
    k.apply(instance_manifest("poor", credentialsRef={"name": "poor", "key": "api-key"}))

    def credit_low() -> dict[str, Any] | None:
        cond = k.condition(KIND, "poor", "Ready")
        return cond if cond and cond.get("reason") == "CreditLow" else None

    cond = wait_for("Ready=False CreditLow", credit_low, timeout=60)
    assert cond["status"] == "False"
    assert "$2.00" in cond["message"] and "10h" in cond["message"]
    assert k.phase(KIND, "poor") == "Pending"
    bill = sim.admin.bill(user_id=account["user_id"])
    assert bill["charges"] == []  # nothing was rented on that account
    warnings = [e for e in k.events() if e.get("reason") == "CreditLow"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"

    sim.admin.set_account_credit(account["user_id"], 500.0)
    k.wait_phase(KIND, "poor", "Running")
    assert [c["kind"] for c in sim.admin.bill(user_id=account["user_id"])["charges"]] == [
        "instance"
    ]
