"""The checker thread (one look about every second) and the checks that only hold once quiet:
no finalizer older than a bound, every object's status matching the simulator."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from env import SoakEnv, log
from invariants import DEAD_PHASES, Monitor, label_uid
from ledger import KINDS

TRANSIENT = frozenset({"Creating", "Loading", "Stopping", "Deleting"})


class Checker(threading.Thread):
    def __init__(self, env: SoakEnv, monitor: Monitor, interval: float = 1.0) -> None:
        super().__init__(name="soak-checker", daemon=True)
        self.env = env
        self.monitor = monitor
        self.interval = interval
        self.halt = threading.Event()
        self.gaps = 0  # looks that failed (API server or simulator down)
        self.errors: list[str] = []

    def look(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        objects: list[dict[str, Any]] = []
        for plural in KINDS:
            objects += self.env.list_kind(plural)
        return objects, self.env.sim_state()

    def run(self) -> None:
        while not self.halt.is_set():
            started = time.monotonic()
            try:
                objects, state = self.look()
                self.monitor.tick(time.time(), objects, state)
            except Exception as exc:  # a process is down: skip this look
                self.gaps += 1
                if len(self.errors) < 50:
                    self.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            self.halt.wait(max(0.05, self.interval - (time.monotonic() - started)))

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def stuck_finalizers(
    objects: list[dict[str, Any]], quiet_since: float, bound: float, now: float
) -> list[str]:
    """Objects being deleted for longer than `bound` once faults stopped."""
    stuck = []
    for obj in objects:
        deleted = _ts(obj["metadata"].get("deletionTimestamp"))
        if deleted is not None and now - max(deleted, quiet_since) > bound:
            stuck.append(where(obj))
    return stuck


def where(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']} {meta.get('finalizers')}"


def in_gone_namespaces(objects: list[dict[str, Any]], namespaces: set[str]) -> list[dict[str, Any]]:
    """Objects still stored in a namespace that no longer exists. The namespace controller removes
    a namespace once it finds no content; across a kube-apiserver restart its discovery can miss
    the vast.ai kinds, and the objects stay behind. Kubernetes then refuses every write to them,
    a finalizer's removal included, so no operator can finish their deletion: they are not
    counted as stuck finalizers, but their Vast resources must be gone like any deleted object's
    (the teardown's leak check treats them as deleted)."""
    return [o for o in objects if o["metadata"]["namespace"] not in namespaces]


def settled(objects: list[dict[str, Any]]) -> bool:
    """Every object has seen its spec and is in no transient phase."""
    for obj in objects:
        status = obj.get("status") or {}
        if obj["metadata"].get("deletionTimestamp"):
            return False
        paused = (obj["metadata"].get("annotations") or {}).get("vast.ai/paused") == "true"
        if not paused and status.get("observedGeneration") != obj["metadata"].get("generation"):
            return False
        if status.get("phase") in TRANSIENT or status.get("outcomeUnknownSince"):
            return False
    return True


def status_mismatches(objects: list[dict[str, Any]], state: dict[str, Any]) -> list[str]:
    """Once quiet: what each object's status says agrees with the simulator, both ways."""
    problems: list[str] = []
    live = {
        int(i["id"]): i for i in state.get("instances", []) if i.get("phase") not in DEAD_PHASES
    }
    volumes = {int(v["id"]) for v in state.get("volumes", [])}
    endpoints = {int(e["id"]) for e in state.get("endpoints", [])}
    named: dict[str, int] = {}
    for obj in objects:
        meta, status = obj["metadata"], obj.get("status") or {}
        key = f"{obj['kind']} {meta['namespace']}/{meta['name']}"
        phase = status.get("phase")
        if obj["kind"] == "VastInstance":
            rid = status.get("instanceId")
            if rid is None:
                if phase in ("Running", "Loading"):
                    problems.append(f"{key}: phase {phase} without an instanceId")
                continue
            inst = live.get(int(rid))
            if inst is None:
                if phase in ("Running", "Stopped") and status.get("expiredAt") is None:
                    problems.append(f"{key}: phase {phase} but instance {rid} is not alive on Vast")
                continue
            named[meta["uid"]] = int(rid)
            uid, _ = label_uid(inst.get("label"))
            if uid != meta["uid"]:
                problems.append(f"{key}: instance {rid} is labelled {inst.get('label')!r}")
            actual = inst.get("actual_status")
            if phase == "Running" and actual != "running":
                problems.append(f"{key}: phase Running but Vast says {actual}")
            if phase == "Stopped" and actual == "running":
                problems.append(f"{key}: phase Stopped but Vast says running")
        elif obj["kind"] == "VastVolume":
            rid = status.get("volumeId")
            if phase == "Available" and (rid is None or int(rid) not in volumes):
                problems.append(f"{key}: Available but volume {rid} does not exist")
        elif obj["kind"] == "VastEndpoint":
            rid = status.get("endpointId")
            if phase == "Ready" and (rid is None or int(rid) not in endpoints):
                problems.append(f"{key}: Ready but endpoint {rid} does not exist")
    by_uid = {o["metadata"]["uid"]: o for o in objects}
    for rid, inst in live.items():
        uid, released = label_uid(inst.get("label"))
        if uid is None or released or uid not in by_uid:
            continue
        if named.get(uid) != rid:
            problems.append(
                f"instance {rid} of {by_uid[uid]['metadata']['name']} is not in its status"
            )
    return problems


def wait_settled(env: SoakEnv, timeout: float, at_least: float) -> bool:
    """At least `at_least` seconds (the operator catches up with the last faults: a settle
    window, a peering hand-over), then until five looks in a row find everything settled."""
    started = time.monotonic()
    deadline = started + timeout
    calm = 0
    while time.monotonic() < deadline:
        try:
            objects = [o for p in KINDS for o in env.list_kind(p)]
            calm = calm + 1 if settled(objects) else 0
            if calm >= 5 and time.monotonic() - started >= at_least:
                return True
        except Exception as exc:
            calm = 0
            log(f"waiting to settle: {exc}")
        time.sleep(2)
    return False
