"""SSH keys: the account's keys and the keys attached to each instance."""

from __future__ import annotations

import json
from typing import Any

from vast_sim import views
from vast_sim.errors import VastError, vast_error
from vast_sim.models import PRIMARY_USER_ID, JSONDict, SshKey
from vast_sim.world.state import WorldState

SSH_KEY_PREFIXES = ("ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-")


def _no_such_instance(inst_id: int) -> VastError:
    return vast_error(404, "no_such_instance", f"Instance {inst_id} not found.")


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

    def attach_ssh(self, inst_id: int, key: Any, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            inst = self._get_or(inst_id, _no_such_instance(inst_id), owner)
            public = self._check_key(key)
            for existing in inst.ssh_keys:
                if existing["public_key"] == public:
                    return {"success": True, "msg": "SSH key already attached to instance."}
            key_id = self._next("ssh_key")
            name = public.split()[2] if len(public.split()) > 2 else None
            inst.ssh_keys = [*inst.ssh_keys, {"id": key_id, "name": name, "public_key": public}]
            self._touch()
            return {"success": True, "msg": "SSH key added to instance."}

    def instance_ssh_keys(self, inst_id: int, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            inst = self._get_or(inst_id, _no_such_instance(inst_id), owner)
            return {"success": True, "ssh_keys": json.dumps(inst.ssh_keys)}

    def detach_ssh(self, inst_id: int, key_id: int, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            inst = self._get_or(inst_id, _no_such_instance(inst_id), owner)
            remaining = [k for k in inst.ssh_keys if int(k["id"]) != key_id]
            if len(remaining) == len(inst.ssh_keys):
                raise vast_error(
                    404, "no_such_ssh_key", f"SSH key {key_id} is not on instance {inst_id}."
                )
            inst.ssh_keys = remaining
            self._touch()
            return {"success": True, "msg": "SSH key removed from instance."}

    def account_keys(self, owner: int = PRIMARY_USER_ID) -> list[JSONDict]:
        with self.lock:
            return [views.ssh_key_row(k) for k in self.ssh_keys.values() if k.owner == owner]

    def create_account_key(self, key: Any, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            public = self._check_key(key)
            for existing in self.ssh_keys.values():
                if existing.owner == owner and existing.public_key == public:
                    raise vast_error(400, "existing_key", "This ssh key already exists.")
            parts = public.split()
            record = SshKey(
                id=self._next("ssh_key"),
                public_key=public,
                created_at=self.now(),
                name=parts[2] if len(parts) > 2 else None,
                owner=owner,
            )
            self.ssh_keys[record.id] = record
            self._touch()
            return {"success": True, "key": views.ssh_key_row(record)}

    def update_account_key(self, key_id: int, key: Any, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            record = self.ssh_keys.get(key_id)
            if record is None or record.owner != owner:
                raise vast_error(404, "no_such_ssh_key", f"No ssh key with id {key_id}.")
            record.public_key = self._check_key(key)
            self._touch()
            return {"success": True, "key": views.ssh_key_row(record)}

    def delete_account_key(self, key_id: int, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            record = self.ssh_keys.get(key_id)
            if record is None or record.owner != owner:
                raise vast_error(404, "no_such_ssh_key", f"No ssh key with id {key_id}.")
            del self.ssh_keys[key_id]
            self._touch()
            return {"success": True}
