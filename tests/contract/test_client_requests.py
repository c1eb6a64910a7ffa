"""Every request the operator's Vast client builds, against the route's documented request.

`VastClient` runs over an `httpx.MockTransport` that records each request and hands it on to the
simulator (in-process), so every call gets a realistic answer and the next call can use it.
Every recorded request is then checked against Vast's OpenAPI documents (the pinned copy in
this folder): path and query parameters, the JSON body against the documented body schema, and
no query parameter or body key the document does not name. Where the vastai CLI and a document
disagree, `REQUEST_DEVIATIONS` says which one the client follows and why (the client follows
the CLI: it is what Vast's production traffic looks like).

The routes the client calls are read from its source (client/*.py), so a new route without a
call here fails `test_every_client_route_is_exercised`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from contract_support import (
    ContractError,
    RequestDeviation,
    at,
    chain,
    check_request,
    not_required,
    nullable,
    operation,
    segments,
    typed,
)

from vast_operator.vast import RateLimiter, VastClient
from vast_operator.vast.models import CreateInstanceRequest, EndpointSpec, WorkergroupRequest
from vast_operator.vast.query import OfferQuery, VolumeOfferQuery
from vast_sim.app import create_app
from vast_sim.config import SimConfig
from vast_sim.search_fields import SEARCH_DIRECTIVES, VOLUME_OFFER_FIELDS

KEY = "contract-client-key"
SSH = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIcontractclient c@test"
CLIENT_DIR = Path(__file__).parents[2] / "operator" / "vast_operator" / "vast" / "client"

_ENDPOINT_FIELDS = frozenset(
    {"min_cold_load", "max_queue_time", "target_queue_time", "inactivity_timeout"}
)
_CLI_SERVERLESS = frozenset({"client_id", "autoscaler_instance"})

# Where the client's request departs from the route's document ("METHOD /documented/path").
REQUEST_DEVIATIONS: dict[str, RequestDeviation] = {
    "POST /api/v0/bundles/": RequestDeviation(
        why="CLI: `type` is 'on-demand' (the document's own example and doc:hello-world send it; "
        "its enum says 'ondemand'); `order` is a list of [field, dir] pairs (the document's "
        "min/maxItems 2 sit on the outer list by mistake); `external` is a default filter the "
        "CLI always sends (vastai 1.9.1 CLI)",
        body=frozenset({"external"}),
        fix=chain(
            at("type", lambda t: {**t, "enum": [*t["enum"], "on-demand"]}),
            at(
                "order",
                lambda _: {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "minItems": 2,
                        "maxItems": 2,
                        "items": {"type": "string"},
                    },
                },
            ),
        ),
    ),
    "PUT /api/v0/asks/{id}/": RequestDeviation(
        why="CLI: every key is sent, null when unset, with client_id 'me' and `extra` "
        "(vastai 1.9.1 CLI); `env` is the dict form (doc:creating-instances-with-api.mdx), the "
        "document types it as a docker-flag string",
        body=frozenset({"client_id", "extra"}),
        fix=chain(
            at("env", typed(["object", "string"])),
            *(
                at(name, nullable)
                for name in (
                    "image",
                    "image_login",
                    "jupyter_dir",
                    "label",
                    "onstart",
                    "price",
                    "template_hash_id",
                    "user",
                )
            ),
        ),
    ),
    "GET /api/v0/instances/{id}/": RequestDeviation(
        why="CLI: `?owner=me` (vastai 1.9.1 CLI)", query=frozenset({"owner"})
    ),
    "POST /api/v0/volumes/search/": RequestDeviation(
        why="CLI: the body is a search query like the offer search's (vol_offers_fields, its "
        "default filters and directives, the vastai 1.9.1 CLI); the document names only `limit`",
        body=VOLUME_OFFER_FIELDS | SEARCH_DIRECTIVES,
    ),
    "PUT /api/v0/volumes/": RequestDeviation(
        why="CLI: create volume sends the volume `name` (vastai 1.9.1 CLI)",
        body=frozenset({"name"}),
    ),
    "GET /api/v0/volumes/": RequestDeviation(
        why="CLI: `?owner=me&type=local_volume` (vastai 1.9.1 CLI); the document names none",
        query=frozenset({"owner", "type"}),
    ),
    "DELETE /api/v0/volumes/": RequestDeviation(
        why="CLI: the volume id goes in `?id=` with an empty body (vastai 1.9.1 CLI); the "
        "document puts it in the body",
        query=frozenset({"id"}),
        fix=not_required("id"),
    ),
    "POST /api/v0/endptjobs/": RequestDeviation(
        why="CLI: client_id 'me' and autoscaler_instance 'prod'; the typed SDK's "
        "EndpointConfig fields min_cold_load, max_queue_time, target_queue_time and "
        "inactivity_timeout (vastai 1.9.1 CLI)",
        body=_CLI_SERVERLESS | _ENDPOINT_FIELDS,
    ),
    "PUT /api/v0/endptjobs/{id}/": RequestDeviation(
        why="CLI: as on create, plus endptjob_id (vastai 1.9.1 CLI)",
        body=_CLI_SERVERLESS | _ENDPOINT_FIELDS | {"endptjob_id"},
    ),
    "DELETE /api/v0/endptjobs/{id}/": RequestDeviation(
        why="CLI: body {client_id, endptjob_id} (vastai 1.9.1 CLI); the document shows none",
        body=frozenset({"client_id", "endptjob_id"}),
    ),
    "POST /api/v0/workergroups/": RequestDeviation(
        why="CLI: /autojobs/ (the documents: /workergroups/, both live, the vastai 1.9.1 CLI); "
        "client_id and autoscaler_instance; the typed SDK's min_cold_load",
        body=_CLI_SERVERLESS | {"min_cold_load"},
    ),
    "PUT /api/v0/workergroups/{id}/": RequestDeviation(
        why="CLI: as on create, plus autojob_id (vastai 1.9.1 CLI)",
        body=_CLI_SERVERLESS | {"min_cold_load", "autojob_id"},
    ),
    "DELETE /api/v0/workergroups/{id}/": RequestDeviation(
        why="CLI: body {client_id, autojob_id} (vastai 1.9.1 CLI); the document shows none",
        body=frozenset({"client_id", "autojob_id"}),
    ),
    "POST /api/v0/template/": RequestDeviation(
        why="CLI: onstart is null when unset, and readme_visible is sent (vastai 1.9.1 CLI)",
        body=frozenset({"readme_visible"}),
        fix=at("onstart", nullable),
    ),
    "DELETE /api/v0/template/": RequestDeviation(
        why="CLI: `{hash_id}` (or `{template_id}`, the vastai 1.9.1 CLI); the document requires "
        "template_id",
        fix=chain(not_required("template_id"), at("hash_id", lambda _: {"type": "string"})),
    ),
}

# Routes the client calls that no document describes, and where they come from.
UNDOCUMENTED_CLIENT_ROUTES = {
    "GET /api/v0/endptjobs/{id}/": "the serverless client's fetch_endpoint (vastai 1.9.1 CLI)",
    "PUT /api/v0/instances/price_increase/{id}/": "UNCONFIRMED: the simulator's model of "
    "accepting or rejecting a host's price increase (docs/simulator.md)",
}

# Routes whose trailing slash the client (following the CLI) spells unlike the document. The
# simulator accepts both; with --redirect-slashes it answers 301, which the client does not
# follow (it raises PermanentError 'unexpected redirect').
SLASH_DIFFERENCES = {
    "GET /api/v0/users/current": "/api/v0/users/current/",
    "GET /api/v0/volumes": "/api/v0/volumes/",
}


@dataclass
class Sent:
    method: str
    url: str
    body: bytes

    @property
    def path(self) -> str:
        return httpx.URL(self.url).path


def client_routes() -> set[str]:
    """'METHOD /path/template' of every `_request(...)` in the client's source."""
    pattern = re.compile(r'_request\(\s*"(GET|POST|PUT|DELETE)",\s*"([^"]+)"', re.S)
    found: set[str] = set()
    for source in sorted(CLIENT_DIR.glob("*.py")):
        for method, path in pattern.findall(source.read_text()):
            found.add(f"{method} {path}")
    return found


def matches(template: str, path: str) -> bool:
    t, p = segments(template), segments(path)
    return len(t) == len(p) and all(a.startswith("{") or a == b for a, b in zip(t, p, strict=True))


@pytest.fixture(scope="module")
async def sent() -> list[Sent]:
    config = SimConfig(api_key=KEY, boot_seconds=0.0, num_machines=40)
    config.relax.add("rate_limits")  # the client's own pacing is off here (scale=0)
    app = create_app(config)
    asgi = httpx.ASGITransport(app=app)
    recorded: list[Sent] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        recorded.append(Sent(request.method, str(request.url), await request.aread()))
        return await asgi.handle_async_request(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    limiter = RateLimiter(scale=0, requests_per_second=None)
    client = VastClient("http://vast.test", KEY, http=http, limiter=limiter, max_retries=0)
    async with http:
        await drive(client, app.state.sim.world)
    return recorded


async def drive(c: VastClient, world: Any) -> None:
    """Every public call of the client, in an order where each one has something to act on."""
    offers = await c.search_offers(OfferQuery().where("num_gpus", "eq", 1).with_limit(3))
    made = await c.create_instance(offers[0].id, CreateInstanceRequest(image="img", label="c"))
    inst = made.new_contract
    bid = await c.create_instance(
        offers[1].id, CreateInstanceRequest(image="img", price=0.5, label="bid")
    )
    await c.list_instances(label="c")
    await c.get_instance(inst)
    await c.label_instance(inst, "c2")
    await c.stop_instance(inst)
    await c.start_instance(inst)
    await c.reboot_instance(inst)
    await c.request_logs(inst, tail=10)
    await c.change_bid(bid.new_contract, 0.6)
    world.raise_price(offers[0].machine_id, 50.0, notice_seconds=600)  # the host asks for more
    await c.answer_price_increase(inst, accept=False)
    await c.attach_ssh_key(inst, SSH)
    keys = await c.list_instance_ssh_keys(inst)
    await c.detach_ssh_key(inst, keys[0].id)
    volume_offers = await c.search_volume_offers(VolumeOfferQuery().with_limit(2))
    volume = await c.create_volume(volume_offers[0].id, 5, "data")
    await c.list_volumes()
    await c.destroy_instance(inst)
    await c.delete_volume(volume.volume_id or 0)
    ep = await c.create_endpoint(
        EndpointSpec(endpoint_name="contract", max_workers=3, min_cold_load=1.0)
    )
    await c.list_endpoints()
    await c.get_endpoint(ep)
    await c.update_endpoint(ep, EndpointSpec(min_load=2, target_queue_time=5))
    hash_id = await c.create_template("repo/img:tag", "contract-template")
    group = WorkergroupRequest(endpoint_id=ep, template_hash=hash_id, search_params="num_gpus=1")
    wg = await c.create_workergroup(group)
    await c.list_workergroups(endpoint_id=ep)
    await c.update_workergroup(wg, WorkergroupRequest(endpoint_id=ep, gpu_ram=24))
    await c.delete_workergroup(wg)
    await c.delete_endpoint(ep)
    await c.delete_template(hash_id)
    await c.current_user()


def documented_route(request: Sent) -> str:
    op = operation(request.method, request.path)
    return op.route if op is not None else ""


def test_every_client_request_fits_its_documented_request(sent: list[Sent]) -> None:
    failures = []
    for request in sent:
        op = operation(request.method, request.path)
        if op is None:
            assert any(
                r.startswith(request.method + " ") and matches(r.split(" ", 1)[1], request.path)
                for r in UNDOCUMENTED_CLIENT_ROUTES
            ), f"{request.method} {request.path}: no document and no table entry"
            continue
        deviation = REQUEST_DEVIATIONS.get(op.route)
        try:
            if deviation is None:
                check_request(op, request.url, request.body)
            else:
                check_request(op, request.url, request.body, deviation)
        except ContractError as exc:
            failures.append(f"{request.method} {request.url}: {exc}")
    assert not failures, "\n".join(failures)


def test_every_client_route_is_exercised(sent: list[Sent]) -> None:
    routes = client_routes()
    assert len(routes) >= 20, routes  # the grep still finds the client's calls
    missing = {
        route
        for route in routes
        if not any(
            r.method == route.split(" ")[0] and matches(route.split(" ", 1)[1], r.path)
            for r in sent
        )
    }
    assert missing == set(), "client routes this test never calls"


def test_the_deviation_tables_are_current(sent: list[Sent]) -> None:
    used = {documented_route(r) for r in sent}
    assert set(REQUEST_DEVIATIONS) <= used, "entries for routes the client no longer calls"
    for route, deviation in REQUEST_DEVIATIONS.items():
        assert deviation.why, route
    for route, documented in SLASH_DIFFERENCES.items():
        method, path = route.split(" ", 1)
        assert any(r.method == method and r.path == path for r in sent), route
        op = operation(method, path)
        assert op is not None and op.template == documented, route


def test_a_broken_request_is_caught() -> None:
    """The check is live: a search whose `limit` is text, or with an unknown key, fails it."""
    op = operation("POST", "/api/v0/bundles/")
    assert op is not None
    deviation = REQUEST_DEVIATIONS[op.route]
    good = {"num_gpus": {"eq": 1}, "type": "on-demand", "limit": 5, "order": [["score", "desc"]]}
    check_request(op, "http://x/api/v0/bundles/", json.dumps(good).encode(), deviation)
    broken = {**good, "limit": "five"}
    with pytest.raises(ContractError, match="limit"):
        check_request(op, "http://x/api/v0/bundles/", json.dumps(broken).encode(), deviation)
    unknown = {**good, "gpu_nam": {"eq": "x"}}
    with pytest.raises(ContractError, match="gpu_nam"):
        check_request(op, "http://x/api/v0/bundles/", json.dumps(unknown).encode(), deviation)
    shows = operation("GET", "/api/v0/instances/1/")
    assert shows is not None
    with pytest.raises(ContractError, match="owner"):
        check_request(shows, "http://x/api/v0/instances/1/?owner=me", b"")
