"""What a person sees: stuck objects explain themselves, pending changes are named, a stopped
instance says so. Through the real managed loop and the VastInstance adapter over fakes."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import Harness, instance_harness, obj
from fakes import instance_spec as spec

PLURAL = "vastinstances"


@pytest.fixture
async def h() -> Any:
    harness = await instance_harness()
    yield harness
    await harness.stop()


async def running(h: Harness) -> int:
    """Rent and bring the instance to Running; returns its id."""
    await h.reconcile()
    instance_id = int(h.status()["instanceId"])
    h.vast._set(instance_id, actual_status="running", ssh_host="ssh1.vast.ai", ssh_port=2222)
    h.clock.advance(20)
    await h.reconcile()
    assert h.status()["phase"] == "Running"
    return instance_id


def change_spec(h: Harness, **fields: Any) -> None:
    body = h.kube.objects[(PLURAL, "ns", "x")]
    body["spec"].update(fields)
    body["metadata"]["generation"] += 1


async def test_a_missing_secret_still_gives_a_phase_ready_and_one_warning(h: Harness) -> None:
    h.add(obj(spec=spec(credentialsRef={"name": "vast"})))
    for _ in range(3):
        await h.reconcile()
    status = h.status()
    assert status["phase"] == "Pending"
    assert h.condition("Ready")["reason"] == "CredentialsNotFound"
    assert h.events.reasons().count("CredentialsNotFound") == 1


async def test_entering_price_cap_too_low_warns_once(h: Harness) -> None:
    h.add(obj(spec=spec(maxPricePerHour=0.05)))
    for _ in range(3):
        h.clock.advance(70)
        await h.reconcile()
    assert h.condition("Ready")["reason"] == "PriceCapTooLow"
    warnings = [e for e in h.events.seen if e[0] == "Warning" and e[1] == "PriceCapTooLow"]
    assert len(warnings) == 1
    assert "the cheapest at $0.300/h" in warnings[0][2]


async def test_a_rent_time_change_is_named_and_waits_for_the_next_rental(h: Harness) -> None:
    h.add(obj(spec=spec()))
    first = await running(h)
    assert h.condition("UpToDate")["status"] == "True"
    change_spec(h, env=[{"name": "A", "value": "1"}], ports=[8080])
    h.clock.advance(20)
    await h.reconcile()
    await h.reconcile()
    cond = h.condition("UpToDate")
    assert cond["status"] == "False" and cond["reason"] == "WaitsForNextRental"
    assert "spec.env, spec.ports" in cond["message"]
    assert h.events.reasons().count("WaitsForNextRental") == 1
    assert h.status()["instanceId"] == first  # nothing destroyed
    assert h.vast.count("destroy_instance") == 0


async def test_update_policy_recreate_applies_the_change_now(h: Harness) -> None:
    h.add(obj(spec=spec(updatePolicy="Recreate")))
    first = await running(h)
    change_spec(h, env=[{"name": "A", "value": "1"}])
    h.clock.advance(20)
    await h.reconcile()
    assert first not in h.vast.instances
    h.clock.advance(20)
    await h.reconcile()
    assert h.vast.count("create_instance") == 2
    assert h.status()["instanceId"] != first
    assert "Recreating" in h.events.reasons()


async def test_a_stopped_instance_shows_its_storage_price_and_no_ssh_command(
    h: Harness,
) -> None:
    h.add(obj(spec=spec(writeConnectionSecretToRef={"name": "conn"})))
    instance_id = await running(h)
    assert h.kube.applied[-1][2]["ssh"] == "ssh -p 2222 root@ssh1.vast.ai"
    change_spec(h, state="Stopped")
    await h.reconcile()
    h.vast._set(instance_id, storage_cost=0.36, disk_space=20)
    h.clock.advance(20)
    await h.reconcile()
    assert h.status()["phase"] == "Stopped"
    assert h.status()["pricePerHour"] == pytest.approx(0.36 * 20 / 720)
    data = h.kube.applied[-1][2]
    assert data["state"] == "Stopped" and data["ssh"] == "" and data["port"] == ""


async def test_no_matching_offer_suggests_vasts_spelling(h: Harness) -> None:
    h.vast.offers = []
    h.add(obj(spec=spec(offer={"query": {"gpuName": "RTX4090"}})))
    await h.reconcile()
    cond = h.condition("Ready")
    assert cond["reason"] == "NoMatchingOffer"
    assert "Did you mean 'RTX 4090'" in cond["message"]
    assert h.events.reasons().count("NoMatchingOffer") == 1


async def test_a_spent_search_quota_says_when_it_resets_and_waits_for_it(h: Harness) -> None:
    import time

    from vast_operator.vast import errors as verr

    reset = time.time() + 3600
    h.vast.fail["search_offers"] = verr.SearchQuotaExceededError(
        "search_quota_exceeded", reset_at=reset, status=429, route="POST /api/v0/bundles/"
    )
    h.add(obj(spec=spec()))
    delay = await h.reconcile()
    assert h.condition("Ready")["reason"] == "SearchQuotaExceeded"
    assert "UTC" in h.condition("Ready")["message"]
    assert delay > 3000  # no searching every minute all day
    assert h.events.reasons().count("SearchQuotaExceeded") == 1
