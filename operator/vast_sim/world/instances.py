"""Instance lifecycle: rent (create), destroy, reboot and recycle."""

from __future__ import annotations

import secrets

from vast_sim import lifecycle, market_events
from vast_sim.errors import vast_error
from vast_sim.models import PRIMARY_USER_ID, Instance, JSONDict, Machine
from vast_sim.offer_rows import storage_hourly
from vast_sim.world.account import require_credit
from vast_sim.world.rent_request import instance_spec, volume_links
from vast_sim.world.state import WorldState


class InstanceLifecycleMixin(WorldState):
    """Renting an offer and ending, rebooting or recycling the contract."""

    def create_instance(
        self,
        offer_id: int,
        body: JSONDict,
        owner: int = PRIMARY_USER_ID,
        listing_lag: float | None = None,
    ) -> JSONDict:
        """`PUT /asks/{id}/`: rent the offer for account `owner`. Returns the success body.

        `listing_lag` (a fault) keeps the new instance out of the list for that many seconds.
        """
        with self.lock:
            account = self._settle(owner)
            machine, size = self._rentable_slot(offer_id)
            static = self._static(offer_id)
            spec = instance_spec(offer_id, body, static, self._visible_templates(owner))
            schedulable = machine.free_gpus >= size
            if not schedulable and bool(body.get("cancel_unavail")):
                raise vast_error(
                    410,
                    "no_such_ask",
                    f"error 410/3907: no_such_ask Instance type {offer_id} is no longer available.",
                    ask_id=offer_id,
                )
            gpu_hour = spec["bid_price"] if spec["is_bid"] else static["dph_base"]
            hourly = gpu_hour + storage_hourly(machine.storage_cost, spec["disk"])
            require_credit(account.credit, hourly, offer_id)
            mine = {v.id: v for v in self.volumes.values() if v.owner == owner}
            links = volume_links(body, spec["env"], machine, offer_id, self.vol_offer_index, mine)
            now = self.now()
            inst = self._new_instance(offer_id, machine, size, static, spec, now, owner)
            inst.gpus_held = schedulable
            inst.volume_links = [self._link_volume(link, machine, now, owner) for link in links]
            if listing_lag:
                inst.listed_after = now + listing_lag
            self._rotate_slot(machine, size)
            if schedulable:
                machine.free_gpus -= size
                lifecycle.begin_create(inst, now, self.config.boot_seconds)
            else:
                lifecycle.begin_scheduling(inst, now, self.config.boot_seconds)
            self.instances[inst.id] = inst
            self._mark(inst)
            self._refresh(inst)
            return {"success": True, "new_contract": inst.id, "instance_api_key": inst.api_key}

    def _rentable_slot(self, offer_id: int) -> tuple[Machine, int]:
        """The listed machine and GPU count of an offer; 404 when it is gone."""
        where = self.offer_index.get(offer_id)
        machine = self.machines[where[0]] if where else None
        if where is None or machine is None or not machine.listed:
            raise vast_error(
                404,
                "invalid_args",
                f"error 404/3603: no_such_ask Instance type by id {offer_id} is not available.",
                ask_id=offer_id,
            )
        return machine, where[1]

    def _new_instance(
        self,
        offer_id: int,
        machine: Machine,
        size: int,
        static: JSONDict,
        spec: JSONDict,
        now: float,
        owner: int,
    ) -> Instance:
        """The contract record of a rental, with the account's ssh keys attached."""
        return Instance(
            id=self.ids.contract_id(),
            machine_id=machine.machine_id,
            bundle_id=offer_id,
            num_gpus=size,
            is_bid=spec["is_bid"],
            bid_price=spec["bid_price"],
            dph_base=static["dph_base"],
            storage_cost=machine.storage_cost,
            disk=spec["disk"],
            image=spec["image"],
            runtype=spec["runtype"],
            env=spec["env"],
            onstart=spec["onstart"],
            args=spec["args"],
            label=spec["label"],
            api_key=secrets.token_hex(32),
            jupyter_token=secrets.token_hex(32),
            start_date=now,
            template_id=spec["template_id"],
            template_hash_id=spec["template_hash_id"],
            template_name=spec["template_name"],
            image_login=spec["image_login"],
            ssh_keys=[
                {"id": k.id, "name": k.name, "public_key": k.public_key}
                for k in self.ssh_keys.values()
                if k.owner == owner
            ],
            owner=owner,
        )

    def _link_volume(self, link: JSONDict, machine: Machine, now: float, owner: int) -> JSONDict:
        if link.get("create"):
            vol = self._new_volume(machine, link["size"], link["name"], now, owner)
            return {"id": vol.id, "mount_path": link["mount_path"]}
        return {"id": int(link["volume_id"]), "mount_path": link["mount_path"]}

    def destroy_instance(self, inst_id: int, owner: int | None = PRIMARY_USER_ID) -> bool:
        """End the contract; False when `owner` (None: anyone) has no live instance by that id.

        With unloading on, the row stays (cur_state "unloaded") for `unload_seconds`."""
        with self.lock:
            inst = self.instances.get(inst_id)
            if inst is not None:
                self._refresh(inst)
                inst = self.instances.get(inst_id)
            if inst is None or inst.phase == lifecycle.UNLOADING:
                return False
            if owner is not None and inst.owner != owner:
                return False
            seconds = self.config.unload_seconds
            if self.config.enforces("unloading") and seconds > 0:
                lifecycle.begin_unloading(inst, self.now(), seconds)
                self._mark(inst)
            else:
                self._remove(inst)
            return True

    def reboot_instance(self, inst_id: int, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            # oas:reboot_instance: 400 invalid_args "invalid instance_id".
            inst = self._get_or(
                inst_id, vast_error(400, "invalid_args", "invalid instance_id"), owner
            )
            if not inst.gpus_held:
                raise vast_error(400, "invalid_args", f"Instance {inst_id} is not running.")
            lifecycle.reboot(inst, self.now(), self.config.boot_seconds)
            self._mark(inst)
            return {"success": True}

    def recycle_instance(self, inst_id: int, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            inst = self._get_or(
                inst_id, vast_error(400, "invalid_id", "Invalid instance id."), owner
            )
            machine = self.machines[inst.machine_id]
            if market_events.start_refused(inst, machine, self.now()):
                self._mark(inst)
                return {"success": True}
            if not inst.gpus_held:
                if machine.free_gpus < inst.num_gpus:
                    lifecycle.begin_scheduling(inst, self.now(), self.config.boot_seconds)
                    self._mark(inst)
                    return {"success": True}
                machine.free_gpus -= inst.num_gpus
                inst.gpus_held = True
            lifecycle.begin_create(inst, self.now(), self.config.boot_seconds)
            self._mark(inst)
            return {"success": True}
