"""When the market takes an instance's GPUs: an interruptible outbid by a higher bid, or an
instance started while its machine's GPUs are taken ("scheduling"). Vast shows both as
`actual_status: stopped` while `intended_status` is `running`; the disk stays and storage is
billed. The rules here tell them apart and decide between raising the bid, waiting with a
reason, and renting elsewhere after a timeout. `watch_market` is the one hook `running.run`
calls; the contract end and price increases are in `contract.py`.

What the instance row gives (docs/simulator.md): `is_bid`, `min_bid` (the bid the machine needs
now, raised by a competing bid), `dph_total` (bid plus storage for an interruptible) and
`storage_cost` times `disk_space`. That `min_bid` of an instance row follows a competing bid is
UNCONFIRMED: it is the machine's minimum bid, which is what `change bid` without a price uses.
"""

from __future__ import annotations

from ...api.common import parse_duration
from ...api.instance import MAX_BID_PER_HOUR, Phase, VastInstanceSpec
from ...vast.models import Instance
from ..conditions import Reason
from ..placement import HOURS_PER_MONTH, price_cap
from ..timefmt import iso, parse_iso
from . import billing
from .contract import answer_price_increase, follow_contract, hold_price_cap
from .replacing import InstanceCtx, OnReplace, replace

# Prices are rounded to 6 digits on the wire; a bid this close to the minimum has it.
EPSILON = 1e-4


def storage_per_hour(inst: Instance) -> float | None:
    """What the instance's disk costs per hour, or None when the row does not say."""
    if inst.storage_cost is None or inst.disk_space is None:
        return None
    return inst.storage_cost * inst.disk_space / HOURS_PER_MONTH


def current_bid(inst: Instance, spec: VastInstanceSpec) -> float | None:
    """The bid an interruptible holds now: its dph_total less storage (a raised bid shows
    there), else what the spec rented it with."""
    storage = storage_per_hour(inst)
    if inst.dph_total is not None and storage is not None:
        return round(inst.dph_total - storage, 6)
    return spec.bid_per_hour


def waiting_for_gpus(inst: Instance) -> bool:
    """Vast keeps it stopped while it should run (outbid, or scheduling after a start)."""
    return inst.intended_status == "running" and inst.actual_status == "stopped" and not inst.gone


def is_outbid(inst: Instance, bid: float | None) -> bool:
    """An interruptible whose bid is below what its machine needs now."""
    return (
        bool(inst.is_bid)
        and inst.min_bid is not None
        and bid is not None
        and inst.min_bid > bid + EPSILON
    )


def winning_bid(inst: Instance, cap: float | None) -> float | None:
    """The bid to raise to (the machine's minimum bid), or None when bid plus storage would
    pass the cap (or the bid Vast's 128 $/h limit), or when the cap, the storage price or the
    minimum bid is unknown."""
    storage = storage_per_hour(inst)
    if cap is None or storage is None or inst.min_bid is None:
        return None
    if inst.min_bid + storage > cap + 1e-9 or inst.min_bid > MAX_BID_PER_HOUR:
        return None  # above the cap, or more than Vast's bid route takes
    return round(inst.min_bid, 6)


async def watch_market(ctx: InstanceCtx, inst: Instance, on_replace: OnReplace) -> float | None:
    """Price increases (answered, or held to the cap once applied), the contract end, outbids
    and scheduling; a delay ends the pass."""
    ctx.w.s.contract_end = iso(inst.end_date) if inst.end_date else None
    await answer_price_increase(ctx, inst)
    above = await hold_price_cap(ctx, inst, on_replace)
    if above is not None:
        return above
    ended = await follow_contract(ctx, inst, on_replace)
    if ended is not None:
        return ended
    return await wait_for_gpus(ctx, inst, on_replace)


async def wait_for_gpus(ctx: InstanceCtx, inst: Instance, on_replace: OnReplace) -> float | None:
    """Outbid: raise the bid within the cap (onOutbid RaiseBid) or wait up to outbidTimeout.
    Scheduling: wait up to schedulingTimeout. Then rent elsewhere. None when neither."""
    spec, s, now = ctx.spec, ctx.w.s, ctx.clock()
    if spec.state != "Running" or not waiting_for_gpus(inst):
        s.gpu_wait_since = None
        return None
    bid = current_bid(inst, spec) if inst.is_bid else None
    outbid = is_outbid(inst, bid)
    first = s.gpu_wait_since is None
    if first:
        s.gpu_wait_since = iso(now)
        await ctx.w.flush()  # the timeout counts from the first time it was seen
    cap = price_cap(spec, ctx.tuning.global_price_cap)
    if outbid and spec.placement.on_outbid == "RaiseBid":
        target = winning_bid(inst, cap)
        if target is not None:
            return await raise_bid(ctx, inst, bid, target, cap)
    placement = spec.placement
    field = "outbidTimeout" if outbid else "schedulingTimeout"
    timeout = parse_duration(
        placement.outbid_timeout if outbid else placement.scheduling_timeout
    ).total_seconds()
    since = parse_iso(s.gpu_wait_since) or now
    waited = now - since
    if waited >= timeout:
        s.gpu_wait_since = None
        s.attempts = 0  # a move forced by the market, not a failure of the instance
        what = "outbid" if outbid else "stopped, waiting for its machine's GPUs"
        why = f"instance {inst.id} {what} for {int(waited)}s (placement.{field} {int(timeout)}s)"
        return await replace(ctx, inst, why, on_replace)
    reason = Reason.OUTBID if outbid else Reason.SCHEDULING
    msg = _waiting_message(inst, bid, outbid, spec, cap, field, timeout)
    if first:
        ctx.event(reason, msg, warning=True)
    ctx.w.phase(Phase.LOADING, reason, msg)
    ctx.w.synced(True)
    return max(1.0, min(ctx.tuning.poll_interval, timeout - waited))


def _waiting_message(
    inst: Instance,
    bid: float | None,
    outbid: bool,
    spec: VastInstanceSpec,
    cap: float | None,
    field: str,
    timeout: float,
) -> str:
    after = f"kept up to placement.{field} {int(timeout)}s, then rented on another machine"
    if not outbid:
        return (
            f"instance {inst.id} is stopped while it should run: its machine's GPUs are taken "
            f"(Vast is scheduling it); {after}"
        )
    why = f"the machine's minimum bid is ${inst.min_bid:.4f}/h, above its bid ${bid or 0:.4f}/h"
    if spec.placement.on_outbid == "Wait":
        return f"instance {inst.id} was outbid: {why}; onOutbid Wait: {after}"
    storage = storage_per_hour(inst)
    limit = "no price cap" if cap is None else f"the cap ${cap:.4f}/h"
    if storage is None:
        return f"instance {inst.id} was outbid: {why}; its storage price is unknown; {after}"
    return (
        f"instance {inst.id} was outbid: {why}; raising it would cost "
        f"${(inst.min_bid or 0) + storage:.4f}/h with storage, above {limit}; {after}"
    )


async def raise_bid(
    ctx: InstanceCtx, inst: Instance, bid: float | None, target: float, cap: float | None
) -> float:
    """Bid the machine's minimum (within the cap): Vast runs the instance again."""
    await ctx.account.client.change_bid(inst.id, target)
    ctx.acted(inst.id)  # the next pass reads a listing that shows the new bid
    billing.note_action(ctx, inst)  # the new rate is billed from now
    msg = (
        f"instance {inst.id} was outbid: raised its bid from ${bid or 0:.4f}/h to "
        f"${target:.4f}/h, the machine's minimum bid (within the cap ${cap or 0:.4f}/h "
        "with storage)"
    )
    ctx.event(Reason.BID_RAISED, msg)
    ctx.w.phase(Phase.LOADING, Reason.BID_RAISED, msg)
    ctx.w.synced(True)
    return ctx.tuning.busy_interval
