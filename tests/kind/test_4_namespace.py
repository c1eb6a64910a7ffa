"""A namespace with live objects deletes cleanly: the finalizers complete, the rentals end."""

from __future__ import annotations

import cluster as kc
from kindlib import (
    Sim,
    apply,
    get,
    instance,
    live_instances_for,
    new_namespace,
    uid_of,
    wait_for,
    wait_running,
)


def test_namespace_with_live_objects_deletes_cleanly(kind: kc.KindCluster, sim: Sim) -> None:
    ns = new_namespace(kind, "kind-ns")
    names = ("ns-a", "ns-b")
    for name in names:
        apply(kind, ns, instance(name))
    for name in names:
        wait_running(kind, ns, name)
    uids = [uid_of(kind, ns, name) for name in names]
    assert all(len(live_instances_for(sim, uid)) == 1 for uid in uids)
    kind.kubectl("delete", "namespace", ns, "--wait=false")
    wait_for(
        f"namespace {ns} gone", lambda: get(kind, "namespace", ns) is None, timeout=240, interval=2
    )
    for uid in uids:
        assert live_instances_for(sim, uid) == [], f"rental of {uid} left running"
