"""Conditions keep their transition time; the poller shares listings and reports errors."""

from __future__ import annotations

import asyncio
import time

import pytest

from vast_operator.poller import InstancePoller, SnapshotUnavailable, label_for, uid_from_label
from vast_operator.reconcile.conditions import set_condition
from vast_operator.vast.errors import AuthenticationError
from vast_operator.vast.models import Instance


def test_transition_time_moves_only_when_status_changes() -> None:
    first = set_condition(None, "Ready", False, "Loading", "booting", 1)
    again = set_condition(first, "Ready", False, "Loading", "still booting", 2)
    assert again[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    assert again[0]["message"] == "still booting"
    assert again[0]["observedGeneration"] == 2
    flipped = set_condition(
        [{**again[0], "lastTransitionTime": "2000-01-01T00:00:00Z"}],
        "Ready",
        True,
        "Running",
        "",
        2,
    )
    assert flipped[0]["lastTransitionTime"] != "2000-01-01T00:00:00Z"


def test_label_round_trip() -> None:
    assert uid_from_label(label_for("abc-123")) == "abc-123"
    assert uid_from_label("someone else's label") is None
    assert uid_from_label(None) is None


class FakeLister:
    def __init__(self) -> None:
        self.calls = 0
        self.error: Exception | None = None
        self.rows = [Instance(id=1, label=label_for("u1")), Instance(id=2, label="mine")]

    async def list_instances(self) -> list[Instance]:
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.error:
            raise self.error
        return list(self.rows)


async def test_concurrent_readers_share_one_listing() -> None:
    lister = FakeLister()
    poller = InstancePoller(lister, interval=60)
    try:
        snaps = await asyncio.gather(*(poller.snapshot() for _ in range(20)))
        assert lister.calls == 1
        assert all(s is snaps[0] for s in snaps)
        assert [i.id for i in snaps[0].for_uid("u1")] == [1]
        newer = await poller.snapshot(newer_than=snaps[0].started_at)
        assert newer.started_at > snaps[0].started_at
        assert lister.calls == 2
    finally:
        await poller.stop()


async def test_a_poller_nobody_asks_stops_listing_and_starts_again_on_demand() -> None:
    lister = FakeLister()
    poller = InstancePoller(lister, interval=0.02, idle_after=0.1)
    try:
        await poller.snapshot()
        await asyncio.sleep(0.5)
        stopped_at = lister.calls
        await asyncio.sleep(0.3)
        assert lister.calls == stopped_at  # no listing for a key whose objects are gone
        assert stopped_at < 15
        snap = await poller.snapshot(newer_than=time.time())
        assert lister.calls == stopped_at + 1 and snap.by_id
    finally:
        await poller.stop()


async def test_listing_errors_surface_with_their_cause() -> None:
    lister = FakeLister()
    lister.error = AuthenticationError("Invalid user key", status=404, code="auth_error")
    poller = InstancePoller(lister, interval=0.05)
    try:
        with pytest.raises(SnapshotUnavailable) as info:
            await poller.snapshot(wait_limit=5)
        assert isinstance(info.value.error, AuthenticationError)
    finally:
        await poller.stop()


def test_an_offer_is_claimed_by_one_object_at_a_time() -> None:
    from unittest.mock import MagicMock

    from vast_operator.accounts import Account, CachedList

    async def nothing() -> list[object]:
        return []

    account = Account(
        "fp", MagicMock(), MagicMock(), CachedList(nothing, 1), CachedList(nothing, 1),
        CachedList(nothing, 1),
    )  # fmt: skip
    assert account.claim_offer(11, now=100.0)
    assert not account.claim_offer(11, now=101.0)  # another object must pick another offer
    assert account.claim_offer(12, now=101.0)
    account.release_offer(12)
    assert account.claim_offer(12, now=102.0)
    assert account.held_offers(now=250.0) == set()  # claims expire
    assert account.claim_offer(11, now=300.0)
