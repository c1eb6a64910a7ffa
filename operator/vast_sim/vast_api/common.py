"""What every Vast route handler uses to answer."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from vast_sim.app import Call


def ok(body: object, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


def result_url(call: Call, token: str) -> str:
    return str(call.request.base_url).rstrip("/") + f"/_sim/results/{token}"
