"""Admin routes under /_sim/: inspect and steer the simulator (no Vast auth, not counted).

They answer only loopback clients, or with the --admin-token in the X-Sim-Admin-Token header:
a simulator reachable from other hosts cannot be steered by them (health and results are open).

GET    /_sim/health                      readiness probe
GET    /_sim/state                       dump of the world
POST   /_sim/reset                       fresh market from the seed; clears everything
GET    /_sim/counters                    {"total": N, "routes": {"PUT /api/v0/asks/{id}/": n}}
POST   /_sim/counters/reset
GET    /_sim/config   POST /_sim/config  boot_seconds, strict, relax, features,
                                         enforce_rate_limits, rate_limits, unload_seconds,
                                         search_quota, redirect_slashes, retry_after, credit,
                                         timeout_seconds (admin_config.py)
GET    /_sim/accounts POST /_sim/accounts  list / create accounts ({"api_key", "credit"})
POST   /_sim/accounts/{user_id}          {"credit": ...} sets the balance as of now
GET    /_sim/bill[?user_id=N][&at=T]     the simulator's own bill: every instance's and volume's
                                         charge (segments, amount), totals per account and per
                                         label, the balances (vast_sim/billing.py)
GET    /_sim/faults   POST /_sim/faults  DELETE /_sim/faults
GET    /_sim/instances/{id}              one instance: row, ssh keys, instance api key
POST   /_sim/instances/{id}/status       {"actual_status": ..., "status_msg": ...}
POST   /_sim/instances/{id}/destroy      destroyed behind the client's back
POST   /_sim/instances/{id}/exit         {"code": 0} its running container exits now
POST   /_sim/machines/{id}/never_boot    {"enabled": true}
POST   /_sim/machines/{id}/oci_error     {"enabled": true}
POST   /_sim/machines/{id}/listed        {"enabled": false} takes the machine off the market
POST   /_sim/machines/{id}/outbid        {"price": x|null} a competing bid, $/h per GPU
POST   /_sim/machines/{id}/end_date      {"end_date": epoch} or {"in_seconds": s}: contracts end
POST   /_sim/machines/{id}/price         {"dph_per_gpu": x, "notice_seconds": s}: a host price
                                         increase, pending on on-demand contracts (all three:
                                         admin_market.py, market_events.py)
POST   /_sim/clock                       {"advance": seconds} moves simulated time forward
POST   /_sim/save                        write --state-file now
GET    /_sim/results/{token}             result_url target of logs/execute (plain text)
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from vast_sim import admin_market
from vast_sim.admin_config import get_config, set_config
from vast_sim.app import Sim
from vast_sim.errors import VastError
from vast_sim.models import JSONDict

MACHINE_FLAGS = ("never_boot", "oci_error", "listed")


def _bad(msg: str, status: int = 400) -> Response:
    return JSONResponse({"ok": False, "error": msg}, status_code=status)


async def _body(request: Request) -> JSONDict:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _int(value: Any) -> int:
    return int(str(value))


AdminHandler = Callable[[Sim, Request], Awaitable[Response]]

# --- world and counters ---------------------------------------------------------------------------


async def health(sim: Sim, request: Request) -> Response:
    return JSONResponse({"ok": True})


async def state(sim: Sim, request: Request) -> Response:
    return JSONResponse(sim.world.dump())


async def reset(sim: Sim, request: Request) -> Response:
    body = await _body(request)
    seed = body.get("seed")
    machines = body.get("num_machines")
    sim.reset(None if seed is None else int(seed), None if machines is None else int(machines))
    return JSONResponse(
        {"ok": True, "seed": sim.world.seed, "num_machines": sim.world.num_machines}
    )


async def counters(sim: Sim, request: Request) -> Response:
    return JSONResponse(sim.counters.snapshot())


async def counters_reset(sim: Sim, request: Request) -> Response:
    sim.counters.reset()
    return JSONResponse({"ok": True})


async def clock(sim: Sim, request: Request) -> Response:
    body = await _body(request)
    now = sim.world.advance_clock(float(body.get("advance", 0.0)))
    return JSONResponse({"ok": True, "now": now})


async def save(sim: Sim, request: Request) -> Response:
    if sim.persister is None:
        return _bad("no --state-file configured")
    sim.persister.save_now()
    return JSONResponse({"ok": True, "path": sim.persister.path})


async def result(sim: Sim, request: Request) -> Response:
    text = sim.world.results.get(request.path_params["token"])
    if text is None:
        return PlainTextResponse("Not Found", status_code=404)
    return PlainTextResponse(text)


# --- accounts -------------------------------------------------------------------------------------


async def list_accounts(sim: Sim, request: Request) -> Response:
    return JSONResponse({"accounts": sim.world.account_list()})


async def create_account(sim: Sim, request: Request) -> Response:
    body = await _body(request)
    key, credit = body.get("api_key"), body.get("credit")
    account = sim.world.create_account(
        None if key is None else str(key),
        None if credit is None else float(credit),
        None if body.get("username") is None else str(body["username"]),
    )
    return JSONResponse({"ok": True, "account": account})


async def update_account(sim: Sim, request: Request) -> Response:
    body = await _body(request)
    user_id = _int(request.path_params["user_id"])
    if "credit" in body:
        sim.world.set_credit(float(body["credit"]), user_id)
    (account,) = [a for a in sim.world.account_list() if a["user_id"] == user_id]
    return JSONResponse({"ok": True, "account": account})


async def bill(sim: Sim, request: Request) -> Response:
    user_id, at = request.query_params.get("user_id"), request.query_params.get("at")
    owner = None if user_id is None else _int(user_id)
    return JSONResponse(sim.world.bill(owner, None if at is None else float(at)))


# --- faults ---------------------------------------------------------------------------------------


async def list_faults(sim: Sim, request: Request) -> Response:
    return JSONResponse({"faults": sim.faults.pending()})


async def add_faults(sim: Sim, request: Request) -> Response:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    specs = data if isinstance(data, list) else [data]
    added = []
    for spec in specs:
        if not isinstance(spec, dict) or "kind" not in spec:
            return _bad("a fault needs at least a kind")
        count = spec.get("count", 1)
        seconds, status = spec.get("seconds"), spec.get("status")
        ids, retry_after = spec.get("ids"), spec.get("retry_after")
        if ids is not None and not isinstance(ids, list):
            return _bad("ids must be a list of instance ids")
        fault = sim.faults.add(
            str(spec["kind"]),
            route=spec.get("route"),
            count=int(count),
            seconds=None if seconds is None else float(seconds),
            status=None if status is None else int(status),
            ids=None if ids is None else [_int(i) for i in ids],
            retry_after=None if retry_after is None else float(retry_after),
        )
        added.append(fault.as_dict())
    return JSONResponse({"ok": True, "added": added, "faults": sim.faults.pending()})


async def clear_faults(sim: Sim, request: Request) -> Response:
    sim.faults.clear()
    return JSONResponse({"ok": True})


# --- instances and machines -----------------------------------------------------------------------


async def instance(sim: Sim, request: Request) -> Response:
    inst_id = _int(request.path_params["id"])
    record = sim.world.instance(inst_id)
    if record is None:
        return _bad(f"no instance {inst_id}", 404)
    return JSONResponse(
        {
            "ok": True,
            "instance": sim.world.instance_row(inst_id, owner=None),
            "owner": record.owner,
            "ssh_keys": list(record.ssh_keys),
            "api_key": record.api_key,
            "phase": record.phase,
            "env": dict(record.env),
            "volume_links": list(record.volume_links),
        }
    )


async def set_status(sim: Sim, request: Request) -> Response:
    body = await _body(request)
    if "actual_status" not in body:
        return _bad("actual_status is required")
    actual = body["actual_status"]
    row = sim.world.force_status(
        _int(request.path_params["id"]),
        None if actual is None else str(actual),
        body.get("status_msg"),
    )
    return JSONResponse({"ok": True, "instance": row})


async def exit_now(sim: Sim, request: Request) -> Response:
    body = await _body(request)
    row = sim.world.exit_instance(_int(request.path_params["id"]), int(body.get("code", 0)))
    return JSONResponse({"ok": True, "instance": row})


async def destroy(sim: Sim, request: Request) -> Response:
    inst_id = _int(request.path_params["id"])
    if not sim.world.destroy_instance(inst_id, owner=None):
        return _bad(f"no instance {inst_id}", 404)
    return JSONResponse({"ok": True})


async def machine_flag(sim: Sim, request: Request) -> Response:
    flag = request.path_params["flag"]
    if flag not in MACHINE_FLAGS:
        return _bad(f"unknown machine flag {flag!r}; one of {list(MACHINE_FLAGS)}", 404)
    body = await _body(request)
    enabled = bool(body.get("enabled", flag != "listed"))
    machine = sim.world.set_machine_flag(_int(request.path_params["id"]), flag, enabled)
    return JSONResponse({"ok": True, "machine": machine})


# --- the route table ------------------------------------------------------------------------------


def _admin_allowed(sim: Sim, request: Request) -> bool:
    """Loopback clients, or the admin token when one is configured."""
    token = sim.config.admin_token
    if token:
        return hmac.compare_digest(request.headers.get("x-sim-admin-token", ""), token)
    host = request.client.host if request.client is not None else ""
    return host == "::1" or host.startswith("127.")


def _guarded(sim: Sim, handler: AdminHandler) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint: the handler bound to `sim`, its errors answered as JSON."""

    async def endpoint(request: Request) -> Response:
        if not _admin_allowed(sim, request) and handler not in OPEN_HANDLERS:
            return _bad("the /_sim/ admin routes answer loopback clients or X-Sim-Admin-Token", 403)
        try:
            return await handler(sim, request)
        except VastError as exc:
            return JSONResponse({"ok": False, **exc.body}, status_code=exc.status)
        except (ValueError, TypeError, KeyError, json.JSONDecodeError) as exc:
            return _bad(str(exc))

    return endpoint


ROUTES: tuple[tuple[str, str, AdminHandler], ...] = (
    ("/_sim/health", "GET", health),
    ("/_sim/state", "GET", state),
    ("/_sim/reset", "POST", reset),
    ("/_sim/counters", "GET", counters),
    ("/_sim/counters/reset", "POST", counters_reset),
    ("/_sim/config", "GET", get_config),
    ("/_sim/config", "POST", set_config),
    ("/_sim/accounts", "GET", list_accounts),
    ("/_sim/accounts", "POST", create_account),
    ("/_sim/accounts/{user_id}", "POST", update_account),
    ("/_sim/bill", "GET", bill),
    ("/_sim/faults", "GET", list_faults),
    ("/_sim/faults", "POST", add_faults),
    ("/_sim/faults", "DELETE", clear_faults),
    ("/_sim/instances/{id}", "GET", instance),
    ("/_sim/instances/{id}/status", "POST", set_status),
    ("/_sim/instances/{id}/destroy", "POST", destroy),
    ("/_sim/instances/{id}/exit", "POST", exit_now),
    ("/_sim/machines/{id}/outbid", "POST", admin_market.outbid),
    ("/_sim/machines/{id}/end_date", "POST", admin_market.end_date),
    ("/_sim/machines/{id}/price", "POST", admin_market.price),
    ("/_sim/machines/{id}/{flag}", "POST", machine_flag),
    ("/_sim/clock", "POST", clock),
    ("/_sim/save", "POST", save),
    ("/_sim/results/{token}", "GET", result),
)


# A readiness probe and the result_url of `logs`, which the CLI fetches like Vast's S3 link.
OPEN_HANDLERS: tuple[AdminHandler, ...] = (health, result)


def routes(sim: Sim) -> list[BaseRoute]:
    return [
        Route(path, _guarded(sim, handler), methods=[method]) for path, method, handler in ROUTES
    ]
