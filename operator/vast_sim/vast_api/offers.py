"""Offer search and renting an offer (`PUT /asks/{id}/`, `PUT /launch_instance/`), plus the
GPU names and types on the market."""

from __future__ import annotations

import json

from starlette.responses import Response

from vast_sim.app import Call, json_any, json_body, path_int
from vast_sim.catalog import CATALOG
from vast_sim.errors import vast_error
from vast_sim.vast_api.common import ok


def _strict_fields(call: Call) -> bool:
    return call.sim.config.enforces("unknown_search_fields")


async def search_offers(call: Call) -> Response:
    query = await json_any(call.request)
    return ok({"offers": call.world.search_offers(query, _strict_fields(call))})


async def search_offers_legacy(call: Call) -> Response:
    raw = call.request.query_params.get("q") or "{}"
    try:
        query = json.loads(raw)
    except json.JSONDecodeError:
        raise vast_error(400, "invalid_request", "q must be a JSON query object") from None
    return ok({"offers": call.world.search_offers(query, _strict_fields(call))})


async def search_asks(call: Call) -> Response:
    body = await json_body(call.request)
    query = body.get("q", {})
    return ok({"offers": call.world.search_offers(query, _strict_fields(call))})


async def create_instance(call: Call) -> Response:
    offer_id = path_int(call, what="ask id")
    body = await json_body(call.request)
    fault = call.fault
    if fault is not None and fault.kind == "offer_vanish":
        call.world.vanish_offer(offer_id)
    lag = fault.seconds if fault is not None and fault.kind == "listing_lag" else None
    result = call.world.create_instance(offer_id, body, call.user, listing_lag=lag)
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
    offers = call.world.search_offers({**query, "limit": 1}, _strict_fields(call))
    if not offers:
        raise vast_error(404, "no_offers", "No offers match your query.")
    return ok(call.world.create_instance(int(offers[0]["id"]), body, call.user))


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
