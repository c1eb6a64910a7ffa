"""Account routes: templates, environment secrets and the current user."""

from __future__ import annotations

import json

from starlette.responses import Response

from vast_sim.app import Call, json_body
from vast_sim.errors import vast_error
from vast_sim.vast_api.common import ok


async def search_templates(call: Call) -> Response:
    raw = call.request.query_params.get("select_filters") or "{}"
    try:
        filters = json.loads(raw)
    except json.JSONDecodeError:
        raise vast_error(400, "invalid_request", "select_filters must be valid JSON") from None
    rows = call.world.search_templates(filters, call.user)
    return ok({"success": True, "templates_found": len(rows), "templates": rows})


async def create_template(call: Call) -> Response:
    return ok(call.world.create_template(await json_body(call.request), call.user))


async def edit_template(call: Call) -> Response:
    return ok(call.world.edit_template(await json_body(call.request), call.user))


async def delete_template(call: Call) -> Response:
    return ok(call.world.delete_template(await json_body(call.request), call.user))


async def list_secrets(call: Call) -> Response:
    return ok(call.world.list_secrets(call.user))


async def create_secret(call: Call) -> Response:
    return ok(call.world.set_secret(await json_body(call.request), create=True, owner=call.user))


async def update_secret(call: Call) -> Response:
    body = await json_body(call.request)
    return ok(call.world.set_secret(body, create=False, owner=call.user))


async def delete_secret(call: Call) -> Response:
    return ok(call.world.delete_secret(await json_body(call.request), call.user))


async def current_user(call: Call) -> Response:
    return ok(call.world.user(call.user))
