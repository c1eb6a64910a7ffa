"""The Starlette application: routing, auth, counting, rate limits and fault injection.

`create_app(config)` builds the app around a `Sim` (world + counters + faults + limiter).
Every Vast route goes through `VastRoute`, which in order: counts the request, applies a
queued fault, authenticates, enforces the per-route minimum interval (when enabled) and calls
the handler. Admin routes live under /_sim/ (see admin.py) and are neither counted nor
authenticated.
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
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vast_sim.config import SimConfig
from vast_sim.errors import VastError, vast_error
from vast_sim.faults import CREATE_KINDS, Fault, FaultQueue
from vast_sim.metering import Counters, RateLimiter, style_for, too_frequent
from vast_sim.models import JSONDict
from vast_sim.paths import canonical_path, canonical_route
from vast_sim.persistence import StatePersister, load_state
from vast_sim.world import World

log = logging.getLogger("vast_sim")

UNMATCHED = "UNMATCHED"


class DropConnection(Exception):
    """Raised by a handler to close the client connection without any response."""


class Sim:
    """Everything one simulator instance owns."""

    def __init__(self, config: SimConfig, world: World | None = None) -> None:
        self.config = config
        self.world = world or World(config)
        self.counters = Counters()
        self.faults = FaultQueue()
        self.limiter = RateLimiter()
        self.limiter.overrides.update(
            {canonical_route(route): seconds for route, seconds in config.rate_limits.items()}
        )
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


@dataclass
class Call:
    """What a Vast handler gets besides the request."""

    sim: Sim
    request: Request
    route: str
    fault: Fault | None
    identity: str

    @property
    def world(self) -> World:
        return self.sim.world


Handler = Callable[[Call], Awaitable[Response]]

# auth modes: "required" (account key), "instance" (account key or that instance's own key),
# "optional" (no key is fine, a wrong key is not), "none".
AUTH_MODES = frozenset({"required", "instance", "optional", "none"})


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            return token.strip()
        return header.strip()
    key = request.query_params.get("api_key")
    return key or None


def _check_auth(call: Call, mode: str) -> None:
    if mode == "none":
        return
    key = _credential(call.request)
    if not key:
        if mode == "optional":
            return
        raise vast_error(403, "auth_error", "This action requires login.")
    if key == call.sim.config.api_key:
        call.identity = f"key:{key}"
        return
    if mode == "instance":
        raw_id = str(call.request.path_params.get("id"))
        inst = call.world.instance(int(raw_id)) if raw_id.isdigit() else None
        if inst is not None and inst.api_key == key:
            call.identity = f"instance:{inst.id}"
            return
    raise vast_error(404, "auth_error", "Invalid user key")


def _fault_response(fault: Fault, threshold: float) -> Response:
    kind = fault.kind
    if kind.startswith("429_"):
        return too_frequent(kind.removeprefix("429_"), threshold or 1.0)
    if kind == "500":
        return JSONResponse(
            {"success": False, "error": "server_error", "msg": "Internal Server Error"},
            status_code=500,
        )
    titles = {"502": "502 Bad Gateway", "503": "503 Service Temporarily Unavailable"}
    title = titles.get(kind, "504 Gateway Time-out")
    html = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return HTMLResponse(html, status_code=int(kind))


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
        client = request.client.host if request.client else "unknown"
        call = Call(sim, request, route, None, f"ip:{client}")
        fault = sim.faults.take(route, f"{request.method} {request.url.path}")
        if fault is not None:
            if fault.kind in CREATE_KINDS:
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
                return _fault_response(fault, sim.limiter.interval(route))
        return await self._handle(call)

    async def _after(self, seconds: float, call: Call) -> Response:
        await asyncio.sleep(seconds)
        return await self._handle(call)

    async def _handle(self, call: Call) -> Response:
        sim = self.sim
        try:
            _check_auth(call, self.auth)
            if sim.config.enforce_rate_limits:
                threshold = sim.limiter.check(call.route, call.identity)
                if threshold is not None:
                    return too_frequent(style_for(call.route), threshold)
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


def _find_transport(receive: Receive) -> asyncio.BaseTransport | None:
    """uvicorn's per-request cycle object carries the connection's transport."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    return transport if isinstance(transport, asyncio.BaseTransport) else None


class SimMiddleware:
    """Canonicalises the path before routing and turns DropConnection into a closed socket."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        canonical = canonical_path(path)
        if canonical != path:
            scope = dict(scope)
            scope["path"] = canonical
            scope["raw_path"] = canonical.encode()
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except DropConnection:
            transport = _find_transport(receive)
            if transport is None or started:
                raise
            transport.close()
            # Let the server notice the disconnect so it does not answer with a 500.
            for _ in range(3):
                await asyncio.sleep(0)


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
    app = Starlette(routes=routes, middleware=[Middleware(SimMiddleware)], lifespan=lifespan)
    app.state.sim = sim
    return app
