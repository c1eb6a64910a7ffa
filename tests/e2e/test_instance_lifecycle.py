"""A VastInstance from apply to delete, against the real API server and the simulator."""

from __future__ import annotations

from harness import Kubectl, OperatorProcess, VastView, instance_manifest, wait_for

KIND = "vastinstances"


def test_apply_runs_instance_and_delete_destroys_it(
    k: Kubectl, operator: OperatorProcess, vast: VastView
) -> None:
    assert k.apply(instance_manifest("devbox", ports=[8080])).returncode == 0
    status = k.wait_phase(KIND, "devbox", "Running")
    uid = k.get(KIND, "devbox")["metadata"]["uid"]  # type: ignore[index]

    rented = vast.instances_for(uid)
    assert len(rented) == 1
    inst = rented[0]
    assert status["instanceId"] == inst["id"]
    assert status["sshHost"] == inst["ssh_host"]
    assert status["sshPort"] == inst["ssh_port"]
    assert status["pricePerHour"] == inst["dph_total"]
    assert status["gpuName"] == "RTX 4090"
    assert any(p["containerPort"] == 8080 for p in status["ports"])
    ready = k.condition(KIND, "devbox", "Ready")
    assert ready is not None and ready["status"] == "True"
    obj = k.get(KIND, "devbox")
    assert status["observedGeneration"] == obj["metadata"]["generation"]  # type: ignore[index]
    assert "vast.ai/finalizer" in obj["metadata"]["finalizers"]  # type: ignore[index]

    k.delete(KIND, "devbox")
    k.wait_gone(KIND, "devbox")
    assert vast.instances_for(uid) == []
    assert inst["id"] not in {i["id"] for i in vast.instances()}


def test_stop_and_start_follow_spec_state(
    k: Kubectl, operator: OperatorProcess, vast: VastView
) -> None:
    k.apply(instance_manifest("box"))
    k.wait_phase(KIND, "box", "Running")
    uid = k.get(KIND, "box")["metadata"]["uid"]  # type: ignore[index]

    k.patch(KIND, "box", {"spec": {"state": "Stopped"}})
    k.wait_phase(KIND, "box", "Stopped")
    assert vast.instances_for(uid)[0]["actual_status"] == "stopped"

    k.patch(KIND, "box", {"spec": {"state": "Running"}})
    k.wait_phase(KIND, "box", "Running")
    assert vast.instances_for(uid)[0]["actual_status"] == "running"


def test_orphan_policy_keeps_the_instance(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim
) -> None:  # type: ignore[no-untyped-def]
    k.apply(instance_manifest("keep", deletionPolicy="Orphan"))
    status = k.wait_phase(KIND, "keep", "Running")
    k.delete(KIND, "keep")
    k.wait_gone(KIND, "keep")
    ids = {i["id"] for i in vast.instances()}
    assert status["instanceId"] in ids
    sim.admin.destroy_instance(status["instanceId"])  # clean up by hand, like a user would


def test_ssh_keys_are_attached_and_connection_secret_written(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim
) -> None:  # type: ignore[no-untyped-def]
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKe2eTestKeyForVastOperatorE2E me@laptop"
    k.apply(
        instance_manifest(
            "keys",
            sshKeys=[{"publicKey": key}],
            writeConnectionSecretToRef={"name": "keys-ssh"},
        )
    )
    status = k.wait_phase(KIND, "keys", "Running")
    wait_for("key attached", lambda: vast.instance_ssh_keys(status["instanceId"]))
    assert vast.instance_ssh_keys(status["instanceId"]) == [key]
    secret = wait_for("connection secret", lambda: k.get("secret", "keys-ssh"))
    import base64

    data = {name: base64.b64decode(v).decode() for name, v in secret["data"].items()}
    assert data["host"] == status["sshHost"]
    assert data["port"] == str(status["sshPort"])
    assert data["ssh"] == f"ssh -p {status['sshPort']} root@{status['sshHost']}"
