"""The operator killed with SIGKILL at many points of creation and deletion.

Invariants, checked continuously by a watcher thread and at the end:
- never two instances for one object;
- never an instance whose object is gone (after the final deletion: no instance at all);
- never a finalizer left on a deleted object (every object disappears).
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from harness import Kubectl, OperatorProcess, VastView, instance_manifest, wait_for

KIND = "vastinstances"
CREATE = "PUT /api/v0/asks/{id}/"
DESTROY = "DELETE /api/v0/instances/{id}/"


class Watcher(threading.Thread):
    """Samples the simulator and records any moment with two instances for one object."""

    def __init__(self, vast: VastView) -> None:
        super().__init__(daemon=True)
        self.vast = vast
        self.stop_flag = threading.Event()
        self.duplicates: list[dict[str, list[int]]] = []
        self.samples = 0

    def run(self) -> None:
        while not self.stop_flag.is_set():
            try:
                managed = self.vast.managed()
            except Exception:
                continue
            self.samples += 1
            dup = {uid: ids for uid, ids in managed.items() if len(ids) > 1}
            if dup:
                self.duplicates.append(dup)
            time.sleep(0.2)

    def stop(self) -> None:
        self.stop_flag.set()
        self.join(timeout=10)


def kill_after_requests(
    sim: Any, operator: OperatorProcess, route: str, n: int, limit: float
) -> None:
    """SIGKILL the operator right after the simulator saw `n` more requests on `route`."""
    start = sim.admin.count(route)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and sim.admin.count(route) < start + n:
        time.sleep(0.02)
    operator.kill()


def test_sigkill_during_creation_and_deletion_never_duplicates_or_leaks(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    rng = random.Random(7)
    names = [f"chaos-{i}" for i in range(5)]
    watcher = Watcher(vast)
    watcher.start()
    try:
        # Slow rents widen the window between "Vast allocated" and "status written".
        sim.admin.fault("slow", route=CREATE, count=3, seconds=1.5)
        for name in names:
            k.apply(instance_manifest(name))
        uids = {name: str(k.get(KIND, name)["metadata"]["uid"]) for name in names}  # type: ignore[index]

        # Kill points during creation: right after the first rent, mid-way, at random times.
        kill_after_requests(sim, operator, CREATE, 1, 30)
        operator.start()
        kill_after_requests(sim, operator, CREATE, 2, 30)
        operator.start()
        for _ in range(3):
            time.sleep(rng.uniform(0.3, 2.0))
            operator.restart()

        for name in names:
            k.wait_phase(KIND, name, "Running", timeout=150)
        managed = vast.managed()
        for name, uid in uids.items():
            assert len(managed.get(uid, [])) == 1, f"{name}: {managed.get(uid)}"
        assert set(managed) == set(uids.values())  # no instance without its object

        # Kill points during deletion.
        for name in names:
            k.delete(KIND, name)
        kill_after_requests(sim, operator, DESTROY, 1, 30)
        operator.start()
        kill_after_requests(sim, operator, DESTROY, 2, 30)
        operator.start()
        time.sleep(rng.uniform(0.2, 1.0))
        operator.restart()

        for name in names:
            k.wait_gone(KIND, name, timeout=150)
        wait_for("no instance left", lambda: not vast.managed(), timeout=30)
    finally:
        watcher.stop()
    assert watcher.samples > 10
    assert watcher.duplicates == [], f"duplicate rentals observed: {watcher.duplicates[:3]}"
    assert operator.starts >= 8


def test_sigkill_between_rent_and_status_write_adopts(
    k: Kubectl, operator: OperatorProcess, vast: VastView, sim: Any
) -> None:
    """Vast answers the rent, the operator dies before writing the instance id."""
    sim.admin.fault("slow", route=CREATE, count=1, seconds=2)
    rents_before = sim.admin.count(CREATE)
    k.apply(instance_manifest("adoptme"))
    uid = str(k.get(KIND, "adoptme")["metadata"]["uid"])  # type: ignore[index]
    wait_for("rent in flight", lambda: sim.admin.count(CREATE) > rents_before, timeout=30)
    operator.kill()  # the rent lands on Vast while nobody listens
    wait_for("instance allocated", lambda: vast.instances_for(uid), timeout=30)
    assert k.status(KIND, "adoptme").get("instanceId") is None
    operator.start()
    status = k.wait_phase(KIND, "adoptme", "Running")
    rented = vast.instances_for(uid)
    assert [i["id"] for i in rented] == [status["instanceId"]]
    assert "Adopted" in [e.get("reason") for e in k.events()]
