"""Handlers of the Vast REST routes (vast-api.md §13 minimal route table and what the CLI uses).

Paths are written in canonical form (see paths.py): /api/v0 prefix, trailing slash. Each handler
takes a `Call` and returns a Starlette response; world operations raise `VastError` for the
API's error answers.
"""

from __future__ import annotations

import json
import secrets

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from vast_sim.app import Call, Handler, Sim, VastRoute, json_any, json_body, path_int
from vast_sim.catalog import CATALOG
from vast_sim.errors import vast_error


def ok(body: object, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


def _result_url(call: Call, token: str) -> str:
    return str(call.request.base_url).rstrip("/") + f"/_sim/results/{token}"


# --- offers ------------------------------------------------------------------------------------


async def search_offers(call: Call) -> Response:
    query = await json_any(call.request)
    return ok({"offers": call.world.search_offers(query)})


async def search_offers_legacy(call: Call) -> Response:
    raw = call.request.query_params.get("q") or "{}"
    try:
        query = json.loads(raw)
    except json.JSONDecodeError:
        raise vast_error(400, "invalid_request", "q must be a JSON query object") from None
    return ok({"offers": call.world.search_offers(query)})


async def search_asks(call: Call) -> Response:
    body = await json_body(call.request)
    query = body.get("q", {})
    return ok({"offers": call.world.search_offers(query)})


async def create_instance(call: Call) -> Response:
    offer_id = path_int(call, what="ask id")
    body = await json_body(call.request)
    fault = call.fault
    if fault is not None and fault.kind == "offer_vanish":
        call.world.vanish_offer(offer_id)
    result = call.world.create_instance(offer_id, body)
    if fault is not None and fault.kind == "create_error_allocates":
        return ok(
            {
                "success": False,
                "error": "server_error",
                "msg": "An internal error occurred while creating the instance.",
            },
            status=fault.status or 500,
        )
    return ok(result)


async def launch_instance(call: Call) -> Response:
    """`PUT /launch_instance/`: search with `q` and rent the first (cheapest by default) offer."""
    body = await json_body(call.request)
    query = body.pop("q", None)
    if not isinstance(query, dict):
        raise vast_error(400, "invalid_args", "q must be a search query object")
    if not query.get("order"):
        query = {**query, "order": [["dph_total", "asc"]]}
    offers = call.world.search_offers({**query, "limit": 1})
    if not offers:
        raise vast_error(404, "no_offers", "No offers match your query.")
    return ok(call.world.create_instance(int(offers[0]["id"]), body))


# --- instances ---------------------------------------------------------------------------------


async def list_instances_v1(call: Call) -> Response:
    return ok(call.world.list_instances(call.request.query_params))


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
    return ok(call.world.bulk_manage(ids, str(state)))


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
        if call.world.destroy_instance(inst_id):
            destroyed.append(inst_id)
    return ok({"success": True, "destroyed": destroyed})


async def instance_filters(call: Call) -> Response:
    return ok({"filters": call.world.instance_filters()})


async def show_instance(call: Call) -> Response:
    inst_id = path_int(call, what="instance id")
    return ok({"instances": call.world.instance_row(inst_id)})


async def manage_instance(call: Call) -> Response:
    inst_id = path_int(call, what="instance id")
    body = await json_body(call.request)
    return ok(call.world.manage_instance(inst_id, body))


async def destroy_instance(call: Call) -> Response:
    inst_id = path_int(call, what="instance id")
    if not call.world.destroy_instance(inst_id):
        raise vast_error(404, "not_found", "Instance not found")
    return ok({"success": True})


async def reboot_instance(call: Call) -> Response:
    return ok(call.world.reboot_instance(path_int(call, what="instance id")))


async def recycle_instance(call: Call) -> Response:
    return ok(call.world.recycle_instance(path_int(call, what="instance id")))


async def change_bid(call: Call) -> Response:
    body = await json_body(call.request)
    return ok(call.world.change_bid(path_int(call, what="instance id"), body.get("price")))


async def request_logs(call: Call) -> Response:
    body = await json_body(call.request)
    token = call.world.request_logs(path_int(call, what="instance id"), body)
    return ok(
        {
            "success": True,
            "result_url": _result_url(call, token),
            "msg": "Logs are being gathered; fetch result_url in a few seconds.",
        }
    )


async def execute(call: Call) -> Response:
    body = await json_body(call.request)
    token = call.world.execute(path_int(call, what="instance id"), body.get("command"))
    return ok(
        {
            "success": True,
            "writeable_path": "/workspace",
            "result_url": _result_url(call, token),
            "msg": "Command is executing, wait a few seconds and then view the result_url",
        }
    )


# --- ssh keys ----------------------------------------------------------------------------------


async def attach_ssh(call: Call) -> Response:
    body = await json_body(call.request)
    return ok(call.world.attach_ssh(path_int(call, what="instance id"), body.get("ssh_key")))


async def instance_ssh_keys(call: Call) -> Response:
    return ok(call.world.instance_ssh_keys(path_int(call, what="instance id")))


async def detach_ssh(call: Call) -> Response:
    inst_id = path_int(call, what="instance id")
    key_id = path_int(call, "key_id", what="ssh key id")
    return ok(call.world.detach_ssh(inst_id, key_id))


async def list_account_keys(call: Call) -> Response:
    return ok(call.world.account_keys())


async def create_account_key(call: Call) -> Response:
    body = await json_body(call.request)
    return ok(call.world.create_account_key(body.get("ssh_key")))


async def update_account_key(call: Call) -> Response:
    body = await json_body(call.request)
    return ok(call.world.update_account_key(path_int(call, what="ssh key id"), body.get("ssh_key")))


async def delete_account_key(call: Call) -> Response:
    return ok(call.world.delete_account_key(path_int(call, what="ssh key id")))


# --- volumes -----------------------------------------------------------------------------------


async def search_volumes(call: Call) -> Response:
    query = await json_any(call.request)
    return ok({"offers": call.world.search_volume_offers(query)})


async def search_network_volumes(call: Call) -> Response:
    return ok({"offers": []})


async def create_volume(call: Call) -> Response:
    return ok(call.world.create_volume(await json_body(call.request)))


async def list_volumes(call: Call) -> Response:
    volume_type = call.request.query_params.get("type")
    return ok({"volumes": call.world.list_volumes(volume_type)})


async def delete_volume(call: Call) -> Response:
    raw = call.request.query_params.get("id")
    if raw is None:
        raw = (await json_body(call.request)).get("id")
    return ok(call.world.delete_volume(raw))


# --- endpoints and workergroups ------------------------------------------------------------------


async def create_endpoint(call: Call) -> Response:
    return ok(call.world.create_endpoint(await json_body(call.request)))


async def list_endpoints(call: Call) -> Response:
    return ok({"success": True, "results": call.world.list_endpoints()})


async def show_endpoint(call: Call) -> Response:
    ep_id = path_int(call, what="endpoint id")
    row = call.world.endpoint_row(ep_id)
    if row is None:
        raise vast_error(404, "not_found", f"Endpoint {ep_id} not found.")
    return ok({"success": True, "result": row})


async def update_endpoint(call: Call) -> Response:
    body = await json_body(call.request)
    return ok(call.world.update_endpoint(path_int(call, what="endpoint id"), body))


async def delete_endpoint(call: Call) -> Response:
    return ok(call.world.delete_endpoint(path_int(call, what="endpoint id")))


async def create_workergroup(call: Call) -> Response:
    return ok(call.world.create_workergroup(await json_body(call.request)))


async def list_workergroups(call: Call) -> Response:
    return ok({"success": True, "results": call.world.list_workergroups()})


async def show_workergroup(call: Call) -> Response:
    wg_id = path_int(call, what="workergroup id")
    for row in call.world.list_workergroups():
        if row["id"] == wg_id:
            return ok({"success": True, "result": row})
    raise vast_error(
        404, "no_such_workergroup", "No workergroup by that id is available.", id=wg_id
    )


async def update_workergroup(call: Call) -> Response:
    body = await json_body(call.request)
    return ok(call.world.update_workergroup(path_int(call, what="workergroup id"), body))


async def delete_workergroup(call: Call) -> Response:
    return ok(call.world.delete_workergroup(path_int(call, what="workergroup id")))


async def route_request(call: Call) -> Response:
    """run.vast.ai /route/: authenticated by the endpoint's key; no workers are ever ready."""
    body = await json_body(call.request)
    ep = call.world.endpoint_by_name(str(body.get("endpoint") or ""))
    header = call.request.headers.get("authorization", "")
    key = body.get("api_key") or call.request.query_params.get("api_key")
    key = key or header.partition(" ")[2].strip()
    if ep is None:
        return ok({"error": "Invalid endpoint or missing required parameters"}, status=400)
    if key not in (ep.api_key, call.sim.config.api_key):
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
    if call.world.endpoint_row(ep_id) is None:
        return ok({"error_msg": f"Endpoint {ep_id} not found"})
    return ok([])


# --- templates, secrets, user, misc --------------------------------------------------------------


async def search_templates(call: Call) -> Response:
    raw = call.request.query_params.get("select_filters") or "{}"
    try:
        filters = json.loads(raw)
    except json.JSONDecodeError:
        raise vast_error(400, "invalid_request", "select_filters must be valid JSON") from None
    rows = call.world.search_templates(filters)
    return ok({"success": True, "templates_found": len(rows), "templates": rows})


async def create_template(call: Call) -> Response:
    return ok(call.world.create_template(await json_body(call.request)))


async def edit_template(call: Call) -> Response:
    return ok(call.world.edit_template(await json_body(call.request)))


async def delete_template(call: Call) -> Response:
    return ok(call.world.delete_template(await json_body(call.request)))


async def list_secrets(call: Call) -> Response:
    return ok(call.world.list_secrets())


async def create_secret(call: Call) -> Response:
    return ok(call.world.set_secret(await json_body(call.request), create=True))


async def update_secret(call: Call) -> Response:
    return ok(call.world.set_secret(await json_body(call.request), create=False))


async def delete_secret(call: Call) -> Response:
    return ok(call.world.delete_secret(await json_body(call.request)))


async def current_user(call: Call) -> Response:
    return ok(call.world.user())


async def gpu_names(call: Call) -> Response:
    return ok({"gpu_names": call.world.gpu_names()})


async def gpu_types(call: Call) -> Response:
    return ok(
        {
            "gpu_types": [
                {"name": g.name, "gpu_ram": g.gpu_ram, "compute_cap": g.compute_cap}
                for g in CATALOG
            ]
        }
    )


def routes(sim: Sim) -> list[BaseRoute]:
    def r(path: str, methods: str, handler: Handler, auth: str = "required") -> VastRoute:
        return VastRoute(path, handler, methods.split(","), sim, auth)

    v0 = "/api/v0"
    out: list[BaseRoute] = [
        r(f"{v0}/bundles/", "POST", search_offers, "optional"),
        r(f"{v0}/bundles/", "GET", search_offers_legacy, "optional"),
        r(f"{v0}/search/asks/", "PUT", search_asks, "optional"),
        r(f"{v0}/asks/{{id}}/", "PUT", create_instance),
        r(f"{v0}/launch_instance/", "PUT", launch_instance),
        r("/api/v1/instances/", "GET", list_instances_v1),
        r(f"{v0}/instances/", "GET", list_instances_v0),
        r(f"{v0}/instances/", "PUT", bulk_manage),
        r(f"{v0}/instances/", "DELETE", bulk_destroy),
        r(f"{v0}/instances/filters/", "GET", instance_filters),
        r(f"{v0}/instances/reboot/{{id}}/", "PUT", reboot_instance, "instance"),
        r(f"{v0}/instances/recycle/{{id}}/", "PUT", recycle_instance, "instance"),
        r(f"{v0}/instances/bid_price/{{id}}/", "PUT", change_bid),
        r(f"{v0}/instances/request_logs/{{id}}/", "PUT", request_logs, "instance"),
        r(f"{v0}/instances/command/{{id}}/", "PUT", execute),
        r(f"{v0}/instances/{{id}}/ssh/", "POST", attach_ssh),
        r(f"{v0}/instances/{{id}}/ssh/", "GET", instance_ssh_keys),
        r(f"{v0}/instances/{{id}}/ssh/{{key_id}}/", "DELETE", detach_ssh),
        r(f"{v0}/instances/{{id}}/", "GET", show_instance, "instance"),
        r(f"{v0}/instances/{{id}}/", "PUT", manage_instance, "instance"),
        r(f"{v0}/instances/{{id}}/", "DELETE", destroy_instance, "instance"),
        r(f"{v0}/ssh/", "GET", list_account_keys),
        r(f"{v0}/ssh/", "POST", create_account_key),
        r(f"{v0}/ssh/{{id}}/", "PUT", update_account_key),
        r(f"{v0}/ssh/{{id}}/", "DELETE", delete_account_key),
        r(f"{v0}/volumes/search/", "POST", search_volumes, "optional"),
        r(f"{v0}/network_volumes/search/", "POST", search_network_volumes, "optional"),
        r(f"{v0}/volumes/", "PUT", create_volume),
        r(f"{v0}/volumes/", "GET", list_volumes),
        r(f"{v0}/volumes/", "DELETE", delete_volume),
        r(f"{v0}/endptjobs/", "POST", create_endpoint),
        r(f"{v0}/endptjobs/", "GET", list_endpoints),
        r(f"{v0}/endptjobs/{{id}}/", "GET", show_endpoint),
        r(f"{v0}/endptjobs/{{id}}/", "PUT", update_endpoint),
        r(f"{v0}/endptjobs/{{id}}/", "DELETE", delete_endpoint),
    ]
    for group in ("autojobs", "workergroups"):
        out += [
            r(f"{v0}/{group}/", "POST", create_workergroup),
            r(f"{v0}/{group}/", "GET", list_workergroups),
            r(f"{v0}/{group}/{{id}}/", "GET", show_workergroup),
            r(f"{v0}/{group}/{{id}}/", "PUT", update_workergroup),
            r(f"{v0}/{group}/{{id}}/", "DELETE", delete_workergroup),
        ]
    out += [
        r(f"{v0}/template/", "GET", search_templates),
        r(f"{v0}/template/", "POST", create_template),
        r(f"{v0}/template/", "PUT", edit_template),
        r(f"{v0}/template/", "DELETE", delete_template),
        r(f"{v0}/secrets/", "GET", list_secrets),
        r(f"{v0}/secrets/", "POST", create_secret),
        r(f"{v0}/secrets/", "PUT", update_secret),
        r(f"{v0}/secrets/", "DELETE", delete_secret),
        r(f"{v0}/users/current/", "GET", current_user),
        r(f"{v0}/gpu_names/unique/", "GET", gpu_names, "none"),
        r(f"{v0}/gpu_types/", "GET", gpu_types, "none"),
        r("/route/", "POST", route_request, "none"),
        r("/get_endpoint_workers/", "POST", endpoint_workers),
    ]
    return out
