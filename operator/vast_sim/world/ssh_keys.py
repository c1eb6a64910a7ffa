"""SSH keys: the account's keys and the keys attached to each instance."""

from __future__ import annotations

import json
from typing import Any

from vast_sim import views
from vast_sim.errors import vast_error
from vast_sim.models import JSONDict, SshKey
from vast_sim.world.state import WorldState

SSH_KEY_PREFIXES = ("ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-")


class SshKeysMixin(WorldState):
    """Account ssh keys (`/ssh/`) and instance ssh keys (`/instances/{id}/ssh/`)."""

    @staticmethod
    def _check_key(key: Any) -> str:
        if not isinstance(key, str) or not key.strip():
            raise vast_error(400, "no_ssh_key", "No ssh key provided")
        public = str(key).strip()
        if "PRIVATE KEY" in public or not public.startswith(SSH_KEY_PREFIXES):
            raise vast_error(400, "invalid_args", "Invalid ssh public key.")
        return public

    def attach_ssh(self, inst_id: int, key: Any) -> JSONDict:
        with self.lock:
            inst = self._get_or(
                inst_id, vast_error(404, "no_such_instance", f"Instance {inst_id} not found.")
            )
            public = self._check_key(key)
            for existing in inst.ssh_keys:
                if existing["public_key"] == public:
                    return {"success": True, "msg": "SSH key already attached to instance."}
            key_id = self._next("ssh_key")
            name = public.split()[2] if len(public.split()) > 2 else None
            inst.ssh_keys = [*inst.ssh_keys, {"id": key_id, "name": name, "public_key": public}]
            self._touch()
            return {"success": True, "msg": "SSH key added to instance."}

    def instance_ssh_keys(self, inst_id: int) -> JSONDict:
        with self.lock:
            inst = self._get_or(
                inst_id, vast_error(404, "no_such_instance", f"Instance {inst_id} not found.")
            )
            return {"success": True, "ssh_keys": json.dumps(inst.ssh_keys)}

    def detach_ssh(self, inst_id: int, key_id: int) -> JSONDict:
        with self.lock:
            inst = self._get_or(
                inst_id, vast_error(404, "no_such_instance", f"Instance {inst_id} not found.")
            )
            remaining = [k for k in inst.ssh_keys if int(k["id"]) != key_id]
            if len(remaining) == len(inst.ssh_keys):
                raise vast_error(
                    404, "no_such_ssh_key", f"SSH key {key_id} is not on instance {inst_id}."
                )
            inst.ssh_keys = remaining
            self._touch()
            return {"success": True, "msg": "SSH key removed from instance."}

    def account_keys(self) -> list[JSONDict]:
        with self.lock:
            return [views.ssh_key_row(k) for k in self.ssh_keys.values()]

    def create_account_key(self, key: Any) -> JSONDict:
        with self.lock:
            public = self._check_key(key)
            for existing in self.ssh_keys.values():
                if existing.public_key == public:
                    raise vast_error(400, "existing_key", "This ssh key already exists.")
            parts = public.split()
            record = SshKey(
                id=self._next("ssh_key"),
                public_key=public,
                created_at=self.now(),
                name=parts[2] if len(parts) > 2 else None,
            )
            self.ssh_keys[record.id] = record
            self._touch()
            return {"success": True, "key": views.ssh_key_row(record)}

    def update_account_key(self, key_id: int, key: Any) -> JSONDict:
        with self.lock:
            record = self.ssh_keys.get(key_id)
            if record is None:
                raise vast_error(404, "no_such_ssh_key", f"No ssh key with id {key_id}.")
            record.public_key = self._check_key(key)
            self._touch()
            return {"success": True, "key": views.ssh_key_row(record)}

    def delete_account_key(self, key_id: int) -> JSONDict:
        with self.lock:
            if self.ssh_keys.pop(key_id, None) is None:
                raise vast_error(404, "no_such_ssh_key", f"No ssh key with id {key_id}.")
            self._touch()
            return {"success": True}
