"""VastVolume through the real managed loop: create once, notice loss, delete without a leak.

Each test names the behaviour it proves. The volume market is two offers (machines 12, 13);
FakeVast numbers what it creates from 1000 and names a volume as the adapter asked.
"""

from __future__ import annotations

from typing import Any

import pytest
from fakes import Harness, obj

from vast_operator.reconcile.conditions import Reason
from vast_operator.reconcile.volume import VolumeAdapter
from vast_operator.vast import errors as verr
from vast_operator.vast.models import Volume, VolumeOffer

FIRST = 1000
OURS = "k8s_uidx"  # the Vast name of the object with uid "uid-x" and no spec.name


@pytest.fixture
async def h() -> Any:
    harness = Harness(adapter=VolumeAdapter(), plural="vastvolumes")
    harness.vast.volume_offers = [
        VolumeOffer(id=31, machine_id=12, disk_space=500, storage_cost=0.1),
        VolumeOffer(id=32, machine_id=13, disk_space=500, storage_cost=0.2),
    ]
    yield harness
    await harness.stop()


def unknown_outcome() -> verr.CreateOutcomeUnknownError:
    return verr.CreateOutcomeUnknownError("timed out", route="PUT /api/v0/volumes/")


def mounting(name: str, volume: str = "x") -> dict[str, Any]:
    """A VastInstance in the namespace whose spec mounts the VastVolume `volume`."""
    return obj(
        name,
        spec={
            "offer": {"query": {"gpuName": "RTX 4090"}},
            "image": "pytorch/pytorch",
            "volumes": [{"name": volume, "mountPath": "/data"}],
        },
    )


# --- creating -----------------------------------------------------------------------------


async def test_a_new_volume_is_created_once_and_becomes_available(h: Harness) -> None:
    h.add(obj(spec={"size": 50}))
    for _ in range(4):
        await h.reconcile()
        h.clock.advance(30)
    status = h.status()
    assert h.vast.args("create_volume") == [31]
    assert status["phase"] == "Available"
    assert (status["volumeId"], status["volumeName"]) == (FIRST, f"V.{FIRST}")
    assert (status["machineId"], status["size"]) == (12, 50)
    assert h.condition("Ready")["status"] == "True"
    assert h.vast.volumes[FIRST].label == OURS


async def test_the_intent_with_the_offer_is_in_the_api_server_before_the_create_call(
    h: Harness,
) -> None:
    at_create: list[dict[str, Any]] = []
    h.vast.hooks["create_volume"] = lambda _: at_create.append(h.status())
    h.add(obj(spec={"size": 50}))
    await h.reconcile()
    assert at_create[0]["phase"] == "Creating"
    assert at_create[0]["offerId"] == 31
    assert at_create[0]["creatingSince"]


async def test_a_taken_volume_offer_moves_the_create_on_to_the_next_offer(h: Harness) -> None:
    def taken(offer_id: int) -> None:
        if offer_id == 31:
            raise verr.OfferUnavailableError("no_such_ask", status=404, route="PUT /volumes/")

    h.vast.hooks["create_volume"] = taken
    h.add(obj(spec={"size": 50}))
    await h.reconcile()
    assert h.vast.args("create_volume") == [31, 32]
    assert h.status()["machineId"] == 13
    assert h.status()["phase"] == "Available"


async def test_without_an_offer_large_enough_nothing_is_created_and_the_volume_is_pending(
    h: Harness,
) -> None:
    h.add(obj(spec={"size": 900}))
    await h.reconcile()
    assert h.vast.count("create_volume") == 0
    assert h.status()["phase"] == "Pending"
    assert h.condition("Ready")["reason"] == "NoMatchingOffer"


async def test_a_create_with_an_unknown_outcome_is_not_repeated_and_the_volume_that_appears_is_adopted(  # noqa: E501
    h: Harness,
) -> None:
    h.add(obj(spec={"size": 50}))
    h.vast.fail["create_volume_after"] = unknown_outcome()  # created, the answer lost
    h.vast.hidden.add(FIRST)  # and not listed yet
    await h.reconcile()
    assert h.status()["outcomeUnknownSince"]
    del h.vast.fail["create_volume_after"]
    for _ in range(4):
        h.clock.advance(10)
        await h.reconcile()
    assert h.vast.count("create_volume") == 1
    h.vast.hidden.clear()
    h.clock.advance(h.tuning.create_settle)
    await h.reconcile()
    assert h.vast.count("create_volume") == 1
    assert h.status()["volumeId"] == FIRST
    assert h.status()["phase"] == "Available"


# --- losing it ----------------------------------------------------------------------------


async def test_a_volume_deleted_outside_the_operator_is_reported_lost_after_a_restart(
    h: Harness,
) -> None:
    h.add(obj(spec={"size": 50}))
    await h.reconcile()
    h.loop.forget("uid-x")  # a new operator process: only the API server remembers
    del h.vast.volumes[FIRST]
    h.clock.advance(60)
    await h.reconcile()
    assert h.status()["phase"] == "Failed"
    assert h.condition("Ready")["reason"] == "VolumeLost"
    assert "VolumeLost" in h.events.reasons()
    await h.reconcile()
    assert h.vast.count("create_volume") == 1  # its data is gone: not silently made again


async def test_a_volume_deleted_outside_the_operator_is_reported_lost_by_the_process_that_made_it(
    h: Harness,
) -> None:
    h.add(obj(spec={"size": 50}))
    await h.reconcile()
    await h.reconcile()
    del h.vast.volumes[FIRST]
    h.clock.advance(60)
    await h.reconcile()
    assert h.status()["phase"] == "Failed"
    assert h.condition("Ready")["reason"] == "VolumeLost"


# --- names --------------------------------------------------------------------------------


async def test_a_volume_named_by_the_user_that_someone_else_already_made_is_never_adopted(
    h: Harness,
) -> None:
    h.vast.volumes[500] = Volume(id=500, label="shared", machine_id=12, disk_space=50)
    h.add(obj(spec={"size": 50, "name": "shared"}))
    for _ in range(3):
        await h.reconcile()
        h.clock.advance(30)
    assert h.status().get("volumeId") != 500
    result = await h.delete()
    assert result.done
    assert 500 not in h.vast.args("delete_volume")
    assert 500 in h.vast.volumes


async def test_after_an_unknown_create_a_same_named_volume_that_existed_before_is_not_adopted(
    h: Harness,
) -> None:
    h.vast.volumes[500] = Volume(id=500, label="shared", machine_id=12, disk_space=50)
    h.vast.fail["create_volume"] = unknown_outcome()  # nothing landed
    h.add(obj(spec={"size": 50, "name": "shared"}))
    await h.reconcile()
    h.vast.fail.clear()
    h.clock.advance(h.tuning.create_settle + 1)
    await h.reconcile()
    assert h.status().get("volumeId") != 500
    await h.delete()
    assert 500 in h.vast.volumes


async def test_a_same_named_volume_made_by_someone_else_while_a_create_was_unanswered_is_not_adopted(  # noqa: E501
    h: Harness,
) -> None:
    h.vast.fail["create_volume"] = unknown_outcome()  # nothing landed
    h.add(obj(spec={"size": 50, "name": "shared"}))
    await h.reconcile()
    h.vast.fail.clear()
    h.vast.volumes[500] = Volume(id=500, label="shared", machine_id=13, disk_space=50)
    h.clock.advance(h.tuning.create_settle + 1)
    await h.reconcile()
    assert h.status().get("volumeId") != 500
    await h.delete()
    assert 500 in h.vast.volumes


# --- deletion -----------------------------------------------------------------------------


async def test_deletion_deletes_the_volume_and_is_done_once_vast_no_longer_lists_it(
    h: Harness,
) -> None:
    h.add(obj(spec={"size": 50}))
    await h.reconcile()
    result = await h.delete()
    assert result.done and result.reason == Reason.DESTROYED
    assert h.vast.args("delete_volume") == [FIRST]
    assert h.vast.volumes == {}


async def test_a_second_volume_with_the_objects_uid_name_is_deleted_and_never_outlives_it(
    h: Harness,
) -> None:
    """Found by the soak: two replicas each created the object's volume at the same moment;
    the deletion then deleted the one in status and left the other on Vast."""
    h.add(obj(spec={"size": 50}))
    await h.reconcile()
    h.vast.volumes[900] = Volume(id=900, label=OURS, machine_id=13, disk_space=50)
    h.clock.advance(30)
    await h.reconcile()
    assert h.vast.args("delete_volume") == [900]  # the unused duplicate goes at once
    assert "DuplicateDestroyed" in h.events.reasons()
    assert int(h.status()["volumeId"]) == FIRST
    h.vast.volumes[901] = Volume(id=901, label=OURS, machine_id=13, disk_space=50)
    result = await h.delete()  # one that appeared just before the deletion goes with it
    assert result.done and sorted(h.vast.args("delete_volume")) == [900, 901, FIRST]
    assert h.vast.volumes == {}


async def test_a_volume_named_by_the_user_is_never_taken_for_a_duplicate(h: Harness) -> None:
    h.add(obj(spec={"size": 50, "name": "mine"}))
    await h.reconcile()
    h.vast.volumes[900] = Volume(id=900, label="mine", machine_id=13, disk_space=50)
    h.clock.advance(30)
    await h.reconcile()
    assert (await h.delete()).done
    assert h.vast.args("delete_volume") == [FIRST] and 900 in h.vast.volumes


async def test_deletion_after_an_unknown_create_waits_the_settle_window_then_deletes_the_volume_that_appeared(  # noqa: E501
    h: Harness,
) -> None:
    h.add(obj(spec={"size": 50}))
    h.vast.fail["create_volume_after"] = unknown_outcome()
    h.vast.hidden.add(FIRST)  # created on Vast, not listed yet
    await h.reconcile()
    result = await h.delete()
    assert not result.done and result.reason == Reason.OUTCOME_PENDING
    assert result.wait_seconds is not None and result.wait_seconds <= 5
    assert h.vast.count("delete_volume") == 0
    h.vast.hidden.clear()
    h.clock.advance(h.tuning.create_settle + 1)
    result = await h.delete()
    assert result.done and result.reason == Reason.DESTROYED
    assert h.vast.args("delete_volume") == [FIRST]
    assert h.vast.volumes == {}  # no leak


@pytest.mark.parametrize(
    "user",
    ["a VastInstance in the namespace mounts it", "Vast lists an instance using it"],
)
async def test_deletion_waits_while_the_volume_is_in_use(h: Harness, user: str) -> None:
    h.add(obj(spec={"size": 50}))
    await h.reconcile()
    if user.startswith("a VastInstance"):
        h.kube.add("vastinstances", mounting("trainer"))
        h.kube.add("vastinstances", mounting("other", volume="another-volume"))
    else:
        h.vast.volumes[FIRST] = h.vast.volumes[FIRST].model_copy(update={"instances": [4242]})
    for _ in range(2):
        result = await h.delete()
        assert not result.done and result.reason == Reason.IN_USE
        assert result.wait_seconds == 5
    assert h.vast.count("delete_volume") == 0
    assert h.condition("Ready")["reason"] == "InUse"
    if user.startswith("a VastInstance"):
        assert h.status()["usedBy"] == ["trainer"]
        del h.kube.objects[("vastinstances", "ns", "trainer")]
    else:
        h.vast.volumes[FIRST] = h.vast.volumes[FIRST].model_copy(update={"instances": []})
    result = await h.delete()
    assert result.done and h.vast.args("delete_volume") == [FIRST]
