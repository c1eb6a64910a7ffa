"""Volume routes: volume offer search, create, list and delete."""

from __future__ import annotations

from starlette.responses import Response

from vast_sim.app import Call, json_any, json_body
from vast_sim.vast_api.common import ok


async def search_volumes(call: Call) -> Response:
    query = await json_any(call.request)
    strict = call.sim.config.enforces("unknown_search_fields")
    return ok({"offers": call.world.search_volume_offers(query, strict)})


async def search_network_volumes(call: Call) -> Response:
    return ok({"offers": []})


async def create_volume(call: Call) -> Response:
    return ok(call.world.create_volume(await json_body(call.request), call.user))


async def list_volumes(call: Call) -> Response:
    volume_type = call.request.query_params.get("type")
    return ok({"volumes": call.world.list_volumes(volume_type, call.user)})


async def delete_volume(call: Call) -> Response:
    raw = call.request.query_params.get("id")
    if raw is None:
        raw = (await json_body(call.request)).get("id")
    return ok(call.world.delete_volume(raw, call.user))
