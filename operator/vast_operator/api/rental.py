"""One rental of a VastInstance in status: which Vast instance, when, and what it has cost."""

from __future__ import annotations

from pydantic import Field

from .common import StatusModel

# How many rentals status lists; older ones are summed into status.earlierRentalsCost.
MAX_RENTALS = 8


class Rental(StatusModel):
    """One Vast instance this object rented, and its bill as the operator computes it."""

    instance_id: int = Field(description="The Vast instance (contract) id.")
    start: str = Field(description="When it was rented: Vast's start_date (RFC 3339).")
    end: str | None = Field(
        default=None, description="When the operator destroyed it, or saw it gone (RFC 3339)."
    )
    cost: str = Field(
        default="0",
        description="Dollars billed up to `since` (decimal, to the micro-dollar); the whole "
        "rental once `end` is set.",
    )
    since: str | None = Field(
        default=None,
        description="Start of the stretch billed at the current rate, on Vast's clock "
        "(RFC 3339); unset once the rental ended.",
    )
    gpu_per_hour: float | None = Field(
        default=None,
        description="$/h billed for the GPUs since `since`: dph_total minus the disk price "
        "while Vast holds the GPUs (cur_state running), 0 while stopped.",
    )
    disk_per_hour: float | None = Field(
        default=None, description="$/h billed for the disk (storage_total_cost) until destroy."
    )
    rented_per_hour: float | None = Field(
        default=None,
        description="The price (dph_total: GPU and disk, $/h) the operator agreed to: when it "
        "first saw the instance, or a host's price increase it accepted. A higher dph_total is "
        "an increase nobody answered.",
    )
    acted_at: str | None = Field(
        default=None,
        description="When the operator last stopped or started it, on the operator's clock "
        "(RFC 3339): the next change it observes is billed from then (moved onto Vast's clock) "
        "rather than from when it was seen.",
    )
