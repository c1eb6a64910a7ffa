"""Fault injection, observed over real HTTP against an in-thread uvicorn server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from vast_sim.testing import RunningSim

ASKS = "PUT /api/v0/asks/{id}/"
USER = "GET /api/v0/users/current/"


def cheapest(sim: RunningSim) -> dict[str, Any]:
    r = httpx.post(
        f"{sim.api_url}/bundles/",
        json={"num_gpus": {"eq": 1}, "order": [["dph_total", "asc"]], "limit": 1},
    )
    offer: dict[str, Any] = r.json()["offers"][0]
    return offer


def user(sim: RunningSim, **kwargs: Any) -> httpx.Response:
    return httpx.get(f"{sim.api_url}/users/current", headers=sim.headers, **kwargs)


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "check"),
    [
        ("429_detail", 429, "application/json", lambda r: "detail" in r.json()),
        ("429_json", 429, "application/json", lambda r: r.json()["error"] == "rate_limit_exceeded"),
        ("429_text", 429, "text/plain", lambda r: "too frequent" in r.text),
        ("500", 500, "application/json", lambda r: r.json()["success"] is False),
        ("502", 502, "text/html", lambda r: "502 Bad Gateway" in r.text),
        ("503", 503, "text/html", lambda r: "503" in r.text),
        ("504", 504, "text/html", lambda r: "504" in r.text),
    ],
)
def test_http_faults(
    served: RunningSim, kind: str, status: int, content_type: str, check: Any
) -> None:
    served.admin.fault(kind, route=USER, count=2)
    for _ in range(2):
        r = user(served)
        assert r.status_code == status
        assert r.headers["content-type"].startswith(content_type)
        assert "retry-after" not in r.headers
        assert check(r)
    assert user(served).status_code == 200  # count used up
    assert served.admin.count(USER) == 3
    assert served.admin.faults() == []


def test_429_detail_names_the_route_threshold(served: RunningSim) -> None:
    served.admin.fault("429_detail", route="PUT /asks/{id}")  # short spelling is normalised
    r = httpx.put(f"{served.api_url}/asks/1/", json={}, headers=served.headers)
    assert r.json() == {"detail": "API requests too frequent endpoint threshold=4.5"}


def test_wildcard_and_concrete_routes(served: RunningSim) -> None:
    served.admin.fault("503", route="*", count=1)
    assert httpx.post(f"{served.api_url}/bundles/", json={}).status_code == 503
    assert user(served).status_code == 200
    served.admin.fault("500", route="GET /api/v0/instances/123/")
    r = httpx.get(f"{served.api_url}/instances/124/", headers=served.headers)
    assert r.status_code == 200 and r.json() == {"instances": None}
    r = httpx.get(f"{served.api_url}/instances/123", headers=served.headers)
    assert r.status_code == 500


def test_drop_closes_the_connection_without_a_response(served: RunningSim) -> None:
    served.admin.fault("drop", route=USER)
    with pytest.raises(httpx.RemoteProtocolError):
        user(served)
    assert user(served).status_code == 200
    assert served.admin.count(USER) == 2


def test_timeout_holds_the_request_longer_than_the_client_waits(served: RunningSim) -> None:
    served.admin.fault("timeout", route=USER, seconds=1.0)
    with pytest.raises(httpx.ReadTimeout):
        user(served, timeout=0.2)
    assert user(served, timeout=10).status_code == 200


def test_slow_answers_normally_in_the_end(served: RunningSim) -> None:
    served.admin.fault("slow", route=USER, seconds=0.2)
    assert user(served, timeout=10).status_code == 200
    assert served.admin.faults() == []


def test_offer_vanishes_between_search_and_create(served: RunningSim) -> None:
    offer = cheapest(served)
    served.admin.fault("offer_vanish")
    r = httpx.put(
        f"{served.api_url}/asks/{offer['id']}/",
        json={"image": "img", "disk": 10},
        headers=served.headers,
    )
    assert r.status_code == 404
    assert r.json()["msg"].startswith("error 404/3603: no_such_ask")
    assert r.json()["ask_id"] == offer["id"]
    assert cheapest(served)["id"] != offer["id"]
    state = served.admin.state()
    assert state["instances"] == []


def test_create_error_that_still_allocates(served: RunningSim) -> None:
    offer = cheapest(served)
    served.admin.fault("create_error_allocates", status=502)
    r = httpx.put(
        f"{served.api_url}/asks/{offer['id']}/",
        json={"image": "img", "disk": 10, "label": "uid-123"},
        headers=served.headers,
    )
    assert r.status_code == 502
    assert r.json()["success"] is False
    listed = httpx.get(
        f"{served.url}/api/v1/instances/",
        params={"select_filters": '{"label": {"eq": "uid-123"}}'},
        headers=served.headers,
    ).json()
    assert listed["total_instances"] == 1
    assert listed["instances"][0]["machine_id"] == offer["machine_id"]


def test_create_faults_ignore_other_routes(served: RunningSim) -> None:
    served.admin.fault("offer_vanish", route="*")
    assert user(served).status_code == 200
    assert len(served.admin.faults()) == 1
    served.admin.clear_faults()
    assert served.admin.faults() == []


def test_bad_fault_specs_are_refused(served: RunningSim) -> None:
    for spec in ({"kind": "explode"}, {"kind": "offer_vanish", "route": USER}, {"route": "*"}):
        r = httpx.post(f"{served.url}/_sim/faults", json=spec)
        assert r.status_code == 400


def test_admin_status_destroy_and_machine_flags(served: RunningSim) -> None:
    offer = cheapest(served)
    created = httpx.put(
        f"{served.api_url}/asks/{offer['id']}/",
        json={"image": "img", "disk": 10},
        headers=served.headers,
    ).json()
    inst = created["new_contract"]
    row = served.admin.set_status(inst, "exited", "container exited with code 1")
    assert (row["actual_status"], row["status_msg"]) == ("exited", "container exited with code 1")
    info = served.admin.instance(inst)
    assert info is not None and info["api_key"] == created["instance_api_key"]
    served.admin.destroy_instance(inst)  # behind the client's back: unloading, then gone
    r = httpx.get(f"{served.url}/api/v1/instances/", headers=served.headers)
    assert [(i["id"], i["cur_state"]) for i in r.json()["instances"]] == [(inst, "unloaded")]
    r = httpx.get(f"{served.api_url}/instances/{inst}/", headers=served.headers)
    assert r.json() == {"instances": None}
    served.admin.advance_clock(served.admin.config()["unload_seconds"])
    r = httpx.get(f"{served.url}/api/v1/instances/", headers=served.headers)
    assert r.json()["instances"] == []
    assert served.admin.instance(inst) is None

    served.admin.config(boot_seconds=30)
    second = cheapest(served)
    served.admin.never_boot(second["machine_id"])
    inst = httpx.put(
        f"{served.api_url}/asks/{second['id']}/", json={"image": "i"}, headers=served.headers
    ).json()["new_contract"]
    served.admin.advance_clock(3600)
    row = httpx.get(f"{served.api_url}/instances/{inst}/", headers=served.headers).json()
    assert row["instances"]["actual_status"] == "loading"
    served.admin.never_boot(second["machine_id"], enabled=False)
    served.admin.advance_clock(30)
    row = httpx.get(f"{served.api_url}/instances/{inst}/", headers=served.headers).json()
    assert row["instances"]["actual_status"] == "running"
    served.admin.set_listed(second["machine_id"], False)
    query = {"machine_id": {"eq": second["machine_id"]}}
    assert httpx.post(f"{served.api_url}/bundles/", json=query).json() == {"offers": []}
