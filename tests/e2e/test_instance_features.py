"""Adoption, pause, lifetime, interruptible bids and price caps, end to end."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness import Kubectl, OperatorProcess, VastView, instance_manifest, wait_for
from vast_operator.api.instance import VastInstanceSpec
from vast_operator.reconcile import placement

KIND = "vastinstances"


def rent_by_hand(sim: Any, gpu: str = "RTX 3090") -> int:
    """Rent an instance the way a user would with the CLI (not through the operator)."""
    with sim.client() as http:
        query = {
            "gpu_name": {"eq": gpu},
            "rentable": {"eq": True},
            "order": [["dph_total", "asc"]],
            "limit": 1,
        }
        offer = http.post("/api/v0/bundles/", json=query).raise_for_status().json()["offers"][0]
        body = {"client_id": "me", "image": "vastai/base-image:latest", "disk": 16, "env": {}}
        answer = http.put(f"/api/v0/asks/{offer['id']}/", json=body).raise_for_status().json()
    return int(answer["new_contract"])


@pytest.mark.operator_args("--allow-adoption")
def test_existing_instance_is_adopted_through_the_annotation(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    instance_id = rent_by_hand(sim)
    before = sim.admin.count("PUT /api/v0/asks/{id}/")
    manifest = instance_manifest("adopted", offer={"query": {"gpuName": "RTX 3090", "numGpus": 1}})
    manifest["metadata"]["annotations"] = {"vast.ai/instance-id": str(instance_id)}
    k.apply(manifest)
    status = k.wait_phase(KIND, "adopted", "Running")
    assert status["instanceId"] == instance_id
    assert sim.admin.count("PUT /api/v0/asks/{id}/") == before  # nothing new rented
    uid = str(k.get(KIND, "adopted")["metadata"]["uid"])  # type: ignore[index]
    assert [i["id"] for i in vast.instances_for(uid)] == [instance_id]
    k.delete(KIND, "adopted")
    k.wait_gone(KIND, "adopted")
    assert instance_id not in {i["id"] for i in vast.instances()}


def test_paused_object_is_left_alone_until_unpaused(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    manifest = instance_manifest("paused")
    manifest["metadata"]["annotations"] = {"vast.ai/paused": "true"}
    k.apply(manifest)
    cond = wait_for(
        "Paused condition",
        lambda: (
            c if (c := k.condition(KIND, "paused", "Synced")) and c["reason"] == "Paused" else None
        ),
    )
    assert cond["status"] == "False"
    time.sleep(3)
    uid = str(k.get(KIND, "paused")["metadata"]["uid"])  # type: ignore[index]
    assert vast.instances_for(uid) == []
    k.cluster.kubectl(
        "annotate", KIND, "paused", "-n", k.namespace, "vast.ai/paused-", "--overwrite"
    )
    k.wait_phase(KIND, "paused", "Running")
    assert len(vast.instances_for(uid)) == 1


def test_lifetime_destroys_the_instance_and_keeps_the_object(
    k: Kubectl, operator: OperatorProcess, vast: VastView
) -> None:
    k.apply(instance_manifest("shortlived", lifetime="4s"))
    k.wait_phase(KIND, "shortlived", "Running")
    uid = str(k.get(KIND, "shortlived")["metadata"]["uid"])  # type: ignore[index]
    status = k.wait_phase(KIND, "shortlived", "Stopped", timeout=60)
    assert status.get("expiredAt")
    ready = k.condition(KIND, "shortlived", "Ready")
    assert ready is not None and ready["reason"] == "LifetimeExpired"
    assert vast.instances_for(uid) == []
    time.sleep(3)
    assert vast.instances_for(uid) == []  # not rented again


def test_interruptible_instance_is_a_bid_at_the_given_price(
    k: Kubectl, operator: OperatorProcess, vast: VastView
) -> None:
    k.apply(instance_manifest("bid", type="interruptible", bidPerHour=0.9, maxPricePerHour=1.0))
    k.wait_phase(KIND, "bid", "Running")
    uid = str(k.get(KIND, "bid")["metadata"]["uid"])  # type: ignore[index]
    (inst,) = vast.instances_for(uid)
    assert inst["is_bid"] is True
    assert inst["min_bid"] <= 0.9


def test_price_cap_is_never_exceeded(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    # Ask the market exactly what the operator will ask it.
    spec = VastInstanceSpec.model_validate(instance_manifest("probe")["spec"])
    with sim.client() as http:
        body = placement.build_query(spec).to_body()
        offers = http.post("/api/v0/bundles/", json=body).raise_for_status().json()["offers"]
    prices = sorted(o["dph_total"] for o in offers)
    cap = prices[0]  # only the cheapest offer(s) fit
    names = [f"capped-{i}" for i in range(3)]
    for name in names:
        k.apply(instance_manifest(name, maxPricePerHour=cap))

    def settled() -> list[tuple[str, str | None]] | None:
        states = []
        for name in names:
            phase = k.phase(KIND, name)
            ready = k.condition(KIND, name, "Ready") or {}
            if phase == "Running":
                states.append((name, "Running"))
            elif phase == "Searching" and ready.get("reason") == "PriceCapTooLow":
                states.append((name, "PriceCapTooLow"))
            else:
                return None
        return states

    states = wait_for("every object running or waiting for a cheap offer", settled)
    running = [n for n, state in states if state == "Running"]
    assert running, states  # the cheapest offer fits (one machine may serve several)
    for obj in k.list(KIND):
        price = (obj.get("status") or {}).get("pricePerHour")
        if price is not None:
            assert price <= cap
    for name in running:
        (inst,) = vast.instances_for(str(k.get(KIND, name)["metadata"]["uid"]))  # type: ignore[index]
        assert inst["dph_total"] <= cap
