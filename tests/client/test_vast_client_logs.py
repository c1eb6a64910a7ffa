"""`LogsAPI`: request_logs, then the text at result_url, fetched without the key."""

from __future__ import annotations

from typing import Any

import httpx
from vast_client_support import make_client as make_sim_client

from vast_operator.vast import RateLimiter, VastClient
from vast_operator.vast.models import CreateInstanceRequest
from vast_operator.vast.query import OfferQuery

KEY = "unit-test-key-0123456789"


async def noop_sleep(_: float) -> None:
    return None


async def test_the_log_of_an_exited_instance_ends_with_its_exit(fresh_sim: Any) -> None:
    async with make_sim_client(fresh_sim) as vast:
        offers = await vast.search_offers(OfferQuery(limit=8).ordered_by(("dph_total", "asc")))
        request = CreateInstanceRequest(
            image="pytorch/pytorch:latest",
            disk=10,
            label="k8s-test:logs",
            runtype="args",
            env={"VAST_SIM_EXIT_AFTER": "0:4"},
        )
        instance_id = (await vast.create_instance(offers[0].id, request)).new_contract
        found = await vast.get_instance(instance_id)
        assert found is not None and found.actual_status == "exited"
        assert found.status_msg == "Exited (4)"
        url = await vast.request_logs(instance_id, tail=5)
        text = await vast.fetch_result(url)
    assert text is not None
    assert text.rstrip().endswith("Exited (4)")
    assert len(text.splitlines()) == 5


async def test_result_url_is_fetched_without_the_key_until_it_is_there() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "vast.test":
            return httpx.Response(200, json={"success": True, "result_url": "https://s3.test/l"})
        if sum(1 for r in seen if r.url.host == "s3.test") < 3:
            return httpx.Response(403, text="AccessDenied")  # not uploaded yet
        return httpx.Response(200, text=f"line one\nleaked {KEY}\nExited (1)\n")

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = VastClient(
        "http://vast.test/",
        KEY,
        http=http,
        limiter=RateLimiter(scale=0, requests_per_second=None),
        sleep=noop_sleep,
    )
    async with http:
        url = await client.request_logs(7, tail=100)
        text = await client.fetch_result(url)
    assert url == "https://s3.test/l"
    assert text is not None and text.endswith("Exited (1)\n")
    assert KEY not in text  # scrubbed of this client's key
    api, *store = seen
    assert api.url.path == "/api/v0/instances/request_logs/7/"
    assert api.headers["authorization"] == f"Bearer {KEY}"
    assert len(store) == 3
    assert all("authorization" not in r.headers for r in store)


async def test_a_result_that_never_comes_is_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = VastClient("http://vast.test/", KEY, http=http, sleep=noop_sleep)
    async with http:
        assert await client.fetch_result("https://s3.test/x", tries=3) is None
