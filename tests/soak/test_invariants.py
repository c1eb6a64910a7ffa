"""The soak's checker catches what it claims to catch (so its zero means something): a second
instance for one object past the poll interval, a rental above the cap, an instance alive after
its object is gone, a label nobody owns, a status naming another object's instance, a stuck
finalizer, a status that disagrees with the simulator, and the money spent on all of these."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checker import in_gone_namespaces, status_mismatches, stuck_finalizers
from invariants import Monitor
from ledger import INSTANCES, Ledger, Obj

UID, OTHER = "u-1", "u-2"


def inst(rid: int, uid: str | None, price: float = 0.5, **extra: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "label": None if uid is None else f"k8s-vast-operator:{uid}@soak",
        "phase": "running",
        "actual_status": "running",
        "intended_status": "running",
        "dph_base": price,
        "storage_cost": 0.0,
        "disk": 16,
        "is_bid": False,
        "bid_price": None,
        "start_date": 1000.0,
        **extra,
    }


def k8s(uid: str, name: str, **status: Any) -> dict[str, Any]:
    return {
        "kind": "VastInstance",
        "metadata": {"uid": uid, "name": name, "namespace": "ns", "generation": 1},
        "status": status,
    }


def monitor(tmp_path: Path, cap: float | None = 1.0) -> Monitor:
    ledger = Ledger()
    ledger.add(Obj(INSTANCES, "ns", "a", UID, 900.0, [(900.0, cap)]))
    ledger.add(Obj(INSTANCES, "ns", "b", OTHER, 900.0, [(900.0, cap)]))
    return Monitor(ledger, 7, tmp_path / "v.jsonl", operator_cap=3.0, poll_interval=2.0, settle=13)


def kinds(m: Monitor) -> list[str]:
    return [v["invariant"] for v in m.violations]


def test_a_second_instance_is_a_violation_only_after_the_poll_interval(tmp_path: Path) -> None:
    m = monitor(tmp_path)
    state = {"instances": [inst(1, UID), inst(2, UID)]}
    m.tick(1000.0, [k8s(UID, "a", instanceId=1)], state)
    m.tick(1003.0, [k8s(UID, "a", instanceId=1)], state)
    assert kinds(m) == []
    m.tick(1006.0, [k8s(UID, "a", instanceId=1)], state)
    assert kinds(m) == ["duplicate"] and m.duplicates == 1
    m.tick(1016.0, [k8s(UID, "a", instanceId=1)], state)
    assert m.money.leaked > 0 and m.leaked_instances == {1}
    line = json.loads((tmp_path / "v.jsonl").read_text().splitlines()[0])
    assert line["seed"] == 7 and "step" in line


def test_a_rental_above_the_cap_is_a_violation(tmp_path: Path) -> None:
    m = monitor(tmp_path, cap=0.4)
    m.tick(1000.0, [k8s(UID, "a")], {"instances": [inst(1, UID, price=0.5)]})
    assert kinds(m) == ["above_price_cap"]


def test_the_cap_that_applied_at_rent_time_counts(tmp_path: Path) -> None:
    m = monitor(tmp_path, cap=0.6)
    obj = m.ledger.get(UID)
    assert obj is not None
    obj.caps.append((1500.0, 0.1))  # lowered long after the rental: not a violation
    m.tick(1600.0, [k8s(UID, "a")], {"instances": [inst(1, UID, price=0.5)]})
    assert kinds(m) == []


def test_a_price_raised_above_the_cap_is_a_violation_once_it_outlasts_the_grace(
    tmp_path: Path,
) -> None:
    """Two polls plus a standby's take-over (64 s here) to reject, replace or stop it."""
    m = monitor(tmp_path, cap=0.6)
    assert m.price_grace == 64.0
    m.tick(1000.0, [k8s(UID, "a")], {"instances": [inst(1, UID, price=0.5)]})
    m.tick(1001.0, [k8s(UID, "a")], {"instances": [inst(1, UID, price=0.55)]})
    m.tick(1002.0, [k8s(UID, "a")], {"instances": [inst(1, UID, price=0.7)]})
    m.tick(1060.0, [k8s(UID, "a")], {"instances": [inst(1, UID, price=0.7)]})
    assert kinds(m) == []
    m.tick(1067.0, [k8s(UID, "a")], {"instances": [inst(1, UID, price=0.7)]})
    assert kinds(m) == ["above_price_cap"]


def test_a_price_rise_undone_or_stopped_within_the_grace_is_no_violation(tmp_path: Path) -> None:
    m = monitor(tmp_path, cap=0.6)
    m.tick(1000.0, [k8s(UID, "a")], {"instances": [inst(1, UID, price=0.5)]})
    m.tick(1002.0, [k8s(UID, "a")], {"instances": [inst(1, UID, price=0.7)]})
    stopped = inst(1, UID, price=0.7, actual_status="stopped", intended_status="stopped")
    m.tick(1030.0, [k8s(UID, "a")], {"instances": [stopped]})  # onContractEnd Keep: stopped
    m.tick(1200.0, [k8s(UID, "a")], {"instances": [stopped]})  # only the disk is billed
    m.tick(1210.0, [k8s(UID, "a")], {"instances": []})  # or replaced: gone
    assert kinds(m) == []


def test_a_price_rise_nobody_could_answer_is_recorded_but_not_a_violation(tmp_path: Path) -> None:
    """The object's Secret named the other account (AccountChanged): no key to reject it."""
    m = monitor(tmp_path, cap=0.6)
    m.keys = ["key-a", "key-b"]
    obj = m.ledger.get(UID)
    assert obj is not None
    obj.secret, obj.account = "creds-a", 1  # rotated to account 1; the instance is on account 0
    accounts = [{"user_id": 1, "api_key": "key-a"}, {"user_id": 2, "api_key": "key-b"}]
    state = {"accounts": accounts, "instances": [inst(1, UID, price=0.5, owner=1)]}
    m.tick(1000.0, [k8s(UID, "a")], state)
    state["instances"] = [inst(1, UID, price=0.9, owner=1)]
    m.tick(1001.0, [k8s(UID, "a")], state)
    m.tick(1100.0, [k8s(UID, "a")], state)
    assert kinds(m) == [] and len(m.excused) == 1
    obj.account = 0  # the Secret names the instance's account: the operator could have said no
    state["instances"] = [inst(1, UID, price=1.0, owner=1)]
    m.tick(1102.0, [k8s(UID, "a")], state)
    m.tick(1200.0, [k8s(UID, "a")], state)
    assert kinds(m) == ["above_price_cap"]


def test_an_instance_alive_after_its_object_is_gone_leaks(tmp_path: Path) -> None:
    m = monitor(tmp_path)
    state = {"instances": [inst(1, UID)]}
    m.tick(1000.0, [], state)
    m.tick(1005.0, [], state)
    assert kinds(m) == []
    m.tick(1010.0, [], state)
    m.tick(1020.0, [], state)
    assert kinds(m) == ["alive_after_delete"]
    # counted from the first look past the grace, the interval up to it included
    assert m.money.leaked_instance_seconds == 15.0


def test_an_orphaned_objects_released_instance_is_not_a_leak(tmp_path: Path) -> None:
    m = monitor(tmp_path)
    released = inst(1, None, label=f"k8s-vast-operator-released:{UID}@soak")
    m.tick(1000.0, [], {"instances": [released]})
    m.tick(1020.0, [], {"instances": [released]})
    assert kinds(m) == [] and m.money.bill == 0


def test_a_label_nobody_owns_is_a_violation(tmp_path: Path) -> None:
    m = monitor(tmp_path)
    state = {"instances": [inst(1, "u-unknown")]}
    m.tick(1000.0, [], state)
    m.tick(1010.0, [], state)
    assert kinds(m) == ["unowned_label"]


def test_a_status_naming_another_objects_instance_is_a_violation(tmp_path: Path) -> None:
    m = monitor(tmp_path)
    objects = [k8s(UID, "a", instanceId=2), k8s(OTHER, "b", instanceId=2)]
    state = {"instances": [inst(2, OTHER)]}
    for t in (1000.0, 1003.0, 1006.0):
        m.tick(t, objects, state)
    assert sorted(kinds(m)) == ["status_names_foreign", "status_shared"]


def test_a_finalizer_older_than_the_bound_after_quiet_is_stuck() -> None:
    obj = k8s(UID, "a")
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    quiet = 1767225600.0  # 2026-01-01T00:00:00Z
    assert stuck_finalizers([obj], quiet, 60, quiet + 30) == []
    assert len(stuck_finalizers([obj], quiet, 60, quiet + 61)) == 1


def test_only_objects_whose_namespace_is_gone_are_set_apart_from_stuck_finalizers() -> None:
    kept, left = k8s(UID, "a"), k8s(OTHER, "b")
    kept["metadata"]["namespace"], left["metadata"]["namespace"] = "ns-live", "ns-removed"
    assert in_gone_namespaces([kept, left], {"ns-live", "default"}) == [left]
    assert in_gone_namespaces([kept, left], {"ns-live", "ns-removed"}) == []


def test_a_status_that_disagrees_with_the_simulator_is_reported() -> None:
    running = k8s(UID, "a", phase="Running", instanceId=1)
    assert status_mismatches([running], {"instances": [inst(1, UID)]}) == []
    assert status_mismatches([running], {"instances": []})
    assert status_mismatches([running], {"instances": [inst(1, UID, actual_status="exited")]})
    assert status_mismatches([k8s(UID, "a", phase="Searching")], {"instances": [inst(1, UID)]})


def test_windows_with_two_active_replicas_are_found_in_their_logs(tmp_path: Path) -> None:
    from peering import overlaps

    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text(
        "===== start #1 1796025000 =====\n"
        "2026-11-30 07:50:01,000 INFO kopf._core.engines.peering: Resuming operations\n"
    )
    b.write_text(
        "===== start #1 1796025005 =====\n"
        "2026-11-30 07:53:08,000 INFO kopf._core.engines.peering: Resuming operations\n"
        "2026-11-30 07:53:09,500 INFO kopf._core.engines.peering: Pausing operations\n"
    )
    # 07:53:08 UTC on 2026-11-30 is 1796025188
    assert overlaps({0: a, 1: b}, {}, end=1796025300) == [{"start": 1796025188.0, "seconds": 1.5}]
    assert overlaps({0: a, 1: b}, {0: [1796025100.0]}, end=1796025300) == []
