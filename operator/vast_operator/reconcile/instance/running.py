"""A VastInstance that exists on Vast: mirror it, replace it when it fails, end it when its
lifetime runs out, follow `spec.state`, attach SSH keys and write the connection Secret."""

from __future__ import annotations

from ...api.common import parse_duration
from ...api.instance import Phase, VastInstanceSpec, VastInstanceStatus
from ...api.instance_parts import PortMapping
from ...vast.models import Instance
from ..adapter import Ctx
from ..conditions import UP_TO_DATE, Reason
from ..errors import SecretMissing
from ..placement import HOURS_PER_MONTH
from ..timefmt import iso, parse_iso
from . import billing
from .jobs import follow_job
from .market import watch_market
from .replacing import OnReplace, replace, wait_for_unreachable_host
from .rules import (
    failure_reason,
    fields_waiting,
    forget_instance,
    key_fingerprint,
    phase_for,
    ports_status,
    rent_fingerprint,
    retire,
)

InstanceCtx = Ctx[VastInstanceSpec, VastInstanceStatus]


def mirror(ctx: InstanceCtx, inst: Instance) -> None:
    """Copy what Vast says into status (only facts; phase is decided elsewhere)."""
    s = ctx.w.s
    running = inst.actual_status == "running"
    s.instance_id = inst.id
    s.machine_id = inst.machine_id or s.machine_id
    s.host_id = inst.host_id or s.host_id
    s.gpu_name = inst.gpu_name or s.gpu_name
    s.num_gpus = inst.num_gpus or s.num_gpus
    stopped = inst.actual_status == "stopped" and inst.intended_status == "stopped"
    if stopped and inst.storage_cost is not None and inst.disk_space is not None:
        # A stopped instance pays for its disk only: show what it costs now.
        s.price_per_hour = round(inst.storage_cost * inst.disk_space / HOURS_PER_MONTH, 6)
    elif inst.dph_total is not None:
        s.price_per_hour = inst.dph_total
    s.actual_status = inst.actual_status
    s.ssh_host = inst.ssh_host if running else None
    s.ssh_port = inst.ssh_port if running else None
    s.public_ip = inst.public_ipaddr if running else None
    ports = ports_status(inst, ctx.spec.ports or []) if running else None
    s.ports = [PortMapping.model_validate(p) for p in ports] if ports else None
    billing.follow(ctx, inst)


# A steady object nothing wakes is still passed every few polls (at most the idle interval).
STEADY_POLLS = 4


async def run(ctx: InstanceCtx, inst: Instance, on_replace: OnReplace = None) -> float:
    """Bring an existing instance in line with the spec; returns the next delay."""
    spec, s, now = ctx.spec, ctx.w.s, ctx.clock()
    if s.instance_id != inst.id:
        ctx.event("Adopted", f"found instance {inst.id} labelled for this object")
        s.instance_id = inst.id
        s.outcome_unknown_since = None
        s.observed_at = iso(now)
        s.attempts = max(int(s.attempts or 0), 1)
        s.creating_since = s.creating_since or iso(now)
        s.attached_ssh_keys = None  # keys attached to an earlier instance are not on this one
    mirror(ctx, inst)
    job = await follow_job(ctx, inst, on_replace)  # a job's end is no failure (jobs.py)
    if job is not None:
        return job

    unreachable = await wait_for_unreachable_host(ctx, inst, on_replace)
    if unreachable is not None:
        return unreachable
    market = await watch_market(ctx, inst, on_replace)  # outbid, scheduling, contract, price
    if market is not None:
        return market

    boot_timeout = max(
        parse_duration(spec.placement.boot_timeout).total_seconds(), ctx.tuning.min_boot_timeout
    )
    why = failure_reason(inst, parse_iso(s.creating_since), boot_timeout, now)
    if why is not None and spec.state == "Running":
        return await replace(ctx, inst, why, on_replace)

    if inst.actual_status == "running":
        if s.started_at is None:
            s.started_at = iso(now)
            await ctx.w.flush()  # money facts are written as soon as they are known
        s.creating_since = None
        if spec.lifetime and s.started_at:
            started = parse_iso(s.started_at) or now
            if now - started >= parse_duration(spec.lifetime).total_seconds():
                return await expire(ctx, inst)

    recreate = await follow_spec_changes(ctx, inst)
    if recreate is not None:
        return recreate

    power = await follow_power_state(ctx, inst)
    if power is not None:
        return power

    await sync_ssh_keys(ctx, inst)

    phase, reason, message = phase_for(inst, spec.state)
    previous = s.phase
    ready = phase == Phase.RUNNING or (phase == Phase.STOPPED and spec.state == "Stopped")
    ctx.w.phase(phase, reason, message, ready=ready)
    ctx.w.synced(True)
    if phase != previous and phase in (Phase.RUNNING, Phase.STOPPED):
        where = f" at {inst.ssh_host}:{inst.ssh_port}" if phase == Phase.RUNNING else ""
        ctx.event(str(phase), f"instance {inst.id} is {phase.lower()}{where}")

    if phase in (Phase.RUNNING, Phase.STOPPED) and spec.write_connection_secret_to_ref is not None:
        await write_connection_secret(ctx, inst, running=phase == Phase.RUNNING)

    if phase in (Phase.RUNNING, Phase.STOPPED):
        return steady_delay(ctx, inst)
    return ctx.tuning.busy_interval


def steady_delay(ctx: InstanceCtx, inst: Instance) -> float:
    """Nothing to do. The poller wakes the object when its row changes (context._on_snapshot
    compares every field the rules read), so the next pass is only for what time alone brings:
    the lifetime's end, the contract's warning and end, a price increase applying, the accrued
    cost's refresh. At most STEADY_POLLS polls (and the idle interval), never less than one."""
    spec, s = ctx.spec, ctx.w.s
    now, vast = ctx.clock(), billing.vast_now(ctx, inst)
    deadlines: list[float] = []
    if spec.lifetime and s.started_at:
        started = parse_iso(s.started_at) or now
        deadlines.append(started + parse_duration(spec.lifetime).total_seconds() - now)
    if inst.end_date:
        warning = parse_duration(spec.placement.contract_end_warning).total_seconds()
        deadlines += [inst.end_date - warning - vast, inst.end_date - vast]
    inc = inst.pending_price_increase
    if inc is not None and inc.effective_date:
        deadlines.append(inc.effective_date - vast)
    poll = ctx.tuning.poll_interval
    longest = max(poll, min(ctx.tuning.idle_interval, STEADY_POLLS * poll))
    soonest = min([d for d in deadlines if d > 0], default=longest)
    return max(poll, min(longest, soonest + 0.5))


async def expire(ctx: InstanceCtx, inst: Instance) -> float:
    """spec.lifetime ran out: destroy the instance and stay down."""
    s = ctx.w.s
    await ctx.account.client.destroy_instance(inst.id, missing_ok=True)
    billing.note_destroyed(ctx, inst)
    retire(s, inst.id)
    forget_instance(s)
    s.expired_at = iso(ctx.clock())
    msg = f"spec.lifetime {ctx.spec.lifetime} ran out; destroyed instance {inst.id}"
    ctx.w.phase(Phase.STOPPED, Reason.LIFETIME_EXPIRED, msg)
    ctx.w.synced(True)
    ctx.event("LifetimeExpired", msg)
    return ctx.tuning.idle_interval


async def follow_spec_changes(ctx: InstanceCtx, inst: Instance) -> float | None:
    """Say which rent-time fields wait for the next rental, or recreate now if asked to."""
    s = ctx.w.s
    if s.rented_with is None:  # rented by an older version, or adopted: take it as it is
        s.rented_with = rent_fingerprint(ctx.spec)
    waiting = fields_waiting(ctx.spec, s.rented_with)
    if not waiting:
        ctx.w.condition(UP_TO_DATE, True, Reason.APPLIED, "the instance runs the current spec")
        return None
    fields = ", ".join(f"spec.{name}" for name in waiting)
    if ctx.spec.update_policy == "Recreate":
        await ctx.account.client.destroy_instance(inst.id, missing_ok=True)
        billing.note_destroyed(ctx, inst)
        retire(s, inst.id)
        forget_instance(s)
        s.creating_since = s.started_at = s.rented_with = None
        s.attempts = 0
        msg = f"{fields} changed; updatePolicy Recreate: destroyed instance {inst.id}, renting anew"
        ctx.w.condition(UP_TO_DATE, False, Reason.RECREATING, msg)
        ctx.w.phase(Phase.SEARCHING, Reason.RECREATING, msg)
        ctx.w.synced(True)
        ctx.event(Reason.RECREATING, msg)
        return 0.2
    msg = (
        f"{fields} changed after instance {inst.id} was rented: it applies to the next rental. "
        "Set spec.updatePolicy: Recreate to apply it now (the instance's disk is lost)."
    )
    previous = ctx.w.get_condition(UP_TO_DATE) or {}
    if previous.get("message") != msg:
        ctx.event(Reason.WAITS_FOR_NEXT_RENTAL, msg)
    ctx.w.condition(UP_TO_DATE, False, Reason.WAITS_FOR_NEXT_RENTAL, msg)
    return None


async def follow_power_state(ctx: InstanceCtx, inst: Instance) -> float | None:
    """Stop or start the instance to match spec.state; a delay when a call was made."""
    client = ctx.account.client
    if ctx.spec.state == "Stopped" and inst.intended_status != "stopped":
        if ctx.w.s.phase == Phase.STOPPING and ctx.memory.acted_on == inst.id:
            return ctx.tuning.busy_interval  # asked already: wait for a listing to show it
        await client.stop_instance(inst.id)
        billing.note_action(ctx, inst)
        ctx.acted(inst.id)
        ctx.event("Stopping", f"stopping instance {inst.id} (spec.state Stopped)")
        ctx.w.phase(Phase.STOPPING, Reason.STOPPING, f"stopping instance {inst.id}")
        ctx.w.synced(True)
        return ctx.tuning.busy_interval
    if ctx.spec.state == "Running" and inst.intended_status == "stopped":
        await client.start_instance(inst.id)
        billing.note_action(ctx, inst)
        ctx.acted(inst.id)
        ctx.event("Starting", f"starting instance {inst.id} (spec.state Running)")
        ctx.w.s.creating_since = iso(ctx.clock())
        ctx.w.phase(Phase.LOADING, Reason.LOADING, f"starting instance {inst.id}")
        ctx.w.synced(True)
        return ctx.tuning.busy_interval
    return None


async def wanted_keys(ctx: InstanceCtx) -> list[str]:
    keys: list[str] = []
    for key in ctx.spec.ssh_keys or []:
        if key.public_key:
            keys.append(key.public_key.strip())
        elif key.secret_key_ref is not None:
            ref = key.secret_key_ref
            value = await ctx.kube.get_secret_value(ctx.namespace, ref.name, ref.key)
            if value is None or not value.strip():
                raise SecretMissing(f"sshKeys: Secret {ctx.namespace}/{ref.name} key {ref.key}")
            keys.append(value.strip())
    return keys


async def sync_ssh_keys(ctx: InstanceCtx, inst: Instance) -> None:
    client = ctx.account.client
    wanted = {key_fingerprint(k): k for k in await wanted_keys(ctx)}
    attached = list(ctx.w.s.attached_ssh_keys or [])
    for fp, key in wanted.items():
        if fp not in attached:
            await client.attach_ssh_key(inst.id, key)
            attached.append(fp)
            ctx.w.s.attached_ssh_keys = list(attached)
            ctx.event("SSHKeyAttached", f"attached SSH key {fp} to {inst.id}")
    stale = [fp for fp in attached if fp not in wanted]
    if stale:
        for key_row in await client.list_instance_ssh_keys(inst.id):
            if key_row.public_key and key_fingerprint(key_row.public_key) in stale:
                await client.detach_ssh_key(inst.id, key_row.id)
        attached = [fp for fp in attached if fp in wanted]
    ctx.w.s.attached_ssh_keys = attached or None


async def write_connection_secret(ctx: InstanceCtx, inst: Instance, *, running: bool) -> None:
    """Where to connect while running; while stopped, that there is nothing to connect to
    (Vast gives a started instance a new port, so the old command would mislead)."""
    ref = ctx.spec.write_connection_secret_to_ref
    assert ref is not None
    host, port = (inst.ssh_host or "", inst.ssh_port or 0) if running else ("", 0)
    data = {
        "host": host,
        "port": str(port) if running else "",
        "user": "root",
        "ssh": f"ssh -p {port} root@{host}" if running else "",
        "instanceId": str(inst.id),
        "publicIp": (inst.public_ipaddr or "") if running else "",
        "state": "Running" if running else "Stopped",
    }
    owner = {
        "apiVersion": ctx.body.get("apiVersion", "vast.ai/v1alpha1"),
        "kind": ctx.body.get("kind", "VastInstance"),
        "name": ctx.name,
        "uid": ctx.uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }
    await ctx.kube.apply_secret(ctx.namespace, ref.name, data, owner)
