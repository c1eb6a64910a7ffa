"""Money and tenancy rules where the API server or RBAC is involved: the operator as a process
with the chart's RBAC, the real kube-apiserver, the simulator."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from harness import Kubectl, OperatorProcess, VastView, instance_manifest, wait_for

KIND = "vastinstances"
IN_USE = "vast.ai/credentials-in-use"


def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}


def wait_reason(k: Kubectl, name: str, type_: str, reason: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        cond = k.condition(KIND, name, type_)
        return cond if cond and cond["reason"] == reason else None

    return wait_for(f"{name} {type_} reason {reason}", probe)


def test_deleting_the_namespace_destroys_the_rental_before_the_key_goes(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any, namespace: str
) -> None:
    k.apply(secret("vast", {"api-key": sim.api_key}))
    k.apply(instance_manifest("box", credentialsRef={"name": "vast"}))
    status = k.wait_phase(KIND, "box", "Running")
    assert status["credentialsSecret"] == "vast"
    stored = k.get("secret", "vast")
    assert stored is not None and IN_USE in stored["metadata"]["finalizers"]
    uid = str(k.get(KIND, "box")["metadata"]["uid"])  # type: ignore[index]
    operator.kill()  # the operator forgets the key it held: only the Secret has it now
    k.cluster.kubectl("delete", "namespace", namespace, "--wait=false")
    # The Secret is protected: it is Terminating but readable when the operator comes back.
    held = wait_for(
        "the namespace controller to delete the Secret (it stays, Terminating)",
        lambda: (
            s if (s := k.get("secret", "vast")) and s["metadata"].get("deletionTimestamp") else None
        ),
        timeout=60,
    )
    assert IN_USE in held["metadata"]["finalizers"]
    operator.start()
    wait_for(
        "the namespace to be gone",
        lambda: k.cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0,
        timeout=150,
    )
    assert vast.instances_for(uid) == []


def test_a_connection_secret_the_operator_did_not_create_is_never_overwritten(
    k: Kubectl, operator: OperatorProcess, vast: VastView
) -> None:
    k.apply(secret("precious", {"token": "belongs-to-someone-else"}))
    k.apply(instance_manifest("box", writeConnectionSecretToRef={"name": "precious"}))
    k.wait_phase(KIND, "box", "Running")
    cond = wait_reason(k, "box", "Synced", "SecretNotOwned")
    assert "precious" in cond["message"]
    stored = k.get("secret", "precious")
    assert stored is not None
    data = {key: base64.b64decode(v).decode() for key, v in stored["data"].items()}
    assert data == {"token": "belongs-to-someone-else"}


def test_adoption_by_annotation_is_refused_unless_the_operator_allows_it(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    k.apply(instance_manifest("first"))
    first = k.wait_phase(KIND, "first", "Running")
    taker = instance_manifest("taker")
    taker["metadata"]["annotations"] = {"vast.ai/instance-id": str(first["instanceId"])}
    k.apply(taker)
    wait_reason(k, "taker", "Synced", "AdoptionDisabled")
    assert k.status(KIND, "taker").get("instanceId") is None


@pytest.mark.operator_args("--allow-adoption")
def test_an_instance_of_another_object_is_never_adopted(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    k.apply(instance_manifest("first", sshKeys=[{"publicKey": "ssh-ed25519 AAAAC3Nza first"}]))
    first = k.wait_phase(KIND, "first", "Running")
    instance_id = int(first["instanceId"])
    taker = instance_manifest("taker", sshKeys=[{"publicKey": "ssh-ed25519 AAAAC3Nza evil"}])
    taker["metadata"]["annotations"] = {"vast.ai/instance-id": str(instance_id)}
    k.apply(taker)
    wait_reason(k, "taker", "Synced", "AdoptionRefused")
    assert "ssh-ed25519 AAAAC3Nza evil" not in vast.instance_ssh_keys(instance_id)
    k.delete(KIND, "taker")
    k.wait_gone(KIND, "taker")
    assert instance_id in {i["id"] for i in vast.instances()}
    assert k.status(KIND, "first")["instanceId"] == instance_id


def test_the_operator_cannot_update_or_delete_secrets(
    k: Kubectl, operator: OperatorProcess
) -> None:
    for verb, allowed in (("get", "yes"), ("update", "no"), ("delete", "no"), ("list", "no")):
        out = k.cluster.kubectl(
            "auth",
            "can-i",
            verb,
            "secrets",
            "-n",
            k.namespace,
            kubeconfig=operator.kubeconfig,
            check=False,
        )
        assert out.stdout.strip() == allowed, (verb, out.stdout, out.stderr)
