"""Every simulator answer against the documented response schema of its route.

A scripted tour drives every route the simulator serves (strict, every feature on; the rate
limits are relaxed for the tour and exercised on their own at the end), through success and
error paths. Each answer is then looked up in Vast's OpenAPI documents (the pinned copy in this
folder) and validated: a status the document lists must match its schema; a status it does not
list must be declared in `UNDOCUMENTED_STATUSES` with the reason we answer it anyway. Routes no
document describes are listed in `UNDOCUMENTED_ROUTES` with their source.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from contract_support import (
    ContractError,
    Operation,
    SchemaFix,
    at,
    check,
    check_response,
    edit_properties,
    nullable,
    operation,
    operations,
    typed,
)
from starlette.applications import Starlette

from vast_sim.app import VastRoute, create_app
from vast_sim.config import SimConfig
from vast_sim.metering import DEFAULT_INTERVALS
from vast_sim.paths import DOCUMENTED_PATHS, canonical_path

KEY = "contract-key"
SSH = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIcontracttests c@test"

# Routes the simulator serves that no OpenAPI document describes, and where they come from.
UNDOCUMENTED_ROUTES = {
    "GET /api/v0/bundles/": "legacy search `GET /bundles?q=` (vastai 1.9.1 CLI)",
    "PUT /api/v0/search/asks/": "the CLI's `search offers --new` (vastai 1.9.1 CLI)",
    "GET /api/v0/instances/": "v0 list, 410 deprecated_endpoint (vastai 1.9.1 CLI)",
    "PUT /api/v0/instances/": "CLI bulk start/stop (vastai 1.9.1 CLI)",
    "DELETE /api/v0/instances/": "CLI bulk destroy (vastai 1.9.1 CLI)",
    "GET /api/v0/instances/filters/": "CLI show_instance_filters (vastai 1.9.1 CLI)",
    "POST /api/v0/network_volumes/search/": "CLI search network volumes (vastai 1.9.1 CLI)",
    "GET /api/v0/endptjobs/{id}/": "serverless client fetch_endpoint (vastai 1.9.1 CLI)",
    "GET /api/v0/autojobs/{id}/": "mirror of GET /endptjobs/{id}/ for workergroups (sim)",
    "GET /api/v0/workergroups/{id}/": "mirror of GET /endptjobs/{id}/ for workergroups (sim)",
    "GET /api/v0/gpu_names/unique/": "CLI _get_gpu_names, no auth (vastai 1.9.1 CLI)",
    "GET /api/v0/gpu_types/": "CLI _get_gpu_types, no auth (vastai 1.9.1 CLI)",
    "PUT /api/v0/instances/price_increase/{id}/": "UNCONFIRMED model of a renter's answer to "
    "a host's price increase (vast_sim/market_events.py)",
}

# Answers on a documented route with a status its document does not list, and why. The first
# three hold on every route (an auth error or a rate limit, recognised by their body); the rest
# name one route ("METHOD /route/ status").
AUTH_AND_LIMITS = {
    403: "no key: `This action requires login.` is documented for show_invoices/show_charges "
    "(vastai 1.9.1 CLI); Vast's auth layer is shared, so every route answers it",
    404: "a wrong key: `auth_error` `Invalid user key` is documented as 404 for show_invoices "
    "and search_offers (vastai 1.9.1 CLI); every route answers it",
    429: "the rate limit, on a route whose document shows no 429 (docs: 'often plain text')",
}
UNDOCUMENTED_STATUSES = {
    "PUT /api/v0/asks/{id}/ 402": "insufficient credit: Vast's answer is UNCONFIRMED "
    "(vastai 1.9.1 CLI); 402 insufficient_credit is the simulator's guess",
    "PUT /api/v0/launch_instance/ 402": "insufficient credit, as for PUT /asks/{id}/",
    "PUT /api/v0/ssh/{id}/ 404": "no such key: the document lists only 400 (no example)",
    "DELETE /api/v0/ssh/{id}/ 404": "no such key: the document lists only 400",
    "PUT /api/v0/volumes/ 400": "a bad size / name: rent_volume documents only 200",
    "PUT /api/v0/volumes/ 404": "an unknown volume offer: rent_volume documents only 200",
    "POST /get_endpoint_workers/ 400": "no id: the document lists only 200",
}

# Where an answer of the simulator departs from its document: the side we follow and why.
# Applied to the documented schema before validating ("METHOD /route/ status").
RESPONSE_DEVIATIONS: dict[str, tuple[SchemaFix, str]] = {
    "PUT /api/v0/launch_instance/ 200": (
        at("new_contract", typed("integer")),
        "CLI/SDK: new_contract is the instance id, an int, as for PUT /asks/{id}/ "
        "(vastai CreateInstanceResponse; the vastai 1.9.1 CLI); oas:launch_instance says string",
    ),
    "GET /api/v0/instances/{id}/ 200": (
        lambda s: at("instances.ports", typed(["object", "null"]))(at("instances", nullable)(s)),
        "CLI: a missing instance is 200 {'instances': null} (vastai 1.9.1 CLI); `ports` is the "
        "docker-style dict of show_instances (the vastai 1.9.1 CLI: oas:show_instance's int array "
        "is wrong)",
    ),
    "PUT /api/v0/instances/{id}/ 400": (
        at("error", lambda e: {**e, "enum": [*e.get("enum", []), "invalid_args"]}),
        "invalid_args for a state other than running/stopped or an empty update: the "
        "document's codes only name the failures it documents",
    ),
    "POST /get_endpoint_workers/ 200": (
        lambda s: {"anyOf": [s, {"type": "array"}]},
        "the serverless SDK (vastai 1.9.1 serverless/client/client.py) reads a bare list of "
        "workers, or a dict with error_msg; the document shows {'workers': [...]}",
    ),
    "POST /route/ 200": (
        lambda s: {**{k: v for k, v in s.items() if k != "oneOf"}, "anyOf": s["oneOf"]},
        "the document's oneOf has no required keys, so a 'no worker' answer matches both "
        "branches; checked as anyOf",
    ),
}

# Field types the documents state that Vast's own client code contradicts (the CLI wins: it
# parses real answers), and fields the documents do not mark nullable although they are unset
# (null) until there is a value. Applied to every answer.
FIELD_DEVIATIONS: dict[str, tuple[SchemaFix, str]] = {
    "created_at": (
        typed(["number", "string"]),
        "epoch seconds: vastai 1.9.1 data/endpoint.py EndpointData.created_at is a float; the "
        "documents say date-time strings",
    ),
    "driver_vers": (
        typed("integer"),
        "vastai 1.9.1 data/offer.py Offer.driver_vers is Optional[int]; the documents say string",
    ),
    **{
        name: (nullable, "unset until there is a value; the documents rarely mark nullable")
        for name in ("onstart", "cpu_util", "disk_util", "sid", "ssh_key", "launch_args")
    },
}

ERROR_SCHEMA_FOR_UNDOCUMENTED = {
    "type": "object",
    "required": ["msg"],
    "properties": {
        "success": {"enum": [False]},
        "error": {"type": "string"},
        "msg": {"type": "string"},
    },
}


@dataclass
class Exchange:
    method: str
    path: str
    route: str
    status: int
    content_type: str
    body: bytes


def sim_routes(app: Starlette) -> dict[str, VastRoute]:
    """'METHOD /template/' -> route, for every Vast route of the app."""
    found: dict[str, VastRoute] = {}
    for route in app.routes:
        if isinstance(route, VastRoute):
            for method in route.methods or ():
                if method != "HEAD":
                    found[f"{method} {route.template}"] = route
    return found


def route_of(app: Starlette, method: str, path: str) -> str | None:
    canonical = canonical_path(path)
    for name, route in sim_routes(app).items():
        if name.startswith(method + " ") and route.path_regex.match(canonical):
            return name
    return None


def documented(route: str) -> Operation | None:
    if route in UNDOCUMENTED_ROUTES:
        return None
    method, template = route.split(" ", 1)
    concrete = re.sub(r"\{[^}]+\}", "1", template)
    return operation(method, concrete)


def auth_or_limit(exchange: Exchange) -> bool:
    """An auth error or a rate limit: answers every route may give (AUTH_AND_LIMITS)."""
    if exchange.status == 429:
        return exchange.body.startswith(b"API requests too frequent") or (
            b"too frequent" in exchange.body or b"search_quota_exceeded" in exchange.body
        )
    if exchange.status in (403, 404) and exchange.content_type.startswith("application/json"):
        return bool(json.loads(exchange.body).get("error") == "auth_error")
    return False


def fix_for(exchange: Exchange) -> SchemaFix:
    declared = RESPONSE_DEVIATIONS.get(f"{exchange.route} {exchange.status}")
    fields = {name: fix for name, (fix, _) in FIELD_DEVIATIONS.items()}

    def fix(schema: dict[str, Any]) -> dict[str, Any]:
        if declared is not None:
            schema = declared[0](schema)
        edited: dict[str, Any] = edit_properties(schema, fields)
        return edited

    return fix


def validate(exchange: Exchange) -> None:
    op = documented(exchange.route)
    if op is None:
        assert exchange.route in UNDOCUMENTED_ROUTES, f"{exchange.route}: no document"
        return
    responses = op.spec.get("responses") or {}
    if str(exchange.status) in responses or "default" in responses:
        check_response(op, exchange.status, exchange.content_type, exchange.body, fix_for(exchange))
        return
    key = f"{exchange.route} {exchange.status}"
    if key not in UNDOCUMENTED_STATUSES and not auth_or_limit(exchange):
        raise ContractError(
            f"{exchange.route} answered {exchange.status}, which its document ({op.document}) "
            f"does not list ({sorted(responses)}) and no table entry explains: "
            f"{exchange.body[:200]!r}"
        )
    if exchange.content_type.startswith("application/json"):
        body = json.loads(exchange.body)
        if exchange.status != 429:
            check(body, ERROR_SCHEMA_FOR_UNDOCUMENTED, f"{key} answer")


async def tour(a: httpx.AsyncClient, b: httpx.AsyncClient, nokey: httpx.AsyncClient) -> None:
    """Every route, successes and errors. `a` has the primary key, `b` an empty account."""
    bad_key = {"Authorization": "Bearer not-a-key"}
    # offers
    offers = (await a.post("/api/v0/bundles/", json={"num_gpus": {"eq": 1}, "limit": 4})).json()
    await a.post("/api/v0/bundles/", json={"gpu_nam": {"eq": "x"}})
    await a.post("/api/v0/bundles/", json=[1, 2])
    await a.post("/api/v0/bundles/", json={"limit": 1}, headers=bad_key)
    await nokey.post("/api/v0/bundles/", json={"limit": 1})
    await a.get("/api/v0/bundles/", params={"q": json.dumps({"limit": 1})})
    await a.get("/api/v0/bundles/", params={"q": "{oops"})
    await a.put("/api/v0/search/asks/", json={"q": {"limit": 1}})
    await a.get("/api/v0/gpu_names/unique/")
    await a.get("/api/v0/gpu_types/")
    first, second, third, fourth = (o["id"] for o in offers["offers"])
    body = {"client_id": "me", "image": "img:1", "disk": 10, "label": "c", "env": {}}
    inst = (await a.put(f"/api/v0/asks/{first}/", json=body)).json()["new_contract"]
    await a.put(f"/api/v0/asks/{first}/", json=body)  # taken: 404
    await a.put(f"/api/v0/asks/{second}/", json={**body, "runtype": "nonsense"})
    await b.put(f"/api/v0/asks/{second}/", json=body)  # no credit: 402
    await nokey.put(f"/api/v0/asks/{second}/", json=body)
    await a.put(f"/api/v0/asks/{second}/", json=body, headers=bad_key)
    other = (await a.put(f"/api/v0/asks/{second}/", json=body)).json()["new_contract"]
    q = {"num_gpus": {"eq": 1}, "order": [["dph_total", "asc"]]}
    await a.put("/api/v0/launch_instance/", json={**body, "q": q})
    await a.put("/api/v0/launch_instance/", json={**body, "q": {"gpu_name": {"eq": "Voodoo"}}})
    await a.put("/api/v0/launch_instance/", json=body)
    # instances
    await a.get("/api/v1/instances/", params={"limit": 1})
    await a.get("/api/v1/instances/", params={"select_filters": '{"dph_total": {"lt": 1}}'})
    await a.get("/api/v1/instances/", params={"after_token": "garbage"})
    await a.get("/api/v1/instances/", headers=bad_key)
    await a.get("/api/v0/instances/", params={"owner": "me"})
    await a.get("/api/v0/instances/filters/")
    await a.put("/api/v0/instances/", json={"ids": [other], "state": "stopped"})
    await a.put("/api/v0/instances/", json={"ids": "x"})
    await a.get(f"/api/v0/instances/{inst}/", params={"owner": "me"})
    await a.get("/api/v0/instances/12/")
    await a.get("/api/v0/instances/abc/")
    await a.put(f"/api/v0/instances/{inst}/", json={"label": "renamed"})
    await a.put(f"/api/v0/instances/{inst}/", json={"state": "sideways"})
    await a.put(f"/api/v0/instances/{inst}/", json={"label": "x" * 2000})
    await a.put("/api/v0/instances/12/", json={"state": "stopped"})
    await a.put(f"/api/v0/instances/reboot/{inst}/", json={})
    await a.put("/api/v0/instances/reboot/12/", json={})
    await a.put(f"/api/v0/instances/recycle/{inst}/", json={})
    await a.put("/api/v0/instances/recycle/12/", json={})
    await a.put(f"/api/v0/instances/bid_price/{inst}/", json={"client_id": "me", "price": 1})
    await a.put("/api/v0/instances/bid_price/12/", json={"client_id": "me", "price": 1})
    await a.put(f"/api/v0/instances/price_increase/{inst}/", json={"accept": True})
    await a.put("/api/v0/instances/price_increase/12/", json={"accept": True})
    await a.put(f"/api/v0/instances/request_logs/{inst}/", json={"tail": "10"})
    await a.put("/api/v0/instances/request_logs/12/", json={})
    await a.put(f"/api/v0/instances/command/{inst}/", json={"command": "ls"})
    await a.put(f"/api/v0/instances/command/{inst}/", json={"command": "reboot now"})
    await a.put("/api/v0/instances/command/12/", json={"command": "ls"})
    await a.post(f"/api/v0/instances/{inst}/ssh/", json={"ssh_key": SSH})
    await a.post(f"/api/v0/instances/{inst}/ssh/", json={"ssh_key": "nope"})
    await a.post("/api/v0/instances/12/ssh/", json={"ssh_key": SSH})
    keys = json.loads((await a.get(f"/api/v0/instances/{inst}/ssh/")).json()["ssh_keys"])
    await a.get("/api/v0/instances/12/ssh/")
    await a.request("DELETE", f"/api/v0/instances/{inst}/ssh/{keys[0]['id']}/", json={})
    await a.request("DELETE", f"/api/v0/instances/{inst}/ssh/{keys[0]['id']}/", json={})
    await a.request("DELETE", f"/api/v0/instances/{inst}/", json={})
    await a.request("DELETE", f"/api/v0/instances/{inst}/", json={})
    await a.request("DELETE", "/api/v0/instances/abc/", json={})
    await a.request("DELETE", "/api/v0/instances/", json={"instance_ids": [other]})
    await a.request("DELETE", "/api/v0/instances/", json={})
    # account ssh keys
    made = (await a.post("/api/v0/ssh/", json={"ssh_key": SSH})).json()["key"]
    await a.post("/api/v0/ssh/", json={})
    await a.get("/api/v0/ssh/")
    await nokey.get("/api/v0/ssh/")
    await a.put(f"/api/v0/ssh/{made['id']}/", json={"id": made["id"], "ssh_key": SSH})
    await a.put("/api/v0/ssh/12/", json={"ssh_key": SSH})
    await a.put(f"/api/v0/ssh/{made['id']}/", json={"ssh_key": ""})
    await a.request("DELETE", f"/api/v0/ssh/{made['id']}/", json={})
    await a.request("DELETE", f"/api/v0/ssh/{made['id']}/", json={})
    # volumes
    vol_offer = (await a.post("/api/v0/volumes/search/", json={"limit": 2})).json()["offers"][0]
    await a.post("/api/v0/volumes/search/", json={"gpu_name": {"eq": "x"}})
    await a.post("/api/v0/volumes/search/", json="not a query")
    await a.post("/api/v0/network_volumes/search/", json={})
    made_vol = await a.put("/api/v0/volumes/", json={"id": vol_offer["id"], "size": 5, "name": "d"})
    await a.put("/api/v0/volumes/", json={"id": vol_offer["id"], "size": 10**6})
    await a.put("/api/v0/volumes/", json={"id": 12, "size": 5})
    await a.get("/api/v0/volumes", params={"owner": "me", "type": "local_volume"})
    vol_id = int(made_vol.json()["volume_name"][2:])
    await a.request("DELETE", "/api/v0/volumes/", params={"id": vol_id}, json={})
    await a.request("DELETE", "/api/v0/volumes/", json={"id": vol_id})
    await a.request("DELETE", "/api/v0/volumes/", json={})
    # serverless
    await a.get("/api/v0/endptjobs/")  # none yet: the documented 400
    ep = (await a.post("/api/v0/endptjobs/", json={"endpoint_name": "c-ep"})).json()["result"]
    await a.post("/api/v0/endptjobs/", json={"endpoint_name": "bad name!"})
    await a.get("/api/v0/endptjobs/")
    await a.get(f"/api/v0/endptjobs/{ep}/")
    await a.get("/api/v0/endptjobs/12/")
    await a.put(f"/api/v0/endptjobs/{ep}/", json={"min_load": 2})
    await a.put("/api/v0/endptjobs/12/", json={"min_load": 2})
    template = (await a.post("/api/v0/template/", json={"name": "t", "image": "i"})).json()
    await a.post("/api/v0/template/", json={"name": "no image"})
    await a.get("/api/v0/template/", params={"select_filters": "{}"})
    await a.get("/api/v0/template/", params={"select_filters": "{oops"})
    hash_id = template["template"]["hash_id"]
    wg_body = {"endpoint_id": ep, "template_hash": hash_id, "search_params": "num_gpus=1"}
    await a.get("/api/v0/workergroups/")  # none yet: 400
    for group in ("autojobs", "workergroups"):
        wg = (await a.post(f"/api/v0/{group}/", json=wg_body)).json()["id"]
        await a.post(f"/api/v0/{group}/", json={**wg_body, "endpoint_id": 12})
        await a.get(f"/api/v0/{group}/")
        await a.get(f"/api/v0/{group}/{wg}/")
        await a.get(f"/api/v0/{group}/12/")
        await a.put(f"/api/v0/{group}/{wg}/", json={"gpu_ram": 48})
        await a.put(f"/api/v0/{group}/12/", json={"gpu_ram": 48})
        await a.request("DELETE", f"/api/v0/{group}/{wg}/", json={})
        await a.request("DELETE", f"/api/v0/{group}/{wg}/", json={})
    await a.post("/get_endpoint_workers/", json={"id": ep})
    await a.post("/get_endpoint_workers/", json={"id": 12})
    await a.post("/get_endpoint_workers/", json={})
    await nokey.post("/route/", json={"endpoint": "c-ep", "api_key": KEY, "cost": 100})
    await nokey.post("/route/", json={"endpoint": "c-ep", "api_key": "wrong"})
    await nokey.post("/route/", json={"endpoint": "nothing"})
    await a.request("DELETE", f"/api/v0/endptjobs/{ep}/", json={})
    await a.request("DELETE", f"/api/v0/endptjobs/{ep}/", json={})
    edited = (await a.put("/api/v0/template/", json={"hash_id": hash_id, "tag": "2"})).json()
    await a.put("/api/v0/template/", json={"hash_id": "missing"})
    await a.request("DELETE", "/api/v0/template/", json={"hash_id": edited["template"]["hash_id"]})
    await a.request("DELETE", "/api/v0/template/", json={"hash_id": "missing"})
    # secrets and the user
    await a.post("/api/v0/secrets/", json={"key": "hf", "value": "x"})
    await a.post("/api/v0/secrets/", json={"key": "hf", "value": "x"})
    await a.post("/api/v0/secrets/", json={"key": "hf"})
    await a.get("/api/v0/secrets/")
    await a.put("/api/v0/secrets/", json={"key": "hf", "value": "y"})
    await a.put("/api/v0/secrets/", json={"key": "nope", "value": "y"})
    await a.request("DELETE", "/api/v0/secrets/", json={"key": "hf"})
    await a.request("DELETE", "/api/v0/secrets/", json={"key": "hf"})
    await a.get("/api/v0/users/current")
    await nokey.get("/api/v0/users/current/")
    await a.get("/api/v0/users/current/", headers=bad_key)
    del third, fourth


async def rate_limited(a: httpx.AsyncClient, app: Starlette) -> None:
    """Every rate-limited route the simulator serves, twice in a row: the 429 style."""
    app.state.sim.config.features["rate_limits"] = True
    for route in sorted(DEFAULT_INTERVALS):
        method, template = route.split(" ", 1)
        path = re.sub(r"\{[^}]+\}", "12", template)
        for _ in range(11 if "bundles" in route or "search" in route else 2):
            await a.request(method, path, json={})


@dataclass
class Tour:
    served: set[str]
    exchanges: list[Exchange]


@pytest.fixture(scope="module")
async def done_tour() -> Tour:
    config = SimConfig(api_key=KEY, boot_seconds=0.0, num_machines=40)
    config.relax.add("rate_limits")
    app = create_app(config)
    app.state.sim.world.create_account(api_key="empty-account", credit=0)
    recorded: list[Exchange] = []

    async def record(response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        route = route_of(app, request.method, request.url.path)
        assert route is not None, f"unrouted {request.method} {request.url.path}"
        content_type = response.headers.get("content-type", "")
        recorded.append(
            Exchange(
                request.method,
                request.url.path,
                route,
                response.status_code,
                content_type,
                response.content,
            )
        )

    def client(key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://vast.test",
            headers=headers,
            event_hooks={"response": [record]},
        )

    async with client(KEY) as a, client("empty-account") as b, client(None) as nokey:
        await tour(a, b, nokey)
        await rate_limited(a, app)
    return Tour(set(sim_routes(app)), recorded)


def test_every_simulator_answer_fits_its_documented_schema(done_tour: Tour) -> None:
    failures = []
    for exchange in done_tour.exchanges:
        try:
            validate(exchange)
        except ContractError as exc:
            failures.append(f"{exchange.method} {exchange.path} -> {exchange.status}: {exc}")
    assert not failures, "\n".join(failures)


def test_the_tour_covers_every_route_and_an_error_on_each_documented_one(
    done_tour: Tour,
) -> None:
    served, exchanges = done_tour.served, done_tour.exchanges
    seen = {e.route for e in exchanges}
    assert served - seen == set(), "routes the tour never called"
    no_error = {
        route
        for route in served
        if documented(route) is not None
        and not any(e.route == route and e.status >= 400 for e in exchanges)
    }
    assert no_error == set(), "documented routes without an error answer in the tour"
    assert set(UNDOCUMENTED_ROUTES) <= served, "stale UNDOCUMENTED_ROUTES entries"


def test_undocumented_routes_really_are_undocumented() -> None:
    for route in UNDOCUMENTED_ROUTES:
        method, template = route.split(" ", 1)
        op = operation(method, re.sub(r"\{[^}]+\}", "1", template))
        assert op is None or ("{" in op.template and "filters" in template), route


def test_documented_paths_of_the_simulator_match_the_documents() -> None:
    """paths.DOCUMENTED_PATHS (used by --redirect-slashes) is the documents' own spelling."""
    spelled = {op.template for op in operations()}
    assert set(DOCUMENTED_PATHS) <= spelled | {"/api/v0/instances/{id}/ssh/{ssh_key_id}/"}
    for route in sim_routes(create_app(SimConfig())):
        op = documented(route)
        if op is not None:
            shape = re.sub(r"\{[^}]+\}", "{}", op.template)
            assert shape in {re.sub(r"\{[^}]+\}", "{}", p) for p in DOCUMENTED_PATHS}, route


def test_rate_limits_match_the_documented_thresholds() -> None:
    """Each threshold= of a documented 429 example is the simulator's interval for it."""
    for route, seconds in DEFAULT_INTERVALS.items():
        op = documented(route)
        if op is None:
            continue
        example = json.dumps((op.spec.get("responses") or {}).get("429") or {})
        found = re.findall(r"threshold=([0-9.]+)", example)
        if found:
            assert float(found[0]) == seconds, route


def test_a_broken_answer_is_caught() -> None:
    """The check is live: a list answer whose `instances` is not a list fails it."""
    op = operation("GET", "/api/v1/instances/")
    assert op is not None
    good = {"success": True, "instances": [], "next_token": None}
    check_response(op, 200, "application/json", json.dumps(good).encode())
    broken = {"success": True, "instances": "none", "next_token": None}
    with pytest.raises(ContractError, match="instances"):
        check_response(op, 200, "application/json", json.dumps(broken).encode())
    with pytest.raises(ContractError, match="not documented"):
        check_response(op, 418, "application/json", b"{}")
