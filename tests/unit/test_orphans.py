"""Orphans: instances labelled by this cluster's operator whose object is gone."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import Clock, Harness, obj, offer

from vast_operator.config import add_run_arguments, settings_from_args
from vast_operator.orphans import OrphanWatch
from vast_operator.poller import Snapshot, cluster_from_label, label_for, uid_from_label
from vast_operator.reconcile.instance import InstanceAdapter
from vast_operator.vast.models import Instance


def snap(*rows: tuple[int, str | None]) -> Snapshot:
    return Snapshot.build(
        0.0, [Instance(id=i, label=label, actual_status="running") for i, label in rows]
    )


def test_labels_carry_the_cluster_and_still_name_the_object() -> None:
    assert label_for("u1") == "k8s-vast-operator:u1"
    assert label_for("u1", "prod") == "k8s-vast-operator:u1@prod"
    assert uid_from_label(label_for("u1", "prod")) == "u1"
    assert cluster_from_label(label_for("u1", "prod")) == "prod"
    assert cluster_from_label(label_for("u1")) is None


def test_an_instance_without_an_object_is_reported_once_and_swept_after_the_grace() -> None:
    clock = Clock(1000.0)
    watch = OrphanWatch("prod", sweep=True, grace=600, clock=clock, started=0.0)
    listing = snap(
        (1, label_for("alive", "prod")),
        (2, label_for("gone", "prod")),
        (3, label_for("gone-elsewhere", "staging")),  # another cluster sharing the account
        (4, "k8s-vast-operator-released:orphaned-on-purpose"),
        (5, None),  # rented by hand
    )
    assert watch.orphans(listing, {"alive"}) == [2]
    assert watch.due(listing, [2]) == []
    clock.advance(601)
    assert watch.orphans(listing, {"alive"}) == [2]
    assert watch.due(listing, [2]) == [2]


def test_without_sweeping_nothing_is_due_and_without_a_cluster_id_every_label_counts() -> None:
    clock = Clock(1000.0)
    watch = OrphanWatch(None, sweep=False, grace=10, clock=clock, started=0.0)
    listing = snap((2, label_for("gone", "prod")), (3, label_for("gone")))
    assert watch.orphans(listing, set()) == [2, 3]
    clock.advance(60)
    assert watch.due(listing, [2, 3]) == []


def test_nothing_is_an_orphan_in_the_first_minutes_while_objects_are_listed() -> None:
    clock = Clock(1000.0)
    watch = OrphanWatch("prod", sweep=True, grace=600, clock=clock, started=990.0)
    assert watch.orphans(snap((2, label_for("gone", "prod"))), set()) == []


def test_sweeping_needs_a_cluster_id() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    with pytest.raises(SystemExit, match="--cluster-id"):
        settings_from_args(parser.parse_args(["--sweep-orphans"]))
    settings = settings_from_args(parser.parse_args(["--sweep-orphans", "--cluster-id", "prod"]))
    assert settings.sweep_orphans and settings.cluster_id == "prod"


@pytest.fixture
async def h() -> Any:
    harness = Harness(adapter=InstanceAdapter(), plural="vastinstances")
    harness.vast.offers = [offer(1, machine=11)]
    harness.tuning.cluster_id = "prod"
    yield harness
    await harness.stop()


async def test_an_instance_is_labelled_with_the_cluster_and_released_by_orphan_policy(
    h: Harness,
) -> None:
    body = {"offer": {"query": {"gpuName": "RTX 4090"}}, "maxPricePerHour": 1.0, "image": "x"}
    h.add(obj(spec={**body, "deletionPolicy": "Orphan"}))
    await h.reconcile()
    instance_id = h.status()["instanceId"]
    assert h.vast.instances[instance_id].label == "k8s-vast-operator:uid-x@prod"
    result = await h.delete()
    assert result.done
    assert h.vast.instances[instance_id].label == "k8s-vast-operator-released:uid-x"


def test_an_object_whose_daemon_ended_still_owns_its_instances() -> None:
    from fakes import FakeKube

    from vast_operator.config import Settings
    from vast_operator.context import OperatorContext

    ctx = OperatorContext(Settings(metrics_port=None), FakeKube())  # type: ignore[arg-type]
    body = {"metadata": {"uid": "u1", "generation": 1}, "status": {"phase": "Deleting"}}
    ctx.observe_object("vastinstances", body)
    ctx.forget("u1")  # its daemon ended: being deleted, or this replica stands by
    assert "u1" in ctx.known_uids()
    ctx.object_deleted("vastinstances", body)  # the API server says it is gone
    assert "u1" not in ctx.known_uids()


def test_an_unexpected_error_never_carries_a_key_it_echoes() -> None:
    from vast_operator.reconcile.conditions import Reason
    from vast_operator.reconcile.errors import classify

    reason, message = classify(RuntimeError("GET /x?api_key=sk-live-123 Bearer sk-live-456"))
    assert reason == Reason.RECONCILE_ERROR
    assert "sk-live-123" not in message and "sk-live-456" not in message
