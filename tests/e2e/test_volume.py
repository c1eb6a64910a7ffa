"""VastVolume from apply to delete, and an instance that mounts it, against the real API server
and the simulator."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from harness import Kubectl, OperatorProcess, VastView, instance_manifest, wait_for

KIND = "vastvolumes"
CREATE = "PUT /api/v0/volumes/"
LIST = "GET /api/v0/volumes/"


def volume_manifest(name: str, /, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"size": 20}
    body.update(spec)
    return {
        "apiVersion": "vast.ai/v1alpha1",
        "kind": "VastVolume",
        "metadata": {"name": name},
        "spec": body,
    }


def uid_of(k: Kubectl, kind: str, name: str) -> str:
    return str(k.get(kind, name)["metadata"]["uid"])  # type: ignore[index]


def vast_name(uid: str) -> str:
    return "k8s_" + uid.replace("-", "")


def vast_volume(vast: VastView, volume_id: int) -> dict[str, Any] | None:
    return next((v for v in vast.volumes() if v["id"] == volume_id), None)


def wait_reason(k: Kubectl, kind: str, name: str, type_: str, reason: str) -> dict[str, Any]:
    return wait_for(
        f"{kind}/{name} {type_} reason {reason}",
        lambda: c if (c := k.condition(kind, name, type_)) and c["reason"] == reason else None,
    )


def listings_after(sim: Any, n: int, timeout: float = 30) -> None:
    """Wait until the operator listed volumes `n` more times (so it has looked again)."""
    start = sim.admin.count(LIST)
    wait_for(f"{n} volume listings", lambda: sim.admin.count(LIST) >= start + n, timeout)


def delete_on_vast(sim: Any, volume_id: int) -> None:
    with sim.client() as http:
        http.request("DELETE", "/api/v0/volumes/", params={"id": volume_id}).raise_for_status()


# --- lifecycle ----------------------------------------------------------------------------------


def test_volume_becomes_available_and_a_restart_creates_nothing(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    creates = sim.admin.count(CREATE)
    assert k.apply(volume_manifest("data")).returncode == 0
    status = k.wait_phase(KIND, "data", "Available")
    uid = uid_of(k, KIND, "data")

    assert isinstance(status["volumeId"], int)
    assert status["volumeName"] == f"V.{status['volumeId']}"
    assert isinstance(status["machineId"], int)
    assert status["size"] == 20
    assert status["offerId"]
    # Fields the reconciler writes survive the API server's pruning.
    assert status["observedAt"]
    assert "creatingSince" not in status
    obj = k.get(KIND, "data")
    assert status["observedGeneration"] == obj["metadata"]["generation"]  # type: ignore[index]
    assert "vast.ai/finalizer" in obj["metadata"]["finalizers"]  # type: ignore[index]
    ready = k.condition(KIND, "data", "Ready")
    assert ready is not None and ready["status"] == "True" and ready["reason"] == "Available"
    synced = k.condition(KIND, "data", "Synced")
    assert synced is not None and synced["status"] == "True"

    row = vast_volume(vast, status["volumeId"])
    assert row is not None
    assert row["label"] == vast_name(uid)
    assert row["machine_id"] == status["machineId"]
    assert row["disk_space"] == 20
    assert sim.admin.count(CREATE) == creates + 1

    operator.restart()
    listings_after(sim, 3)
    assert k.phase(KIND, "data") == "Available"
    assert k.status(KIND, "data")["volumeId"] == status["volumeId"]
    assert sim.admin.count(CREATE) == creates + 1
    assert [v["id"] for v in vast.volumes() if v["label"] == vast_name(uid)] == [status["volumeId"]]

    k.delete(KIND, "data")
    k.wait_gone(KIND, "data")
    assert vast_volume(vast, status["volumeId"]) is None


def test_volume_created_before_a_crash_is_adopted(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    """Vast created the volume but the operator died before writing status: adopt, not rent."""
    operator.kill()
    k.apply(volume_manifest("crashed", size=12))
    uid = uid_of(k, KIND, "crashed")
    with sim.client() as http:
        offers = (
            http.post("/api/v0/volumes/search/", json={"disk_space": {"gte": 12}, "limit": 1})
            .raise_for_status()
            .json()["offers"]
        )
        http.put(
            "/api/v0/volumes/", json={"size": 12, "id": offers[0]["id"], "name": vast_name(uid)}
        ).raise_for_status()
    existing = [v["id"] for v in vast.volumes() if v["label"] == vast_name(uid)]
    creates = sim.admin.count(CREATE)

    operator.start()
    status = k.wait_phase(KIND, "crashed", "Available")
    assert [status["volumeId"]] == existing
    assert sim.admin.count(CREATE) == creates


def test_create_answered_late_makes_one_volume(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    """The create times out on our side (3 s) but Vast makes the volume after 8 s."""
    creates = sim.admin.count(CREATE)
    sim.admin.fault("slow", route=CREATE, count=1, seconds=8)
    k.apply(volume_manifest("late", size=11))
    uid = uid_of(k, KIND, "late")
    creating = wait_for(
        "intent recorded",
        lambda: s if (s := k.status(KIND, "late")).get("creatingSince") else None,
        timeout=30,
    )
    assert creating["phase"] == "Creating"
    status = k.wait_phase(KIND, "late", "Available", timeout=120)
    time.sleep(3)
    assert sim.admin.count(CREATE) == creates + 1
    assert [v["id"] for v in vast.volumes() if v["label"] == vast_name(uid)] == [status["volumeId"]]


def test_create_refused_ends_in_a_condition_then_converges_once(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    """Vast keeps answering 429 to the create: a definite no, so no settle wait is needed."""
    sim.admin.fault("429_json", route=CREATE, count=-1)
    try:
        k.apply(volume_manifest("limited", size=9))
        ready = wait_reason(k, KIND, "limited", "Ready", "RateLimited")
        assert ready["status"] == "False"
        synced = k.condition(KIND, "limited", "Synced")
        assert synced is not None and synced["reason"] == "RateLimited"
        status = k.status(KIND, "limited")
        assert status["phase"] == "Pending" and "creatingSince" not in status
    finally:
        sim.admin.clear_faults()
    status = k.wait_phase(KIND, "limited", "Available", timeout=60)
    uid = uid_of(k, KIND, "limited")
    assert [v["id"] for v in vast.volumes() if v["label"] == vast_name(uid)] == [status["volumeId"]]


def test_instance_mounting_a_volume_lands_on_its_machine_and_delete_waits_for_it(
    k: Kubectl, operator: OperatorProcess, vast: VastView
) -> None:
    k.apply(volume_manifest("datasets", size=10, offer={"query": {"gpuName": "RTX 4090"}}))
    k.apply(instance_manifest("trainer", volumes=[{"name": "datasets", "mountPath": "/data"}]))
    vol = k.wait_phase(KIND, "datasets", "Available")
    inst = k.wait_phase("vastinstances", "trainer", "Running", timeout=120)

    assert inst["machineId"] == vol["machineId"]
    assert inst["volumes"] == [
        {"name": "datasets", "volumeId": str(vol["volumeId"]), "mountPath": "/data"}
    ]
    row = next(i for i in vast.instances() if i["id"] == inst["instanceId"])
    assert row["machine_id"] == vol["machineId"]
    assert [(v["id"], v["mount_path"]) for v in row["volume_info"]] == [(vol["volumeId"], "/data")]
    assert [f"-v V.{vol['volumeId']}:/data", "1"] in row["extra_env"]
    vrow = vast_volume(vast, vol["volumeId"])
    assert vrow is not None and vrow["instances"] == [inst["instanceId"]]
    wait_for("usedBy", lambda: k.status(KIND, "datasets").get("usedBy") == ["trainer"])

    # Deleting the volume while the instance mounts it waits, and says why.
    k.delete(KIND, "datasets")
    ready = wait_reason(k, KIND, "datasets", "Ready", "InUse")
    assert ready["status"] == "False"
    assert "trainer" in ready["message"]
    assert k.phase(KIND, "datasets") == "Deleting"
    time.sleep(2)
    assert k.get(KIND, "datasets") is not None
    assert vast_volume(vast, vol["volumeId"]) is not None

    k.delete("vastinstances", "trainer")
    k.wait_gone("vastinstances", "trainer")
    k.wait_gone(KIND, "datasets", timeout=120)
    assert vast_volume(vast, vol["volumeId"]) is None


def test_orphan_policy_keeps_the_volume(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    k.apply(volume_manifest("keep", size=5, deletionPolicy="Orphan", name="kept_volume"))
    status = k.wait_phase(KIND, "keep", "Available")
    assert vast_volume(vast, status["volumeId"])["label"] == "kept_volume"  # type: ignore[index]
    k.delete(KIND, "keep")
    k.wait_gone(KIND, "keep")
    assert vast_volume(vast, status["volumeId"]) is not None
    delete_on_vast(sim, status["volumeId"])  # clean up by hand, like a user would


def test_no_matching_volume_offer(k: Kubectl, operator: OperatorProcess, sim: Any) -> None:
    creates = sim.admin.count(CREATE)
    k.apply(volume_manifest("nowhere", offer={"query": {"maxStorageCost": 0.000001}}))
    ready = wait_reason(k, KIND, "nowhere", "Ready", "NoMatchingOffer")
    assert ready["status"] == "False"
    assert "no volume offer" in ready["message"]
    assert k.phase(KIND, "nowhere") == "Pending"
    synced = k.condition(KIND, "nowhere", "Synced")
    assert synced is not None and synced["status"] == "True"
    k.apply(volume_manifest("nogpu", offer={"query": {"gpuName": "RTX 9999 Ultra"}}))
    wait_reason(k, KIND, "nogpu", "Ready", "NoMatchingOffer")
    assert sim.admin.count(CREATE) == creates


def test_bad_api_key_ends_in_a_condition_and_delete_still_works(
    k: Kubectl, operator: OperatorProcess, sim: Any
) -> None:
    k.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "vast-creds"},
            "stringData": {"api-key": "bad-key-" + "z" * 24},
        }
    )
    k.apply(volume_manifest("badkey", credentialsRef={"name": "vast-creds"}))
    synced = wait_reason(k, KIND, "badkey", "Synced", "InvalidCredentials")
    assert synced["status"] == "False"
    k.delete(KIND, "badkey")
    k.wait_gone(KIND, "badkey", timeout=30)


# --- validation ---------------------------------------------------------------------------------

GOOD = volume_manifest("good", offer={"query": {"minReliability": 0.9}})


def variant(mutate: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(GOOD)
    mutate(manifest["spec"])
    return manifest


INVALID = [
    ("size zero", lambda s: s.update(size=0), "spec.size: Invalid value"),
    ("no size", lambda s: s.pop("size"), "spec.size: Required value"),
    (
        "offerId and query together",
        lambda s: s["offer"].update(offerId=12),
        "spec.offer must set exactly one of offerId or query",
    ),
    ("empty offer", lambda s: s.update(offer={}), "exactly one of offerId or query"),
    ("bad name", lambda s: s.update(name="my volume"), "spec.name"),
    ("bad country", lambda s: s["offer"]["query"].update(geolocation=["usa"]), "geolocation"),
    ("bad policy", lambda s: s.update(deletionPolicy="Keep"), 'Unsupported value: "Keep"'),
]


@pytest.mark.parametrize(("what", "mutate", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_volume_is_rejected_with_a_clear_message(
    k: Kubectl, crds: None, what: str, mutate: Any, message: str
) -> None:
    result = k.apply(variant(mutate))
    assert result.returncode != 0, f"{what} was accepted"
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize(
    "spec",
    [{"size": 10}, {"size": 10, "offer": {"offerId": 5}}, GOOD["spec"]],
    ids=["size only", "offerId", "query"],
)
def test_valid_volume_is_accepted(k: Kubectl, crds: None, spec: dict[str, Any]) -> None:
    result = k.apply({**GOOD, "spec": spec})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": 40}, "spec.size cannot be changed after creation"),
        ({"offer": {"query": {"minReliability": 0.5}}}, "spec.offer cannot be changed"),
    ],
    ids=["size", "offer"],
)
def test_immutable_volume_fields(
    k: Kubectl, crds: None, change: dict[str, Any], message: str
) -> None:
    assert k.apply(GOOD).returncode == 0
    result = k.apply({**GOOD, "spec": {**GOOD["spec"], **change}})
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
