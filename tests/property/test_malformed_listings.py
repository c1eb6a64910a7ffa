"""Found by test_vast_answers.py: a malformed 200 answer (no JSON object, or an object without
the rows' field) used to read as "Vast has nothing": an empty instance listing, volume or
endpoint list, or an instance that "no longer exists", which the loop answers by renting or
creating again. It must be an UnexpectedResponseError instead (the loop waits and retries).
Documented empty answers still read as empty: `{"instances": null}` (the CLI's `or []`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from vast_operator.vast import RateLimiter, UnexpectedResponseError, VastClient

KEY = "malformed-test-key-0123456789"
CALLS: dict[str, Callable[[VastClient], Awaitable[Any]]] = {
    "list_instances": lambda c: c.list_instances(),
    "get_instance": lambda c: c.get_instance(7),
    "list_volumes": lambda c: c.list_volumes(),
    "list_endpoints": lambda c: c.list_endpoints(),
    "get_endpoint": lambda c: c.get_endpoint(7),
    "list_workergroups": lambda c: c.list_workergroups(),
}


async def no_sleep(_: float) -> None:
    return None


def answer(call: str, body: bytes) -> Any:
    async def scenario() -> Any:
        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=body, headers={"content-type": "application/json"})

        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = VastClient(
                "http://vast.test/",
                KEY,
                http=http,
                sleep=no_sleep,
                limiter=RateLimiter(scale=0, requests_per_second=None),
            )
            return await CALLS[call](client)

    return asyncio.run(scenario())


@pytest.mark.parametrize("body", [b"{}", b"[]", b'"ok"', b'{"success": true}'])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_malformed_answer_is_an_error_not_an_empty_account(call: str, body: bytes) -> None:
    with pytest.raises(UnexpectedResponseError):
        answer(call, body)


def test_documented_empty_answers_still_read_as_empty() -> None:
    assert answer("list_instances", b'{"instances": null}') == []
    assert answer("get_instance", b'{"instances": null}') is None
    assert answer("list_volumes", b'{"volumes": []}') == []
    assert answer("list_endpoints", b'{"results": []}') == []
