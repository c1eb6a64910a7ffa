"""The simulator's own bill: what each instance and volume has cost, per account.

The model is the strictest plausible reading of Vast's documentation (docs/simulator.md,
"Billing"); every part marked UNCONFIRMED there is a guess about Vast, not a fact:

- An instance bills its **disk** (`storage_total_cost`, $/h) from its rent (`start_date`) until it
  is destroyed, whatever its state, and its **GPU** (`dph_total - storage_total_cost`) whenever
  its contract holds the machine (`cur_state == "running"`: provisioning, loading, running,
  rebooting, a failed boot, an offline host). A stopped instance, or one waiting in
  scheduling for its GPUs, pays the disk only. Nothing is billed after the destroy call.
- A volume bills its size at the machine's storage price from its creation until its deletion.
- Time is billed by the second (floats, no rounding of time). Each stretch at one rate (a
  *segment*) is priced in Decimal and rounded half-even to the micro-dollar when it closes; a
  segment closes whenever the rate changes (stop, start, a new bid or price, destroy).

`Ledger` is plain data: the world calls `sync` after it changes an instance (the rate is read
from the instance), `end` when a contract or volume is over, and `settle` to take what was
billed since the last settlement off the account's credit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from vast_sim.instance_view import instance_dph_total
from vast_sim.models import Instance, JSONDict, Volume
from vast_sim.offer_rows import storage_hourly

MICRO = Decimal("0.000001")
SECONDS_PER_HOUR = Decimal(3600)


def segment_cost(per_hour: float, seconds: float) -> Decimal:
    """Dollars for `seconds` at `per_hour` $/h, rounded half-even to the micro-dollar."""
    if seconds <= 0 or per_hour <= 0:
        return Decimal(0)
    raw = Decimal(repr(per_hour)) * Decimal(repr(seconds)) / SECONDS_PER_HOUR
    return raw.quantize(MICRO, rounding=ROUND_HALF_EVEN)


def instance_rates(inst: Instance) -> tuple[float, float]:
    """(GPU $/h, disk $/h) of an instance, exactly as its row reports them: the disk is
    `storage_total_cost`, the GPU is `dph_total` minus that."""
    disk = round(storage_hourly(inst.storage_cost, inst.disk), 6)
    return round(instance_dph_total(inst) - disk, 6), disk


def gpu_billed(inst: Instance) -> bool:
    """The contract holds the machine's GPUs (UNCONFIRMED which states Vast bills)."""
    return inst.cur_state == "running"


@dataclass
class Charge:
    """What one instance or volume has cost; amounts in micro-dollars."""

    source: str  # "instance-<id>" or "volume-<id>", like Vast's charges
    kind: str  # "instance" | "volume"
    object_id: int
    owner: int
    label: str | None
    start: float
    end: float | None = None
    closed_micro: int = 0
    settled_micro: int = 0
    # The open segment: since when, at what $/h (GPU part and disk part).
    since: float | None = None
    gpu_per_hour: float = 0.0
    disk_per_hour: float = 0.0
    segments: list[JSONDict] = field(default_factory=list)

    def rate(self) -> float:
        return round(self.gpu_per_hour + self.disk_per_hour, 6)

    def open_micro(self, now: float) -> int:
        if self.since is None:
            return 0
        return int(segment_cost(self.rate(), max(0.0, now - self.since)) / MICRO)

    def amount_micro(self, now: float) -> int:
        return self.closed_micro + self.open_micro(now)

    def close(self, now: float) -> None:
        if self.since is None:
            return
        amount = self.open_micro(now)
        self.segments.append(
            {
                "start": self.since,
                "end": now,
                "gpu_per_hour": self.gpu_per_hour,
                "disk_per_hour": self.disk_per_hour,
                "amount": str(Decimal(amount) * MICRO),
            }
        )
        self.closed_micro += amount
        self.since = None

    def open(self, now: float, gpu: float, disk: float) -> None:
        self.since, self.gpu_per_hour, self.disk_per_hour = now, gpu, disk


def dollars(micro: int) -> str:
    return str(Decimal(micro) * MICRO)


class Ledger:
    """Every charge of the world, by source."""

    def __init__(self, charges: dict[str, Charge] | None = None) -> None:
        self.charges: dict[str, Charge] = charges or {}

    def sync(self, inst: Instance, now: float) -> None:
        """Bring the instance's charge in line with its state: a new segment when its rate
        changed since the last sync (the world calls this right after every change)."""
        source = f"instance-{inst.id}"
        charge = self.charges.get(source)
        if charge is None:
            charge = Charge(source, "instance", inst.id, inst.owner, inst.label, inst.start_date)
            self.charges[source] = charge
        charge.label = inst.label
        if charge.end is not None:
            return
        if inst.cur_state == "unloaded":  # destroyed: billing ends now
            self.end(source, now)
            return
        gpu, disk = instance_rates(inst)
        wanted = (gpu if gpu_billed(inst) else 0.0, disk)
        if charge.since is not None and (charge.gpu_per_hour, charge.disk_per_hour) == wanted:
            return
        start = charge.start if charge.since is None and not charge.segments else now
        charge.close(now)
        charge.open(start, *wanted)

    def start_volume(self, vol: Volume) -> None:
        source = f"volume-{vol.id}"
        charge = Charge(source, "volume", vol.id, vol.owner, vol.label, vol.start_date)
        charge.open(vol.start_date, 0.0, round(storage_hourly(vol.storage_cost, vol.size), 6))
        self.charges[source] = charge

    def end(self, source: str, now: float) -> None:
        charge = self.charges.get(source)
        if charge is not None and charge.end is None:
            charge.close(now)
            charge.end = now

    def settle(self, owner: int, now: float) -> Decimal:
        """What `owner` was billed since the last settlement (to take off its credit)."""
        due = 0
        for charge in self.charges.values():
            if charge.owner == owner:
                amount = charge.amount_micro(now)
                due += amount - charge.settled_micro
                charge.settled_micro = amount
        return Decimal(due) * MICRO

    def view(self, now: float, owner: int | None = None, at: float | None = None) -> JSONDict:
        """The bill as the admin route shows it: every charge, and totals per account and per
        label (the operator labels an instance with its object's UID). With `at` (not after
        `now`), the amounts as of then; a charge whose current rate began after `at` is
        reported as of its last change (`as_of`)."""
        rows: list[JSONDict] = []
        by_owner: dict[int, int] = {}
        by_label: dict[str, int] = {}
        for charge in sorted(self.charges.values(), key=lambda c: (c.start, c.source)):
            if owner is not None and charge.owner != owner:
                continue
            when = now if at is None else min(at, now)
            if charge.end is not None:
                when = min(when, charge.end)
            if charge.since is not None:
                when = max(when, charge.since)
            amount = charge.amount_micro(when)
            by_owner[charge.owner] = by_owner.get(charge.owner, 0) + amount
            if charge.label:
                by_label[charge.label] = by_label.get(charge.label, 0) + amount
            row = {**to_dict(charge), "amount": dollars(amount), "as_of": when}
            rows.append({**row, "open": _open(charge)})
        return {
            "now": now,
            "at": now if at is None else min(at, now),
            "charges": rows,
            "by_account": {str(k): dollars(v) for k, v in by_owner.items()},
            "by_label": {k: dollars(v) for k, v in by_label.items()},
        }


def _open(charge: Charge) -> JSONDict | None:
    if charge.since is None:
        return None
    return {
        "since": charge.since,
        "gpu_per_hour": charge.gpu_per_hour,
        "disk_per_hour": charge.disk_per_hour,
    }


def to_dict(charge: Charge) -> JSONDict:
    return {
        "source": charge.source,
        "kind": charge.kind,
        "object_id": charge.object_id,
        "owner": charge.owner,
        "label": charge.label,
        "start": charge.start,
        "end": charge.end,
        "closed": dollars(charge.closed_micro),
        "closed_micro": charge.closed_micro,
        "settled_micro": charge.settled_micro,
        "since": charge.since,
        "gpu_per_hour": charge.gpu_per_hour,
        "disk_per_hour": charge.disk_per_hour,
        "segments": list(charge.segments),
    }


def from_dict(data: dict[str, Any]) -> Charge:
    names = set(Charge.__dataclass_fields__)
    return Charge(**{k: v for k, v in data.items() if k in names})
