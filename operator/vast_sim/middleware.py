"""The ASGI middleware around every request: slash redirects (opt-in), path canonicalisation
before routing, and dropping the connection when a handler asks for it."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vast_sim.paths import canonical_path, documented_form

REDIRECTED = "REDIRECT"


class DropConnection(Exception):
    """Raised by a handler to close the client connection without any response."""


def _find_transport(receive: Receive) -> asyncio.BaseTransport | None:
    """uvicorn's per-request cycle object carries the connection's transport."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    return transport if isinstance(transport, asyncio.BaseTransport) else None


def redirect_to(scope: Scope, sim: Any) -> Response | None:
    """With --redirect-slashes: 301 (GET/HEAD) or 308 (others, which keeps method and body) to
    the documented spelling of a path whose trailing slash differs from Vast's documents."""
    if not sim.config.redirect_slashes:
        return None
    target = documented_form(scope["path"])
    if target is None:
        return None
    query = scope.get("query_string", b"").decode("latin-1")
    location = target + (f"?{query}" if query else "")
    status = 301 if scope["method"] in ("GET", "HEAD") else 308
    sim.counters.count(REDIRECTED)
    return Response(status_code=status, headers={"Location": location})


class SimMiddleware:
    """Redirects (opt-in), canonicalises the path before routing and turns DropConnection into
    a closed socket."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        starlette_app = scope.get("app")
        sim = getattr(getattr(starlette_app, "state", None), "sim", None)
        if sim is not None:
            redirect = redirect_to(scope, sim)
            if redirect is not None:
                await redirect(scope, receive, send)
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
