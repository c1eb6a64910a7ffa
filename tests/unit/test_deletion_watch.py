"""A deletion kopf believes done (or delayed) whose object is still there is touched, once per
grace, until the object is gone; a name that now belongs to another object is left alone."""

from __future__ import annotations

import json
import logging

import pytest
from fakes import FakeKube

from vast_operator.deletion_watch import ANNOTATION, PROGRESS, DeletionWatch
from vast_operator.reconcile.timefmt import iso


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def put(kube: FakeKube, name: str, uid: str) -> None:
    body = {"metadata": {"name": name, "namespace": "ns", "uid": uid}}
    kube.objects[("vastinstances", "ns", name)] = body


def annotations(kube: FakeKube, name: str) -> dict[str, str]:
    return dict(kube.objects[("vastinstances", "ns", name)]["metadata"].get("annotations") or {})


async def test_an_object_still_there_after_its_finished_deletion_is_touched_once_per_grace() -> (
    None
):
    kube, clock = FakeKube(), Clock()
    watch = DeletionWatch(kube, grace=30, clock=clock)
    put(kube, "a", "u-a")
    watch.ran("vastinstances", "ns", "a", "u-a", 0.0)  # handler done: the finalizer should go
    clock.now += 29
    assert await watch.check() == 0 and ANNOTATION not in annotations(kube, "a")
    clock.now += 2
    assert await watch.check() == 1 and ANNOTATION in annotations(kube, "a")
    clock.now += 10
    assert await watch.check() == 0  # one touch per grace
    clock.now += 25
    assert await watch.check() == 1
    watch.gone("u-a")  # the DELETED event
    clock.now += 100
    assert await watch.check() == 0 and watch.pending() == 0


async def test_a_delayed_deletion_is_touched_only_after_its_delay_and_the_grace() -> None:
    kube, clock = FakeKube(), Clock()
    watch = DeletionWatch(kube, grace=30, clock=clock)
    put(kube, "a", "u-a")
    watch.ran("vastinstances", "ns", "a", "u-a", 60.0)
    clock.now += 89
    assert await watch.check() == 0
    clock.now += 2
    assert await watch.check() == 1


async def test_a_deletion_waiting_for_its_turn_is_not_touched() -> None:
    """Found in review: a deletion that runs again joins the back of its turn queue
    (delete_gate.py), which can take many minutes; kopf is running its handler, so touching it
    every grace was a needless GET, PATCH and watch event each time."""
    kube, clock = FakeKube(), Clock()
    watch = DeletionWatch(kube, grace=30, clock=clock)
    put(kube, "a", "u-a")
    watch.ran("vastinstances", "ns", "a", "u-a", 2.0)  # not done yet: again in 2 s
    clock.now += 2
    watch.waiting("u-a")  # the handler runs again and waits for its turn
    clock.now += 600
    assert await watch.check() == 0 and ANNOTATION not in annotations(kube, "a")
    watch.ran("vastinstances", "ns", "a", "u-a", 0.0)  # its turn came and it finished
    clock.now += 31
    assert await watch.check() == 1  # from now on as any other


async def test_a_gone_object_or_a_name_reused_by_another_object_is_forgotten() -> None:
    kube, clock = FakeKube(), Clock()
    watch = DeletionWatch(kube, grace=30, clock=clock)
    watch.ran("vastinstances", "ns", "gone", "u-gone", 0.0)  # its DELETED event was missed
    put(kube, "reused", "u-new")
    watch.ran("vastinstances", "ns", "reused", "u-old", 0.0)
    clock.now += 31
    assert await watch.check() == 0
    assert watch.pending() == 0
    assert ANNOTATION not in annotations(kube, "reused")


async def test_a_deletion_kopf_has_planned_is_not_touched_until_its_plan_is_overdue() -> None:
    """Found by the soak: a standby replica touched, every 30 s, objects whose deletion the
    working replica was retrying every 15 s (580 needless writes in an hour)."""
    kube, clock = FakeKube(), Clock()
    watch = DeletionWatch(kube, grace=30, clock=clock, wall=clock)
    put(kube, "a", "u-a")
    meta = kube.objects[("vastinstances", "ns", "a")]["metadata"]
    watch.ran("vastinstances", "ns", "a", "u-a", 15.0)  # then this replica went standby
    for _ in range(6):  # the working replica's kopf plans the next run 15 s ahead each time
        meta["annotations"] = {PROGRESS: json.dumps({"delayed": iso(clock.now + 15)})}
        clock.now += 15
        assert await watch.check() == 0
    assert ANNOTATION not in annotations(kube, "a")
    clock.now += 46  # nobody has run it since its plan: overdue by more than the grace
    assert await watch.check() == 1 and ANNOTATION in annotations(kube, "a")


async def test_a_deletion_whose_namespace_is_gone_is_reported_once_and_retried_until_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by the soak: the namespace controller removed a namespace (across a kube-apiserver
    restart its discovery missed the vast.ai kinds) while an object being deleted was still in
    it. Every write to the object is then refused `namespaces "ns" not found`: the finalizer
    cannot go. The operator says so once, counts it, and keeps trying so that recreating the
    namespace lets the deletion finish."""
    kube, clock = FakeKube(), Clock()
    watch = DeletionWatch(kube, grace=30, clock=clock)
    put(kube, "a", "u-a")
    kube.gone_namespaces.add("ns")
    watch.ran("vastinstances", "ns", "a", "u-a", 0.0)
    for _ in range(3):
        clock.now += 31
        assert await watch.check() == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "namespace no longer exists" in warnings[0].getMessage()
    assert "is destroyed" in warnings[0].getMessage()
    assert watch.blocked() == 1 and watch.pending() == 1
    kube.gone_namespaces.clear()  # the namespace is created again
    clock.now += 31
    assert await watch.check() == 1 and ANNOTATION in annotations(kube, "a")
    assert watch.blocked() == 0


async def test_a_blocked_deletion_whose_handler_still_waits_says_its_rentals_are_not_destroyed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kube, clock = FakeKube(), Clock()
    watch = DeletionWatch(kube, grace=30, clock=clock)
    put(kube, "a", "u-a")
    kube.gone_namespaces.add("ns")
    watch.ran("vastinstances", "ns", "a", "u-a", 15.0)  # destroy refused: retry in 15 s
    clock.now += 46
    await watch.check()
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "not destroyed yet" in warning.getMessage()
