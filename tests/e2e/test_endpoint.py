"""VastEndpoint and its workergroups from apply to delete, against the real API server and the
simulator: created once, changed in place, restarts create nothing."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from harness import Kubectl, OperatorProcess, VastView, wait_for

KIND = "vastendpoints"
PYTORCH = "661d064bbda1f2a133816b6d55da07c3"  # templates every simulated world has
CUDA = "b0a1e0d6a76f4fb0a4f9a2c3d1e2f3a4"
DEFAULTS = "verified=True rentable=True rented=False"

EP_CREATE = "POST /api/v0/endptjobs/"
EP_UPDATE = "PUT /api/v0/endptjobs/{id}/"
EP_DELETE = "DELETE /api/v0/endptjobs/{id}/"
EP_LIST = "GET /api/v0/endptjobs/"
WG_CREATE = "POST /api/v0/autojobs/"
WG_UPDATE = "PUT /api/v0/autojobs/{id}/"
WG_DELETE = "DELETE /api/v0/autojobs/{id}/"
TEMPLATE_CREATE = "POST /api/v0/template/"
WRITES = (EP_CREATE, EP_UPDATE, EP_DELETE, WG_CREATE, WG_UPDATE, WG_DELETE, TEMPLATE_CREATE)


def endpoint_manifest(name: str, endpoint_name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"endpointName": endpoint_name}
    body.update(spec)
    return {
        "apiVersion": "vast.ai/v1alpha1",
        "kind": "VastEndpoint",
        "metadata": {"name": name},
        "spec": body,
    }


def group(name: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "templateHash": PYTORCH}
    body.update(fields)
    return body


def unique_name(k: Kubectl, suffix: str) -> str:
    """Endpoint names are per account (the session's simulator): make them per test."""
    return f"{k.namespace}-{suffix}"[-200:]


def counts(sim: Any) -> dict[str, int]:
    routes = sim.admin.counters()["routes"]
    return {route: int(routes.get(route, 0)) for route in (*WRITES, EP_LIST)}


def delta(sim: Any, before: dict[str, int]) -> dict[str, int]:
    after = counts(sim)
    return {route: after[route] - before[route] for route in after if after[route] != before[route]}


def vast_endpoint(vast: VastView, endpoint_id: int) -> dict[str, Any] | None:
    return next((e for e in vast.endpoints() if e["id"] == endpoint_id), None)


def vast_groups(vast: VastView, endpoint_id: int) -> dict[int, dict[str, Any]]:
    return {g["id"]: g for g in vast.workergroups() if g["endpoint_id"] == endpoint_id}


def status_groups(k: Kubectl, name: str) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in k.status(KIND, name).get("workergroups") or []}


def wait_reason(k: Kubectl, name: str, type_: str, reason: str) -> dict[str, Any]:
    return wait_for(
        f"{name} {type_} reason {reason}",
        lambda: c if (c := k.condition(KIND, name, type_)) and c["reason"] == reason else None,
    )


def wait_listings(sim: Any, n: int) -> None:
    """Wait until the operator listed endpoints `n` more times (so it has looked again)."""
    start = sim.admin.count(EP_LIST)
    wait_for(f"{n} endpoint listings", lambda: sim.admin.count(EP_LIST) >= start + n, 30)


def templates(sim: Any, hash_id: str) -> list[dict[str, Any]]:
    with sim.client() as http:
        data = http.get(
            "/api/v0/template/", params={"select_filters": json.dumps({"hash_id": {"eq": hash_id}})}
        )
    return list(data.raise_for_status().json()["templates"])


# --- lifecycle ----------------------------------------------------------------------------------


def test_endpoint_lifecycle_updates_in_place_and_deletes_groups_then_endpoint(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    ep_name = unique_name(k, "llm")
    groups = [
        group("fast", searchParams="gpu_name=RTX_4090 num_gpus=1", gpuRam=24, maxWorkers=4),
        group("bulk", templateHash=CUDA, searchParams="gpu_name=RTX_3090", coldWorkers=1),
    ]
    spec = {"minLoad": 1, "targetUtil": 0.8, "maxWorkers": 12, "workergroups": groups}
    before = counts(sim)
    assert k.apply(endpoint_manifest("llm", ep_name, **spec)).returncode == 0
    status = k.wait_phase(KIND, "llm", "Ready")

    endpoint_id = status["endpointId"]
    assert isinstance(endpoint_id, int)
    assert status["endpointState"] == "active"
    assert "creatingSince" not in status
    ids = {g["name"]: g["id"] for g in status["workergroups"]}
    assert set(ids) == {"fast", "bulk"} and all(isinstance(i, int) for i in ids.values())
    assert {g["name"]: g["templateHash"] for g in status["workergroups"]} == {
        "fast": PYTORCH,
        "bulk": CUDA,
    }
    obj = k.get(KIND, "llm")
    assert status["observedGeneration"] == obj["metadata"]["generation"]  # type: ignore[index]
    assert "vast.ai/finalizer" in obj["metadata"]["finalizers"]  # type: ignore[index]
    for type_ in ("Ready", "Synced"):
        cond = k.condition(KIND, "llm", type_)
        assert cond is not None and cond["status"] == "True", cond

    row = vast_endpoint(vast, endpoint_id)
    assert row is not None
    assert (row["endpoint_name"], row["min_load"], row["target_util"], row["max_workers"]) == (
        ep_name,
        1.0,
        0.8,
        12,
    )
    on_vast = vast_groups(vast, endpoint_id)
    assert set(on_vast) == set(ids.values())
    fast, bulk = on_vast[ids["fast"]], on_vast[ids["bulk"]]
    assert (fast["template_hash"], fast["gpu_ram"]) == (PYTORCH, 24.0)
    assert fast["search_params"] == f"gpu_name=RTX_4090 num_gpus=1 {DEFAULTS}"
    assert bulk["template_hash"] == CUDA
    # Workergroup maxWorkers/coldWorkers are deprecated and not sent (CLI 1.9.1 sends none of
    # them): Vast keeps its own values, whatever the spec says.
    assert fast["max_workers"] != 4
    changes = delta(sim, before)
    changes.pop(EP_LIST, None)
    assert changes == {EP_CREATE: 1, WG_CREATE: 2}

    # An endpoint field changes in place: PUT, same id, no new endpoint.
    before = counts(sim)
    k.patch(KIND, "llm", {"spec": {"maxWorkers": 7}})
    wait_for("max_workers 7 on Vast", lambda: vast_endpoint(vast, endpoint_id)["max_workers"] == 7)  # type: ignore[index]
    wait_for("observed", lambda: k.status(KIND, "llm")["observedGeneration"] == 2)
    changes = delta(sim, before)
    assert changes.get(EP_UPDATE, 0) >= 1
    assert EP_CREATE not in changes and WG_CREATE not in changes and WG_UPDATE not in changes
    assert k.status(KIND, "llm")["endpointId"] == endpoint_id

    # A workergroup field changes in place: PUT /autojobs/{id}/, same id.
    before = counts(sim)
    groups[0] = group("fast", searchParams="gpu_name=RTX_4090 num_gpus=2", gpuRam=48, maxWorkers=4)
    spec.update(maxWorkers=7, workergroups=groups)
    assert k.apply(endpoint_manifest("llm", ep_name, **spec)).returncode == 0
    wait_for("gpu_ram 48", lambda: vast_groups(vast, endpoint_id)[ids["fast"]]["gpu_ram"] == 48)
    fast = vast_groups(vast, endpoint_id)[ids["fast"]]
    assert fast["search_params"] == f"gpu_name=RTX_4090 num_gpus=2 {DEFAULTS}"
    changes = delta(sim, before)
    assert changes.get(WG_UPDATE, 0) >= 1
    assert WG_CREATE not in changes and EP_CREATE not in changes and EP_UPDATE not in changes
    assert {g: s["id"] for g, s in status_groups(k, "llm").items()} == ids

    # Narrowing the query (a prefix of the old one) is a change too.
    groups[0] = group("fast", searchParams="gpu_name=RTX_4090", gpuRam=48, maxWorkers=4)
    spec.update(workergroups=groups)
    assert k.apply(endpoint_manifest("llm", ep_name, **spec)).returncode == 0
    wait_for(
        "narrower query on Vast",
        lambda: (
            vast_groups(vast, endpoint_id)[ids["fast"]]["search_params"]
            == f"gpu_name=RTX_4090 {DEFAULTS}"
        ),
    )

    # A third workergroup is created; a dropped one is deleted from Vast.
    before = counts(sim)
    spec.update(workergroups=[*groups, group("spare", searchParams="gpu_name=A100_PCIE")])
    assert k.apply(endpoint_manifest("llm", ep_name, **spec)).returncode == 0
    wait_for("three groups", lambda: len(status_groups(k, "llm")) == 3)
    spare = status_groups(k, "llm")["spare"]["id"]
    assert set(vast_groups(vast, endpoint_id)) == {*ids.values(), spare}
    assert delta(sim, before).get(WG_CREATE) == 1

    before = counts(sim)
    spec.update(workergroups=[groups[0], group("spare", searchParams="gpu_name=A100_PCIE")])
    assert k.apply(endpoint_manifest("llm", ep_name, **spec)).returncode == 0
    wait_for("bulk deleted", lambda: set(vast_groups(vast, endpoint_id)) == {ids["fast"], spare})
    wait_for("status follows", lambda: set(status_groups(k, "llm")) == {"fast", "spare"})
    changes = delta(sim, before)
    assert changes.get(WG_DELETE) == 1 and WG_CREATE not in changes

    # A restart creates and changes nothing.
    before = counts(sim)
    operator.restart()
    wait_listings(sim, 3)
    assert k.phase(KIND, "llm") == "Ready"
    assert set(delta(sim, before)) <= {EP_LIST}
    assert [e["id"] for e in vast.endpoints() if e["endpoint_name"] == ep_name] == [endpoint_id]

    # Deletion removes the workergroups, then the endpoint.
    before = counts(sim)
    k.delete(KIND, "llm")
    k.wait_gone(KIND, "llm")
    assert vast_endpoint(vast, endpoint_id) is None
    assert vast_groups(vast, endpoint_id) == {}
    changes = delta(sim, before)
    assert changes.get(WG_DELETE) == 2 and changes.get(EP_DELETE) == 1


def test_workergroup_image_gets_one_private_template(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    ep_name = unique_name(k, "img")
    image = "vllm/vllm-openai:v0.6.0"
    groups = [{"name": "serve", "image": image, "searchParams": "gpu_name=RTX_4090"}]
    before = counts(sim)
    k.apply(endpoint_manifest("img", ep_name, workergroups=groups))
    status = k.wait_phase(KIND, "img", "Ready")
    entry = status["workergroups"][0]
    assert entry["image"] == image
    template_hash = entry["templateHash"]
    assert template_hash and template_hash != image
    [template] = templates(sim, template_hash)
    assert (template["image"], template["tag"], template["private"]) == (
        "vllm/vllm-openai",
        "v0.6.0",
        True,
    )
    assert vast_groups(vast, status["endpointId"])[entry["id"]]["template_hash"] == template_hash

    # Made once: later passes and a restart reuse it.
    wait_listings(sim, 2)
    operator.restart()
    wait_listings(sim, 3)
    changes = delta(sim, before)
    assert changes.get(TEMPLATE_CREATE) == 1 and changes.get(WG_CREATE) == 1
    assert WG_UPDATE not in changes

    # A new image: a new template, and the same workergroup now uses it.
    groups[0]["image"] = "vllm/vllm-openai:v0.6.1"
    k.apply(endpoint_manifest("img", ep_name, workergroups=groups))
    wait_for(
        "new template in status",
        lambda: status_groups(k, "img")["serve"].get("image") == "vllm/vllm-openai:v0.6.1",
    )
    new_entry = status_groups(k, "img")["serve"]
    assert new_entry["id"] == entry["id"]
    assert new_entry["templateHash"] != template_hash
    assert templates(sim, new_entry["templateHash"])[0]["tag"] == "v0.6.1"
    wait_for(
        "workergroup uses it",
        lambda: (
            vast_groups(vast, status["endpointId"])[entry["id"]]["template_hash"]
            == new_entry["templateHash"]
        ),
    )
    assert delta(sim, before).get(TEMPLATE_CREATE) == 2
    # The template of the old image is not left behind ...
    wait_for("old template deleted", lambda: templates(sim, template_hash) == [])
    # ... nor the current one once the endpoint is deleted.
    k.delete(KIND, "img")
    k.wait_gone(KIND, "img")
    assert templates(sim, new_entry["templateHash"]) == []


def test_orphan_policy_keeps_the_endpoint(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    ep_name = unique_name(k, "kept")
    k.apply(endpoint_manifest("kept", ep_name, deletionPolicy="Orphan", workergroups=[group("a")]))
    status = k.wait_phase(KIND, "kept", "Ready")
    k.delete(KIND, "kept")
    k.wait_gone(KIND, "kept")
    assert vast_endpoint(vast, status["endpointId"]) is not None
    assert len(vast_groups(vast, status["endpointId"])) == 1
    with sim.client() as http:  # clean up by hand, like a user would
        http.request(
            "DELETE", f"/api/v0/endptjobs/{status['endpointId']}/", json={}
        ).raise_for_status()


# --- what Vast refuses --------------------------------------------------------------------------


def test_unknown_template_is_refused_with_a_stable_reason_and_the_rest_converges(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    ep_name = unique_name(k, "refused")
    groups = [group("good"), group("bad", templateHash="0123456789abcdef0123456789abcdef")]
    k.apply(endpoint_manifest("refused", ep_name, workergroups=groups))
    ready = wait_reason(k, "refused", "Ready", "VastRejected")
    assert ready["status"] == "False"
    assert "workergroup bad" in ready["message"] and "not found" in ready["message"]
    synced = k.condition(KIND, "refused", "Synced")
    assert synced is not None and synced["status"] == "False"
    assert synced["reason"] == "VastRejected"
    status = k.status(KIND, "refused")
    assert status["phase"] == "Failed"
    assert set(status_groups(k, "refused")) == {"good"}
    assert len(vast_groups(vast, status["endpointId"])) == 1
    assert any(e.get("reason") == "WorkergroupRejected" for e in k.events())

    # Fixing the spec recovers without waiting for the error back-off.
    groups[1] = group("bad", templateHash=CUDA)
    k.apply(endpoint_manifest("refused", ep_name, workergroups=groups))
    k.wait_phase(KIND, "refused", "Ready", timeout=30)
    assert len(vast_groups(vast, status["endpointId"])) == 2


def test_vast_failing_on_create_ends_in_a_condition_and_creates_once(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    ep_name = unique_name(k, "flaky")
    sim.admin.fault("500", route=EP_CREATE, count=-1)
    try:
        k.apply(endpoint_manifest("flaky", ep_name, workergroups=[group("a")]))
        synced = wait_reason(k, "flaky", "Synced", "VastUnavailable")
        assert synced["status"] == "False"
        status = k.status(KIND, "flaky")
        assert status["phase"] == "Creating" and status["creatingSince"]
    finally:
        sim.admin.clear_faults()
    status = k.wait_phase(KIND, "flaky", "Ready", timeout=60)
    assert [e["id"] for e in vast.endpoints() if e["endpoint_name"] == ep_name] == [
        status["endpointId"]
    ]


def test_create_answered_late_makes_one_endpoint(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    """The create times out on our side (3 s) but Vast makes the endpoint after 8 s."""
    ep_name = unique_name(k, "late")
    sim.admin.fault("slow", route=EP_CREATE, count=1, seconds=8)
    before = counts(sim)
    k.apply(endpoint_manifest("late", ep_name, workergroups=[group("a")]))
    status = k.wait_phase(KIND, "late", "Ready", timeout=90)
    assert [e["id"] for e in vast.endpoints() if e["endpoint_name"] == ep_name] == [
        status["endpointId"]
    ]
    assert delta(sim, before).get(EP_CREATE) == 1
    events = [e.get("reason") for e in k.events()]
    assert "Created" not in events  # adopted, not created by a second call


def test_bad_api_key_in_credentials_ref(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    bad = "bad-key-" + "q" * 24
    k.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "vast-creds"},
            "stringData": {"api-key": bad},
        }
    )
    ep_name = unique_name(k, "badkey")
    k.apply(
        endpoint_manifest(
            "badkey", ep_name, credentialsRef={"name": "vast-creds"}, workergroups=[group("a")]
        )
    )
    synced = wait_reason(k, "badkey", "Synced", "InvalidCredentials")
    assert synced["status"] == "False"
    assert bad not in json.dumps(k.get(KIND, "badkey"))
    assert not [e for e in vast.endpoints() if e["endpoint_name"] == ep_name]

    k.apply(
        endpoint_manifest(
            "nokey", unique_name(k, "nokey"), credentialsRef={"name": "vast-creds", "key": "nope"}
        )
    )
    missing = wait_reason(k, "nokey", "Synced", "CredentialsNotFound")
    assert "nope" in missing["message"]

    # Nothing was ever created, so deletion needs no working key.
    k.delete(KIND, "badkey")
    k.delete(KIND, "nokey")
    k.wait_gone(KIND, "badkey", timeout=30)
    k.wait_gone(KIND, "nokey", timeout=30)


# --- validation ---------------------------------------------------------------------------------

GOOD = endpoint_manifest(
    "good", "good-endpoint", workergroups=[group("a"), group("b", searchParams="num_gpus=2")]
)


def variant(mutate: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(GOOD)
    mutate(manifest["spec"])
    return manifest


INVALID = [
    ("no endpointName", lambda s: s.pop("endpointName"), "spec.endpointName: Required value"),
    ("endpointName with spaces", lambda s: s.update(endpointName="my llm"), "spec.endpointName"),
    ("empty endpointName", lambda s: s.update(endpointName=""), "spec.endpointName"),
    (
        "templateHash and image",
        lambda s: s["workergroups"][0].update(image="vllm/vllm-openai:latest"),
        "each workergroup needs exactly one of templateHash or image",
    ),
    (
        "neither templateHash nor image",
        lambda s: s["workergroups"][0].pop("templateHash"),
        "each workergroup needs exactly one of templateHash or image",
    ),
    (
        "duplicate workergroup names",
        lambda s: s["workergroups"][1].update(name="a"),
        'spec.workergroups[1]: Duplicate value: {"name":"a"}',
    ),
    (
        "workergroup without a name",
        lambda s: s["workergroups"][0].pop("name"),
        "spec.workergroups[0].name: Required value",
    ),
    ("bad workergroup name", lambda s: s["workergroups"][0].update(name="A B"), "name"),
    ("targetUtil above 1", lambda s: s.update(targetUtil=1.5), "spec.targetUtil"),
    ("negative maxWorkers", lambda s: s.update(maxWorkers=-1), "spec.maxWorkers"),
    ("zero gpuRam", lambda s: s["workergroups"][0].update(gpuRam=0), "gpuRam"),
    ("unknown field", lambda s: s.update(replicas=2), 'unknown field "spec.replicas"'),
]


@pytest.mark.parametrize(("what", "mutate", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_endpoint_is_rejected_with_a_clear_message(
    k: Kubectl, crds: None, what: str, mutate: Any, message: str
) -> None:
    result = k.apply(variant(mutate))
    assert result.returncode != 0, f"{what} was accepted"
    assert message in result.stderr, result.stderr


def test_valid_endpoint_is_accepted(k: Kubectl, crds: None) -> None:
    image_group = variant(lambda s: s["workergroups"].append({"name": "c", "image": "x/y:1"}))
    for manifest in (GOOD, image_group, endpoint_manifest("bare", "bare-endpoint")):
        result = k.apply(manifest)
        assert result.returncode == 0, result.stderr


def test_endpoint_name_cannot_change(k: Kubectl, crds: None) -> None:
    assert k.apply(GOOD).returncode == 0
    result = k.apply(variant(lambda s: s.update(endpointName="other")))
    assert result.returncode != 0
    assert "spec.endpointName cannot be changed after creation" in result.stderr
