"""Admin routes that move the market under the renter (vast_sim/market_events.py):

POST /_sim/machines/{id}/outbid    {"price": x}  a competing bid of x $/h per GPU: every
                                   interruptible on the machine bidding less is stopped while it
                                   should run, and the machine's min_bid rises to x per GPU;
                                   {"price": null}: the competitor leaves (outbid instances
                                   whose bid wins again run again)
POST /_sim/machines/{id}/end_date  {"end_date": epoch} or {"in_seconds": s}: the host's listing
                                   (and every contract on the machine) ends then; answers the
                                   previous end date
POST /_sim/machines/{id}/price     {"dph_per_gpu": x, "notice_seconds": s}: the host's new GPU
                                   price; on-demand contracts it makes dearer get a pending
                                   price increase effective in s seconds (default 3600)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vast_sim.models import JSONDict

if TYPE_CHECKING:
    from vast_sim.app import Sim


async def outbid(sim: Sim, request: Request) -> Response:
    body = await _json(request)
    if "price" not in body:
        raise ValueError("price is required ($/h per GPU, or null)")
    price = body["price"]
    result = sim.world.outbid_machine(
        int(request.path_params["id"]), None if price is None else float(price)
    )
    return JSONResponse({"ok": True, **result})


async def end_date(sim: Sim, request: Request) -> Response:
    body = await _json(request)
    if "end_date" in body:
        when = float(body["end_date"])
    elif "in_seconds" in body:
        when = sim.world.now() + float(body["in_seconds"])
    else:
        raise ValueError("end_date (epoch seconds) or in_seconds is required")
    result = sim.world.set_end_date(int(request.path_params["id"]), when)
    return JSONResponse({"ok": True, **result})


async def price(sim: Sim, request: Request) -> Response:
    body = await _json(request)
    if "dph_per_gpu" not in body:
        raise ValueError("dph_per_gpu is required")
    result = sim.world.raise_price(
        int(request.path_params["id"]),
        float(body["dph_per_gpu"]),
        float(body.get("notice_seconds", 3600)),
    )
    return JSONResponse({"ok": True, **result})


async def _json(request: Request) -> JSONDict:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data
