"""Conditions keep their transition time; the poller shares listings and reports errors."""

from __future__ import annotations

import asyncio

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
