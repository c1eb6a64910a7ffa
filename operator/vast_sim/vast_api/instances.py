"""Instance routes: list, show, manage, destroy, reboot, recycle, bid, logs and commands."""

from __future__ import annotations

from starlette.responses import Response

from vast_sim.app import Call, json_body, path_int
from vast_sim.errors import vast_error
from vast_sim.vast_api.common import ok, result_url


async def list_instances_v1(call: Call) -> Response:
    fault = call.fault
    hide = (
        frozenset(fault.ids or ()) if fault is not None and fault.kind == "missing_rows" else None
    )
    return ok(call.world.list_instances(call.request.query_params, call.user, hide or frozenset()))


async def list_instances_v0(call: Call) -> Response:
    return ok(
        {
            "success": False,
            "error": "deprecated_endpoint",
            "msg": "/api/v0/instances/ is deprecated. Use /api/v1/instances/ instead.",
        },
        status=410,
    )


async def bulk_manage(call: Call) -> Response:
    body = await json_body(call.request)
    ids = body.get("ids") or body.get("IDs") or []
    state = body.get("state")
    if not isinstance(ids, list) or state not in ("running", "stopped"):
        raise vast_error(400, "invalid_args", "Send ids (list) and state running|stopped.")
    return ok(call.world.bulk_manage(ids, str(state), call.user))


async def bulk_destroy(call: Call) -> Response:
    body = await json_body(call.request)
    ids = body.get("instance_ids")
    if not isinstance(ids, list):
        raise vast_error(400, "invalid_args", "Send instance_ids (list).")
    destroyed = []
    for raw in ids:
        try:
            inst_id = int(raw)
        except (TypeError, ValueError):
            continue
        if call.world.destroy_instance(inst_id, call.user):
            destroyed.append(inst_id)
    return ok({"success": True, "destroyed": destroyed})


async def instance_filters(call: Call) -> Response:
    return ok({"filters": call.world.instance_filters(call.user)})


async def show_instance(call: Call) -> Response:
    inst_id = path_int(call, what="instance id")
    # A destroyed instance is gone here at once; only the list keeps it while it unloads.
    return ok({"instances": call.world.instance_row(inst_id, call.user, unloading=False)})


async def manage_instance(call: Call) -> Response:
    inst_id = path_int(call, what="instance id")
    body = await json_body(call.request)
    return ok(call.world.manage_instance(inst_id, body, call.user))


async def destroy_instance(call: Call) -> Response:
    inst_id = path_int(call, what="instance id")
    if not call.world.destroy_instance(inst_id, call.user):
        raise vast_error(404, "not_found", "Instance not found")
    return ok({"success": True})


async def reboot_instance(call: Call) -> Response:
    return ok(call.world.reboot_instance(path_int(call, what="instance id"), call.user))


async def recycle_instance(call: Call) -> Response:
    return ok(call.world.recycle_instance(path_int(call, what="instance id"), call.user))


async def change_bid(call: Call) -> Response:
    body = await json_body(call.request)
    inst_id = path_int(call, what="instance id")
    return ok(call.world.change_bid(inst_id, body.get("price"), call.user))


async def answer_price_increase(call: Call) -> Response:
    """UNCONFIRMED route (vast_sim/market_events.py): accept or reject a price increase."""
    body = await json_body(call.request)
    inst_id = path_int(call, what="instance id")
    return ok(call.world.answer_price_increase(inst_id, body, call.user))


async def request_logs(call: Call) -> Response:
    body = await json_body(call.request)
    token = call.world.request_logs(path_int(call, what="instance id"), body, call.user)
    return ok(
        {
            "success": True,
            "result_url": result_url(call, token),
            "msg": "Logs are being gathered; fetch result_url in a few seconds.",
        }
    )


async def execute(call: Call) -> Response:
    body = await json_body(call.request)
    token = call.world.execute(path_int(call, what="instance id"), body.get("command"), call.user)
    return ok(
        {
            "success": True,
            "writeable_path": "/workspace",
            "result_url": result_url(call, token),
            "msg": "Command is executing, wait a few seconds and then view the result_url",
        }
    )
