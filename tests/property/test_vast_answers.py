"""Random and malformed Vast answers (wrong types, missing fields, HTML error pages, truncated
JSON, empty bodies, huge pages, odd status codes) never crash the client or the poller: every
call either returns well-typed models or raises a `VastError` (which the loop turns into a
condition), and a poller that met a bad answer serves the next good listing as usual."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vast_operator.poller import InstancePoller, SnapshotUnavailable
from vast_operator.vast import CreateInstanceRequest, RateLimiter, VastClient, VastError
from vast_operator.vast.models import Instance, Offer
from vast_operator.vast.query import OfferQuery

KEY = "property-test-key-0123456789abcdef"
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(), st.text(max_size=20)
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
INSTANCE_ROW = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.integers(1, 10**9), st.text(max_size=6), st.none(), st.floats()),
        "label": st.one_of(st.text(max_size=30), st.integers(), st.none()),
        "actual_status": st.one_of(st.sampled_from(["running", "loading", "exited"]), JSONISH),
        "dph_total": st.one_of(st.floats(), st.text(max_size=5), st.none()),
        "ssh_port": st.one_of(st.integers(), st.text(max_size=5)),
        "ports": JSONISH,
        "start_date": st.one_of(st.floats(), st.text(max_size=5)),
    },
)
HTML = "<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1>nginx</body></html>"


def bodies() -> st.SearchStrategy[tuple[str, bytes]]:
    """(what, raw body) of an answer."""
    rows = st.lists(INSTANCE_ROW, max_size=6)
    return st.one_of(
        st.just(("html", HTML.encode())),
        st.just(("empty", b"")),
        JSONISH.map(lambda v: ("random json", json.dumps(v).encode())),
        rows.map(lambda r: ("instance rows", json.dumps({"instances": r, "offers": r}).encode())),
        rows.map(
            lambda r: (
                "truncated json",
                json.dumps({"instances": r})[: max(1, len(json.dumps(r)) // 2)].encode(),
            )
        ),
        st.integers(500, 1500).map(
            lambda n: (
                "huge page",
                json.dumps(
                    {
                        "instances": [{"id": i, "label": "x"} for i in range(1, n)],
                        "next_token": "same",
                    }
                ).encode(),
            )
        ),
        st.text(max_size=50).map(lambda t: ("text", t.encode())),
    )


ANSWER = st.tuples(
    st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 409, 429, 500, 502, 503]),
    bodies(),
    st.sampled_from(["application/json", "text/html", "text/plain"]),
)

Call = Callable[[VastClient], Awaitable[Any]]
CALLS: dict[str, Call] = {
    "list_instances": lambda c: c.list_instances(),
    "get_instance": lambda c: c.get_instance(7),
    "search_offers": lambda c: c.search_offers(OfferQuery()),
    "create_instance": lambda c: c.create_instance(3, CreateInstanceRequest(image="img")),
    "destroy_instance": lambda c: c.destroy_instance(7),
    "stop_instance": lambda c: c.stop_instance(7),
    "label_instance": lambda c: c.label_instance(7, "k8s-vast-operator:u"),
    "list_volumes": lambda c: c.list_volumes(),
    "list_endpoints": lambda c: c.list_endpoints(),
    "list_workergroups": lambda c: c.list_workergroups(),
    "current_user": lambda c: c.current_user(),
}


async def no_sleep(_: float) -> None:
    return None


def client_for(answer: tuple[int, tuple[str, bytes], str]) -> tuple[VastClient, httpx.AsyncClient]:
    status, (_, body), ctype = answer

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": ctype})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = VastClient(
        "http://vast.test/",
        KEY,
        http=http,
        limiter=RateLimiter(scale=0, requests_per_second=None, sleep=no_sleep),
        sleep=no_sleep,
    )
    return client, http


def well_typed(result: Any) -> bool:
    if result is None or isinstance(result, int):
        return True
    if isinstance(result, list):
        return all(hasattr(row, "model_dump") for row in result)
    return hasattr(result, "model_dump") or hasattr(result, "new_contract")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(CALLS)), ANSWER)
def test_any_answer_gives_models_or_a_vast_error(call: str, answer: Any) -> None:
    event(f"{call}: status {answer[0]}, {answer[1][0]}")

    async def scenario() -> None:
        client, http = client_for(answer)
        async with http:
            try:
                result = await CALLS[call](client)
            except VastError as exc:
                assert KEY not in str(exc)
                event("VastError")
                return
            assert well_typed(result), result
            if isinstance(result, list) and result and isinstance(result[0], Instance):
                assert all(isinstance(r.id, int) for r in result)
            if isinstance(result, list) and result and isinstance(result[0], Offer):
                assert all(isinstance(r.id, int) for r in result)

    asyncio.run(scenario())


GOOD = {"instances": [{"id": 5, "label": "k8s-vast-operator:u1", "actual_status": "running"}]}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANSWER)
def test_a_poller_that_met_a_bad_answer_serves_the_next_good_listing(answer: Any) -> None:
    """A bad listing is never served as truth (an empty snapshot would look like everything
    vanished); once Vast answers properly, the snapshot is right again."""
    status, (what, body), ctype = answer
    answers = [(status, body, ctype)]

    def handler(request: httpx.Request) -> httpx.Response:
        if answers:
            code, raw, kind = answers.pop(0)
            return httpx.Response(code, content=raw, headers={"content-type": kind})
        return httpx.Response(200, json=GOOD)

    async def scenario() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        client = VastClient(
            "http://vast.test/",
            KEY,
            http=http,
            sleep=no_sleep,
            max_retries=0,
            limiter=RateLimiter(scale=0, requests_per_second=None, sleep=no_sleep),
        )
        poller = InstancePoller(client, interval=0.01)
        try:
            try:
                first = await poller.snapshot(newer_than=time.time())
            except (SnapshotUnavailable, VastError):
                event("bad listing refused")
            else:
                event("bad listing accepted")
                assert all(isinstance(i.id, int) for i in first.by_id.values())
            second = await poller.snapshot(newer_than=time.time())
            assert [i.id for i in second.for_uid("u1")] == [5], (what, second)
        finally:
            await poller.stop()
            await http.aclose()

    asyncio.run(scenario())
