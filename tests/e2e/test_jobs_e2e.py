"""Jobs on the control plane and the simulator: a job is rented once, ends in its terminal phase
with billing stopped, is re-run only as its restartPolicy says, and every failure posts the
scrubbed tail of the instance's log as an Event.

The simulator's containers exit on `VAST_SIM_EXIT_AFTER=<seconds>:<code>[,...]` (one entry per
run) or `POST /_sim/instances/{id}/exit`; its bill (`GET /_sim/bill`) has one charge per rented
instance, labelled with the object's UID, and `end` set once the instance was destroyed.
"""

from __future__ import annotations

from typing import Any

from harness import Kubectl, OperatorProcess, VastView, instance_manifest, wait_for

KIND = "vastinstances"


def job(name: str, policy: str, exit_after: str | None, **spec: Any) -> dict[str, Any]:
    env = spec.pop("env", [])
    if exit_after is not None:
        env = [*env, {"name": "VAST_SIM_EXIT_AFTER", "value": exit_after}]
    return instance_manifest(
        name,
        runtype="args",
        args=["python", "train.py"],
        restartPolicy=policy,
        env=env,
        **spec,
    )


def uid_of(k: Kubectl, name: str) -> str:
    return str(k.get(KIND, name)["metadata"]["uid"])  # type: ignore[index]


def charges(sim: Any, uid: str) -> list[dict[str, Any]]:
    """The simulator's bill for the object's instances: one charge per rented instance."""
    label = f"k8s-vast-operator:{uid}"
    return [c for c in sim.admin.bill()["charges"] if c["label"] == label]


def events(k: Kubectl, name: str, reason: str) -> list[str]:
    return [
        str(e.get("message"))
        for e in k.events()
        if e.get("reason") == reason and (e.get("involvedObject") or {}).get("name") == name
    ]


def test_a_job_exiting_0_is_rented_once_and_ends_succeeded_with_billing_stopped(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    k.apply(job("once", "OnFailure", "3:0"))
    done = k.wait_phase(KIND, "once", "Succeeded", timeout=120)
    uid = uid_of(k, "once")
    assert done["job"]["result"] == "Succeeded" and done["job"]["exitCode"] == 0
    ready = k.condition(KIND, "once", "Ready")
    assert ready and ready["status"] == "True" and ready["reason"] == "Succeeded"
    (charge,) = charges(sim, uid)  # rented exactly once
    assert charge["end"] is not None  # destroyed: neither GPU nor disk is billed any more
    assert vast.instances_for(uid) == []
    assert k.phase(KIND, "once") == "Succeeded"
    assert len(charges(sim, uid)) == 1  # and nothing rented after the end


def test_completion_stop_keeps_the_stopped_instance_billing_only_its_disk(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    k.apply(job("kept", "Never", "3:0", completion={"action": "Stop"}))
    k.wait_phase(KIND, "kept", "Succeeded", timeout=120)
    uid = uid_of(k, "kept")
    (row,) = wait_for(
        "the kept instance to be stopped",
        lambda: [i for i in vast.instances_for(uid) if i["actual_status"] == "stopped"] or None,
    )
    assert row["intended_status"] == "stopped"
    (charge,) = charges(sim, uid)
    assert charge["end"] is None
    assert charge["gpu_per_hour"] == 0 and charge["disk_per_hour"] > 0  # storage only


def test_a_failed_run_under_on_failure_is_run_again_on_the_same_instance(
    k: Kubectl, operator: OperatorProcess, sim: Any
) -> None:
    k.apply(job("retry", "OnFailure", "3:1,3:0"))  # the first run fails, the second succeeds
    done = k.wait_phase(KIND, "retry", "Succeeded", timeout=150)
    assert done["job"]["runs"] == 2 and done["job"]["restarts"] == 1
    assert len(charges(sim, uid_of(k, "retry"))) == 1  # restarted in place, not re-rented
    assert events(k, "retry", "Restarting")


def test_a_non_zero_exit_under_never_ends_failed_and_is_not_run_again(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    k.apply(job("never", "Never", "3:2"))
    failed = k.wait_phase(KIND, "never", "Failed", timeout=120)
    assert failed["job"]["exitCode"] == 2 and failed["job"]["result"] == "Failed"
    ready = k.condition(KIND, "never", "Ready")
    assert ready and ready["status"] == "False" and ready["reason"] == "JobFailed"
    uid = uid_of(k, "never")
    (charge,) = charges(sim, uid)
    assert charge["end"] is not None
    assert vast.instances_for(uid) == []


def test_a_failure_event_carries_the_scrubbed_tail_of_the_log(
    k: Kubectl, operator: OperatorProcess, sim: Any
) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "stringData": {"password": "pa55-from-a-secret"},
    }
    assert k.apply(secret).returncode == 0
    env = [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
    ]
    manifest = job("logged", "Never", "3:3", env=env)
    # The container prints the secret it was given, then fails (the simulator runs `echo`s).
    manifest["spec"]["args"] = ["sh", "-c", "echo connecting with $DB_PASSWORD; echo loss is nan"]
    k.apply(manifest)
    k.wait_phase(KIND, "logged", "Failed", timeout=120)
    (message,) = wait_for("a FailureLog event", lambda: events(k, "logged", "FailureLog") or None)
    assert "loss is nan" in message
    assert "Exited (3)" in message
    assert "connecting with ***" in message
    assert "pa55-from-a-secret" not in message
    assert sim.api_key not in message
    assert len(message) <= 1024


def test_a_service_whose_container_exits_is_replaced_and_its_log_tail_posted(
    k: Kubectl, operator: OperatorProcess, sim: Any
) -> None:
    # restartPolicy Always (the default): an exit is a failure, as before jobs existed.
    k.apply(job("service", "Always", None))
    first = k.wait_phase(KIND, "service", "Running", timeout=120)
    sim.admin.exit_instance(first["instanceId"], 137)
    (message,) = wait_for("a FailureLog event", lambda: events(k, "service", "FailureLog") or None)
    assert f"instance {first['instanceId']}" in message
    assert message.rstrip().endswith("Exited (137)")
    wait_for(
        "a replacement instance running",
        lambda: (
            (s := k.status(KIND, "service")).get("phase") == "Running"
            and s.get("instanceId") != first["instanceId"]
        ),
    )
    assert len(charges(sim, uid_of(k, "service"))) == 2
