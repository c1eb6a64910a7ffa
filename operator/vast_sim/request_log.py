"""Opt-in request log (`vast-sim --request-log PATH`): what the clients sent, one JSON line each.

Every request to a Vast route (not the /_sim/ admin routes) is appended to PATH as
`{"t", "method", "path", "query", "headers", "body", "status"}` once answered (status None:
the connection was dropped): the headers as sent (the Authorization
header included: this log is for tests that check where a key travels, e.g. the soak's
secrets scan), the body as text. Off by default: it holds API keys, so only a test asks for it.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024


class RequestLog:
    """Appends one JSON line per request; thread-safe, flushed at once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 (lives with the app)

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock:
            self._handle.write(line)
            self._handle.flush()

    def close(self) -> None:
        with self._lock:
            self._handle.close()


class RequestLogMiddleware:
    """ASGI middleware that records each Vast request (method, path, query, headers, body)."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        status: list[int] = []

        def record() -> None:
            body = b"".join(chunks)[:MAX_BODY]
            self.log.write(
                {
                    "t": time.time(),
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "query": scope.get("query_string", b"").decode("latin-1"),
                    "headers": [
                        [k.decode("latin-1"), v.decode("latin-1")]
                        for k, v in scope.get("headers", [])
                    ],
                    "body": body.decode("utf-8", errors="replace"),
                    "status": status[0] if status else None,
                }
            )

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, recording_receive, recording_send)
        finally:
            record()
