"""No new rent when the account's credit would not last `--credit-horizon` at the chosen
offer's price. Running instances are never touched: this is asked only before a rent."""

from __future__ import annotations

from ...api.instance import Phase, VastInstanceSpec, VastInstanceStatus
from ...vast.models import Offer
from .. import placement
from ..adapter import Ctx
from ..conditions import READY, Reason

InstanceCtx = Ctx[VastInstanceSpec, VastInstanceStatus]
# While an object waits for credit, it looks at the balance this often (credit.MIN_INTERVAL
# still bounds the reads per account).
RECHECK = 15.0


def horizon_text(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m" if rest else f"{hours}h"


async def credit_low(ctx: InstanceCtx, offer: Offer) -> float | None:
    """A delay when the balance is below what `offer` costs over the horizon (the object is
    then Pending with Ready=False CreditLow); None to go on renting. An unknown balance never
    blocks a rent (Vast refuses it itself when the credit is gone)."""
    reader, horizon = ctx.account.credit, ctx.tuning.credit_horizon
    hourly = placement.hourly_cost(offer, ctx.spec)
    if reader is None or horizon <= 0 or hourly is None:
        return None
    waiting = (ctx.w.get_condition(READY) or {}).get("reason") == Reason.CREDIT_LOW
    balance = await reader.balance(max_age=RECHECK if waiting else None)
    need = hourly * horizon / 3600.0
    if balance is None or balance >= need:
        return None
    msg = (
        f"the account's credit ${balance:.2f} is below the ${need:.2f} the cheapest matching "
        f"offer ({offer.id}, ${hourly:.4f}/h) needs for {horizon_text(horizon)} "
        "(--credit-horizon); nothing is rented until credit is added"
    )
    ctx.w.phase(Phase.PENDING, Reason.CREDIT_LOW, msg)
    ctx.w.synced(True)
    return RECHECK
