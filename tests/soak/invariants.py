"""The invariants, judged from the outside about once a second: the API server's objects, the
simulator's admin view (`GET /_sim/state`) and the soak's ledger. Also the money: every live
instance's cost is integrated between two looks, and the part spent on nothing (an object that
is gone, a second rental for one object, a label nobody owns) is counted as leaked.

`Monitor.tick(now, objects, state)` is pure bookkeeping (no I/O), so it is unit-testable; the
checker thread in checker.py feeds it.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger import ENDPOINTS, INSTANCES, VOLUMES, Ledger

LABEL = "k8s-vast-operator:"
RELEASED = "k8s-vast-operator-released:"
HOURS_PER_MONTH = 730.0  # vast_sim.offer_rows.HOURS_PER_MONTH
DEAD_PHASES = frozenset({"unloading", "unloaded"})
PAUSED_STATES = frozenset({"stopped", "exited"})


def label_uid(label: str | None) -> tuple[str | None, bool]:
    """(uid, released) of an operator label; (None, False) for any other label."""
    if not label:
        return None, False
    for prefix, released in ((LABEL, False), (RELEASED, True)):
        if label.startswith(prefix):
            return label[len(prefix) :].split("@", 1)[0], released
    return None, False


def hourly(inst: dict[str, Any]) -> float:
    """$/h of a live instance as the simulator bills it: storage always, the GPU while it runs."""
    storage = float(inst["storage_cost"]) * float(inst["disk"]) / HOURS_PER_MONTH
    if inst.get("actual_status") in PAUSED_STATES or inst.get("intended_status") == "stopped":
        return storage
    gpu = (
        inst["bid_price"]
        if inst.get("is_bid") and inst.get("bid_price") is not None
        else inst["dph_base"]
    )
    return float(gpu) + storage


def rent_price(inst: dict[str, Any]) -> float:
    """What the rental costs per hour while it runs (the price the cap limits)."""
    storage = float(inst["storage_cost"]) * float(inst["disk"]) / HOURS_PER_MONTH
    gpu = (
        inst["bid_price"]
        if inst.get("is_bid") and inst.get("bid_price") is not None
        else inst["dph_base"]
    )
    return float(gpu) + storage


@dataclass
class Money:
    bill: float = 0.0  # $ every instance labelled by this cluster cost
    leaked: float = 0.0  # $ spent on nothing
    instance_seconds: float = 0.0
    leaked_instance_seconds: float = 0.0
    user_bill: float = 0.0  # instances the soak rented by hand (to adopt), while unadopted


@dataclass
class Monitor:
    ledger: Ledger
    seed: int
    out: Path
    operator_cap: float
    poll_interval: float
    settle: float
    dup_grace: float = 0.0  # set in __post_init__
    price_grace: float = 0.0  # set in __post_init__
    gone_grace: float = 6.0
    violations: list[dict[str, Any]] = field(default_factory=list)
    # What broke an invariant while the operator had no way to act: recorded, not a violation.
    excused: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # the accounts' keys, in the soak's order
    money: Money = field(default_factory=Money)
    duplicates: int = 0
    leaked_instances: set[int] = field(default_factory=set)
    ticks: int = 0
    _dup_since: dict[str, float] = field(default_factory=dict)
    _gone_since: dict[tuple[str, int], float] = field(default_factory=dict)
    _cross_since: dict[tuple[str, int], float] = field(default_factory=dict)
    _price_seen: dict[int, float] = field(default_factory=dict)
    _above_since: dict[int, tuple[float, float]] = field(default_factory=dict)  # rid -> (t, cap)
    _reported: set[str] = field(default_factory=set)
    _last: float | None = None
    _owners: dict[int, int] = field(default_factory=dict)  # Vast user id -> account index
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # "Longer than one poll interval", plus two looks of the checker and a slow API answer.
        self.dup_grace = self.poll_interval + 3.0
        # A rise above the cap the operator could not answer: two polls to see and move it,
        # plus a standby's take-over (peering) after the working replica was killed.
        self.price_grace = 2 * self.poll_interval + 60.0

    # -- recording -------------------------------------------------------------------------------
    def violate(self, now: float, invariant: str, key: str, **detail: Any) -> None:
        """Record once per (invariant, key): the seed and the driver's step make it replayable."""
        if f"{invariant}:{key}" in self._reported:
            return
        self._reported.add(f"{invariant}:{key}")
        entry = {
            "seed": self.seed,
            "step": self.ledger.step,
            "t": round(now, 3),
            "invariant": invariant,
            "key": key,
            "detail": detail,
        }
        with self._lock:
            self.violations.append(entry)
            with self.out.open("a") as handle:
                handle.write(json.dumps(entry, default=str) + "\n")

    # -- one look --------------------------------------------------------------------------------
    def tick(self, now: float, objects: list[dict[str, Any]], state: dict[str, Any]) -> None:
        self.ticks += 1
        self._owners = {
            int(a["user_id"]): self.keys.index(a["api_key"])
            for a in state.get("accounts", [])
            if a.get("api_key") in self.keys
        }
        present = {o["metadata"]["uid"]: o for o in objects}
        live = [i for i in state.get("instances", []) if i.get("phase") not in DEAD_PHASES]
        dt = 0.0 if self._last is None else min(now - self._last, 30.0)
        self._last = now
        by_uid: dict[str, list[dict[str, Any]]] = defaultdict(list)
        leaking: set[int] = set()
        for inst in live:
            uid, released = label_uid(inst.get("label"))
            if uid is None:
                self.money.user_bill += hourly(inst) * dt / 3600
                continue
            if released:
                continue
            by_uid[uid].append(inst)
            if self._gone(now, uid, int(inst["id"]), present, "instance"):
                leaking.add(int(inst["id"]))
            self._price(now, uid, inst)
        for uid, insts in by_uid.items():
            if len(insts) < 2:
                self._dup_since.pop(uid, None)
                continue
            since = self._dup_since.setdefault(uid, now)
            if now - since > self.dup_grace:
                extra = sorted(int(i["id"]) for i in insts)[:-1]
                leaking.update(extra)
                if f"duplicate:{uid}" not in self._reported:
                    self.duplicates += 1
                self.violate(
                    now,
                    "duplicate",
                    uid,
                    instances=sorted(int(i["id"]) for i in insts),
                    seconds=round(now - since, 1),
                )
        for inst in live:
            uid, released = label_uid(inst.get("label"))
            if uid is None or released:
                continue
            cost = hourly(inst) * dt / 3600
            self.money.bill += cost
            self.money.instance_seconds += dt
            if int(inst["id"]) in leaking:
                self.money.leaked += cost
                self.money.leaked_instance_seconds += dt
                self.leaked_instances.add(int(inst["id"]))
        self._named(now, present, state)
        self._cross(now, objects, state)

    def _gone(self, now: float, uid: str, rid: int, present: dict[str, Any], what: str) -> bool:
        """A resource of an object the API server no longer has (or never had)."""
        if uid in present:
            self._gone_since.pop((uid, rid), None)
            return False
        since = self._gone_since.setdefault((uid, rid), now)
        if now - since <= self.gone_grace:
            return False
        obj = self.ledger.get(uid)
        if obj is None:
            self.violate(now, "unowned_label", f"{what}:{rid}", uid=uid)
        elif not obj.orphan:
            self.violate(
                now,
                "alive_after_delete",
                f"{what}:{rid}",
                object=obj.key,
                uid=uid,
                seconds=round(now - since, 1),
            )
        else:
            return False
        return True

    def _price(self, now: float, uid: str, inst: dict[str, Any]) -> None:
        """At rent, the price is within the cap the object had then. A later rise (a raised bid,
        a host price increase) above the cap the object has may last no longer than
        `price_grace` while the GPUs are billed: the operator rejects an increase in its notice,
        or, when it could not answer in time (killed, peering paused), rents elsewhere or stops
        the instance (contract.hold_price_cap)."""
        rid, price = int(inst["id"]), rent_price(inst)
        before = self._price_seen.get(rid)
        changed = before is None or abs(before - price) >= 1e-9
        self._price_seen[rid] = price
        obj = self.ledger.get(uid)
        if obj is None or rid in obj.adopted_ids:
            return
        if before is None:  # the rental: the cap when it was decided
            start = float(inst.get("start_date") or now)
            cap = obj.cap_between(start - self.settle - 30, start + 1)
            allowed = self.operator_cap if cap is None else min(cap, self.operator_cap)
            if price > allowed + 1e-6:
                key = f"instance:{rid}:{price:.6f}"
                self.violate(
                    now, "above_price_cap", key, object=obj.key, price=round(price, 6), cap=allowed
                )
            return
        if changed:
            cap = obj.cap_between(now - self.settle - 30, now)
            allowed = self.operator_cap if cap is None else min(cap, self.operator_cap)
            if price > allowed + 1e-6:
                self._above_since[rid] = (now, allowed)
            else:
                self._above_since.pop(rid, None)
        if rid not in self._above_since:
            return
        since, allowed = self._above_since[rid]
        gpu_billed = inst.get("actual_status") == "running"
        if not gpu_billed or obj.delete_requested is not None:
            return  # only the disk is billed; a deleted object's instance has its own bound
        if now - since <= self.price_grace:
            return
        owner = self._owners.get(int(inst.get("owner") or 0))
        detail = {"object": obj.key, "price": round(price, 6), "cap": allowed}
        if obj.secret and owner != obj.account:
            # The object's Secret names another Vast account (AccountChanged): the operator has
            # no key to answer with or to move the instance.
            entry = {"t": round(now, 3), "step": self.ledger.step, "instance": rid, **detail}
            self.excused.append({"what": "price above the cap while AccountChanged", **entry})
            self._above_since.pop(rid, None)
            return
        key = f"instance:{rid}:{price:.6f}"
        self.violate(now, "above_price_cap", key, seconds=round(now - since, 1), **detail)

    def _named(self, now: float, present: dict[str, Any], state: dict[str, Any]) -> None:
        """Volumes and endpoints carry the object in their name (workergroups their endpoint's):
        resources of gone objects; two volumes or endpoints for one object."""
        for kind, rows, field_name in (
            (VOLUMES, state.get("volumes", []), "label"),
            (ENDPOINTS, state.get("endpoints", []), "endpoint_name"),
            ("workergroups", state.get("workergroups", []), "endpoint_name"),
        ):
            names = self.ledger.by_vast_name(VOLUMES if kind == VOLUMES else ENDPOINTS)
            seen: dict[str, list[int]] = defaultdict(list)
            for row in rows:
                obj = names.get(str(row.get(field_name)))
                if obj is None:
                    continue
                seen[obj.uid].append(int(row["id"]))
                self._gone(now, obj.uid, int(row["id"]), present, kind)
            for uid, ids in seen.items():
                key = f"{kind}:{uid}"
                if len(ids) < 2 or kind == "workergroups":  # an endpoint may have several
                    self._dup_since.pop(key, None)
                    continue
                since = self._dup_since.setdefault(key, now)
                if now - since > self.dup_grace:
                    if f"duplicate:{key}" not in self._reported:
                        self.duplicates += 1
                    self.violate(now, "duplicate", key, ids=sorted(ids))

    def _cross(self, now: float, objects: list[dict[str, Any]], state: dict[str, Any]) -> None:
        """No object's status names a resource of another object, or one another object names."""
        labels = {int(i["id"]): label_uid(i.get("label"))[0] for i in state.get("instances", [])}
        claimed: dict[tuple[str, int], list[str]] = defaultdict(list)
        for obj in objects:
            status = obj.get("status") or {}
            uid = obj["metadata"]["uid"]
            plural = {"VastInstance": INSTANCES, "VastVolume": VOLUMES}.get(
                obj.get("kind", ""), ENDPOINTS
            )
            rid = status.get(
                {INSTANCES: "instanceId", VOLUMES: "volumeId"}.get(plural, "endpointId")
            )
            if not isinstance(rid, int):
                continue
            claimed[(plural, rid)].append(uid)
            owner = labels.get(rid) if plural == INSTANCES else None
            key = (uid, rid)
            if owner is not None and owner != uid:
                since = self._cross_since.setdefault(key, now)
                if now - since > self.dup_grace:
                    self.violate(now, "status_names_foreign", f"{uid}:{rid}", other=owner)
            else:
                self._cross_since.pop(key, None)
        for (plural, rid), uids in claimed.items():
            if len(uids) > 1:
                key2 = (",".join(sorted(uids)), rid)
                since = self._cross_since.setdefault(key2, now)
                if now - since > self.dup_grace:
                    self.violate(now, "status_shared", f"{plural}:{rid}", uids=sorted(uids))
