"""Listings during ramps coalesce: every object that needs a listing newer than its own action is
served by the next listing, never by one listing each (poller.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from vast_operator.poller import InstancePoller, label_for
from vast_operator.vast.models import Instance


class Lister:
    """Every instance of an account; records each listing's filter (None: a complete one)."""

    def __init__(self, rows: list[Instance]) -> None:
        self.rows = rows
        self.calls: list[dict[str, Any] | None] = []

    async def list_instances(
        self, *, select_filters: dict[str, dict[str, Any]] | None = None
    ) -> list[Instance]:
        self.calls.append(select_filters)
        await asyncio.sleep(0.01)
        labels = ((select_filters or {}).get("label") or {}).get("in")
        return [r for r in self.rows if labels is None or r.label in labels]

    @property
    def complete(self) -> int:
        return sum(1 for c in self.calls if c is None)

    @property
    def partial(self) -> list[list[str]]:
        return [list(c["label"]["in"]) for c in self.calls if c is not None]


def rows(n: int) -> list[Instance]:
    return [Instance(id=100 + i, label=label_for(f"u{i}")) for i in range(n)]


async def test_objects_that_just_rented_are_served_by_one_partial_listing() -> None:
    lister = Lister(rows(40))
    poller = InstancePoller(lister, interval=60, coalesce=0.05)
    try:
        await poller.snapshot()  # the first, complete listing
        rented = time.time()
        snaps = await asyncio.gather(
            *(
                poller.snapshot(newer_than=rented, expect_label=label_for(f"u{i}"))
                for i in range(20)
            )
        )
        assert lister.complete == 1
        assert len(lister.partial) == 1  # twenty objects, one listing
        assert sorted(lister.partial[0]) == sorted(label_for(f"u{i}") for i in range(20))
        for i, snap in enumerate(snaps):
            assert [inst.id for inst in snap.for_uid(f"u{i}")] == [100 + i]
            assert snap.started_at > rented and not snap.complete
    finally:
        await poller.stop()


async def test_a_partial_listing_never_proves_absence() -> None:
    lister = Lister(rows(3))
    poller = InstancePoller(lister, interval=60, coalesce=0.0)
    try:
        await poller.snapshot()
        asked = time.time()
        # u9 has no instance: the partial listing does not show it, so a complete listing
        # (which can prove absence) answers, not the partial one.
        snap = await poller.snapshot(newer_than=asked, expect_label=label_for("u9"))
        assert snap.complete and snap.started_at > asked
        assert snap.for_uid("u9") == ()
        assert lister.partial == [[label_for("u9")]]
        assert lister.complete == 2
    finally:
        await poller.stop()


async def test_absence_demands_share_the_next_complete_listing() -> None:
    lister = Lister(rows(5))
    poller = InstancePoller(lister, interval=60, coalesce=0.05)
    try:
        await poller.snapshot()
        deleted = time.time()
        snaps = await asyncio.gather(*(poller.snapshot(newer_than=deleted) for _ in range(30)))
        assert lister.complete == 2  # the first listing, then one for all thirty
        assert lister.partial == []
        assert all(s is snaps[0] and s.complete for s in snaps)
    finally:
        await poller.stop()


async def test_demanded_listings_start_at_most_one_per_coalescing_gap() -> None:
    lister = Lister(rows(30))
    poller = InstancePoller(lister, interval=60, coalesce=0.3)
    try:
        await poller.snapshot()

        async def rent_and_look(i: int) -> None:
            await asyncio.sleep(0.02 * i)  # rents land one after another
            await poller.snapshot(newer_than=time.time(), expect_label=label_for(f"u{i}"))

        await asyncio.gather(*(rent_and_look(i) for i in range(30)))
        # 30 objects over 0.6 s, listings at most one per 0.3 s: a few, never one each.
        assert 1 <= len(lister.partial) <= 4
        assert sum(len(p) for p in lister.partial) >= 30
    finally:
        await poller.stop()


async def test_without_demands_only_complete_listings_run() -> None:
    lister = Lister(rows(60))
    poller = InstancePoller(lister, interval=0.05, coalesce=1.0)
    try:
        await poller.snapshot()
        await asyncio.sleep(0.3)
        assert lister.complete >= 3
        assert lister.partial == []  # the steady state: the listing route, complete, only
    finally:
        await poller.stop()


async def test_booting_objects_ride_along_on_a_partial_listing_made_for_others() -> None:
    lister = Lister(rows(5))
    poller = InstancePoller(lister, interval=60, coalesce=0.0)
    try:
        await poller.snapshot()
        now = time.time()
        poller.watch(label_for("u1"), until=now + 60)
        poller.watch(label_for("u2"), until=now - 1)  # its boot watch has run out
        await asyncio.sleep(0.05)
        assert lister.partial == []  # a watched label never starts a listing by itself
        snap = await poller.snapshot(newer_than=time.time(), expect_label=label_for("u0"))
        assert lister.partial == [[label_for("u0"), label_for("u1")]]
        assert [i.id for i in snap.for_uid("u1")] == [101]
    finally:
        await poller.stop()


async def test_a_partial_listing_newer_than_the_complete_one_answers_for_what_it_shows() -> None:
    lister = Lister(rows(3))
    seen: list[bool] = []
    poller = InstancePoller(
        lister, interval=60, coalesce=0.0, on_snapshot=lambda s: seen.append(s.complete)
    )
    try:
        complete = await poller.snapshot()
        partial = await poller.snapshot(newer_than=time.time(), expect_label=label_for("u0"))
        assert not partial.complete
        # Both are fresh enough for an object that asks for no particular age: the newer one
        # answers when it shows the object's label, the complete one otherwise.
        assert await poller.snapshot(newer_than=None, expect_label=label_for("u0")) is partial
        assert await poller.snapshot(newer_than=None, expect_label=label_for("u1")) is complete
        assert seen == [True, False]  # the subscriber hears of both (context wakes objects)
    finally:
        await poller.stop()
