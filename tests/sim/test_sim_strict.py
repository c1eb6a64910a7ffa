"""The strict features, each on and relaxed: rate limits, Bearer-only auth, documented empty
lists, unloading, unknown search fields, the daily search quota, and the opt-in slash
redirects and Retry-After; plus the listing faults (lag, missing rows)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sim_test_support import KEY
from starlette.applications import Starlette

from vast_sim.app import Sim
from vast_sim.cli import build_parser, config_from_args
from vast_sim.config import FEATURES, SimConfig

SEARCH = "/api/v0/bundles/"
ONE_GPU = {"num_gpus": {"eq": 1}, "order": [["dph_total", "asc"]], "limit": 1}
IMAGE = {"image": "pytorch/pytorch", "disk": 16}


async def rent(api: httpx.AsyncClient, sim: Sim) -> int:
    """Rent the cheapest single-GPU offer (pacing the search and the rent like Vast wants)."""
    sim.world.advance_clock(7)
    offer = (await api.post(SEARCH, json=ONE_GPU)).json()["offers"][0]
    sim.world.advance_clock(7)
    r = await api.put(f"/api/v0/asks/{offer['id']}/", json=IMAGE)
    assert r.status_code == 200, r.text
    return int(r.json()["new_contract"])


def next_midnight(now: float) -> int:
    day = datetime.fromtimestamp(now, UTC).date() + timedelta(days=1)
    return calendar.timegm(day.timetuple())


# --- switches ------------------------------------------------------------------------------------


def test_strict_by_default_and_every_feature_can_be_relaxed() -> None:
    config = SimConfig()
    assert config.feature_states() == dict.fromkeys(FEATURES, True)
    assert not config.redirect_slashes and not config.retry_after
    assert SimConfig(strict=False).feature_states() == dict.fromkeys(FEATURES, False)
    some = SimConfig(relax={"rate_limits", "unloading"})
    assert [name for name, on in some.feature_states().items() if not on] == [
        "rate_limits",
        "unloading",
    ]
    # An explicit feature wins over both: relaxed except the rate limits.
    assert SimConfig(strict=False, enforce_rate_limits=True).enforces("rate_limits")
    with pytest.raises(ValueError, match="unknown strict features"):
        SimConfig(relax={"nonsense"})


def test_command_line_flags(tmp_path: Any) -> None:
    accounts = tmp_path / "accounts.json"
    accounts.write_text('[{"api_key": "third", "credit": 5, "username": "c"}]')
    args = build_parser().parse_args(
        [
            "--api-key",
            "first",
            "--api-key",
            "second",
            "--accounts-file",
            str(accounts),
            "--relaxed",
            "--enforce-rate-limits",
            "--relax",
            "unloading",
            "--unload-seconds",
            "3",
            "--search-quota",
            "7",
            "--redirect-slashes",
            "--retry-after",
        ]
    )
    config = config_from_args(args)
    assert config.api_key == "first"
    assert [(a.api_key, a.credit, a.username) for a in config.accounts] == [
        ("second", None, None),
        ("third", 5.0, "c"),
    ]
    assert not config.strict and config.enforces("rate_limits")
    assert not config.enforces("unloading") and not config.enforces("search_quota")
    assert (config.unload_seconds, config.search_quota) == (3.0, 7)
    assert config.redirect_slashes and config.retry_after
    default = config_from_args(build_parser().parse_args([]))
    assert default.strict and default.feature_states() == dict.fromkeys(FEATURES, True)


async def test_admin_config_switches_features(strict_api: httpx.AsyncClient) -> None:
    cfg = (await strict_api.get("/_sim/config")).json()
    assert cfg["strict"] is True and set(cfg["features"]) == set(FEATURES)
    relaxed = (await strict_api.post("/_sim/config", json={"strict": False})).json()
    assert not any(relaxed["features"].values())
    some = (
        await strict_api.post(
            "/_sim/config", json={"strict": True, "relax": ["unloading"], "search_quota": 5}
        )
    ).json()
    assert some["features"]["unloading"] is False and some["features"]["rate_limits"] is True
    assert some["search_quota"] == 5
    bad = await strict_api.post("/_sim/config", json={"relax": ["speed"]})
    assert bad.status_code == 400 and "unknown strict features" in bad.json()["error"]


# --- auth ----------------------------------------------------------------------------------------


async def test_only_bearer_authenticates(strict_app: Starlette, strict_sim: Sim) -> None:
    url = "/api/v0/users/current/"
    transport = httpx.ASGITransport(app=strict_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://vast.test") as http:
        assert (await http.get(url, headers={"Authorization": f"Bearer {KEY}"})).status_code == 200
        assert (await http.get(url, params={"api_key": KEY})).status_code == 200  # documented
        raw = await http.get(url, headers={"Authorization": KEY})
        assert raw.status_code == 403
        assert raw.json() == {
            "success": False,
            "error": "auth_error",
            "msg": "This action requires login.",
        }
        strict_sim.config.relax.add("bearer_only")
        assert (await http.get(url, headers={"Authorization": KEY})).status_code == 200


# --- rate limits ---------------------------------------------------------------------------------


async def test_offer_search_is_ten_per_minute_per_ip(
    strict_api: httpx.AsyncClient, strict_sim: Sim
) -> None:
    for _ in range(10):
        assert (await strict_api.post(SEARCH, json={"limit": 1})).status_code == 200
    limited = await strict_api.post(SEARCH, json={"limit": 1})
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("text/plain")
    assert limited.text == "API requests too frequent"
    assert "retry-after" not in limited.headers  # Vast sends none
    # Per IP: another account (or no key at all) from the same address is limited too.
    other = strict_sim.world.create_account()["api_key"]
    again = await strict_api.post(
        SEARCH, json={"limit": 1}, headers={"Authorization": f"Bearer {other}"}
    )
    assert again.status_code == 429
    strict_sim.world.advance_clock(59.0)
    assert (await strict_api.post(SEARCH, json={"limit": 1})).status_code == 429
    strict_sim.world.advance_clock(1.0)  # the ten leave the 60 s window
    for _ in range(10):
        assert (await strict_api.post(SEARCH, json={"limit": 1})).status_code == 200
    assert (await strict_api.post(SEARCH, json={"limit": 1})).status_code == 429


async def test_route_intervals_per_account_with_optional_retry_after(
    strict_api: httpx.AsyncClient, strict_sim: Sim
) -> None:
    inst = await rent(strict_api, strict_sim)
    url = f"/api/v0/instances/{inst}/"
    assert (await strict_api.get(url)).status_code == 200
    limited = await strict_api.get(url)
    assert limited.status_code == 429
    assert limited.json() == {"detail": "API requests too frequent endpoint threshold=2"}
    strict_sim.config.retry_after = True
    strict_sim.world.advance_clock(0.5)
    hinted = await strict_api.get(url)
    assert hinted.status_code == 429 and hinted.headers["retry-after"] == "2"  # 1.5 s, rounded up
    strict_sim.world.advance_clock(1.5)
    assert (await strict_api.get(url)).status_code == 200


# --- search quota --------------------------------------------------------------------------------


async def test_daily_search_quota(strict_api: httpx.AsyncClient, strict_sim: Sim) -> None:
    strict_sim.config.search_quota = 2
    strict_sim.config.relax.add("rate_limits")
    for _ in range(2):
        assert (await strict_api.post(SEARCH, json={"limit": 1})).status_code == 200
    over = await strict_api.post(SEARCH, json={"limit": 1})
    assert over.status_code == 429
    assert over.json() == {
        "success": False,
        "error": "search_quota_exceeded",
        "msg": "Daily search quota exceeded",
    }
    reset = int(over.headers["x-ratelimit-reset"])
    assert reset == next_midnight(strict_sim.world.now())
    # Per key: another account still has its own searches today.
    other = strict_sim.world.create_account()["api_key"]
    headers = {"Authorization": f"Bearer {other}"}
    assert (await strict_api.post(SEARCH, json={"limit": 1}, headers=headers)).status_code == 200
    # Refused searches do not count; the next UTC day starts afresh.
    strict_sim.world.advance_clock(reset - strict_sim.world.now() + 1)
    assert (await strict_api.post(SEARCH, json={"limit": 1})).status_code == 200
    strict_sim.config.relax.add("search_quota")
    for _ in range(3):
        assert (await strict_api.post(SEARCH, json={"limit": 1})).status_code == 200


async def test_a_fault_triggers_the_search_quota(api: httpx.AsyncClient, sim: Sim) -> None:
    sim.faults.add("search_quota", count=1)
    over = await api.post(SEARCH, json={"limit": 1})
    assert over.status_code == 429 and over.json()["error"] == "search_quota_exceeded"
    assert int(over.headers["x-ratelimit-reset"]) == next_midnight(sim.world.now())
    assert (await api.post(SEARCH, json={"limit": 1})).status_code == 200


# --- unknown search fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        (SEARCH, {"gpu_nam": {"eq": "RTX 4090"}}, "gpu_nam is not a valid search key"),
        (SEARCH, {"dph": {"lt": 1}}, "dph is not a valid search key"),  # a CLI-side alias
        (SEARCH, {"georegion": True}, "georegion is not a valid search key"),  # SDK-side only
        (SEARCH, {"order": [["price", "asc"]]}, "price is not a valid order key"),
        ("/api/v0/volumes/search/", {"num_gpus": {"eq": 1}}, "num_gpus is not a valid search key"),
    ],
)
async def test_unknown_search_fields_are_refused(
    api: httpx.AsyncClient, sim: Sim, path: str, query: dict[str, Any], name: str
) -> None:
    r = await api.post(path, json=query)
    assert r.status_code == 400
    assert r.json() == {
        "success": False,
        "error": "invalid_request",
        "msg": f"Error in query parameters: {name}",
    }
    sim.config.relax.add("unknown_search_fields")
    assert (await api.post(path, json=query)).status_code == 200


async def test_what_the_cli_and_the_operator_send_is_known(api: httpx.AsyncClient) -> None:
    cli_default = {
        "verified": {"eq": True},
        "external": {"eq": False},
        "rentable": {"eq": True},
        "rented": {"eq": False},
        "gpu_name": {"eq": "RTX 4090"},
        "num_gpus": {"gte": "1"},
        "geolocation": {"in": ["US", "CA"]},
        "cuda_max_good": {"gte": "12.0"},
        "order": [["score", "desc"]],
        "type": "on-demand",
        "allocated_storage": 5.0,
        "limit": 3,
    }
    assert (await api.post(SEARCH, json=cli_default)).status_code == 200
    volumes = {
        "verified": {"eq": True},
        "external": {"eq": False},
        "disk_space": {"gte": 1},
        "cuda_vers": {"gte": "12.0"},
        "order": [["score", "desc"]],
        "allocated_storage": 1.0,
    }
    assert (await api.post("/api/v0/volumes/search/", json=volumes)).status_code == 200


# --- empty lists and unloading --------------------------------------------------------------------


async def test_empty_lists_relaxed_are_empty(api: httpx.AsyncClient, sim: Sim) -> None:
    assert (await api.get("/api/v0/endptjobs/")).status_code == 400
    assert (await api.get("/api/v0/workergroups/")).status_code == 400
    sim.config.relax.add("empty_lists")
    assert (await api.get("/api/v0/endptjobs/")).json() == {"success": True, "results": []}
    assert (await api.get("/api/v0/autojobs/")).json() == {"success": True, "results": []}


async def test_unloading_time_is_configurable_and_relaxable(
    api: httpx.AsyncClient, sim: Sim
) -> None:
    sim.config.unload_seconds = 3
    inst = await rent(api, sim)
    await api.delete(f"/api/v0/instances/{inst}/")
    listed = (await api.get("/api/v1/instances/")).json()["instances"]
    assert [(i["id"], i["cur_state"], i["next_state"]) for i in listed] == [
        (inst, "unloaded", "unloaded")
    ]
    stopped = await api.put(f"/api/v0/instances/{inst}/", json={"state": "running"})
    assert stopped.status_code == 404  # the contract is over
    sim.world.advance_clock(3)
    assert (await api.get("/api/v1/instances/")).json()["instances"] == []
    sim.config.relax.add("unloading")
    second = await rent(api, sim)
    await api.delete(f"/api/v0/instances/{second}/")
    assert (await api.get("/api/v1/instances/")).json()["instances"] == []


# --- redirects ------------------------------------------------------------------------------------


async def test_slash_redirects_to_the_documented_form(api: httpx.AsyncClient, sim: Sim) -> None:
    assert (await api.get("/api/v0/users/current")).status_code == 200  # both forms by default
    sim.config.redirect_slashes = True
    moved = await api.get("/api/v0/volumes", params={"owner": "me"})
    assert moved.status_code == 301
    assert moved.headers["location"] == "/api/v0/volumes/?owner=me"
    assert (await api.get("/api/v0/users/current/")).status_code == 200
    inst = await rent(api, sim)
    logs = await api.put(f"/api/v0/instances/request_logs/{inst}/", json={"tail": "5"})
    assert logs.status_code == 308  # keeps the method and the body
    assert logs.headers["location"] == f"/api/v0/instances/request_logs/{inst}"
    followed = await api.put(logs.headers["location"], json={"tail": "5"})
    assert followed.status_code == 200 and followed.json()["success"] is True
    assert (await api.get("/api/v0/autojobs")).status_code == 400  # undocumented: accepted
    assert sim.counters.snapshot()["routes"]["REDIRECT"] == 2  # type: ignore[index]


# --- faults ---------------------------------------------------------------------------------------


async def test_retry_after_on_faults(api: httpx.AsyncClient, sim: Sim) -> None:
    sim.faults.add("503", route="GET /api/v0/users/current/", retry_after=7)
    r = await api.get("/api/v0/users/current")
    assert r.status_code == 503 and r.headers["retry-after"] == "7"
    sim.faults.add("429_json", route="GET /api/v0/users/current/")
    assert "retry-after" not in (await api.get("/api/v0/users/current")).headers
    sim.config.retry_after = True
    sim.faults.add("429_detail", route="PUT /api/v0/asks/{id}/")
    hinted = await api.put("/api/v0/asks/1/", json={})
    assert hinted.status_code == 429 and hinted.headers["retry-after"] == "5"  # threshold 4.5


async def test_listing_lag_hides_a_new_instance_for_a_while(
    api: httpx.AsyncClient, sim: Sim
) -> None:
    admin = await api.post("/_sim/faults", json={"kind": "listing_lag", "seconds": 30})
    assert admin.json()["added"][0]["route"] == "PUT /api/v0/asks/{id}/"
    late = await rent(api, sim)
    on_time = await rent(api, sim)
    listed = {i["id"] for i in (await api.get("/api/v1/instances/")).json()["instances"]}
    assert listed == {on_time}
    one = (await api.get(f"/api/v0/instances/{late}/")).json()["instances"]
    assert one is not None and one["id"] == late  # only the list lags
    sim.world.advance_clock(30)
    listed = {i["id"] for i in (await api.get("/api/v1/instances/")).json()["instances"]}
    assert listed == {late, on_time}


async def test_missing_rows_leave_out_ids_for_k_listings(api: httpx.AsyncClient, sim: Sim) -> None:
    first, second = await rent(api, sim), await rent(api, sim)
    r = await api.post("/_sim/faults", json={"kind": "missing_rows", "ids": [first], "count": 2})
    assert r.json()["added"][0]["ids"] == [first]
    for _ in range(2):
        page = (await api.get("/api/v1/instances/")).json()
        assert [i["id"] for i in page["instances"]] == [second]
        assert page["total_instances"] == 1
    ids = {i["id"] for i in (await api.get("/api/v1/instances/")).json()["instances"]}
    assert ids == {first, second}
    bad = await api.post("/_sim/faults", json={"kind": "missing_rows"})
    assert bad.status_code == 400 and "ids" in bad.json()["error"]
