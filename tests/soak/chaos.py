"""The faults, drawn from the seeded RNG: process deaths (operator, standby take-over, vast-sim,
kube-apiserver, etcd), the simulator's fault queue (429 storms, 5xx, timeouts, slow answers that
complete after the client gave up, dropped connections, rents that fail but allocate, vanishing
offers, listing lag, missing rows, the search quota) and instances that exit, go offline, are
outbid or are destroyed behind the operator's back.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from env import CREATE_SETTLE, VAST_TIMEOUT, SoakEnv, log
from invariants import DEAD_PHASES, label_uid

CREATE = "PUT /api/v0/asks/{id}/"
LIST = "GET /api/v1/instances/"
ROUTES = (
    "*",
    CREATE,
    LIST,
    "GET /api/v0/instances/{id}/",
    "DELETE /api/v0/instances/{id}/",
    "PUT /api/v0/instances/{id}/",
    "POST /api/v0/bundles/",
)


SIM_FAULTS = (
    *("429_detail", "429_json", "429_text", "500", "502", "503", "504"),
    *("timeout", "slow", "drop"),
    *("offer_vanish", "create_error_allocates", "listing_lag", "missing_rows"),
)


class Chaos:
    def __init__(self, env: SoakEnv, rng: random.Random) -> None:
        self.env = env
        self.rng = rng
        self.counts: dict[str, int] = {}
        self.pending_restarts: list[threading.Timer] = []
        self.lock = threading.Lock()  # held while a process is down (the checker skips)

    def _count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    # -- processes -------------------------------------------------------------------------------
    def kill_operator(self) -> str | None:
        """SIGKILL the working replica and start it again at once."""
        replica = self.env.active_replica()
        if replica is None:
            return None
        replica.held_down = True
        replica.kill()
        time.sleep(self.rng.uniform(0, 3))
        replica.start()
        return f"SIGKILL + restart operator-{replica.index}"

    def failover(self) -> str | None:
        """SIGKILL the working replica and leave it down long enough for the standby to take
        over (kopf's peering lifetime is 60 s), then start it again."""
        live = [r for r in self.env.replicas if r.alive]
        if len(live) < 2:
            return None
        replica = max(live, key=lambda r: r.priority)
        replica.held_down = True
        replica.kill()
        down = self.rng.uniform(20, 90)
        timer = threading.Timer(down, replica.start)
        timer.daemon = True
        timer.start()
        self.pending_restarts.append(timer)
        return f"SIGKILL active operator-{replica.index}, standby takes over, back in {down:.0f}s"

    def restart_sim(self) -> str | None:
        with self.lock:
            self.env.restart_sim(self.rng.uniform(0.5, 4))
        return "restart vast-sim from its state file"

    def restart_apiserver(self) -> str | None:
        with self.lock:
            self.env.restart_component("kube-apiserver", self.rng.uniform(0.5, 5))
        return "restart kube-apiserver"

    def restart_etcd(self) -> str | None:
        with self.lock:
            self.env.restart_component("etcd", self.rng.uniform(0.5, 5))
        return "restart etcd"

    # -- the simulator's fault queue -------------------------------------------------------------
    def sim_fault(self) -> str | None:
        sim = self.env.sim
        if sim is None:
            return None
        # Not search_quota: the client then closes offer search for that key until the next
        # UTC midnight (as Vast's daily quota asks), which would end renting for the whole run.
        # tests/e2e/test_instance_faults.py covers it.
        kind = self.rng.choice(SIM_FAULTS)
        spec: dict[str, Any] = {"kind": kind}
        if kind.startswith(("429", "5")):
            spec["route"] = self.rng.choice(ROUTES)
            spec["count"] = self.rng.randint(1, 12 if kind.startswith("429") else 4)
            if self.rng.random() < 0.3:
                spec["retry_after"] = self.rng.choice([0.5, 1, 3])
        elif kind in ("timeout", "slow"):
            spec["route"] = self.rng.choice([CREATE, CREATE, "*", "DELETE /api/v0/instances/{id}/"])
            # Longer than the client waits: the work completes after it gave up (slow) or never
            # gets an answer (timeout).
            spec["seconds"] = VAST_TIMEOUT + self.rng.uniform(0.5, 3)
            spec["count"] = self.rng.randint(1, 2)
        elif kind == "drop":
            spec["route"] = self.rng.choice(ROUTES)
            spec["count"] = self.rng.randint(1, 3)
        elif kind == "listing_lag":
            spec["seconds"] = self.rng.uniform(1, CREATE_SETTLE * 0.6)
        elif kind == "missing_rows":
            ids = [int(i["id"]) for i in self._live_labelled()]
            if not ids:
                return None
            spec["ids"] = self.rng.sample(ids, min(len(ids), self.rng.randint(1, 3)))
            # One listing (the threat docs/design.md models): the loop believes an absence
            # after an unknown create only when two listings agree.
            spec["count"] = 1
        sim.admin.fault(**spec)
        self._count(f"sim:{kind}")
        return f"fault {spec}"

    # -- instances -------------------------------------------------------------------------------
    def _live_labelled(self) -> list[dict[str, Any]]:
        state = self.env.sim_state()
        return [
            i
            for i in state["instances"]
            if i.get("phase") not in DEAD_PHASES and label_uid(i.get("label"))[0] is not None
        ]

    def instance_event(self) -> str | None:
        insts = [i for i in self._live_labelled() if i.get("actual_status") == "running"]
        if not insts or self.env.sim is None:
            return None
        inst = self.rng.choice(insts)
        rid = int(inst["id"])
        what = self.rng.choice(["exited", "offline", "offline", "destroy"])
        if what == "destroy":
            self.env.sim.admin.destroy_instance(rid)
        else:
            msg = "container exited" if what == "exited" else "host heartbeat lost"
            self.env.sim.admin.set_status(rid, what, msg)
            if what == "offline" and self.rng.random() < 0.6:
                # A blip: the host comes back before the object's offlineGrace (20 s).
                timer = threading.Timer(self.rng.uniform(3, 12), self._back, (rid,))
                timer.daemon = True
                timer.start()
        self._count(f"instance:{what}")
        return f"instance {rid} {what}"

    def market_event(self) -> str | None:
        """The host side: a competing bid outbids an interruptible, a host raises its price
        (accepted only within the cap), a contract's end date comes close."""
        sim = self.env.sim
        insts = [i for i in self._live_labelled() if i.get("actual_status") == "running"]
        if not insts or sim is None:
            return None
        inst = self.rng.choice(insts)
        machine, gpus = int(inst["machine_id"]), max(1, int(inst.get("num_gpus") or 1))
        what = self.rng.choice(["outbid", "price", "end_date"])
        if what == "outbid" or (what == "price" and inst.get("is_bid")):
            what = "outbid"
            bid = float(inst.get("bid_price") or inst["dph_base"]) / gpus
            sim.admin.outbid(machine, round(bid * self.rng.uniform(1.05, 3.0), 4))
            if self.rng.random() < 0.5:  # the competitor leaves again
                timer = threading.Timer(
                    self.rng.uniform(10, 60), self._quietly, (sim.admin.outbid, machine, None)
                )
                timer.daemon = True
                timer.start()
        elif what == "price":
            per_gpu = float(inst["dph_base"]) / gpus * self.rng.uniform(1.05, 2.5)
            sim.admin.raise_price(machine, round(per_gpu, 4), self.rng.uniform(5, 60))
        else:
            sim.admin.set_end_date(machine, in_seconds=self.rng.uniform(30, 180))
        self._count(f"market:{what}")
        return f"machine {machine} ({inst['id']}) {what}"

    def _quietly(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:
            log(f"{getattr(fn, '__name__', fn)}{args} failed: {exc}")

    def _back(self, rid: int) -> None:
        try:
            if self.env.sim is not None:
                self.env.sim.admin.set_status(rid, "running", None)
        except Exception as exc:  # the instance may be gone by then
            log(f"instance {rid} back online failed: {exc}")

    def table(self) -> list[tuple[int, str, Callable[[], str | None]]]:
        return [
            (40, "sim_fault", self.sim_fault),
            (12, "instance_event", self.instance_event),
            (6, "market_event", self.market_event),
            (6, "kill_operator", self.kill_operator),
            (3, "failover", self.failover),
            (3, "restart_sim", self.restart_sim),
            (2, "restart_apiserver", self.restart_apiserver),
            (2, "restart_etcd", self.restart_etcd),
        ]

    def random_fault(self) -> str | None:
        table = self.table()
        (name,) = self.rng.choices([n for _, n, _ in table], weights=[w for w, _, _ in table])
        return self.run(name)

    def run(self, name: str) -> str | None:
        """One fault of the table, by name; counted when it applied."""
        result = next(f for _, n, f in self.table() if n == name)()
        if result is not None:
            self._count(name)
        return result

    def quiet(self) -> None:
        """No more faults: clear the queue, bring every replica back."""
        for timer in self.pending_restarts:
            timer.cancel()
        if self.env.sim is not None:
            self.env.sim.admin.clear_faults()
        self.env.ensure_replicas()
