"""What an object's rentals have cost, from what Vast reports (docs/reference.md, "Billing").

Each rental (one Vast instance) is billed in *segments*, stretches at one rate:

- the disk (`storage_total_cost` $/h, else `storage_cost` * disk / 720) from the rent
  (`start_date`) until the instance is destroyed, whatever its state;
- the GPUs (`dph_total` minus the disk) while Vast holds them (`cur_state == "running"`:
  booting, running, a failed boot, an unreachable host), not while stopped or scheduling.

A segment closes when its rate changes (a stop, a start, a new price) or the rental ends; its
cost is priced in Decimal and rounded half-even to the micro-dollar, exactly as the
simulator's bill does (vast_sim/billing.py). The total is the earlier rentals' cost plus each
listed rental's closed segments plus its open segment up to now.

Times are on Vast's clock: a row says when it was made (`start_date + client_run_time`), and the
operator's own time is moved onto that clock by the distance from the listing that carried
the row. A change the operator caused (stop, start, destroy) is billed from when it sent the
call; any other change from the first listing that shows it, so it is accurate to one poll
interval. All functions here are pure except `vast_now`, which reads the poller's snapshot.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from ...api.instance import VastInstanceSpec, VastInstanceStatus
from ...api.rental import MAX_RENTALS, Rental
from ...vast.models import Instance
from ..adapter import Ctx
from ..placement import HOURS_PER_MONTH
from ..timefmt import iso, parse_iso

InstanceCtx = Ctx[VastInstanceSpec, VastInstanceStatus]
MICRO = Decimal("0.000001")
CENT = Decimal("0.01")
SECONDS_PER_HOUR = Decimal(3600)
# A stop or start sent this long ago (Vast clock) without any change seen is not waited for.
ACTION_WINDOW = 300.0
# While a rental only runs on, status.accruedCost is rewritten at most this often (Vast's clock):
# a write per cent cost hundreds of Kubernetes writes a minute across a fleet. A rental that
# opens, closes or changes rate is written at once, with the figure of that moment.
ACCRUED_REFRESH = 900.0


def segment_cost(per_hour: float, seconds: float) -> Decimal:
    """Dollars for `seconds` at `per_hour` $/h, rounded half-even to the micro-dollar."""
    if seconds <= 0 or per_hour <= 0:
        return Decimal(0)
    raw = Decimal(repr(per_hour)) * Decimal(repr(seconds)) / SECONDS_PER_HOUR
    return raw.quantize(MICRO, rounding=ROUND_HALF_EVEN)


def rates(inst: Instance) -> tuple[float, float] | None:
    """(GPU $/h, disk $/h) the row reports, or None without a price."""
    if inst.dph_total is None:
        return None
    disk = inst.storage_total_cost
    if disk is None:
        known = inst.storage_cost is not None and inst.disk_space is not None
        disk = (inst.storage_cost or 0.0) * (inst.disk_space or 0.0) / HOURS_PER_MONTH
        disk = disk if known else 0.0
    disk = round(disk, 6)
    return round(inst.dph_total - disk, 6), disk


def gpu_billed(inst: Instance) -> bool:
    """Vast holds the instance's GPUs (UNCONFIRMED which states Vast bills the GPU for)."""
    if inst.cur_state:
        return inst.cur_state == "running"
    return inst.actual_status != "stopped"


def row_time(inst: Instance) -> float | None:
    """Vast's clock when the row was made, if the row says."""
    if inst.start_date is None or inst.client_run_time is None:
        return None
    return inst.start_date + inst.client_run_time


def rental_cost(rental: Rental, at: float) -> Decimal:
    """What the rental cost up to `at` (its end, if it ended)."""
    cost = Decimal(rental.cost)
    since = parse_iso(rental.since)
    if since is not None:
        per_hour = round((rental.gpu_per_hour or 0.0) + (rental.disk_per_hour or 0.0), 6)
        cost += segment_cost(per_hour, at - since)
    return cost


def total(s: VastInstanceStatus, at: float) -> Decimal:
    """Every rental of the object, up to `at` (Vast clock)."""
    earlier = Decimal(s.earlier_rentals_cost or "0")
    return earlier + sum((rental_cost(r, at) for r in s.rentals or []), Decimal(0))


def _close(rental: Rental, at: float) -> dict[str, Any]:
    """The rental's fields with its open segment closed at `at`."""
    since = parse_iso(rental.since)
    at = max(at, since) if since is not None else at
    return {"cost": str(rental_cost(rental, at)), "since": iso(at) if since is not None else None}


def _replace(s: VastInstanceStatus, rentals: list[Rental]) -> None:
    """Store the list, summing the oldest ended rentals beyond MAX_RENTALS into
    earlierRentalsCost."""
    earlier = Decimal(s.earlier_rentals_cost or "0")
    while len(rentals) > MAX_RENTALS and rentals[0].end is not None:
        earlier += Decimal(rentals.pop(0).cost)
    s.rentals = rentals or None
    if earlier:
        s.earlier_rentals_cost = str(earlier)


def ended(s: VastInstanceStatus, instance_id: int, at: float) -> None:
    """The rental of `instance_id` is over at `at` (destroyed, or seen gone)."""
    rentals = []
    for rental in s.rentals or []:
        if rental.instance_id == instance_id and rental.end is None:
            closed = _close(rental, at)["cost"]
            update = {"cost": closed, "since": None, "end": iso(at), "acted_at": None}
            rentals.append(rental.model_copy(update=update))
        else:
            rentals.append(rental)
    _replace(s, rentals)


def acted(s: VastInstanceStatus, instance_id: int, at: float) -> None:
    """The operator sent a stop or start at `at` (its own clock): the change it causes is
    billed from then, once a listing tells where that is on Vast's clock."""
    s.rentals = [
        r.model_copy(update={"acted_at": iso(at)}) if r.instance_id == instance_id else r
        for r in s.rentals or []
    ] or None


def observe(s: VastInstanceStatus, inst: Instance, at: float, offset: float = 0.0) -> None:
    """Record what one observation of the object's instance (at `at`, Vast clock) means for
    the bill: a new rental, or a new segment when its rate changed. `offset` is Vast's clock
    minus ours, as this observation measured it (for `actedAt`, which is on ours)."""
    priced = rates(inst)
    for other in s.rentals or []:
        if other.instance_id != inst.id and other.end is None:
            ended(s, other.instance_id, at)  # gone without us seeing the destroy
    if priced is None:
        return
    gpu, disk = priced
    wanted = (gpu if gpu_billed(inst) else 0.0, disk)
    rentals = list(s.rentals or [])
    index = next((i for i, r in enumerate(rentals) if r.instance_id == inst.id), None)
    if index is None:
        start = iso(inst.start_date if inst.start_date is not None else at)
        rental = Rental(instance_id=inst.id, start=start, since=start)
        first = {
            "gpu_per_hour": wanted[0],
            "disk_per_hour": disk,
            "rented_per_hour": inst.dph_total,
        }
        rental = rental.model_copy(update=first)
        _replace(s, [*rentals, rental])
        return
    rental = rentals[index]
    if rental.end is not None:
        return
    acted_at = parse_iso(rental.acted_at)
    acted_at = acted_at + offset if acted_at is not None else None
    if (rental.gpu_per_hour, rental.disk_per_hour) != wanted:
        when = acted_at if acted_at is not None and acted_at <= at else at
        closed = _close(rental, when)
        update = {**closed, "gpu_per_hour": wanted[0], "disk_per_hour": disk, "acted_at": None}
        rentals[index] = rental.model_copy(update=update)
    elif acted_at is not None and at - acted_at > ACTION_WINDOW:
        rentals[index] = rental.model_copy(update={"acted_at": None})
    else:
        return
    _replace(s, rentals)


def show(s: VastInstanceStatus, at: float, *, now: bool = True) -> Decimal:
    """Write status.accruedCost (to the cent, half-even) when it moved by a cent: at once with
    `now`, else only when the figure shown is `ACCRUED_REFRESH` old. Returns the exact total."""
    exact = total(s, at)
    if not s.rentals and s.earlier_rentals_cost is None:
        return exact
    cents = exact.quantize(CENT, rounding=ROUND_HALF_EVEN)
    shown_at = parse_iso(s.accrued_cost_at)
    due = now or shown_at is None or at - shown_at >= ACCRUED_REFRESH
    if s.accrued_cost is None or (due and Decimal(repr(s.accrued_cost)) != cents):
        s.accrued_cost = float(cents)
        s.accrued_cost_at = iso(at)
    return exact


# --- the hooks the instance adapter calls ---------------------------------------------------------


def vast_now(ctx: InstanceCtx, inst: Instance) -> float:
    """Now, on Vast's clock: the row's time plus what passed since its listing began (the
    local clock when the row says nothing)."""
    now = ctx.clock()
    made = row_time(inst)
    if made is None:
        return now
    snap = ctx.account.poller.current
    listed = snap.started_at if snap is not None and snap.by_id.get(inst.id) is inst else now
    return made + max(0.0, now - listed)


def follow(ctx: InstanceCtx, inst: Instance) -> None:
    """An observation of the object's instance: bill it and show the total."""
    at = vast_now(ctx, inst)
    before = ctx.w.s.rentals
    observe(ctx.w.s, inst, at, offset=at - ctx.clock())
    show(ctx.w.s, at, now=ctx.w.s.rentals != before)  # a rental opened, closed or re-rated


def note_action(ctx: InstanceCtx, inst: Instance) -> None:
    """A stop or start was just sent for `inst`. Kept on our clock: the listing before the
    call may predate a jump of Vast's clock (the simulator's), the one after it cannot."""
    acted(ctx.w.s, inst.id, ctx.clock())


def note_destroyed(ctx: InstanceCtx, inst: Instance) -> None:
    """`inst` was just destroyed: its rental ends now."""
    at = vast_now(ctx, inst)
    ended(ctx.w.s, inst.id, at)
    show(ctx.w.s, at)


def agree_price(s: VastInstanceStatus, instance_id: int, per_hour: float) -> None:
    """An accepted price increase: the price the operator agreed to for this rental."""
    rentals = [
        r.model_copy(update={"rented_per_hour": per_hour}) if r.instance_id == instance_id else r
        for r in s.rentals or []
    ]
    _replace(s, rentals)


def rented_per_hour(s: VastInstanceStatus, instance_id: int) -> float | None:
    """What the instance cost per hour when it was first seen, if recorded."""
    found = next((r for r in s.rentals or [] if r.instance_id == instance_id), None)
    return found.rented_per_hour if found is not None else None
