"""A deletion kopf believes done (or delayed) whose object is still there is touched, once per
grace, until the object is gone; a name that now belongs to another object is left alone."""

from __future__ import annotations

import json

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
