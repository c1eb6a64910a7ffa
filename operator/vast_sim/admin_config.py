"""`GET|POST /_sim/config`: read and change the run-time settings, strictness included.

Keys of `POST /_sim/config` (all optional):

    boot_seconds       create -> running time
    strict             false relaxes every strict feature (true restores them)
    relax              ["rate_limits", ...]: switch these features off
    features           {"rate_limits": true, ...}: switch features on or off explicitly
    enforce_rate_limits  bool, the same as features.rate_limits
    rate_limits        {"METHOD /route/": seconds}: override per-route intervals
    unload_seconds     how long a destroyed instance stays listed (unloading)
    search_quota       offer searches per key per UTC day
    redirect_slashes   bool, 301/308 to the documented trailing slash
    retry_after        bool, a Retry-After header on 429 / 503 answers
    credit             the primary account's credit ($); other accounts: /_sim/accounts
    timeout_seconds    how long a "timeout" fault holds the request
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vast_sim.config import FEATURES, check_features
from vast_sim.models import JSONDict
from vast_sim.paths import canonical_route

if TYPE_CHECKING:
    from vast_sim.app import Sim

CONFIG_KEYS = frozenset(
    {
        "boot_seconds",
        "strict",
        "relax",
        "features",
        "enforce_rate_limits",
        "rate_limits",
        "unload_seconds",
        "search_quota",
        "redirect_slashes",
        "retry_after",
        "credit",
        "timeout_seconds",
    }
)


def bad(msg: str, status: int = 400) -> Response:
    return JSONResponse({"ok": False, "error": msg}, status_code=status)


async def admin_body(request: Request) -> JSONDict:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def config_view(sim: Sim) -> JSONDict:
    c = sim.config
    return {
        "boot_seconds": c.boot_seconds,
        "strict": c.strict,
        "features": c.feature_states(),
        "feature_help": dict(FEATURES),
        "enforce_rate_limits": c.enforces("rate_limits"),
        "rate_limits": sim.limiter.intervals(),
        "unload_seconds": c.unload_seconds,
        "search_quota": c.search_quota,
        "redirect_slashes": c.redirect_slashes,
        "retry_after": c.retry_after,
        "credit": sim.world.credit_of(),
        "accounts": len(sim.world.account_list()),
        "timeout_seconds": c.timeout_seconds,
        "seed": sim.world.seed,
        "num_machines": sim.world.num_machines,
        "state_file": c.state_file,
    }


async def get_config(sim: Sim, request: Request) -> Response:
    return JSONResponse(config_view(sim))


def _set_rate_limits(sim: Sim, limits: Any) -> None:
    if not isinstance(limits, dict):
        raise ValueError("rate_limits must map 'METHOD /route/' to seconds")
    for route, seconds in limits.items():
        sim.limiter.overrides[canonical_route(route)] = float(seconds)
    sim.limiter.reset()


def _set_strictness(sim: Sim, body: JSONDict) -> None:
    c = sim.config
    if "strict" in body:
        c.strict = bool(body["strict"])
        c.features = {}
        c.relax = set()
    if "relax" in body:
        names = [str(n) for n in body["relax"]]
        check_features(names)
        for name in names:
            c.set_feature(name, False)
    features = body.get("features")
    if features is not None:
        if not isinstance(features, dict):
            raise ValueError("features must map a feature name to true or false")
        for name, enabled in features.items():
            c.set_feature(str(name), bool(enabled))
    if "enforce_rate_limits" in body:
        c.set_feature("rate_limits", bool(body["enforce_rate_limits"]))
    sim.limiter.reset()


async def set_config(sim: Sim, request: Request) -> Response:
    body = await admin_body(request)
    unknown = set(body) - CONFIG_KEYS
    if unknown:
        return bad(f"unknown config keys: {sorted(unknown)}")
    c = sim.config
    _set_strictness(sim, body)
    if "boot_seconds" in body:
        c.boot_seconds = max(0.0, float(body["boot_seconds"]))
    if "rate_limits" in body:
        _set_rate_limits(sim, body["rate_limits"])
    if "unload_seconds" in body:
        c.unload_seconds = max(0.0, float(body["unload_seconds"]))
    if "search_quota" in body:
        c.search_quota = max(0, int(body["search_quota"]))
    for flag in ("redirect_slashes", "retry_after"):
        if flag in body:
            setattr(c, flag, bool(body[flag]))
    if "credit" in body:
        sim.world.set_credit(float(body["credit"]))
    if "timeout_seconds" in body:
        c.timeout_seconds = float(body["timeout_seconds"])
    return JSONResponse(config_view(sim))
