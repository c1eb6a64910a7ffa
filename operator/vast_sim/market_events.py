"""What the market does to a rented contract: outbids, contract end dates, price increases.

Plain functions over the records, like lifecycle.py; the world (world/market.py) applies them
and keeps the bill in step. Each is the strictest plausible reading of Vast (docs/simulator.md,
"The market"); the parts marked UNCONFIRMED are guesses about Vast, not facts:

- **Outbid.** A competing bid on a machine (`Machine.competing_bid_per_gpu`, set by the admin
  route) raises the machine's minimum bid (`min_bid` of its offers and of its instances' rows)
  and stops every interruptible on it whose bid is below: `actual_status` stopped while
  `intended_status` stays running, `cur_state` stopped (storage billed only), no status message
  (UNCONFIRMED: Vast may say more). The competitor takes the GPUs, so the machine's free GPUs do
  not change. `change_bid` at or above the minimum wins them back (the instance loads and runs
  again); a start while outbid stays stopped; lowering a running bid below the minimum is an
  outbid at once.
- **Contract end.** A row's `end_date` is its machine's (the host's listing end), or earlier
  when the renter rejected a price increase (`Instance.contract_end`). At that moment the
  instance is stopped by the host (intended and actual stopped, its GPUs given back, its disk
  kept and billed); it can never be started again (400), and CONTRACT_GRACE_SECONDS later the
  row is gone (Vast's docs: expired instances "may be deleted 48 h after expiry").
- **Price increases** (UNCONFIRMED: Vast's console offers accept/reject, no documented route).
  The host raises an on-demand machine's price with notice: its on-demand instances get
  `pending_price_increase` {dph_base, dph_total, effective_date}. Unanswered, it applies at
  `effective_date`; accepted, it applies at once; rejected, the contract ends at
  `effective_date` at the old price.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vast_sim import lifecycle
from vast_sim.errors import vast_error
from vast_sim.models import Instance, JSONDict, Machine
from vast_sim.offer_rows import storage_hourly

if TYPE_CHECKING:
    from vast_sim.billing import Ledger

CONTRACT_GRACE_SECONDS = 48 * 3600
CONTRACT_ENDED_MSG = "Contract ended: the host's end date for this machine has passed"
OUTBID = "outbid"
CONTRACT_ENDED = "contract_ended"
LIVE_PHASES_EXCLUDED = frozenset({lifecycle.UNLOADING, lifecycle.UNLOADED, CONTRACT_ENDED})
# Phases in which an interruptible does not compete for GPUs right now.
NOT_COMPETING = LIVE_PHASES_EXCLUDED | {OUTBID, "stopped"}


def min_bid(machine: Machine, size: int) -> float:
    """The bid that wins `size` GPUs of the machine now."""
    per_gpu = max(machine.min_bid_per_gpu, machine.competing_bid_per_gpu or 0.0)
    return round(per_gpu * size, 6)


def end_date(inst: Instance, machine: Machine) -> float:
    ends = [machine.end_date]
    if inst.contract_end is not None:
        ends.append(inst.contract_end)
    return min(ends)


def wins(inst: Instance, machine: Machine) -> bool:
    """An interruptible's bid is at least the machine's minimum (ties win)."""
    bid = inst.bid_price or 0.0
    return bid + 1e-9 >= min_bid(machine, inst.num_gpus)


def outbid(inst: Instance, now: float) -> None:
    """A higher bid takes the instance's GPUs: stopped while it should run, disk kept."""
    inst.gpus_held = False  # the competitor holds them now; the machine's free GPUs stay
    inst.running_since = None
    inst.phase = OUTBID
    inst.phase_started = now
    inst.phase_duration = 0.0
    inst.actual_status = "stopped"
    inst.intended_status = "running"
    inst.cur_state = "stopped"
    inst.next_state = "running"
    inst.status_msg = None


def win_back(inst: Instance, machine: Machine, now: float, boot_seconds: float) -> None:
    """A winning bid: the GPUs come back from the competitor and the container starts."""
    inst.gpus_held = True
    lifecycle.start(inst, machine, now, boot_seconds)


def end_contract(inst: Instance, machine: Machine, at: float) -> None:
    """The host's contract is over: stopped for good, GPUs back to the machine, disk kept."""
    lifecycle.release_gpus(inst, machine)
    inst.running_since = None
    inst.phase = CONTRACT_ENDED
    inst.phase_started = at
    inst.phase_duration = 0.0
    inst.actual_status = "stopped"
    inst.intended_status = "stopped"
    inst.cur_state = "stopped"
    inst.next_state = "stopped"
    inst.status_msg = CONTRACT_ENDED_MSG
    inst.pending_price = None


def contract_due(inst: Instance, machine: Machine, now: float) -> float | None:
    """When the contract ended, if it has and was not yet applied."""
    if inst.phase in LIVE_PHASES_EXCLUDED:
        return None
    end = end_date(inst, machine)
    return end if now >= end else None


def price_due(inst: Instance, now: float) -> float | None:
    """When an unanswered price increase took effect, if it has."""
    pending = inst.pending_price
    if pending is None or now < float(pending["effective_date"]):
        return None
    return float(pending["effective_date"])


def apply_price(inst: Instance) -> None:
    pending = inst.pending_price
    if pending is not None:
        inst.dph_base = float(pending["dph_base"])
        inst.pending_price = None


def gone_for_good(inst: Instance, machine: Machine, now: float) -> bool:
    """An ended contract's row is deleted CONTRACT_GRACE_SECONDS after the end."""
    return inst.phase == CONTRACT_ENDED and now >= end_date(inst, machine) + CONTRACT_GRACE_SECONDS


def pending_row(inst: Instance) -> JSONDict | None:
    """`pending_price_increase` of the row (UNCONFIRMED field)."""
    pending = inst.pending_price
    if pending is None:
        return None
    base = float(pending["dph_base"])
    return {
        "dph_base": round(base, 6),
        "dph_total": round(base + storage_hourly(inst.storage_cost, inst.disk), 6),
        "effective_date": float(pending["effective_date"]),
    }


def tick(inst: Instance, machine: Machine, now: float, ledger: Ledger) -> tuple[bool, bool]:
    """Apply what is due by `now`, each billed from the moment it happened: a price increase
    at its effective date, the contract end at its end date. Returns (changed, gone): gone
    when the ended contract's row is deleted now (its disk billed until the grace ran out)."""
    changed = False
    at = price_due(inst, now)
    if at is not None:
        apply_price(inst)
        ledger.sync(inst, at)
        changed = True
    end = contract_due(inst, machine, now)
    if end is not None:
        end_contract(inst, machine, end)
        ledger.sync(inst, end)
        changed = True
    if gone_for_good(inst, machine, now):
        ledger.end(f"instance-{inst.id}", end_date(inst, machine) + CONTRACT_GRACE_SECONDS)
        return changed, True
    return changed, False


def start_refused(inst: Instance, machine: Machine, now: float) -> bool:
    """Before a start or recycle: an ended contract cannot start (400); an interruptible whose
    bid no longer wins stays (or becomes) outbid. True: the instance changed, start nothing."""
    if inst.phase == CONTRACT_ENDED:
        raise vast_error(400, "invalid_args", f"The contract of instance {inst.id} has ended.")
    if inst.is_bid and not wins(inst, machine):
        outbid(inst, now)
        return True
    return False


def follow_bid(inst: Instance, machine: Machine, now: float, boot_seconds: float) -> None:
    """After a bid change: a winning bid runs an outbid instance again; a losing one stops an
    instance that competes for its GPUs."""
    if inst.phase == OUTBID:
        if wins(inst, machine):
            win_back(inst, machine, now, boot_seconds)
    elif (
        inst.phase not in NOT_COMPETING
        and inst.intended_status == "running"
        and not wins(inst, machine)
    ):
        outbid(inst, now)
