"""Managing a running contract: start/stop and label (one or many) and the bid price."""

from __future__ import annotations

from typing import Any

from vast_sim import lifecycle, market_events
from vast_sim.errors import VastError, vast_error
from vast_sim.models import PRIMARY_USER_ID, JSONDict
from vast_sim.world.params import int_id
from vast_sim.world.state import WorldState


class InstanceManagementMixin(WorldState):
    """`PUT /instances/{id}/` (state, label), its bulk form and bids."""

    def manage_instance(
        self, inst_id: int, body: JSONDict, owner: int = PRIMARY_USER_ID
    ) -> JSONDict:
        """`PUT /instances/{id}/`: {"state": "running"|"stopped"} and/or {"label": ...}."""
        with self.lock:
            inst = self._get_or(
                inst_id,
                vast_error(404, "no_such_instance", f"Instance {inst_id} not found."),
                owner,
            )
            result: JSONDict = {"success": True}
            if "label" in body:
                label = body["label"]
                if label is not None:
                    label = str(label)
                    if len(label) > 1024:
                        raise vast_error(
                            400, "label_too_long", "Label must be at most 1024 characters."
                        )
                inst.label = label
                result["msg"] = f"label for {inst_id} set to '{label}'."
            state = body.get("state", body.get("target_state"))
            if state is not None:
                machine = self.machines[inst.machine_id]
                if state == "running":
                    if not market_events.start_refused(inst, machine, self.now()):
                        lifecycle.start(inst, machine, self.now(), self.config.boot_seconds)
                elif state == "stopped":
                    lifecycle.stop(inst, machine, self.now())
                else:
                    raise vast_error(400, "invalid_args", f"Invalid state {state!r}.")
            elif "label" not in body:
                raise vast_error(400, "invalid_args", "Nothing to update: send state or label.")
            self._mark(inst)
            self._refresh(inst)
            return result

    def bulk_manage(self, ids: list[Any], state: str, owner: int = PRIMARY_USER_ID) -> JSONDict:
        done = []
        for raw in ids:
            inst_id = int_id(raw, "instance id")
            try:
                self.manage_instance(inst_id, {"state": state}, owner)
                done.append(inst_id)
            except VastError:
                continue
        return {"success": True, "ids": done}

    def change_bid(self, inst_id: int, price: Any, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            inst = self._get_or(
                inst_id,
                vast_error(404, "no_such_instance", "Instance with that ID does not exist."),
                owner,
            )
            if not inst.is_bid:
                raise vast_error(
                    400, "invalid_args", f"Instance {inst_id} is not an interruptible instance."
                )
            machine = self.machines[inst.machine_id]
            if price is None:
                new_price = self._machine_static(machine, inst.num_gpus)["min_bid"]
            else:
                try:
                    new_price = float(price)
                except (TypeError, ValueError):
                    raise vast_error(
                        400, "invalid_args", "Please set a bid price >= 0.001."
                    ) from None
                if new_price < 0.001:
                    raise vast_error(400, "invalid_args", "Please set a bid price >= 0.001.")
            inst.bid_price = round(new_price, 6)
            market_events.follow_bid(inst, machine, self.now(), self.config.boot_seconds)
            self._mark(inst)  # a new price starts a new billing segment
            return {"success": True}
