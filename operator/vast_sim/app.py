"""The Starlette application: routing, auth, counting, rate limits and fault injection.

`create_app(config)` builds the app around a `Sim` (world + counters + faults + limiter +
search quota). Every Vast route goes through `VastRoute`, which in order: counts the request,
applies a queued fault, authenticates (auth.py), enforces the rate limits and the search quota
(gate.py, strict features) and calls the handler. Admin routes live under /_sim/ (see admin.py)
and are neither counted nor authenticated. The middleware (middleware.py) redirects slashes
(opt-in) and canonicalises paths before routing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from vast_sim.auth import AUTH_MODES, check_auth
from vast_sim.config import SimConfig
from vast_sim.errors import VastError, vast_error
from vast_sim.faults import HANDLER_KINDS, Fault, FaultQueue
from vast_sim.gate import admit, fault_response
from vast_sim.metering import Counters, RateLimiter, SearchQuota
from vast_sim.middleware import DropConnection, SimMiddleware
from vast_sim.models import JSONDict
from vast_sim.paths import canonical_route
from vast_sim.persistence import StatePersister, load_state
from vast_sim.world import World

log = logging.getLogger("vast_sim")

UNMATCHED = "UNMATCHED"

__all__ = ["Call", "DropConnection", "Handler", "Sim", "VastRoute", "create_app"]


class Sim:
    """Everything one simulator instance owns."""

    def __init__(self, config: SimConfig, world: World | None = None) -> None:
        self.config = config
        self.world = world or World(config)
        self.counters = Counters()
        self.faults = FaultQueue()
        # Rate limits and the quota run on the simulated clock (POST /_sim/clock moves them).
        self.limiter = RateLimiter(clock=self.world.now)
        self.limiter.overrides.update(
            {canonical_route(route): seconds for route, seconds in config.rate_limits.items()}
        )
        self.quota = SearchQuota(clock=self.world.now)
        self.persister: StatePersister | None = None
        if config.state_file:
            if load_state(self.world, config.state_file):
                log.warning("vast-sim: loaded state from %s", config.state_file)
            self.persister = StatePersister(self.world, config.state_file, config.persist_interval)

    def reset(self, seed: int | None = None, num_machines: int | None = None) -> None:
        self.world.reset(seed, num_machines)
        self.counters.reset()
        self.faults.clear()
        self.limiter.reset()
        self.quota.reset()


@dataclass
class Call:
    """What a Vast handler gets besides the request."""

    sim: Sim
    request: Request
    route: str
    fault: Fault | None
    identity: str
    owner: int | None = None  # the account of the key (None: not logged in)

    @property
    def world(self) -> World:
        return self.sim.world

    @property
    def ip(self) -> str:
        return f"ip:{self.request.client.host if self.request.client else 'unknown'}"

    @property
    def user(self) -> int:
        """The caller's account; 403 when the request carries no key."""
        if self.owner is None:
            raise vast_error(403, "auth_error", "This action requires login.")
        return self.owner


Handler = Callable[[Call], Awaitable[Response]]


class VastRoute(Route):
    """A Vast API route: counted, fault-injected, authenticated, rate-limited."""

    def __init__(
        self,
        path: str,
        handler: Handler,
        methods: Sequence[str],
        sim: Sim,
        auth: str = "required",
    ) -> None:
        assert auth in AUTH_MODES
        self.sim = sim
        self.handler = handler
        self.auth = auth
        self.template = path

        async def endpoint(request: Request) -> Response:
            return await self.dispatch(request)

        super().__init__(path, endpoint, methods=list(methods))

    async def dispatch(self, request: Request) -> Response:
        route = f"{request.method} {self.template}"
        sim = self.sim
        sim.counters.count(route)
        call = Call(sim, request, route, None, "")
        call.identity = call.ip
        fault = sim.faults.take(route, f"{request.method} {request.url.path}")
        if fault is not None:
            if fault.kind in HANDLER_KINDS:
                call.fault = fault
            elif fault.kind == "slow":
                # Like a real server, finish the work even if the client hangs up meanwhile.
                await request.body()
                seconds = fault.seconds if fault.seconds is not None else 2.0
                work = asyncio.ensure_future(self._after(seconds, call))
                return await asyncio.shield(work)
            elif fault.kind == "timeout":
                seconds = fault.seconds if fault.seconds is not None else sim.config.timeout_seconds
                await asyncio.sleep(seconds)
                raise DropConnection()
            elif fault.kind == "drop":
                raise DropConnection()
            else:
                return fault_response(fault, call)
        return await self._handle(call)

    async def _after(self, seconds: float, call: Call) -> Response:
        await asyncio.sleep(seconds)
        return await self._handle(call)

    async def _handle(self, call: Call) -> Response:
        try:
            check_auth(call, self.auth)
            refused = admit(call)
            if refused is not None:
                return refused
            return await self.handler(call)
        except VastError as exc:
            return JSONResponse(exc.body, status_code=exc.status)


async def unmatched(request: Request) -> Response:
    sim: Sim = request.app.state.sim
    if not request.url.path.startswith("/_sim"):
        sim.counters.count(UNMATCHED)
    return JSONResponse(
        {
            "success": False,
            "error": "not_found",
            "msg": f"{request.method} {request.url.path} not found",
        },
        status_code=404,
    )


async def json_body(request: Request) -> JSONDict:
    """The JSON object body ({} when empty); 400 invalid_request when it is not JSON."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise vast_error(400, "invalid_request", "Request body is not valid JSON.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise vast_error(400, "invalid_request", "Request body must be a JSON object.")
    return data


async def json_any(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise vast_error(400, "invalid_request", "Request body is not valid JSON.") from None


def path_int(call: Call, name: str = "id", what: str = "id") -> int:
    raw = call.request.path_params.get(name, "")
    try:
        return int(str(raw))
    except ValueError:
        raise vast_error(400, "invalid_args", f"Invalid {what}: {raw!r}.") from None


def create_app(config: SimConfig | None = None, world: World | None = None) -> Starlette:
    """The simulator as an ASGI app. `app.state.sim` is the `Sim` it serves."""
    from vast_sim import admin, vast_api

    sim = Sim(config or SimConfig(), world)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task: asyncio.Task[None] | None = None
        if sim.persister is not None:
            task = asyncio.create_task(sim.persister.run())
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    routes: list[BaseRoute] = [
        *vast_api.routes(sim),
        *admin.routes(sim),
        Route("/{path:path}", unmatched, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]
    middleware = [Middleware(SimMiddleware)]
    if sim.config.request_log:
        from vast_sim.request_log import RequestLog, RequestLogMiddleware

        middleware.insert(
            0, Middleware(RequestLogMiddleware, log=RequestLog(sim.config.request_log))
        )
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.sim = sim
    return app
