"""Steering the world from /_sim/ and fault injection: reset, clock, forced statuses,
machine flags, vanishing offers and the state dump."""

from __future__ import annotations

import json

from vast_sim import lifecycle
from vast_sim.errors import vast_error
from vast_sim.models import JSONDict
from vast_sim.world.state import WorldState


class AdminMixin(WorldState):
    """What /_sim/ and fault injection do to the world."""

    def reset(self, seed: int | None = None, num_machines: int | None = None) -> None:
        """A fresh market from the seed; every rental, volume, endpoint and key is gone."""
        with self.lock:
            self._build(
                self.seed if seed is None else seed,
                self.num_machines if num_machines is None else num_machines,
            )
            self.results = {}
            self._touch()

    def advance_clock(self, seconds: float) -> float:
        with self.lock:
            self.clock_offset += seconds
            self._touch()
            return self.now()

    def force_status(self, inst_id: int, actual: str | None, msg: str | None) -> JSONDict:
        with self.lock:
            inst = self.instances.get(inst_id)
            if inst is None:
                raise vast_error(404, "no_such_instance", f"Instance {inst_id} not found.")
            self._refresh(inst)
            machine = self.machines[inst.machine_id]
            if actual == "stopped":
                lifecycle.stop(inst, machine, self.now())
                inst.intended_status = "running"
                inst.next_state = "running"
                inst.status_msg = msg
            else:
                lifecycle.force_status(inst, actual, msg, self.now())
            self._mark(inst)
            return self._row(inst)

    def exit_instance(self, inst_id: int, code: int) -> JSONDict:
        """The running container of `inst_id` exits now with `code` (container.py)."""
        with self.lock:
            inst = self.instances.get(inst_id)
            if inst is None:
                raise vast_error(404, "no_such_instance", f"Instance {inst_id} not found.")
            self._refresh(inst)
            if inst.actual_status != "running":
                raise vast_error(400, "invalid_args", f"Instance {inst_id} is not running.")
            lifecycle.exit_container(inst, self.now(), code)
            self._mark(inst)
            return self._row(inst)

    def set_machine_flag(self, machine_id: int, flag: str, enabled: bool) -> JSONDict:
        with self.lock:
            machine = self.machines.get(machine_id)
            if machine is None:
                raise vast_error(404, "not_found", f"No machine {machine_id}.")
            setattr(machine, flag, enabled)
            self._touch()
            return {
                "machine_id": machine_id,
                "never_boot": machine.never_boot,
                "oci_error": machine.oci_error,
                "listed": machine.listed,
            }

    def vanish_offer(self, offer_id: int) -> None:
        """Someone else rents the offer (fault injection): its GPUs leave the market."""
        with self.lock:
            where = self.offer_index.get(offer_id)
            if where is None:
                return
            machine = self.machines[where[0]]
            size = where[1]
            machine.free_gpus = max(0, machine.free_gpus - size)
            self._rotate_slot(machine, size)
            self._touch()

    def dump(self) -> JSONDict:
        """`GET /_sim/state`: the persisted world plus a few derived views."""
        with self.lock:
            data = self.to_dict()
            data["now"] = self.now()
            data["free_gpus"] = sum(m.free_gpus for m in self.machines.values() if m.listed)
            data["available_offers"] = sum(
                1
                for m in self.machines.values()
                if m.listed
                for size in m.slots
                if int(size) <= m.free_gpus
            )
            dumped: JSONDict = json.loads(json.dumps(data))
            return dumped
