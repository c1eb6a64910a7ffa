"""Jobs (restartPolicy OnFailure/Never) and the failure log, through the real loop over fakes.

The market is two offers on machines 11 and 12 (`instance_harness`); FakeVast numbers instances
from 1000. A job's container "exits" when a test sets `actual_status: exited` with a status
message, as the simulator (and, UNCONFIRMED, Vast) does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fakes import KEY, Harness, instance_harness, instance_spec, obj

from vast_operator.reconcile.instance import logtail
from vast_operator.reconcile.instance.jobs import decide, exit_code
from vast_operator.vast import errors as verr

FIRST = 1000


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    logtail._reported.clear()  # once-per-failure memory is per process
    harness = await instance_harness()
    yield harness
    await harness.stop()


def job(**extra: Any) -> dict[str, Any]:
    return instance_spec(runtype="args", args=["python", "train.py"], **extra)


async def run_then_exit(h: Harness, instance_id: int, msg: str | None) -> None:
    h.vast._set(instance_id, actual_status="running", ssh_host="h", ssh_port=22)
    await h.poll()
    await h.reconcile()
    h.vast._set(instance_id, actual_status="exited", status_msg=msg)
    await h.poll()
    await h.reconcile()


def failure_logs(h: Harness) -> list[str]:
    return [m for t, r, m in h.events.seen if r == "FailureLog" and t == "Warning"]


# --- pure decisions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("msg", "code"),
    [
        ("Exited (0) 5 seconds ago", 0),
        ("Exited (137)", 137),
        ("container exited with code 2", 2),
        ("exit code: 1", 1),
        ("Exit status 3", 3),
        ("exited", None),
        ("success, running pytorch_latest/args", None),
        (None, None),
    ],
)
def test_the_exit_code_is_read_from_the_status_message(msg: str | None, code: int | None) -> None:
    assert exit_code(msg) == code


@pytest.mark.parametrize(
    ("policy", "code", "runs", "action", "reason"),
    [
        ("OnFailure", 0, 1, "succeed", "Succeeded"),
        ("Never", 0, 1, "succeed", "Succeeded"),
        ("Never", 1, 1, "fail", "JobFailed"),
        ("OnFailure", 1, 1, "rerun", "Restarting"),
        ("OnFailure", 1, 3, "fail", "MaxAttemptsReached"),
        ("OnFailure", None, 1, "fail", "JobFailed"),  # no code: it may have finished
    ],
)
def test_what_an_exit_means(
    policy: str, code: int | None, runs: int, action: str, reason: str
) -> None:
    decision = decide(policy, code, runs, max_attempts=3)
    assert (decision.action, decision.reason) == (action, reason)


# --- a job that succeeds ------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["OnFailure", "Never"])
async def test_a_job_exiting_0_succeeds_rented_once_and_its_instance_is_destroyed(
    h: Harness, policy: str
) -> None:
    h.add(obj(spec=job(restartPolicy=policy)))
    await h.reconcile()
    await run_then_exit(h, FIRST, "Exited (0)")
    assert h.status()["phase"] == "Succeeded"
    assert h.condition("Ready")["status"] == "True"
    assert h.condition("Ready")["reason"] == "Succeeded"
    assert h.status()["job"]["result"] == "Succeeded"
    assert h.status()["job"]["exitCode"] == 0
    assert h.vast.args("destroy_instance") == [FIRST]
    assert h.vast.instances == {}  # nothing billed any more
    for _ in range(3):
        await h.poll()
        await h.reconcile()
    assert h.vast.count("create_instance") == 1
    assert h.status()["phase"] == "Succeeded"
    assert "Succeeded" in h.events.reasons()
    assert failure_logs(h) == []


async def test_completion_stop_keeps_the_disk_of_a_finished_job_and_never_starts_it(
    h: Harness,
) -> None:
    h.add(obj(spec=job(restartPolicy="OnFailure", completion={"action": "Stop"})))
    await h.reconcile()
    await run_then_exit(h, FIRST, "Exited (0)")
    assert h.status()["phase"] == "Succeeded"
    assert h.vast.args("stop_instance") == [FIRST]
    assert h.vast.args("destroy_instance") == []
    for _ in range(3):
        await h.poll()
        await h.reconcile()
    assert h.vast.count("start_instance") == 0
    assert h.vast.instances[FIRST].intended_status == "stopped"
    assert h.status()["phase"] == "Succeeded"
    # A spec change runs the job again on the kept instance: it is started, not rented anew.
    h.next_generation(args=["python", "train.py", "--resume"])
    await h.poll()
    await h.reconcile()
    assert h.vast.args("start_instance") == [FIRST]
    assert h.status()["attempts"] == 1 and "job" not in h.status()
    await run_then_exit(h, FIRST, "Exited (0)")
    assert h.status()["phase"] == "Succeeded"
    assert h.vast.args("stop_instance") == [FIRST, FIRST]
    # The kept instance is destroyed behind our back: the job is not run again.
    del h.vast.instances[FIRST]
    await h.poll()
    await h.reconcile()
    await h.reconcile()
    assert h.vast.count("create_instance") == 1
    assert h.status()["phase"] == "Succeeded"


async def test_a_spec_change_after_success_runs_the_job_again(h: Harness) -> None:
    h.add(obj(spec=job(restartPolicy="Never")))
    await h.reconcile()
    await run_then_exit(h, FIRST, "Exited (0)")
    h.next_generation(args=["python", "train.py", "--epochs", "2"])
    await h.reconcile()
    assert h.vast.count("create_instance") == 2
    assert "job" not in h.status() or h.status()["job"] is None


# --- a job that fails ---------------------------------------------------------------------


async def test_a_failed_run_under_on_failure_is_restarted_in_place_then_succeeds(
    h: Harness,
) -> None:
    h.add(obj(spec=job(restartPolicy="OnFailure")))
    await h.reconcile()
    h.vast.logs[FIRST] = "loss nan\nExited (1)"
    await run_then_exit(h, FIRST, "Exited (1)")
    assert h.vast.args("reboot_instance") == [FIRST]
    assert h.status()["phase"] == "Loading"
    assert h.condition("Ready")["reason"] == "Restarting"
    assert h.status()["job"]["restarts"] == 1
    assert h.vast.args("destroy_instance") == []
    await run_then_exit(h, FIRST, "Exited (0)")
    assert h.status()["phase"] == "Succeeded"
    assert h.status()["job"]["runs"] == 2
    assert h.vast.count("create_instance") == 1
    assert len(failure_logs(h)) == 1  # the failed run, not the successful one


async def test_an_exit_still_listed_after_a_restart_is_not_counted_again(h: Harness) -> None:
    h.add(obj(spec=job(restartPolicy="OnFailure", placement={"maxAttempts": 5})))
    await h.reconcile()
    await run_then_exit(h, FIRST, "Exited (1)")
    assert h.status()["job"]["restartedAt"]
    h.vast._set(FIRST, actual_status="exited", status_msg="Exited (1)")  # Vast lags
    for _ in range(3):
        await h.poll()
        await h.reconcile()
    assert h.vast.count("reboot_instance") == 1
    assert h.status()["job"]["runs"] == 1
    h.clock.advance(21 * 60)  # past the 20m bootTimeout since the restart: it never came back
    await h.poll()
    await h.reconcile()
    assert h.vast.args("destroy_instance") == [FIRST]
    assert "did not start again" in h.condition("Ready")["message"]


async def test_a_restart_that_took_clears_the_mark_and_the_next_exit_counts(h: Harness) -> None:
    h.add(obj(spec=job(restartPolicy="OnFailure", placement={"maxAttempts": 5})))
    await h.reconcile()
    await run_then_exit(h, FIRST, "Exited (1)")
    await run_then_exit(h, FIRST, "Exited (1)")
    assert h.vast.count("reboot_instance") == 2
    assert h.status()["job"]["runs"] == 2


async def test_on_failure_gives_up_after_max_attempts_runs(h: Harness) -> None:
    h.add(obj(spec=job(restartPolicy="OnFailure", placement={"maxAttempts": 2})))
    await h.reconcile()
    await run_then_exit(h, FIRST, "Exited (1)")
    await run_then_exit(h, FIRST, "Exited (1) ")
    assert h.status()["phase"] == "Failed"
    assert h.condition("Ready")["reason"] == "MaxAttemptsReached"
    assert h.vast.args("reboot_instance") == [FIRST]
    assert h.vast.instances == {}
    await h.poll()
    await h.reconcile()
    assert h.vast.count("create_instance") == 1


async def test_never_ends_failed_at_the_first_non_zero_exit(h: Harness) -> None:
    h.add(obj(spec=job(restartPolicy="Never")))
    await h.reconcile()
    await run_then_exit(h, FIRST, "Exited (3)")
    assert h.status()["phase"] == "Failed"
    assert h.condition("Ready") | {} and h.condition("Ready")["reason"] == "JobFailed"
    assert h.status()["job"]["exitCode"] == 3
    assert h.vast.count("reboot_instance") == 0
    assert h.vast.instances == {}
    await h.poll()
    await h.reconcile()
    assert h.vast.count("create_instance") == 1
    assert h.status()["phase"] == "Failed"


async def test_an_exit_without_a_code_is_not_run_again(h: Harness) -> None:
    h.add(obj(spec=job(restartPolicy="OnFailure")))
    await h.reconcile()
    await run_then_exit(h, FIRST, None)
    assert h.status()["phase"] == "Failed"
    assert h.vast.count("reboot_instance") == 0
    assert h.vast.count("create_instance") == 1


async def test_a_restart_vast_refuses_rents_the_job_on_another_machine(h: Harness) -> None:
    h.add(obj(spec=job(restartPolicy="OnFailure")))
    h.vast.fail["reboot_instance"] = verr.PermanentError("Instance is not running.", status=400)
    await h.reconcile()
    await run_then_exit(h, FIRST, "Exited (1)")
    assert h.vast.args("destroy_instance") == [FIRST]
    assert h.status()["failedMachines"] == [11]
    await h.reconcile()
    assert h.vast.args("create_instance") == [1, 2]


async def test_an_exit_under_restart_policy_always_is_still_a_failure(h: Harness) -> None:
    h.add(obj(spec=job()))
    await h.reconcile()
    await run_then_exit(h, FIRST, "Exited (0)")
    assert h.vast.args("destroy_instance") == [FIRST]
    assert "Replacing" in h.events.reasons()


# --- the failure log ----------------------------------------------------------------------


LOG = "\n".join(
    [
        *(f"step {i} loss 0.{i}" for i in range(40)),
        "HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz0123",
        "auth: Bearer abc.def.ghi and the secret-from-kube s3cr3t-value-42",
        f"calling vast with {KEY}",
        "api_key=plainkey123 token: tok-999",
        "commit 0123456789abcdef0123456789abcdef01234567",
        "Traceback (most recent call last): RuntimeError: CUDA out of memory",
        "Exited (1)",
    ]
)


async def test_a_failure_event_carries_the_scrubbed_bounded_tail_of_the_log(h: Harness) -> None:
    h.kube.secrets[("ns", "creds")] = {"token": "s3cr3t-value-42"}
    env = [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]
    h.add(obj(spec=job(restartPolicy="Never", env=env)))
    await h.reconcile()
    h.vast.logs[FIRST] = LOG
    await run_then_exit(h, FIRST, "Exited (1)")
    (message,) = failure_logs(h)
    assert len(message) <= 1024  # an Event's message, uncut
    assert message.rstrip().endswith("Exited (1)")
    assert "CUDA out of memory" in message
    assert "step 39" in message and "step 0 " not in message
    for secret in ("s3cr3t-value-42", "hf_abcdefghij", "abc.def.ghi", KEY, "plainkey123",
                   "tok-999", "0123456789abcdef0123456789abcdef"):  # fmt: skip
        assert secret not in message, secret
    assert h.vast.count("request_logs") == 1
    assert h.vast.args("destroy_instance") == [FIRST]  # the log was read before it


async def test_an_unavailable_log_never_fails_the_pass(h: Harness) -> None:
    h.add(obj(spec=job(restartPolicy="Never")))
    h.vast.fail["request_logs"] = verr.TransientError("gateway timeout", status=504)
    await h.reconcile()
    await run_then_exit(h, FIRST, "Exited (1)")
    assert failure_logs(h) == []
    assert h.status()["phase"] == "Failed"
    assert h.condition("Synced")["status"] == "True"


async def test_the_log_is_withheld_when_an_env_secret_cannot_be_read(h: Harness) -> None:
    env = [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "token"}}}]
    h.add(obj(spec=job(restartPolicy="Never", env=env)))
    h.kube.secrets[("ns", "gone")] = {"token": "v"}
    await h.reconcile()
    del h.kube.secrets[("ns", "gone")]
    h.vast.logs[FIRST] = "the value is v and more"
    await run_then_exit(h, FIRST, "Exited (1)")
    assert failure_logs(h) == []
    assert h.status()["phase"] == "Failed"


async def test_a_replaced_instance_reports_its_log_once_even_when_the_destroy_is_retried(
    h: Harness,
) -> None:
    h.add(obj(spec=instance_spec()))
    await h.reconcile()
    h.vast.logs[FIRST] = "nvidia-container-cli: initialization error"
    h.vast._set(FIRST, status_msg="Error response from daemon: OCI runtime create failed")
    h.vast.fail["destroy_instance"] = verr.TransientError("bad gateway", status=502)
    await h.poll()
    await h.reconcile()
    del h.vast.fail["destroy_instance"]
    await h.poll()
    await h.reconcile()
    assert h.vast.args("destroy_instance") == [FIRST, FIRST]
    (message,) = failure_logs(h)
    assert "nvidia-container-cli" in message
