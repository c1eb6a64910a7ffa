"""SSH key routes: the account's keys and each instance's keys."""

from __future__ import annotations

from starlette.responses import Response

from vast_sim.app import Call, json_body, path_int
from vast_sim.vast_api.common import ok


async def attach_ssh(call: Call) -> Response:
    body = await json_body(call.request)
    inst_id = path_int(call, what="instance id")
    return ok(call.world.attach_ssh(inst_id, body.get("ssh_key"), call.user))


async def instance_ssh_keys(call: Call) -> Response:
    return ok(call.world.instance_ssh_keys(path_int(call, what="instance id"), call.user))


async def detach_ssh(call: Call) -> Response:
    inst_id = path_int(call, what="instance id")
    key_id = path_int(call, "key_id", what="ssh key id")
    return ok(call.world.detach_ssh(inst_id, key_id, call.user))


async def list_account_keys(call: Call) -> Response:
    return ok(call.world.account_keys(call.user))


async def create_account_key(call: Call) -> Response:
    body = await json_body(call.request)
    return ok(call.world.create_account_key(body.get("ssh_key"), call.user))


async def update_account_key(call: Call) -> Response:
    body = await json_body(call.request)
    key_id = path_int(call, what="ssh key id")
    return ok(call.world.update_account_key(key_id, body.get("ssh_key"), call.user))


async def delete_account_key(call: Call) -> Response:
    return ok(call.world.delete_account_key(path_int(call, what="ssh key id"), call.user))
