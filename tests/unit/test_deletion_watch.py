"""A deletion kopf believes done (or delayed) whose object is still there is touched, once per
grace, until the object is gone; a name that now belongs to another object is left alone."""

from __future__ import annotations

from fakes import FakeKube

from vast_operator.deletion_watch import ANNOTATION, DeletionWatch


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
