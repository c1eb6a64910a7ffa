"""Two replicas with kopf peering (the chart's HA values): the standby takes over."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cluster as kc
import pytest
from kindlib import (
    RentWatch,
    Sim,
    apply,
    get,
    helm_upgrade,
    instance,
    live_instances_for,
    logs,
    new_namespace,
    operator_pods,
    phase,
    uid_of,
    wait_for,
    wait_running,
)

PEERING_CRDS = kc.ROOT / "tests" / "chart" / "kopf-peering-crds.yaml"


def record(name: str, seconds: float) -> Path:
    """Keep a measurement where CI can show it (VAST_KIND_MEASUREMENTS, else the cache)."""
    path = Path(
        os.environ.get("VAST_KIND_MEASUREMENTS", kc.imagekit.cache_dir() / "kind-measurements.json")
    )
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[name] = {
        "seconds": round(seconds, 1),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


@pytest.mark.timeout(900)  # two helm upgrades with --wait
def test_peered_replicas_fail_over_when_the_active_pod_is_deleted(
    kind: kc.KindCluster, sim: Sim, record_property: pytest.RecordProperty
) -> None:
    kind.kubectl("apply", "--server-side", "-f", PEERING_CRDS)
    kind.kubectl("wait", "--for", "condition=Established", "--timeout=60s",
                 "crd/clusterkopfpeerings.kopf.dev", "crd/kopfpeerings.kopf.dev")  # fmt: skip
    helm_upgrade(kind, "peering.enabled=true", "replicaCount=2")
    try:
        wait_for("two ready operator Pods", lambda: len(operator_pods(kind)) == 2, timeout=180)
        ns = new_namespace(kind, "kind-ha")
        apply(kind, ns, instance("ha-a"))
        wait_running(kind, ns, "ha-a")
        active = next(p for p in operator_pods(kind)
                      if p["metadata"]["labels"]["vast.ai/operator-replica"] == "0")  # fmt: skip
        standby = next(p for p in operator_pods(kind) if p is not active)
        standby_name = standby["metadata"]["name"]
        # kopf peering: the lower priority replica stands by ("Pausing operations ...").
        wait_for(
            "the standby to pause in favour of the active replica",
            lambda: "Pausing operations in favour of" in logs(kind, standby_name),
            timeout=120,
        )
        watch = RentWatch(sim)
        try:
            # The active Pod goes (kopf leaves the peering on its way out), and a new object
            # arrives at once: the time until someone handles it is the failover time.
            kind.kubectl("delete", "pod", "-n", kc.RELEASE_NS, active["metadata"]["name"],
                         "--wait=false")  # fmt: skip
            started = time.monotonic()
            apply(kind, ns, instance("ha-b"))
            wait_for("ha-b handled", lambda: phase(kind, ns, "ha-b") != "", timeout=300,
                     interval=0.5)  # fmt: skip
            handled = time.monotonic() - started
            wait_running(kind, ns, "ha-b")
            running = time.monotonic() - started
        finally:
            watch.stop()
        where = record("failover_first_status_seconds", handled)
        record("failover_running_seconds", running)
        record_property("failover_first_status_seconds", round(handled, 1))
        print(f"\nfailover: ha-b got its first status {handled:.1f}s and was Running "
              f"{running:.1f}s after the active Pod was deleted (recorded in {where})")  # fmt: skip
        # The standby resumed when the active replica left the peering: that is the failover.
        assert "Resuming operations after the pause" in logs(kind, standby_name)
        by_standby = "ha-b" in logs(kind, standby_name)
        record_property("failover_handled_by_standby", by_standby)
        print(f"ha-b was handled by the standby replica: {by_standby}")
        assert watch.rents() == 1, f"contracts made: {watch.rents()}"
        assert watch.twice() == {}
        for name in ("ha-a", "ha-b"):
            assert len(live_instances_for(sim, uid_of(kind, ns, name))) == 1
        assert get(kind, "clusterkopfpeering", "vast-operator") is not None
        kind.kubectl("delete", "namespace", ns, "--wait=false")
    finally:
        helm_upgrade(kind, "peering.enabled=false", "replicaCount=1")
