"""Jobs: VastInstances meant to finish (`spec.restartPolicy` OnFailure or Never, runtype args).

What Vast tells us about an end: `actual_status == "exited"` (the container's process ended)
and `status_msg`. Whether and how `status_msg` carries the exit code is UNCONFIRMED; `exit_code`
reads the forms Docker and similar tools print (`Exited (0)`, `exit code 1`, `exited with code
137`, `exit status 2`), which is what the simulator writes. Without a code the end is a
failure that is never run again: the job may have finished, and running it again would pay
twice for it.

Decisions are pure (`exit_code`, `decide`), and the hooks are small:

- `follow_job` (from `running.run`, before any failure rule): an exited job ends in Succeeded
  or Failed with `spec.completion.action` applied (Destroy: nothing billed any more; Stop: the
  disk is kept at Vast's storage price), or runs again under OnFailure (restarted in place by
  `PUT /instances/reboot/{id}/`, else re-placed) up to `placement.maxAttempts` runs; a finished
  job's kept instance stays as it is.
- `finished_without_instance` (from `adapter.absent`): a finished job is never rented again
  until its spec changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ...api.common import parse_duration
from ...api.instance import Phase, VastInstanceSpec, VastInstanceStatus
from ...api.instance_parts import JobStatus
from ...vast.errors import PermanentError
from ...vast.models import Instance
from ..adapter import Ctx
from ..conditions import Reason
from ..timefmt import iso, parse_iso
from . import billing, logtail
from .replacing import OnReplace, replace
from .rules import forget_instance, retire

InstanceCtx = Ctx[VastInstanceSpec, VastInstanceStatus]

EXITED = "exited"
_EXIT_CODE = re.compile(
    r"\bexit(?:ed)?\s*(?:\(\s*(-?\d{1,3})\s*\)|(?:with\s+)?(?:code|status)\s*[:=]?\s*(-?\d{1,3}))",
    re.IGNORECASE,
)


def exit_code(status_msg: str | None) -> int | None:
    """The exit code in Vast's status message, or None when it names none (see the module)."""
    match = _EXIT_CODE.search(status_msg or "")
    if match is None:
        return None
    return int(match.group(1) if match.group(1) is not None else match.group(2))


@dataclass(frozen=True)
class Decision:
    """What to do about one exit: `succeed`, `fail` or `rerun`, with the Ready reason."""

    action: Literal["succeed", "fail", "rerun"]
    reason: Reason
    message: str


def decide(policy: str, code: int | None, runs: int, max_attempts: int) -> Decision:
    """The end of run number `runs` (1-based) of a job under `policy` (OnFailure or Never)."""
    if code == 0:
        return Decision("succeed", Reason.SUCCEEDED, "exited with code 0")
    if code is None:
        return Decision(
            "fail",
            Reason.JOB_FAILED,
            "exited, and Vast's status message gives no exit code; not run again, since the "
            "job may have finished",
        )
    if policy == "Never":
        return Decision("fail", Reason.JOB_FAILED, f"exited with code {code} (restartPolicy Never)")
    if runs >= max_attempts:
        return Decision(
            "fail",
            Reason.MAX_ATTEMPTS,
            f"exited with code {code}; gave up after {runs} runs (placement.maxAttempts)",
        )
    return Decision(
        "rerun",
        Reason.RESTARTING,
        f"exited with code {code}; running it again (run {runs + 1} of {max_attempts}, "
        "restartPolicy OnFailure)",
    )


def is_job(spec: VastInstanceSpec) -> bool:
    return spec.restart_policy != "Always"


def completion_action(spec: VastInstanceSpec) -> str:
    return spec.completion.action if spec.completion is not None else "Destroy"


def reset(status: VastInstanceStatus) -> None:
    """The spec changed after the job ended: run it again from scratch."""
    status.job = None
    status.attempts = 1 if status.instance_id is not None else 0  # a kept instance counts
    status.failed_machines = None


def _show(ctx: InstanceCtx, job: JobStatus) -> float:
    """Stay in the terminal phase of a finished job."""
    succeeded = job.result == "Succeeded"
    phase = Phase.SUCCEEDED if succeeded else Phase.FAILED
    previous = ctx.w.get_condition("Ready") or {}
    reason = Reason(
        previous.get("reason") or (Reason.SUCCEEDED if succeeded else Reason.JOB_FAILED)
    )
    message = ctx.w.s.message or f"the job {'succeeded' if succeeded else 'failed'}"
    ctx.w.phase(phase, reason, message, ready=succeeded)
    ctx.w.synced(True)
    return ctx.tuning.idle_interval * 10


async def finished_without_instance(ctx: InstanceCtx) -> float | None:
    """No instance and the job ended: stay in Succeeded/Failed until the spec changes."""
    s = ctx.w.s
    if s.job is None or s.job.result is None:
        return None
    if s.observed_generation != ctx.w.generation:
        reset(s)
        return None
    if s.instance_id is not None:  # the instance kept by completion.action Stop went away
        ctx.event("InstanceLost", f"instance {s.instance_id} of the finished job is gone")
        retire(s, int(s.instance_id))
        forget_instance(s)
    return _show(ctx, s.job)


async def follow_job(ctx: InstanceCtx, inst: Instance, on_replace: OnReplace) -> float | None:
    """An exited job's end, or a finished job's kept instance; None to go on as usual."""
    spec, s = ctx.spec, ctx.w.s
    if not is_job(spec) or spec.state != "Running":
        return None
    if s.job is not None and s.job.result is not None:
        if s.observed_generation != ctx.w.generation:
            reset(s)  # the spec changed: the kept instance runs the job again
            return None
        return await _keep_finished(ctx, inst, s.job)
    if inst.actual_status != EXITED:
        if s.job is not None and s.job.restarted_at is not None:
            s.job.restarted_at = None  # the restart took: the next exit is a new run's
        return None
    if s.job is not None and s.job.restarted_at is not None:
        return await _wait_for_restart(ctx, inst, on_replace)

    job = s.job or JobStatus()
    code = exit_code(inst.status_msg)
    runs = int(job.runs or 0) + 1
    decision = decide(spec.restart_policy, code, runs, spec.placement.max_attempts)
    why = f"instance {inst.id} {decision.message}"
    s.job = job.model_copy(
        update={"runs": runs, "exit_code": code, "last_exit": (inst.status_msg or "")[:256]}
    )
    if decision.action != "succeed":
        await logtail.report(ctx, inst, why)
    if decision.action == "rerun":
        return await _rerun(ctx, inst, why, on_replace)
    s.job.result = "Succeeded" if decision.action == "succeed" else "Failed"
    s.job.finished_at = iso(ctx.clock())
    await ctx.w.flush()  # the end is recorded before the instance is destroyed or stopped
    return await _end(ctx, inst, decision, why)


async def _end(ctx: InstanceCtx, inst: Instance, decision: Decision, why: str) -> float:
    """Apply spec.completion.action to a job that ended and show its terminal phase."""
    s = ctx.w.s
    action = completion_action(ctx.spec)
    if action == "Stop":
        await ctx.account.client.stop_instance(inst.id)
        ctx.acted(inst.id)
        billing.note_action(ctx, inst)
        msg = f"{why}; stopped it, its disk is kept (completion.action Stop)"
    else:
        await ctx.account.client.destroy_instance(inst.id, missing_ok=True)
        billing.note_destroyed(ctx, inst)
        retire(s, inst.id)
        forget_instance(s)
        s.creating_since = None
        msg = f"{why}; destroyed it (completion.action Destroy)"
    succeeded = decision.action == "succeed"
    phase = Phase.SUCCEEDED if succeeded else Phase.FAILED
    ctx.w.phase(phase, decision.reason, msg, ready=succeeded)
    ctx.w.synced(True)
    ctx.event(str(phase) if succeeded else Reason.JOB_FAILED, msg, warning=not succeeded)
    return ctx.tuning.idle_interval * 10


async def _keep_finished(ctx: InstanceCtx, inst: Instance, job: JobStatus) -> float:
    """The instance of a finished job still exists: it must not run (Stop) or exist (Destroy)."""
    s = ctx.w.s
    if completion_action(ctx.spec) == "Destroy":
        await ctx.account.client.destroy_instance(inst.id, missing_ok=True)
        billing.note_destroyed(ctx, inst)
        retire(s, inst.id)
        forget_instance(s)
    elif inst.intended_status != "stopped":  # a listing newer than our stop: send it again
        await ctx.account.client.stop_instance(inst.id)
        ctx.acted(inst.id)
        billing.note_action(ctx, inst)
    return _show(ctx, job)


async def _rerun(ctx: InstanceCtx, inst: Instance, why: str, on_replace: OnReplace) -> float:
    """Run the job again: restart the container in place, or rent elsewhere if Vast refuses."""
    s = ctx.w.s
    assert s.job is not None
    s.job.restarts = int(s.job.restarts or 0) + 1
    s.job.restarted_at = s.creating_since = iso(ctx.clock())  # the boot timeout counts from here
    await ctx.w.flush()  # the run is counted before anything is sent
    try:
        await ctx.account.client.reboot_instance(inst.id)
    except PermanentError as exc:
        s.job.restarts -= 1
        s.job.restarted_at = None
        return await replace(
            ctx, inst, f"{why}; Vast refused to restart it ({exc.message})", on_replace
        )
    ctx.acted(inst.id)
    msg = f"{why}: restarted it in place"
    ctx.w.phase(Phase.LOADING, Reason.RESTARTING, msg)
    ctx.w.synced(True)
    ctx.event(Reason.RESTARTING, msg, warning=True)
    return ctx.tuning.busy_interval


async def _wait_for_restart(ctx: InstanceCtx, inst: Instance, on_replace: OnReplace) -> float:
    """A restart was sent but Vast still shows the last exit: its listing may lag behind the
    restart, so that exit is not counted again. Once the boot timeout has passed since the
    restart, the instance did not start again: it is replaced."""
    s = ctx.w.s
    assert s.job is not None and s.job.restarted_at is not None
    since = parse_iso(s.job.restarted_at) or ctx.clock()
    timeout = max(
        parse_duration(ctx.spec.placement.boot_timeout).total_seconds(),
        ctx.tuning.min_boot_timeout,
    )
    if ctx.clock() - since <= timeout:
        ctx.w.synced(True)
        return ctx.tuning.busy_interval
    s.job.restarted_at = None
    why = f"instance {inst.id} did not start again within {int(timeout)}s of its restart"
    return await replace(ctx, inst, why, on_replace)
