"""Deleting an endpoint against Vast's documented answers, not a simulator's 404.

Vast answers a DELETE of an endpoint that is not there with `400 {"error": "invalid_args",
"msg": "Routegroup not found for user"}` (docs, delete_endpoint), and the serverless routes also
answer `200 {"success": false, ...}`. `GET /api/v0/endptjobs/{id}/` is not a documented route,
so a 404 from it says nothing about the endpoint: deletion is confirmed by listing.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest

from vast_operator.accounts import Account, CachedList
from vast_operator.api.endpoint import VastEndpointSpec, VastEndpointStatus
from vast_operator.reconcile.endpoint.adapter import EndpointAdapter
from vast_operator.vast import NotFoundError, PermanentError, RateLimiter, VastClient

KEY = "endpoint-delete-key-0123456789abcdef"
ENDPOINT = 77
GONE = {"success": False, "error": "invalid_args", "msg": "Routegroup not found for user"}


def client_for(handler: Any) -> VastClient:
    return VastClient(
        "https://vast.test",
        KEY,
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        limiter=RateLimiter(scale=0, requests_per_second=None),
    )


@pytest.mark.parametrize("status", [400, 200, 404])
async def test_vasts_answers_for_a_missing_endpoint_are_a_done_delete(status: int) -> None:
    async with client_for(lambda r: httpx.Response(status, json=GONE)) as client:
        await client.delete_endpoint(ENDPOINT)  # missing_ok: done
        with pytest.raises(NotFoundError):
            await client.delete_endpoint(ENDPOINT, missing_ok=False)


async def test_other_refusals_of_an_endpoint_delete_still_raise() -> None:
    body = {"success": False, "error": "invalid_args", "msg": "endpoint is busy"}
    async with client_for(lambda r: httpx.Response(400, json=body)) as client:
        with pytest.raises(PermanentError, match="busy"):
            await client.delete_endpoint(ENDPOINT)


class FakeVast:
    """Endpoint and workergroup routes as Vast documents them, with a listing that lags."""

    def __init__(self, *, listed_after_delete: int = 0, delete_answer: Any = None) -> None:
        self.present = True
        self.listed_after_delete = listed_after_delete
        self.delete_answer = delete_answer
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        route = f"{request.method} {request.url.path}"
        self.seen.append(route)
        if route == "GET /api/v0/endptjobs/":
            listed = self.present
            if not self.present and self.listed_after_delete > 0:
                self.listed_after_delete -= 1
                listed = True
            rows = [{"id": ENDPOINT, "endpoint_name": "ep"}] if listed else []
            return httpx.Response(200, json={"success": True, "results": rows})
        if route == "GET /api/v0/autojobs/":
            return httpx.Response(200, json={"success": True, "results": []})
        if route == f"DELETE /api/v0/endptjobs/{ENDPOINT}/":
            self.present = False
            if self.delete_answer is not None:
                return httpx.Response(200, json=self.delete_answer)
            return httpx.Response(200, json={"success": True, "deleted_workers": []})
        return httpx.Response(404, text="<h1>Not Found</h1>")  # not a route Vast has


class Writer:
    def __init__(self) -> None:
        self.s = VastEndpointStatus(endpoint_id=ENDPOINT)
        self.phases: list[str] = []

    def phase(self, phase: str, *args: Any, **kwargs: Any) -> None:
        self.phases.append(phase)

    async def flush(self) -> None:
        return None


def ctx_for(client: VastClient) -> Any:
    account = Account(
        "fp",
        client,
        cast(Any, None),
        CachedList(client.list_volumes, 0.0),
        CachedList(client.list_endpoints, 0.0),
        CachedList(client.list_workergroups, 0.0),
    )
    spec = VastEndpointSpec(endpoint_name="ep")
    return SimpleNamespace(w=Writer(), account=account, spec=spec, clock=time.time)


async def test_the_adapter_confirms_a_deletion_by_listing_not_by_get() -> None:
    vast = FakeVast(listed_after_delete=1)
    async with client_for(vast) as client:
        ctx = ctx_for(client)
        first = await EndpointAdapter().delete(ctx, None)
        assert not first.done  # Vast still lists it: not done, however GET /{id}/ answers
        second = await EndpointAdapter().delete(ctx, None)
        assert second.done
    assert f"GET /api/v0/endptjobs/{ENDPOINT}/" not in vast.seen
    assert vast.seen.count(f"DELETE /api/v0/endptjobs/{ENDPOINT}/") == 1


async def test_an_endpoint_deleted_by_someone_else_meanwhile_is_a_done_delete() -> None:
    vast = FakeVast(delete_answer=GONE)
    async with client_for(vast) as client:
        result = await EndpointAdapter().delete(ctx_for(client), None)
    assert result.done and "deleted" in result.message
