"""The accrued cost of a VastInstance: per rental, GPU while Vast holds the GPUs, disk from rent
to destroy, in Decimal to the micro-dollar, summed over every rental of the object."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fakes import Harness, obj, offer

from vast_operator.api.instance import VastInstanceStatus
from vast_operator.api.rental import MAX_RENTALS
from vast_operator.reconcile.instance import InstanceAdapter
from vast_operator.reconcile.instance.billing import (
    acted,
    ended,
    observe,
    rates,
    segment_cost,
    show,
    total,
)
from vast_operator.reconcile.timefmt import parse_iso
from vast_operator.vast.models import Instance

T0 = 1_800_000_000.0
GPU, DISK = 0.4, 0.02  # $/h: dph_total 0.42 with 0.02 of storage


def row(inst_id: int = 7, cur: str = "running", **extra: Any) -> Instance:
    fields: dict[str, Any] = {
        "id": inst_id,
        "dph_total": round(GPU + DISK, 6),
        "storage_total_cost": DISK,
        "cur_state": cur,
        "actual_status": "running" if cur == "running" else "stopped",
        "start_date": T0,
    }
    fields.update(extra)
    return Instance(**fields)


def test_the_rates_split_dph_total_into_gpu_and_disk() -> None:
    assert rates(row()) == (GPU, DISK)
    no_total = row(storage_total_cost=None, storage_cost=0.1, disk_space=72.0)
    assert rates(no_total) == (round(GPU + DISK - 0.01, 6), 0.01)  # 0.1 $/GB/month * 72 GB / 720 h
    assert rates(row(dph_total=None)) is None


def test_running_pays_gpu_and_disk_stopped_pays_disk_only_and_the_sum_is_exact() -> None:
    s = VastInstanceStatus()
    observe(s, row(), T0 + 10)  # first seen 10 s after the rent: billed from the rent
    observe(s, row(cur="stopped"), T0 + 3600)
    observe(s, row(cur="running"), T0 + 3 * 3600)
    at = T0 + 4 * 3600
    expected = (
        segment_cost(GPU + DISK, 3600)
        + segment_cost(DISK, 2 * 3600)
        + segment_cost(GPU + DISK, 3600)
    )
    assert total(s, at) == expected
    assert show(s, at) == expected
    assert s.accrued_cost == float(expected.quantize(Decimal("0.01")))
    assert parse_iso(s.accrued_cost_at) == at


def test_a_stop_sent_on_our_clock_is_placed_on_vasts_by_the_next_listing() -> None:
    s = VastInstanceStatus()
    observe(s, row(), T0)
    local = 1_000.0  # our clock, far from Vast's (as after a jump of the simulated clock)
    acted(s, 7, local)
    # The next listing, 5 s after the call on both clocks, shows the stop.
    seen = T0 + 3600 + 5
    observe(s, row(cur="stopped"), seen, offset=seen - (local + 5))
    (rental,) = s.rentals or []
    assert Decimal(rental.cost) == segment_cost(GPU + DISK, 3600)
    assert parse_iso(rental.since) == T0 + 3600 and rental.acted_at is None


def test_a_replaced_rental_keeps_its_cost_and_the_next_one_adds_to_it() -> None:
    s = VastInstanceStatus()
    observe(s, row(7), T0)
    ended(s, 7, T0 + 1800)
    observe(s, row(8, start_date=T0 + 1900), T0 + 1900)
    at = T0 + 1900 + 600
    first = segment_cost(GPU + DISK, 1800)
    assert [r.instance_id for r in s.rentals or []] == [7, 8]
    assert Decimal((s.rentals or [])[0].cost) == first
    assert total(s, at) == first + segment_cost(GPU + DISK, 600)
    assert total(s, at + 3600) - total(s, at) == segment_cost(GPU + DISK, 4200) - segment_cost(
        GPU + DISK, 600
    )  # the ended rental costs nothing more


def test_a_rental_seen_gone_ends_when_the_next_one_is_observed() -> None:
    s = VastInstanceStatus()
    observe(s, row(7), T0)
    observe(s, row(8, start_date=T0 + 100), T0 + 100)
    first = (s.rentals or [])[0]
    assert first.end is not None and parse_iso(first.end) == T0 + 100
    assert Decimal(first.cost) == segment_cost(GPU + DISK, 100)


def test_old_rentals_are_summed_into_earlier_rentals_cost() -> None:
    s = VastInstanceStatus()
    at = T0
    for inst_id in range(1, MAX_RENTALS + 4):
        observe(s, row(inst_id, start_date=at), at)
        at += 3600
        ended(s, inst_id, at)
    assert len(s.rentals or []) == MAX_RENTALS
    assert s.earlier_rentals_cost == str(segment_cost(GPU + DISK, 3600) * 3)
    assert total(s, at) == segment_cost(GPU + DISK, 3600) * (MAX_RENTALS + 3)


@pytest.fixture
async def h() -> Any:
    harness = Harness(adapter=InstanceAdapter(), plural="vastinstances")
    harness.vast.offers = [offer(1, machine=11, price=0.42), offer(2, machine=12, price=0.42)]
    yield harness
    await harness.stop()


def spec(**fields: Any) -> dict[str, Any]:
    return {
        "offer": {"query": {"gpuName": "RTX 4090"}},
        "maxPricePerHour": 1.0,
        "image": "pytorch/pytorch",
        "disk": 20,
        **fields,
    }


def run(h: Harness, inst_id: int) -> None:
    h.vast._set(inst_id, actual_status="running", cur_state="running", storage_total_cost=DISK)


def status(h: Harness) -> VastInstanceStatus:
    return VastInstanceStatus.model_validate(h.status())


async def test_a_stop_is_billed_from_when_it_was_sent_not_from_when_it_was_seen(
    h: Harness,
) -> None:
    h.add(obj(spec=spec()))
    await h.reconcile()
    inst = 1000
    run(h, inst)
    await h.poll()
    await h.reconcile()
    rented = h.vast.instances[inst].start_date
    assert rented is not None
    h.clock.advance(3600)
    await h.poll()
    await h.reconcile()
    h.next_generation(state="Stopped")
    await h.reconcile()
    stopped_at = parse_iso((status(h).rentals or [])[0].acted_at)
    assert stopped_at is not None
    h.vast._set(inst, cur_state="stopped")
    h.clock.advance(600)  # seen ten minutes later
    await h.poll()
    await h.reconcile()
    s = status(h)
    (rental,) = s.rentals or []
    since = parse_iso(rental.since)
    assert since is not None and abs(since - stopped_at) < 1e-3  # not ten minutes later
    assert Decimal(rental.cost) == segment_cost(GPU + DISK, since - rented)
    assert rental.gpu_per_hour == 0.0
    assert s.accrued_cost == float(total(s, h.clock()).quantize(Decimal("0.01")))


T_RENT: list[float] = []


async def test_a_replacement_keeps_the_first_rentals_cost(h: Harness) -> None:
    h.add(obj(spec=spec()))
    await h.reconcile()
    T_RENT[:] = [h.vast.instances[1000].start_date or 0.0]
    run(h, 1000)
    await h.poll()
    await h.reconcile()
    h.clock.advance(1800)
    h.vast._set(1000, actual_status="exited")
    await h.poll()
    await h.reconcile()  # replaced: destroyed
    await h.reconcile()  # and rented again
    h.vast._set(1001, storage_total_cost=DISK, cur_state="running")
    await h.poll()
    await h.reconcile()
    s = status(h)
    first, second = s.rentals or []
    assert (first.instance_id, second.instance_id) == (1000, 1001)
    ended_at, started = parse_iso(first.end), h.vast.instances[1001].start_date
    assert ended_at is not None and started is not None
    assert Decimal(first.cost) == segment_cost(GPU + DISK, ended_at - T_RENT[0])
    assert total(s, h.clock()) == Decimal(first.cost) + segment_cost(
        GPU + DISK, h.clock() - started
    )


async def test_a_raised_bid_is_billed_from_when_it_was_sent(h: Harness) -> None:
    storage = {"storage_cost": 0.1, "disk_space": 20.0}
    disk = round(0.1 * 20 / 720, 6)
    h.add(obj(spec=spec(type="interruptible", bidPerHour=0.2, placement={"onOutbid": "RaiseBid"})))
    await h.reconcile()
    inst = 1000
    h.vast._set(
        inst, actual_status="running", is_bid=True, min_bid=0.1, dph_total=0.2 + disk, **storage
    )
    await h.poll()
    await h.reconcile()
    h.vast._set(inst, actual_status="stopped", intended_status="running", min_bid=0.5)  # outbid
    await h.poll()
    await h.reconcile()
    assert h.vast.args("change_bid") == [(inst, 0.5)]
    sent = parse_iso((status(h).rentals or [])[0].acted_at)
    assert sent is not None
    h.clock.advance(600)  # Vast runs it again; seen ten minutes later
    h.vast._set(inst, actual_status="running")
    await h.poll()
    await h.reconcile()
    (rental,) = status(h).rentals or []
    since = parse_iso(rental.since)
    assert since is not None and abs(since - sent) < 1e-3
    assert rental.gpu_per_hour == 0.5  # the new bid


def test_a_rental_that_only_runs_on_rewrites_its_cost_at_most_every_refresh() -> None:
    """Kubernetes writes: a running rental's cost is not rewritten every cent (hundreds of
    writes a minute across a fleet), only every ACCRUED_REFRESH, or at once when it changes."""
    from vast_operator.reconcile.instance.billing import ACCRUED_REFRESH

    s = VastInstanceStatus()
    observe(s, row(), T0 + 10)
    show(s, T0 + 10)
    first = s.accrued_cost
    show(s, T0 + ACCRUED_REFRESH / 2, now=False)  # a few cents later: not rewritten
    assert s.accrued_cost == first
    later = T0 + 10 + ACCRUED_REFRESH
    exact = show(s, later, now=False)  # the figure is due: rewritten, exact to the cent
    assert s.accrued_cost == float(exact.quantize(Decimal("0.01")))
    assert s.accrued_cost != first and parse_iso(s.accrued_cost_at) == later
    observe(s, row(cur="stopped"), later + 300)
    show(s, later + 300)  # a change of rate is written at once (it moved by cents since)
    assert parse_iso(s.accrued_cost_at) == later + 300
