"""What only Vast can judge ends in a condition with a stable reason, without a storm."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

from harness import Kubectl, OperatorProcess, VastView, instance_manifest, wait_for

KIND = "vastinstances"


def wait_condition(k: Kubectl, name: str, type_: str, reason: str) -> dict[str, Any]:
    return wait_for(
        f"{name} {type_} reason {reason}",
        lambda: c if (c := k.condition(KIND, name, type_)) and c["reason"] == reason else None,
    )


def requests_during(sim: Any, seconds: float) -> int:
    before = sim.admin.counters()["total"]
    time.sleep(seconds)
    return int(sim.admin.counters()["total"]) - before


def test_no_matching_offer(k: Kubectl, operator: OperatorProcess, sim: Any) -> None:
    k.apply(
        instance_manifest("nothing", offer={"query": {"gpuName": "RTX 9999 Ultra", "numGpus": 1}})
    )
    cond = wait_condition(k, "nothing", "Ready", "NoMatchingOffer")
    assert "no offer on the market matches" in cond["message"]
    assert k.phase(KIND, "nothing") == "Searching"
    synced = k.condition(KIND, "nothing", "Synced")
    assert synced is not None and synced["status"] == "True"


def test_price_cap_nothing_meets(k: Kubectl, operator: OperatorProcess, sim: Any) -> None:
    k.apply(instance_manifest("cheap", maxPricePerHour=0.001))
    cond = wait_condition(k, "cheap", "Ready", "PriceCapTooLow")
    assert "$0.001/h" in cond["message"] and "cheapest" in cond["message"]
    # Waiting for a cheaper offer is not a storm: a few searches a minute at most.
    assert requests_during(sim, 5) <= 10


def test_bad_api_key_in_credentials_ref(
    k: Kubectl, operator: OperatorProcess, sim: Any, vast: VastView
) -> None:
    bad = "bad-key-" + "x" * 24
    k.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "vast-creds"},
            "stringData": {"api-key": bad},
        }
    )
    k.apply(instance_manifest("badkey", credentialsRef={"name": "vast-creds"}))
    cond = wait_condition(k, "badkey", "Synced", "InvalidCredentials")
    assert cond["status"] == "False"
    assert "Invalid user key" in cond["message"]
    assert bad not in json.dumps(k.get(KIND, "badkey"))
    assert requests_during(sim, 5) <= 10  # backs off instead of hammering Vast
    assert operator.alive
    assert vast.instances_for(str(k.get(KIND, "badkey")["metadata"]["uid"])) == []  # type: ignore[index]


def test_missing_credentials_secret(k: Kubectl, operator: OperatorProcess, sim: Any) -> None:
    k.apply(instance_manifest("nocreds", credentialsRef={"name": "does-not-exist"}))
    cond = wait_condition(k, "nocreds", "Synced", "CredentialsNotFound")
    assert "does-not-exist" in cond["message"]


def test_operator_default_key_wrong(
    k: Kubectl,
    operator_kubeconfig: Path,
    sim: Any,
    namespace: str,
    tmp_path: Path,
) -> None:
    wrong = "wrong-default-" + "y" * 20
    proc = OperatorProcess(
        kubeconfig=operator_kubeconfig,
        vast_url=sim.url,
        api_key=wrong,
        namespace=namespace,
        log_path=tmp_path / "op.log",
    ).start()
    try:
        k.apply(instance_manifest("wrongdefault"))
        wait_condition(k, "wrongdefault", "Synced", "InvalidCredentials")
        assert requests_during(sim, 5) <= 10
        assert proc.alive
    finally:
        k.delete(KIND, "wrongdefault")
        k.wait_gone(KIND, "wrongdefault")
        proc.stop()
    assert wrong not in proc.logs()


def test_api_keys_never_leak(
    k: Kubectl, operator: OperatorProcess, sim: Any, cluster: Any, namespace: str
) -> None:
    """The keys are in no log line, event, status or connection Secret."""
    per_object = sim.api_key  # a valid key given through credentialsRef
    k.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "stringData": {"api-key": per_object},
        }
    )
    k.apply(
        instance_manifest(
            "secretive",
            credentialsRef={"name": "creds"},
            writeConnectionSecretToRef={"name": "secretive-ssh"},
        )
    )
    k.apply(instance_manifest("failing", offer={"query": {"gpuName": "Nope", "numGpus": 1}}))
    sim.admin.fault("500", route="*", count=4)
    sim.admin.fault("429_json", route="*", count=4)
    k.wait_phase(KIND, "secretive", "Running")
    wait_for("connection secret", lambda: k.get("secret", "secretive-ssh"))
    key = sim.api_key
    assert key not in operator.logs()
    assert key not in json.dumps(k.events())
    for obj in k.list(KIND):
        assert key not in json.dumps(obj.get("status") or {})
    conn = k.get("secret", "secretive-ssh")
    decoded = [base64.b64decode(v).decode() for v in conn["data"].values()]  # type: ignore[index]
    assert all(key not in v for v in decoded)
