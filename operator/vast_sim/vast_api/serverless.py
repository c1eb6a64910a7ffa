"""Serverless routes: endpoints, workergroups (also as autojobs) and run.vast.ai's /route/."""

from __future__ import annotations

import secrets

from starlette.responses import Response

from vast_sim.app import Call, json_body, path_int
from vast_sim.errors import vast_error
from vast_sim.vast_api.common import ok


def _none_found(call: Call, what: str) -> None:
    """The documented answer for an account without any (oas:show_endpoints 400)."""
    if call.sim.config.enforces("empty_lists"):
        raise vast_error(400, "invalid_args", f"No {what} for user found")


async def create_endpoint(call: Call) -> Response:
    return ok(call.world.create_endpoint(await json_body(call.request), call.user))


async def list_endpoints(call: Call) -> Response:
    rows = call.world.list_endpoints(call.user)
    if not rows:
        _none_found(call, "endpoints")
    return ok({"success": True, "results": rows})


async def show_endpoint(call: Call) -> Response:
    ep_id = path_int(call, what="endpoint id")
    row = call.world.endpoint_row(ep_id, call.user)
    if row is None:
        raise vast_error(404, "not_found", f"Endpoint {ep_id} not found.")
    return ok({"success": True, "result": row})


async def update_endpoint(call: Call) -> Response:
    body = await json_body(call.request)
    return ok(call.world.update_endpoint(path_int(call, what="endpoint id"), body, call.user))


async def delete_endpoint(call: Call) -> Response:
    return ok(call.world.delete_endpoint(path_int(call, what="endpoint id"), call.user))


async def create_workergroup(call: Call) -> Response:
    return ok(call.world.create_workergroup(await json_body(call.request), call.user))


async def list_workergroups(call: Call) -> Response:
    rows = call.world.list_workergroups(call.user)
    if not rows:
        _none_found(call, "workergroups")
    return ok({"success": True, "results": rows})


async def show_workergroup(call: Call) -> Response:
    wg_id = path_int(call, what="workergroup id")
    for row in call.world.list_workergroups(call.user):
        if row["id"] == wg_id:
            return ok({"success": True, "result": row})
    raise vast_error(
        404, "no_such_workergroup", "No workergroup by that id is available.", id=wg_id
    )


async def update_workergroup(call: Call) -> Response:
    body = await json_body(call.request)
    wg_id = path_int(call, what="workergroup id")
    return ok(call.world.update_workergroup(wg_id, body, call.user))


async def delete_workergroup(call: Call) -> Response:
    return ok(call.world.delete_workergroup(path_int(call, what="workergroup id"), call.user))


async def route_request(call: Call) -> Response:
    """run.vast.ai /route/: authenticated by the endpoint's key; no workers are ever ready."""
    body = await json_body(call.request)
    named = call.world.endpoints_by_name(str(body.get("endpoint") or ""))
    header = call.request.headers.get("authorization", "")
    key = body.get("api_key") or call.request.query_params.get("api_key")
    key = key or header.partition(" ")[2].strip()
    if not named:
        return ok({"error": "Invalid endpoint or missing required parameters"}, status=400)
    account = call.world.account_for_key(str(key)) if key else None
    ep = next(
        (
            e
            for e in named
            if e.api_key == key or (account is not None and e.owner == account.user_id)
        ),
        None,
    )
    if ep is None:
        return ok({"error": "Authentication failed"}, status=401)
    return ok(
        {
            "endpoint": ep.endpoint_name,
            "status": "No workers ready: the simulator does not run serverless workers",
            "request_idx": int(body.get("request_idx") or 0),
            "__request_id": secrets.token_hex(16),
        }
    )


async def endpoint_workers(call: Call) -> Response:
    body = await json_body(call.request)
    try:
        ep_id = int(body.get("id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise vast_error(400, "invalid_args", "id is required") from None
    if call.world.endpoint_row(ep_id, call.user) is None:
        return ok({"error_msg": f"Endpoint {ep_id} not found"})
    return ok([])
