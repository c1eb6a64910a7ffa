"""`ClientKube` (the official `kubernetes` client) against a small fake API server.

The client is synchronous: these tests prove its calls run off the event loop, and pin the wire
behaviour the operator relies on: JSON merge patches, 404 -> None, the Secret cache, the
connection Secret's create-or-patch, and errors that never carry Secret values.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import threading
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import kubernetes.client
import pytest

from vast_operator.kube import ClientKube, ForeignSecret, KubeError

STATUS_PATH = "/apis/vast.ai/v1alpha1/namespaces/ns/vastinstances/x/status"
OBJECT_PATH = "/apis/vast.ai/v1alpha1/namespaces/ns/vastinstances/x"
LIST_PATH = "/apis/vast.ai/v1alpha1/namespaces/ns/vastinstances"
SECRETS_PATH = "/api/v1/namespaces/ns/secrets"
SECRET_PATH = f"{SECRETS_PATH}/conn"
SECRET_VALUE = "s3cr3t-Value-4711"
OWNER = {
    "apiVersion": "vast.ai/v1alpha1",
    "kind": "VastInstance",
    "name": "x",
    "uid": "0b7c7a4e-1c1d-4c57-a1a2-2f9f3f3f3f3f",
    "controller": True,
    "blockOwnerDeletion": False,
}


@dataclass
class Request:
    method: str
    path: str
    content_type: str | None
    body: Any


@dataclass
class FakeApiServer:
    """Answers `routes[(method, path)] = (status, body, delay)`; anything else is a 404."""

    url: str = ""
    routes: dict[tuple[str, str], tuple[int, Any, float]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def answer(
        self, method: str, path: str, body: Any, status: int = 200, delay: float = 0.0
    ) -> None:
        self.routes[(method, path)] = (status, body, delay)

    def made(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if (r.method, r.path) == (method, path)]


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": reason,
        "message": message,
        "code": code,
    }


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    fake = FakeApiServer()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            fake.requests.append(
                Request(
                    self.command,
                    path,
                    self.headers.get("Content-Type"),
                    json.loads(raw) if raw else None,
                )
            )
            status, body, delay = fake.routes.get(
                (self.command, path), (404, _status(404, "NotFound", f"{path} not found"), 0.0)
            )
            time.sleep(delay)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()


def _client_kube(url: str) -> ClientKube:
    return ClientKube(kubernetes.client.ApiClient(kubernetes.client.Configuration(host=url)))


@pytest.fixture
async def kube(server: FakeApiServer) -> AsyncIterator[ClientKube]:
    client = _client_kube(server.url)
    try:
        yield client
    finally:
        client.close()


def _secret(data: dict[str, str], *, ours: bool = True) -> dict[str, Any]:
    """A Secret as the API server returns it; `ours`: made by the operator for OWNER."""
    meta: dict[str, Any] = {"name": "conn", "namespace": "ns"}
    if ours:
        meta["labels"] = {"app.kubernetes.io/managed-by": "vast-operator"}
        meta["ownerReferences"] = [OWNER]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


async def _ticks_while(awaitable: Any) -> tuple[Any, int]:
    """Await `awaitable` while a second coroutine ticks every 10 ms; its result and the ticks."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        return await awaitable, ticks
    finally:
        done.set()
        await task


async def test_a_slow_api_server_does_not_block_the_event_loop(
    server: FakeApiServer, kube: ClientKube
) -> None:
    server.answer("GET", OBJECT_PATH, {"metadata": {"name": "x"}}, delay=0.5)
    obj, ticks = await _ticks_while(kube.get_object("vastinstances", "ns", "x"))
    assert obj == {"metadata": {"name": "x"}}
    assert ticks >= 20  # a blocking call would have let the ticker run at most once

    # Several slow calls overlap on the worker threads instead of queueing behind each other.
    started = time.monotonic()
    results = await asyncio.gather(*(kube.get_object("vastinstances", "ns", "x") for _ in range(4)))
    assert all(r == {"metadata": {"name": "x"}} for r in results)
    assert time.monotonic() - started < 1.5


async def test_a_slow_client_method_does_not_block_the_event_loop(kube: ClientKube) -> None:
    threads: list[str] = []

    class Response:
        data = b'{"items": [{"metadata": {"name": "x"}}]}'

        def release_conn(self) -> None:
            pass

    def slow_list(*args: Any, **kwargs: Any) -> Response:
        assert kwargs["_preload_content"] is False
        threads.append(threading.current_thread().name)
        time.sleep(0.4)  # a blocking socket read, as the synchronous client does
        return Response()

    kube._custom.list_namespaced_custom_object = slow_list  # type: ignore[method-assign]
    items, ticks = await _ticks_while(kube.list_objects("vastinstances", "ns"))
    assert items == [{"metadata": {"name": "x"}}]
    assert ticks >= 15
    assert threads and threads[0] != threading.main_thread().name


async def test_status_is_a_json_merge_patch_on_the_status_subresource(
    server: FakeApiServer, kube: ClientKube
) -> None:
    server.answer("PATCH", STATUS_PATH, {})
    status = {"phase": "Renting", "conditions": [{"type": "Ready", "status": "False"}]}
    await kube.patch_status("vastinstances", "ns", "x", status)
    (request,) = server.made("PATCH", STATUS_PATH)
    assert request.content_type == "application/merge-patch+json"
    assert request.body == {"status": status}


async def test_not_found_is_none(kube: ClientKube) -> None:
    assert await kube.get_object("vastinstances", "ns", "x") is None
    assert await kube.list_objects("vastinstances", "ns") == []
    assert await kube.get_secret_value("ns", "conn", "api-key") is None
    await kube.patch_status("vastinstances", "ns", "x", {"phase": "Gone"})


async def test_list_and_get_return_the_objects_as_sent(
    server: FakeApiServer, kube: ClientKube
) -> None:
    item = {"apiVersion": "vast.ai/v1alpha1", "kind": "VastInstance", "metadata": {"name": "x"}}
    server.answer("GET", LIST_PATH, {"kind": "VastInstanceList", "items": [item]})
    server.answer("GET", OBJECT_PATH, item)
    assert await kube.list_objects("vastinstances", "ns") == [item]
    assert await kube.get_object("vastinstances", "ns", "x") == item


async def test_answers_come_without_managed_fields(server: FakeApiServer, kube: ClientKube) -> None:
    """Nothing reads `managedFields`, and they are half of a parsed object: every answer, a
    listed item as much as a single object, comes without them; the rest is as sent."""
    entry = {"manager": "kopf", "fieldsV1": {"f:metadata": {"f:finalizers": {}}}}

    def item() -> dict[str, Any]:
        meta = {"name": "x", "uid": "u", "managedFields": [entry]}
        return {"kind": "VastInstance", "metadata": meta, "status": {"phase": "Running"}}

    server.answer("GET", LIST_PATH, {"kind": "VastInstanceList", "items": [item()]})
    server.answer("GET", OBJECT_PATH, item())
    lean = {"kind": "VastInstance", "metadata": {"name": "x", "uid": "u"}}
    lean["status"] = {"phase": "Running"}
    assert await kube.list_objects("vastinstances", "ns") == [lean]
    assert await kube.get_object("vastinstances", "ns", "x") == lean


async def test_secret_values_are_decoded_and_cached(
    server: FakeApiServer, kube: ClientKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.answer("GET", SECRET_PATH, _secret({"api-key": SECRET_VALUE}))
    assert await kube.get_secret_value("ns", "conn", "api-key") == SECRET_VALUE
    assert await kube.get_secret_value("ns", "conn", "other") is None
    assert len(server.made("GET", SECRET_PATH)) == 1  # the second read came from the cache

    monkeypatch.setattr(ClientKube, "SECRET_TTL", 0.0)
    assert await kube.get_secret_value("ns", "conn", "api-key") == SECRET_VALUE
    assert len(server.made("GET", SECRET_PATH)) == 2


async def test_apply_secret_creates_with_owner_and_label(
    server: FakeApiServer, kube: ClientKube
) -> None:
    server.answer("POST", SECRETS_PATH, _secret({"host": "h"}), status=201)
    await kube.apply_secret("ns", "conn", {"host": "h", "port": "22"}, OWNER)
    (request,) = server.made("POST", SECRETS_PATH)
    assert request.body["metadata"]["name"] == "conn"
    assert request.body["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "vast-operator"}
    assert request.body["metadata"]["ownerReferences"] == [OWNER]
    assert request.body["stringData"] == {"host": "h", "port": "22"}
    assert request.body["type"] == "Opaque"
    assert not server.made("PATCH", SECRET_PATH)


async def test_apply_secret_patches_only_when_the_data_differ(
    server: FakeApiServer, kube: ClientKube
) -> None:
    server.answer("GET", SECRET_PATH, _secret({"host": "h", "port": "22"}))
    server.answer("PATCH", SECRET_PATH, {})
    await kube.apply_secret("ns", "conn", {"host": "h", "port": "22"}, OWNER)
    assert not server.made("PATCH", SECRET_PATH)
    assert not server.made("POST", SECRETS_PATH)

    await kube.apply_secret("ns", "conn", {"host": "h2", "port": "22"}, OWNER)
    (request,) = server.made("PATCH", SECRET_PATH)
    assert request.content_type == "application/merge-patch+json"
    assert request.body == {"stringData": {"host": "h2", "port": "22"}, "data": None}


async def test_a_secret_the_operator_did_not_create_is_never_written(
    server: FakeApiServer, kube: ClientKube
) -> None:
    server.answer("GET", SECRET_PATH, _secret({"api-key": "the tenant's vast key"}, ours=False))
    server.answer("PATCH", SECRET_PATH, {})
    with pytest.raises(ForeignSecret) as refused:
        await kube.apply_secret("ns", "conn", {"host": "h2", "port": "22"}, OWNER)
    assert not server.made("PATCH", SECRET_PATH)
    assert "not created by vast-operator" in str(refused.value)


def _rendered(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


async def test_errors_never_carry_secret_values(server: FakeApiServer, kube: ClientKube) -> None:
    # An API server whose error message echoes the Secret value it was sent.
    echo = _status(422, "Invalid", f'Secret "conn" is invalid: stringData: "{SECRET_VALUE}"')
    server.answer("POST", SECRETS_PATH, echo, status=422)
    with pytest.raises(KubeError) as create:
        await kube.apply_secret("ns", "conn", {"api-key": SECRET_VALUE}, OWNER)
    assert "HTTP 422" in str(create.value)
    assert f"POST {SECRETS_PATH}" in str(create.value)
    assert SECRET_VALUE not in _rendered(create.value)

    server.answer("GET", SECRET_PATH, _secret({"api-key": "old"}))
    server.answer("PATCH", SECRET_PATH, echo, status=422)
    with pytest.raises(KubeError) as patch:
        await kube.apply_secret("ns", "conn", {"api-key": SECRET_VALUE}, OWNER)
    assert "HTTP 422" in str(patch.value)
    assert SECRET_VALUE not in _rendered(patch.value)

    # A failed read says what failed, never the answer's body or headers.
    server.answer("GET", "/api/v1/namespaces/ns/secrets/vast", _status(403, "Forbidden", "no"), 403)
    with pytest.raises(KubeError, match="HTTP 403: no") as read:
        await kube.get_secret_value("ns", "vast", "api-key")
    assert read.value.__cause__ is None
    assert read.value.__suppress_context__


async def test_an_unreachable_api_server_is_a_kube_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kube = _client_kube(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(KubeError, match=re.escape(f"GET {OBJECT_PATH}: ")):
            await kube.get_object("vastinstances", "ns", "x")
    finally:
        kube.close()
