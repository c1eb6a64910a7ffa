"""Local volumes: create from a volume offer, list, delete."""

from __future__ import annotations

from typing import Any

from vast_sim import views
from vast_sim.errors import vast_error
from vast_sim.models import PRIMARY_USER_ID, JSONDict
from vast_sim.world.params import VOLUME_NAME_RE, int_id, num
from vast_sim.world.state import WorldState


class VolumesMixin(WorldState):
    """`/volumes/`: local volumes carved out of a machine's disk."""

    def create_volume(self, body: JSONDict, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            offer_id = int_id(body.get("id"), "volume offer id")
            machine_id = self.vol_offer_index.get(offer_id)
            machine = self.machines.get(machine_id) if machine_id is not None else None
            if machine is None or not machine.listed:
                raise vast_error(
                    404,
                    "no_such_ask",
                    f"Volume offer {offer_id} is not available.",
                    ask_id=offer_id,
                )
            size = num(body.get("size"), "size", default=15.0, minimum=1.0)
            if size > machine.vol_space_free:
                raise vast_error(
                    400,
                    "invalid_args",
                    f"Requested size {size:g} GB exceeds the "
                    f"{machine.vol_space_free:g} GB available.",
                )
            name = body.get("name")
            if name is not None and not VOLUME_NAME_RE.match(str(name)):
                raise vast_error(
                    400, "invalid_args", "Volume name must be 1-64 letters, digits or underscores."
                )
            vol = self._new_volume(machine, int(size), name, self.now(), owner)
            self._touch()
            return {"success": True, "volume_name": f"V.{vol.id}"}

    def _volume_users(self) -> dict[int, list[int]]:
        """Volume id -> instances using it (unloading ones too: they are not gone yet)."""
        self._refresh_transient()
        users: dict[int, list[int]] = {}
        for inst in self.instances.values():
            for link in inst.volume_links:
                users.setdefault(int(link["id"]), []).append(inst.id)
        return users

    def list_volumes(self, volume_type: str | None, owner: int = PRIMARY_USER_ID) -> list[JSONDict]:
        with self.lock:
            if volume_type == "network_volume":
                return []
            users = self._volume_users()
            now = self.now()
            return [
                views.volume_row(v, self.machines[v.machine_id], sorted(users.get(v.id, [])), now)
                for v in self.volumes.values()
                if v.owner == owner
            ]

    def delete_volume(self, raw_id: Any, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            if raw_id in (None, ""):
                raise vast_error(400, "invalid_args", "Please provide a valid volume ID.")
            try:
                vol_id = int(str(raw_id).removeprefix("V."))
            except ValueError:
                raise vast_error(400, "invalid_args", "Please provide a valid volume ID.") from None
            vol = self.volumes.get(vol_id)
            if vol is None or vol.owner != owner:
                raise vast_error(404, "no_such_volume", "Volume with that ID does not exist.")
            users = self._volume_users().get(vol_id)
            if users:
                raise vast_error(
                    400,
                    "volume_in_use",
                    f"Volume {vol_id} is in use by instance(s) {', '.join(map(str, users))}; "
                    "destroy them first.",
                )
            machine = self.machines[vol.machine_id]
            machine.vol_space_free = round(
                min(machine.vol_space_total, machine.vol_space_free + vol.size), 3
            )
            del self.volumes[vol_id]
            self.ledger.end(f"volume-{vol_id}", self.now())
            self._touch()
            return {"success": True}
