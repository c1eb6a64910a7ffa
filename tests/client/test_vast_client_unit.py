"""Small checks of `VastClient` against an in-process transport.

Only what a simulator cannot show well lives here: exact headers, ownership of the shared http
client, odd bodies. Every behaviour against Vast's wire protocol is tested against the real
simulator in `test_vast_client_sim.py`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import httpx
import pytest

from vast_operator.vast import (
    AuthenticationError,
    CreateInstanceRequest,
    CreateOutcomeUnknownError,
    PermanentError,
    RateLimiter,
    TransientError,
    UnexpectedResponseError,
    VastClient,
)

KEY = "unit-test-key-0123456789abcdef"
Handler = Callable[[httpx.Request], httpx.Response]


async def noop_sleep(_: float) -> None:
    return None


def make_client(handler: Handler, **kwargs: object) -> tuple[VastClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = VastClient(
        "http://vast.test/",
        KEY,
        http=http,
        limiter=RateLimiter(scale=0, requests_per_second=None),
        sleep=noop_sleep,
        **kwargs,  # type: ignore[arg-type]
    )
    return client, http


async def test_the_key_travels_only_as_a_bearer_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": 1, "email": "a@b.c"})

    client, http = make_client(handler)
    async with http:
        user = await client.current_user()
    assert user.id == 1
    (request,) = seen
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"].startswith("vast-operator/")
    assert KEY not in str(request.url)
    assert request.url.path == "/api/v0/users/current"


async def test_a_shared_http_client_is_left_open() -> None:
    client, http = make_client(lambda r: httpx.Response(200, json={}))
    async with client:
        pass
    assert not http.is_closed
    await http.aclose()


async def test_an_owned_http_client_is_closed() -> None:
    client = VastClient("http://vast.test", KEY)
    await client.aclose()
    assert client._http.is_closed


async def test_an_error_body_that_echoes_the_key_is_scrubbed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "auth_error", "msg": f"bad key {KEY}"})

    client, http = make_client(handler)
    caplog.set_level(logging.DEBUG)
    async with http:
        with pytest.raises(AuthenticationError) as caught:
            await client.current_user()
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    assert all(KEY not in record.getMessage() for record in caplog.records)


async def test_success_false_on_200_is_an_error() -> None:
    body = {"success": False, "error": "invalid_args", "msg": "nope"}
    client, http = make_client(lambda r: httpx.Response(200, json=body))
    async with http:
        with pytest.raises(PermanentError, match="nope"):
            await client.start_instance(5)


async def test_a_200_that_is_not_json_is_transient_and_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, text="<html>proxy</html>")

    client, http = make_client(handler, max_retries=2)
    async with http:
        with pytest.raises(TransientError):
            await client.list_volumes()
    assert calls == 3


async def test_a_row_of_the_wrong_shape_is_an_unexpected_response() -> None:
    client, http = make_client(lambda r: httpx.Response(200, json={"instances": {"x": 1}}))
    async with http:
        with pytest.raises(UnexpectedResponseError):
            await client.get_instance(1)


async def test_the_observer_sees_every_attempt_and_cannot_break_the_call() -> None:
    seen: list[tuple[str, str, str]] = []
    responses = iter([httpx.Response(503), httpx.Response(200, json={"instances": None})])

    def observer(route: str, method: str, outcome: str, seconds: float) -> None:
        seen.append((route, method, outcome))
        raise RuntimeError("metrics are broken")

    client, http = make_client(lambda r: next(responses), on_request=observer)
    async with http:
        assert await client.get_instance(9) is None
    assert seen == [
        ("GET /api/v0/instances/{id}/", "GET", "transient"),
        ("GET /api/v0/instances/{id}/", "GET", "ok"),
    ]


async def test_list_query_parameters_are_json_encoded() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"instances": [], "next_token": None})

    client, http = make_client(handler)
    async with http:
        await client.list_instances(label="k8s:uid", select_filters={"actual_status": {"eq": "x"}})
    params = seen[0].url.params
    assert params["limit"] == "25"
    assert json.loads(params["select_filters"]) == {
        "actual_status": {"eq": "x"},
        "label": {"in": ["k8s:uid"]},
    }


def test_keys_with_whitespace_are_refused() -> None:
    with pytest.raises(ValueError, match="api_key"):
        VastClient("http://vast.test", "key\nInjected: 1")


def test_the_client_repr_shows_no_key() -> None:
    client = VastClient("http://vast.test", KEY, http=httpx.AsyncClient())
    assert KEY not in repr(client)


async def test_a_failed_rent_that_names_a_contract_carries_it_for_cleanup() -> None:
    # Design rule 1: when a create fails but Vast returned a new_contract, destroy it. The
    # simulator's create_error_allocates answer has no new_contract, so this is checked here.
    body = {"success": False, "error": "server_error", "msg": "oops", "new_contract": 77}
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500, json=body)

    client, http = make_client(handler)
    async with http:
        with pytest.raises(CreateOutcomeUnknownError) as caught:
            await client.create_instance(1, CreateInstanceRequest(image="img"))
    assert caught.value.new_contract == 77
    assert calls == 1
