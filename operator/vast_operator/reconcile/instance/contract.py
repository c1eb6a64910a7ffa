"""The host's side of a rental: the contract's end date and price increases.

- **Contract end.** Every instance row carries `end_date` (epoch seconds): the host's listing
  ends then, and Vast stops the instance (its disk stays readable for a while; Vast's docs say
  expired instances may be deleted 48 h later). Within `placement.contractEndWarning` the
  condition `ContractExpiring` is True (one Warning event). At the end,
  `placement.onContractEnd: Replace` destroys it and rents elsewhere (spec.state Running);
  `Keep` leaves it stopped with Ready=False `ContractEnded`.
- **Price increases.** UNCONFIRMED shape (`PendingPriceIncrease`): a new total within the
  object's cap (`maxPricePerHour`, or the operator's) is accepted, one above it rejected, each
  with a Normal event (logged at INFO). A rejection ends the contract when the increase would
  have applied, so the contract-end policy takes over from there.
"""

from __future__ import annotations

from ...api.common import parse_duration
from ...api.instance import Phase
from ...vast.models import Instance
from ..conditions import CONTRACT_EXPIRING, Reason
from ..placement import HOURS_PER_MONTH, price_cap
from ..timefmt import iso
from . import billing
from .replacing import InstanceCtx, OnReplace, replace


def contract_state(end_date: float | None, now: float, warning: float) -> str | None:
    """ "ended", "expiring" (within `warning` seconds), "valid", or None without an end date."""
    if not end_date:
        return None
    if now >= end_date:
        return "ended"
    return "expiring" if end_date - now <= warning else "valid"


def increase_total(inst: Instance) -> float | None:
    """What the instance would cost per hour after the pending increase, storage included."""
    inc = inst.pending_price_increase
    if inc is None:
        return None
    if inc.dph_total is not None:
        return inc.dph_total
    if inc.dph_base is None or inst.storage_cost is None or inst.disk_space is None:
        return None
    return inc.dph_base + inst.storage_cost * inst.disk_space / HOURS_PER_MONTH


def accepts_increase(inst: Instance, cap: float | None) -> bool:
    """Accept only a known new price within the cap; anything unknown is rejected."""
    total = increase_total(inst)
    return cap is not None and total is not None and total <= cap + 1e-9


async def answer_price_increase(ctx: InstanceCtx, inst: Instance) -> None:
    """Accept a pending increase within the cap, reject one above it (one event each)."""
    inc = inst.pending_price_increase
    if inc is None or inst.is_bid:  # an interruptible's price is its own bid
        return
    cap = price_cap(ctx.spec, ctx.tuning.global_price_cap)
    accept = accepts_increase(inst, cap)
    total = increase_total(inst)
    key = f"{inst.id} ${total} at {inc.effective_date}"
    if (ctx.w.s.price_increase_answer or "").startswith(key + ":"):
        return  # answered already: Vast's row may show it until it applies
    await ctx.account.client.answer_price_increase(inst.id, accept=accept)
    ctx.acted(inst.id)  # the next pass reads a listing that shows the answer
    if accept:
        billing.note_action(ctx, inst)  # the new price is billed from now
        if total is not None:  # agreed to: a cap lowered later waits for the next rental
            billing.agree_price(ctx.w.s, inst.id, total)
    ctx.w.s.price_increase_answer = f"{key}: {'accepted' if accept else 'rejected'}"
    await ctx.w.flush()  # answered once, also across a restart
    new = "an unknown price" if total is None else f"${total:.4f}/h"
    old = "" if inst.dph_total is None else f" from ${inst.dph_total:.4f}/h"
    limit = "no price cap" if cap is None else f"the cap ${cap:.4f}/h"
    if accept:
        ctx.event(
            "PriceIncreaseAccepted",
            f"accepted the host's price increase of instance {inst.id}{old} to {new} "
            f"(within {limit})",
        )
        return
    when = iso(inc.effective_date) if inc.effective_date else "the time the increase applies"
    policy = ctx.spec.placement.on_contract_end
    ctx.event(
        "PriceIncreaseRejected",
        f"rejected the host's price increase of instance {inst.id}{old} to {new} (above "
        f"{limit}): the contract ends at {when}, then onContractEnd {policy} applies",
    )


async def follow_contract(ctx: InstanceCtx, inst: Instance, on_replace: OnReplace) -> float | None:
    """The ContractExpiring condition, and the onContractEnd policy once the contract ended."""
    # end_date is on Vast's clock: compare it with Vast's now (the row's time), not ours.
    spec, now = ctx.spec, billing.vast_now(ctx, inst)
    warning = parse_duration(spec.placement.contract_end_warning).total_seconds()
    state = contract_state(inst.end_date, now, warning)
    if state is None:
        return None
    end = iso(inst.end_date or 0)
    policy = spec.placement.on_contract_end
    if state == "valid":
        msg = f"the host's contract for instance {inst.id} ends at {end}"
        ctx.w.condition(CONTRACT_EXPIRING, False, Reason.CONTRACT_VALID, msg)
        return None
    if state == "expiring":
        then = (
            "it is destroyed, with its disk, and rented on another machine"
            if policy == "Replace"
            else "Vast stops it and it is kept, stopped, with its disk"
        )
        msg = f"the host's contract for instance {inst.id} ends at {end}; then {then} "
        msg += f"(placement.onContractEnd {policy})"
        previous = ctx.w.get_condition(CONTRACT_EXPIRING) or {}
        if previous.get("status") != "True":
            ctx.event("ContractExpiring", msg, warning=True)
        ctx.w.condition(CONTRACT_EXPIRING, True, Reason.CONTRACT_ENDING, msg)
        return None
    if spec.state == "Running" and policy == "Replace":
        why = f"the host's contract for instance {inst.id} ended at {end} (onContractEnd Replace)"
        ctx.w.condition(CONTRACT_EXPIRING, True, Reason.CONTRACT_ENDED, why)
        ctx.w.s.attempts = 0  # a move forced by the host, not a failure of the instance
        return await replace(ctx, inst, why, on_replace)
    msg = (
        f"the host's contract for instance {inst.id} ended at {end}: it is kept, stopped, with "
        "its disk, for you to copy data off (Vast may delete it some time after the end). "
        "Delete the object, or set placement.onContractEnd Replace to rent elsewhere"
    )
    ctx.w.condition(CONTRACT_EXPIRING, True, Reason.CONTRACT_ENDED, msg)
    ctx.w.phase(Phase.STOPPED, Reason.CONTRACT_ENDED, msg)
    ctx.w.synced(True)
    return ctx.tuning.idle_interval


async def hold_price_cap(ctx: InstanceCtx, inst: Instance, on_replace: OnReplace) -> float | None:
    """A host price increase that applied unanswered (the operator was down for its whole
    notice, or had no key for the account) leaves the instance above the object's cap. The
    operator then does what a rejection would have led to: onContractEnd Replace rents on
    another machine; Keep stops it, so only its disk is billed, until the cap is raised. Only
    a price the host raised past what the operator agreed to (the rent price, or an increase
    it accepted) counts: a cap lowered below that waits for the next rental, like other
    rent-time fields. None when the price is within the cap."""
    spec = ctx.spec
    if spec.state != "Running" or inst.is_bid or inst.pending_price_increase is not None:
        return None
    cap = price_cap(spec, ctx.tuning.global_price_cap)
    rented = billing.rented_per_hour(ctx.w.s, inst.id)
    price = inst.dph_total
    if cap is None or rented is None or price is None or price <= max(cap, rented) + 1e-6:
        return None
    why = (
        f"the host raised the price of instance {inst.id} from ${rented:.4f}/h to "
        f"${price:.4f}/h, above the cap ${cap:.4f}/h, without an answer in time"
    )
    if spec.placement.on_contract_end == "Replace":
        ctx.w.s.attempts = 0  # a move forced by the host, not a failure of the instance
        return await replace(ctx, inst, f"{why} (onContractEnd Replace)", on_replace)
    if inst.intended_status != "stopped":
        await ctx.account.client.stop_instance(inst.id)
        ctx.acted(inst.id)
        billing.note_action(ctx, inst)  # only the disk is billed from now
    msg = (
        f"{why}: stopped, so only its disk is billed (onContractEnd Keep). Raise "
        "maxPricePerHour to run it at this price, or delete the object"
    )
    ctx.w.phase(Phase.STOPPED, Reason.PRICE_ABOVE_CAP, msg)
    ctx.w.synced(True)
    return ctx.tuning.idle_interval
