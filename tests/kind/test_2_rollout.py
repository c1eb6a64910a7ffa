"""The operator Pod replaced under live objects: no object is ever rented twice."""

from __future__ import annotations

import cluster as kc
import pytest
from kindlib import (
    CREATE,
    RentWatch,
    Sim,
    apply,
    helm_upgrade,
    instance,
    live_instances_for,
    new_namespace,
    operator_pods,
    ready,
    uid_of,
    wait_for,
    wait_running,
)


@pytest.mark.timeout(600)  # helm upgrade --wait
def test_helm_upgrade_rolls_the_pod_and_rents_nothing_twice(kind: kc.KindCluster, sim: Sim) -> None:
    ns = new_namespace(kind, "kind-upgrade")
    for name in ("up-a", "up-b"):
        apply(kind, ns, instance(name))
    for name in ("up-a", "up-b"):
        wait_running(kind, ns, name)
    uids = {name: uid_of(kind, ns, name) for name in ("up-a", "up-b")}
    before = operator_pods(kind)[0]
    watch = RentWatch(sim)
    try:
        helm_upgrade(kind, "operator.pollInterval=4")
        pods = operator_pods(kind)
        assert len(pods) == 1 and ready(pods[0])
        assert pods[0]["metadata"]["uid"] != before["metadata"]["uid"], "the Pod did not roll"
        assert "4" in pods[0]["spec"]["containers"][0]["args"]
        apply(kind, ns, instance("up-c"))  # the new Pod does new work too
        wait_running(kind, ns, "up-c")
        for name in ("up-a", "up-b"):
            wait_running(kind, ns, name, timeout=60)
    finally:
        watch.stop()
    assert watch.rents() == 1, f"contracts made during the upgrade: {watch.rents()}"
    assert watch.twice() == {}
    for uid in uids.values():
        assert len(live_instances_for(sim, uid)) == 1
    kind.kubectl("delete", "namespace", ns, "--wait=false")


def test_deleting_the_operator_pod_during_creation_rents_nothing_twice(
    kind: kc.KindCluster, sim: Sim
) -> None:
    ns = new_namespace(kind, "kind-crash")
    # A slow rent: the Pod dies while Vast is allocating, before the id reaches the status.
    sim.admin("POST", "faults", {"kind": "slow", "route": CREATE, "count": 1, "seconds": 4})
    rents_before = int(sim.admin("GET", "counters")["routes"].get(CREATE, 0))
    watch = RentWatch(sim)
    try:
        apply(kind, ns, instance("crash"))
        uid = uid_of(kind, ns, "crash")
        wait_for(
            "the rent in flight",
            lambda: int(sim.admin("GET", "counters")["routes"].get(CREATE, 0)) > rents_before,
            timeout=120,
            interval=0.3,
        )
        victim = operator_pods(kind)[0]["metadata"]["name"]
        kind.kubectl("delete", "pod", "-n", kc.RELEASE_NS, victim, "--grace-period=0",
                     "--force", "--wait=false")  # fmt: skip
        wait_running(kind, ns, "crash")
    finally:
        watch.stop()
    assert watch.rents() == 1, f"contracts made: {watch.rents()}"
    assert watch.twice() == {}
    assert len(live_instances_for(sim, uid)) == 1
    assert victim not in [p["metadata"]["name"] for p in operator_pods(kind)]
    kind.kubectl("delete", "namespace", ns, "--wait=false")
