"""When an instance must go: its host stopped reporting for longer than the grace, or it
will never run. `replace` destroys it, remembers the machine and rents elsewhere."""

from __future__ import annotations

from collections.abc import Callable

from ...api.common import parse_duration
from ...api.instance import Phase, VastInstanceSpec, VastInstanceStatus
from ...vast.models import Instance
from ..adapter import Ctx
from ..conditions import Reason
from ..timefmt import iso, parse_iso
from . import billing, logtail
from .rules import UNREACHABLE_STATUSES, forget_instance, retire

InstanceCtx = Ctx[VastInstanceSpec, VastInstanceStatus]
OnReplace = Callable[[], None] | None


async def wait_for_unreachable_host(
    ctx: InstanceCtx, inst: Instance, on_replace: OnReplace
) -> float | None:
    """offline/unknown: keep the instance (and its disk) through a blip; replace it only after
    spec.placement.offlineGrace. None when the host is reachable."""
    s, now = ctx.w.s, ctx.clock()
    if inst.actual_status not in UNREACHABLE_STATUSES or ctx.spec.state != "Running":
        s.unreachable_since = None
        return None
    if s.unreachable_since is None:
        s.unreachable_since = iso(now)
        await ctx.w.flush()  # the grace counts from the first time it was seen
    since = parse_iso(s.unreachable_since) or now
    grace = parse_duration(ctx.spec.placement.offline_grace).total_seconds()
    waited = int(now - since)
    if now - since < grace:
        msg = (
            f"the host of instance {inst.id} reports {inst.actual_status} for {waited}s; "
            f"kept up to placement.offlineGrace {int(grace)}s before it is replaced"
        )
        ctx.w.ready(False, Reason.HOST_UNREACHABLE, msg)
        ctx.w.s.message = msg
        ctx.w.synced(True)
        return ctx.tuning.busy_interval
    s.unreachable_since = None
    why = (
        f"instance {inst.id} is {inst.actual_status} on machine {inst.machine_id} for "
        f"{waited}s (placement.offlineGrace {int(grace)}s)"
    )
    return await replace(ctx, inst, why, on_replace)


async def replace(ctx: InstanceCtx, inst: Instance, why: str, on_replace: OnReplace) -> float:
    """The instance will never run: destroy it, remember the machine, rent elsewhere."""
    s = ctx.w.s
    await logtail.report(ctx, inst, why)  # before the instance (and its log) is gone
    await ctx.account.client.destroy_instance(inst.id, missing_ok=True)
    billing.note_destroyed(ctx, inst)
    retire(s, inst.id)
    failed = list(s.failed_machines or [])
    if inst.machine_id is not None and inst.machine_id not in failed:
        failed.append(inst.machine_id)
    s.failed_machines = failed
    forget_instance(s)
    s.creating_since = None
    s.started_at = None
    attempts = int(s.attempts or 0)
    if attempts >= ctx.spec.placement.max_attempts:
        msg = f"{why}; gave up after {attempts} attempts (placement.maxAttempts)"
        ctx.w.phase(Phase.FAILED, Reason.MAX_ATTEMPTS, msg)
        ctx.event("Failed", msg, warning=True)
        ctx.w.synced(True)
        return ctx.tuning.idle_interval * 10
    if on_replace is not None:
        on_replace()
    msg = f"{why}; destroyed it and renting on another machine"
    ctx.w.phase(Phase.SEARCHING, Reason.REPLACING, msg)
    ctx.w.synced(True)
    ctx.event("Replacing", msg, warning=True)
    return 0.2
