"""The wire protocol over HTTP (in-process): auth, shapes, paging, errors, counters, CRUD."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sim_test_support import KEY

from vast_sim.app import Sim

IMAGE = {"image": "pytorch/pytorch", "disk": 16}


async def first_offer(api: httpx.AsyncClient, **filters: Any) -> dict[str, Any]:
    query = {"num_gpus": {"eq": "1"}, "order": [["dph_total", "asc"]], "limit": 1, **filters}
    r = await api.post("/api/v0/bundles/", json=query)
    assert r.status_code == 200
    offer: dict[str, Any] = r.json()["offers"][0]
    return offer


async def rent(api: httpx.AsyncClient, label: str | None = None, **body: Any) -> int:
    offer = await first_offer(api)
    r = await api.put(f"/api/v0/asks/{offer['id']}/", json={**IMAGE, "label": label, **body})
    assert r.status_code == 200, r.text
    return int(r.json()["new_contract"])


# --- auth ---------------------------------------------------------------------------------------


async def test_auth_variants(api: httpx.AsyncClient) -> None:
    url = "/api/v0/users/current"
    bare = {"Authorization": ""}
    ok = await api.get(url)
    assert ok.status_code == 200 and ok.json()["api_key"] == KEY
    assert (await api.get(url, headers=bare, params={"api_key": KEY})).status_code == 200
    wrong = await api.get(url, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 404
    assert wrong.json() == {"success": False, "error": "auth_error", "msg": "Invalid user key"}
    wrong_param = await api.get(url, headers=bare, params={"api_key": "nope"})
    assert wrong_param.status_code == 404
    missing = await api.get(url, headers=bare)
    assert missing.status_code == 403
    assert missing.json() == {
        "success": False,
        "error": "auth_error",
        "msg": "This action requires login.",
    }


async def test_search_and_gpu_names_work_without_a_key(api: httpx.AsyncClient) -> None:
    bare = {"Authorization": ""}
    r = await api.post("/api/v0/bundles/", json={"limit": 2}, headers=bare)
    assert r.status_code == 200 and len(r.json()["offers"]) == 2
    assert r.headers["content-type"] == "application/json"
    names = await api.get("/api/v0/gpu_names/unique/", headers=bare)
    assert "RTX 4090" in names.json()["gpu_names"]
    bad = await api.post("/api/v0/bundles/", json={}, headers={"Authorization": "Bearer x"})
    assert bad.status_code == 404


async def test_instance_key_can_only_manage_its_own_instance(api: httpx.AsyncClient) -> None:
    offer = await first_offer(api)
    created = (await api.put(f"/api/v0/asks/{offer['id']}/", json=IMAGE)).json()
    other = await rent(api)
    own = {"Authorization": f"Bearer {created['instance_api_key']}"}
    inst = created["new_contract"]
    assert (await api.get(f"/api/v0/instances/{inst}/", headers=own)).status_code == 200
    assert (await api.get(f"/api/v0/instances/{other}/", headers=own)).status_code == 404
    assert (await api.get("/api/v1/instances/", headers=own)).status_code == 404
    stop = await api.put(f"/api/v0/instances/{inst}/", json={"state": "stopped"}, headers=own)
    assert stop.json() == {"success": True}


# --- shapes ---------------------------------------------------------------------------------------


async def test_v0_list_is_gone(api: httpx.AsyncClient) -> None:
    for path in ("/api/v0/instances/", "/api/v0/instances"):
        r = await api.get(path, params={"owner": "me"})
        assert r.status_code == 410
        assert r.json() == {
            "success": False,
            "error": "deprecated_endpoint",
            "msg": "/api/v0/instances/ is deprecated. Use /api/v1/instances/ instead.",
        }


async def test_single_is_a_dict_list_is_a_list_missing_is_null(api: httpx.AsyncClient) -> None:
    inst = await rent(api, label="shape")
    one = (await api.get(f"/api/v0/instances/{inst}/", params={"owner": "me"})).json()
    assert isinstance(one["instances"], dict) and one["instances"]["id"] == inst
    many = (await api.get("/api/v1/instances/")).json()
    assert isinstance(many["instances"], list) and many["instances"][0]["id"] == inst
    assert many["instances_found"] == many["total_instances"] == 1
    assert many["label_counts"] == {"shape": 1}
    assert many["next_token"] is None
    assert (await api.request("DELETE", f"/api/v0/instances/{inst}/", json={})).json() == {
        "success": True
    }
    gone = await api.get(f"/api/v0/instances/{inst}/")
    assert gone.status_code == 200 and gone.json() == {"instances": None}
    (unloading,) = (await api.get("/api/v1/instances/")).json()["instances"]  # still listed
    assert (unloading["id"], unloading["cur_state"]) == (inst, "unloaded")
    assert unloading["actual_status"] == "stopped"
    again = await api.delete(f"/api/v0/instances/{inst}/")
    assert again.status_code == 404 and again.json()["error"] == "not_found"
    await api.post("/_sim/clock", json={"advance": 11})  # past unload_seconds (10)
    assert (await api.get("/api/v1/instances/")).json()["instances"] == []


async def test_trailing_slash_and_v1_aliases(api: httpx.AsyncClient, sim: Sim) -> None:
    for path in ("/api/v0/users/current", "/api/v0/users/current/", "/api/v1/users/current"):
        assert (await api.get(path)).status_code == 200
    assert (await api.get("/api/v1/instances")).status_code == 200
    assert (await api.get("/api/v0/volumes", params={"owner": "me"})).status_code == 200
    routes = sim.counters.snapshot()["routes"]
    assert routes["GET /api/v0/users/current/"] == 3  # type: ignore[index]
    assert routes["GET /api/v1/instances/"] == 1  # type: ignore[index]


async def test_unknown_route_is_a_json_404(api: httpx.AsyncClient, sim: Sim) -> None:
    r = await api.get("/api/v0/no/such/thing/")
    assert r.status_code == 404 and r.json()["success"] is False
    assert sim.counters.snapshot()["routes"] == {"UNMATCHED": 1}


async def test_create_error_shapes(api: httpx.AsyncClient) -> None:
    r = await api.put("/api/v0/asks/1/", json=IMAGE)
    assert r.status_code == 404
    assert r.json() == {
        "success": False,
        "error": "invalid_args",
        "msg": "error 404/3603: no_such_ask Instance type by id 1 is not available.",
        "ask_id": 1,
    }
    offer = await first_offer(api)
    r = await api.put(f"/api/v0/asks/{offer['id']}/", json={"disk": 10})
    assert r.status_code == 400 and r.json()["error"] == "invalid_args"
    r = await api.put(f"/api/v0/asks/{offer['id']}/", content=b"{not json")
    assert r.status_code == 400


async def test_counters_count_every_vast_request_by_route(api: httpx.AsyncClient, sim: Sim) -> None:
    inst = await rent(api)
    await api.get(f"/api/v0/instances/{inst}/")
    await api.get(f"/api/v0/instances/{inst}")
    await api.get("/api/v1/instances/", params={"limit": 5})
    await api.get("/api/v0/users/current", headers={"Authorization": "Bearer wrong"})
    await api.get("/_sim/state")
    assert sim.counters.snapshot() == {
        "total": 6,
        "routes": {
            "GET /api/v0/instances/{id}/": 2,
            "GET /api/v0/users/current/": 1,
            "GET /api/v1/instances/": 1,
            "POST /api/v0/bundles/": 1,
            "PUT /api/v0/asks/{id}/": 1,
        },
    }
    r = await api.get("/_sim/counters")
    assert r.json()["total"] == 6
    await api.post("/_sim/counters/reset")
    assert (await api.get("/_sim/counters")).json() == {"total": 0, "routes": {}}


# --- paging ---------------------------------------------------------------------------------------


async def walk(api: httpx.AsyncClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    token = None
    pages = 0
    while True:
        query = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
        if token:
            query["after_token"] = token
        r = await api.get("/api/v1/instances/", params=query)
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["instances_found"] == len(data["instances"]) <= 25
        rows += data["instances"]
        token = data["next_token"]
        pages += 1
        if not token:
            return rows
        assert pages < 100


async def test_paging_over_more_than_25_instances(api: httpx.AsyncClient, sim: Sim) -> None:
    world = sim.world
    world.reset(num_machines=150)
    made = []
    offers = world.search_offers({"num_gpus": {"eq": 1}, "limit": 61})
    for n, offer in enumerate(offers):
        label = ["a", "b", None][n % 3]
        made.append(world.create_instance(offer["id"], {**IMAGE, "label": label})["new_contract"])
    assert len(made) == 61

    rows = await walk(api, {"limit": "25"})
    assert [r["id"] for r in rows] == sorted(made)
    first = (await api.get("/api/v1/instances/")).json()
    assert first["total_instances"] == 61
    assert first["label_counts"] == {"a": 21, "b": 20, "": 20}

    by_label = await walk(api, {"order_by": [{"col": "label", "dir": "desc"}], "limit": 10})
    assert len(by_label) == 61 and len({r["id"] for r in by_label}) == 61
    assert [r["label"] for r in by_label[:20]] == ["b"] * 20

    unlabeled = await walk(api, {"select_filters": {"label": {"in": [None, "a"]}}})
    assert len(unlabeled) == 41 and {r["label"] for r in unlabeled} == {None, "a"}

    running = await walk(api, {"select_filters": {"actual_status": {"in": ["running"]}}})
    assert len(running) == 61

    cols = (await api.get("/api/v1/instances/", params={"select_cols": '["id","nope"]'})).json()
    assert cols["instances"][0] == {"id": min(made), "nope": None}

    # Destroying rows between pages does not make the walk skip or repeat the rest.
    page = (await api.get("/api/v1/instances/", params={"limit": 25})).json()
    for row in page["instances"][:5]:
        world.destroy_instance(row["id"])
    rest = (
        await api.get("/api/v1/instances/", params={"limit": 25, "after_token": page["next_token"]})
    ).json()
    assert rest["instances"][0]["id"] == sorted(made)[25]


@pytest.mark.parametrize(
    "params",
    [
        {"select_filters": json.dumps({"dph_total": {"lt": 1}})},
        {"select_filters": "{broken"},
        {"order_by": json.dumps([{"col": "num_gpus", "dir": "asc"}])},
        {"after_token": "garbage!!"},
        {"limit": "many"},
    ],
)
async def test_bad_list_parameters_are_400(api: httpx.AsyncClient, params: dict[str, str]) -> None:
    r = await api.get("/api/v1/instances/", params=params)
    assert r.status_code == 400
    assert r.json()["success"] is False


async def test_limit_is_capped_at_25_and_zero_means_5(api: httpx.AsyncClient, sim: Sim) -> None:
    for offer in sim.world.search_offers({"num_gpus": {"eq": 1}, "limit": 30}):
        sim.world.create_instance(offer["id"], IMAGE)
    big = (await api.get("/api/v1/instances/", params={"limit": 500})).json()
    assert len(big["instances"]) == 25
    zero = (await api.get("/api/v1/instances/", params={"limit": 0})).json()
    assert len(zero["instances"]) == 5


# --- instance actions ----------------------------------------------------------------------------


async def test_ssh_keys_on_instances_and_account(api: httpx.AsyncClient) -> None:
    inst = await rent(api)
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq user@laptop"
    r = await api.post(f"/api/v0/instances/{inst}/ssh/", json={"ssh_key": key})
    assert r.json()["success"] is True
    listed = (await api.get(f"/api/v0/instances/{inst}/ssh/")).json()
    keys = json.loads(listed["ssh_keys"])
    assert [k["public_key"] for k in keys] == [key]
    bad = await api.post(f"/api/v0/instances/{inst}/ssh/", json={"ssh_key": "hello"})
    assert bad.status_code == 400
    r = await api.delete(f"/api/v0/instances/{inst}/ssh/{keys[0]['id']}/")
    assert r.json() == {"success": True, "msg": "SSH key removed from instance."}
    again = await api.delete(f"/api/v0/instances/{inst}/ssh/{keys[0]['id']}/")
    assert again.status_code == 404 and again.json()["error"] == "no_such_ssh_key"

    created = (await api.post("/api/v0/ssh/", json={"ssh_key": key})).json()
    assert created["success"] is True and created["key"]["public_key"] == key
    assert [k["key"] for k in (await api.get("/api/v0/ssh/")).json()] == [key]
    later = await rent(api)  # account keys land on instances created afterwards
    later_keys = json.loads((await api.get(f"/api/v0/instances/{later}/ssh/")).json()["ssh_keys"])
    assert [k["public_key"] for k in later_keys] == [key]
    assert (await api.delete(f"/api/v0/ssh/{created['key']['id']}/")).json() == {"success": True}


async def test_reboot_recycle_bid_logs_and_execute(api: httpx.AsyncClient) -> None:
    inst = await rent(api)
    assert (await api.put(f"/api/v0/instances/reboot/{inst}/", json={})).json()["success"]
    assert (await api.put(f"/api/v0/instances/recycle/{inst}/", json={})).json()["success"]
    bid = await api.put(f"/api/v0/instances/bid_price/{inst}/", json={"price": 0.5})
    assert bid.status_code == 400  # on-demand instance
    logs = (await api.put(f"/api/v0/instances/request_logs/{inst}/", json={"tail": "10"})).json()
    assert logs["success"] is True
    text = await api.get(logs["result_url"].replace("http://vast.test", ""), headers={})
    assert text.status_code == 200 and f"instance {inst}" in text.text
    ran = (await api.put(f"/api/v0/instances/command/{inst}/", json={"command": "ls /"})).json()
    assert ran["writeable_path"] == "/workspace"
    denied = await api.put(f"/api/v0/instances/command/{inst}/", json={"command": "reboot"})
    assert denied.status_code == 400
    missing = await api.put("/api/v0/instances/reboot/99/", json={})
    assert missing.status_code == 400  # oas:reboot_instance
    assert missing.json()["msg"] == "invalid instance_id"


# --- volumes, endpoints, workergroups, templates, secrets ---------------------------------------


async def test_volume_crud(api: httpx.AsyncClient) -> None:
    offers = (await api.post("/api/v0/volumes/search/", json={"limit": 3})).json()["offers"]
    assert len(offers) == 3 and all(o["disk_space"] >= 1 for o in offers)
    r = await api.put("/api/v0/volumes/", json={"size": 15, "id": offers[0]["id"], "name": "v1"})
    name = r.json()["volume_name"]
    assert r.json()["success"] is True and name.startswith("V.")
    vol_id = int(name[2:])
    (row,) = (
        await api.get("/api/v0/volumes", params={"owner": "me", "type": "all_volume"})
    ).json()["volumes"]
    assert (row["id"], row["label"], row["disk_space"], row["instances"]) == (vol_id, "v1", 15, [])
    assert row["machine_id"] == offers[0]["machine_id"] and row["status"] == "active"
    assert (await api.request("DELETE", "/api/v0/volumes/", json={"id": vol_id})).json() == {
        "success": True
    }
    r = await api.delete("/api/v0/volumes/", params={"id": vol_id})
    assert r.status_code == 404 and r.json()["error"] == "no_such_volume"
    assert (await api.delete("/api/v0/volumes/")).status_code == 400


async def test_endpoint_and_workergroup_crud(api: httpx.AsyncClient) -> None:
    ep = (await api.post("/api/v0/endptjobs/", json={"endpoint_name": "llm"})).json()
    assert ep["success"] is True
    ep_id = ep["result"]
    row = (await api.get(f"/api/v0/endptjobs/{ep_id}/")).json()["result"]
    assert row["endpoint_state"] == "active" and len(row["api_key"]) == 64
    assert (row["min_load"], row["target_util"], row["cold_mult"], row["max_workers"]) == (
        0.0,
        0.9,
        2.5,
        20,
    )
    update = {"client_id": "me", "endptjob_id": ep_id, "min_load": 10, "max_workers": None}
    assert (await api.put(f"/api/v0/endptjobs/{ep_id}/", json=update)).json() == {"success": True}
    (listed,) = (await api.request("GET", "/api/v0/endptjobs/", json={"client_id": "me"})).json()[
        "results"
    ]
    assert (listed["min_load"], listed["max_workers"]) == (10.0, 20)
    dup = await api.post("/api/v0/endptjobs/", json={"endpoint_name": "llm"})
    assert dup.status_code == 400

    wg_body = {"template_hash": "661d064bbda1f2a133816b6d55da07c3", "endpoint_id": ep_id}
    wg = await api.post("/api/v0/autojobs/", json={**wg_body, "search_params": "num_gpus=2"})
    wg_id = wg.json()["id"]
    other = await api.post("/api/v0/workergroups/", json={**wg_body, "endpoint_name": None})
    assert other.json()["success"] is True
    groups = (await api.get("/api/v0/workergroups/")).json()["results"]
    assert {g["id"] for g in groups} == {wg_id, other.json()["id"]}
    first = next(g for g in groups if g["id"] == wg_id)
    assert first["search_query"] == {"num_gpus": {"eq": "2"}}
    assert (first["cold_workers"], first["gpu_ram"], first["endpoint_name"]) == (3, 24.0, "llm")
    r = await api.put(f"/api/v0/autojobs/{wg_id}/", json={"gpu_ram": 48, "min_load": None})
    assert r.json() == {"success": True}
    nowhere = await api.post("/api/v0/autojobs/", json={**wg_body, "endpoint_id": 1})
    assert nowhere.status_code == 400
    assert (await api.delete(f"/api/v0/workergroups/{other.json()['id']}/")).json()["success"]
    missing = await api.delete(f"/api/v0/autojobs/{other.json()['id']}/")
    assert missing.status_code == 404 and missing.json()["error"] == "no_such_workergroup"

    deleted = (await api.request("DELETE", f"/api/v0/endptjobs/{ep_id}/", json={})).json()
    assert deleted["success"] is True
    # Cascaded; an account without any gets the documented 400 (oas:show_endpoints).
    no_groups = await api.get("/api/v0/autojobs/")
    assert no_groups.status_code == 400
    assert no_groups.json()["msg"] == "No workergroups for user found"
    none = await api.get("/api/v0/endptjobs/")
    assert none.status_code == 400
    assert none.json() == {
        "success": False,
        "error": "invalid_args",
        "msg": "No endpoints for user found",
    }


async def test_templates_and_secrets(api: httpx.AsyncClient) -> None:
    found = (await api.get("/api/v0/template/", params={"select_filters": "{}"})).json()
    assert found["templates_found"] >= 3
    made = (await api.post("/api/v0/template/", json={"name": "mine", "image": "me/img"})).json()
    hash_id = made["template"]["hash_id"]
    mine = await api.get(
        "/api/v0/template/", params={"select_filters": json.dumps({"hash_id": {"eq": hash_id}})}
    )
    assert [t["name"] for t in mine.json()["templates"]] == ["mine"]
    edited = (await api.put("/api/v0/template/", json={"hash_id": hash_id, "tag": "v2"})).json()
    assert edited["template"]["hash_id"] != hash_id
    gone = await api.request("DELETE", "/api/v0/template/", json={"hash_id": hash_id})
    assert gone.status_code == 404

    assert (await api.post("/api/v0/secrets/", json={"key": "hf", "value": "x"})).json()["success"]
    assert (await api.get("/api/v0/secrets/")).json()["secrets"] == {"HF": "x"}
    dup = await api.post("/api/v0/secrets/", json={"key": "HF", "value": "y"})
    assert dup.status_code == 400 and dup.json()["error"] == "existing_key"
    await api.request("DELETE", "/api/v0/secrets/", json={"key": "hf"})
    assert (await api.get("/api/v0/secrets/")).json()["secrets"] == {}


# --- rate limits ----------------------------------------------------------------------------------


async def test_rate_limits_in_three_body_styles(api: httpx.AsyncClient, sim: Sim) -> None:
    inst = await rent(api)
    cfg = await api.post("/_sim/config", json={"enforce_rate_limits": True})
    assert cfg.json()["rate_limits"]["PUT /api/v0/asks/{id}/"] == 4.5
    first = await api.get(f"/api/v0/instances/{inst}/")
    assert first.status_code == 200
    second = await api.get(f"/api/v0/instances/{inst}/")
    assert second.status_code == 429
    assert second.json() == {"detail": "API requests too frequent endpoint threshold=2"}
    assert "retry-after" not in second.headers
    await api.delete(f"/api/v0/instances/{inst}/")
    d = await api.delete(f"/api/v0/instances/{inst}/")
    assert d.status_code == 429 and d.json()["error"] == "rate_limit_exceeded"
    await api.get("/api/v0/template/")
    t = await api.get("/api/v0/template/")  # oas:search_templates documents the detail style
    assert t.status_code == 429
    assert t.json() == {"detail": "API requests too frequent endpoint threshold=3"}
    # Another identity has its own budget; other routes are not limited.
    other = await api.get("/api/v0/template/", headers={"Authorization": ""})
    assert other.status_code == 403
    assert (await api.get("/api/v0/users/current")).status_code == 200
    await api.post("/_sim/config", json={"rate_limits": {"GET /users/current": 60}})
    assert (await api.get("/api/v0/users/current")).status_code == 200
    plain = await api.get("/api/v0/users/current")  # no documented 429 style: plain text
    assert plain.status_code == 429 and plain.headers["content-type"].startswith("text/plain")
    assert plain.text == "API requests too frequent endpoint threshold=60"
    await api.post("/_sim/config", json={"enforce_rate_limits": False})
    assert (await api.get("/api/v0/users/current")).status_code == 200


async def test_launch_instance_rents_the_best_match(api: httpx.AsyncClient) -> None:
    query = {"gpu_name": {"eq": "RTX 4090"}, "num_gpus": {"eq": "1"}, "order": []}
    r = await api.put("/api/v0/launch_instance/", json={**IMAGE, "q": query, "label": "l"})
    assert r.status_code == 200 and r.json()["success"] is True
    row = (await api.get(f"/api/v0/instances/{r.json()['new_contract']}/")).json()["instances"]
    assert (row["gpu_name"], row["num_gpus"], row["label"]) == ("RTX 4090", 1, "l")
    none = await api.put(
        "/api/v0/launch_instance/", json={**IMAGE, "q": {"gpu_name": {"eq": "Voodoo 2"}}}
    )
    assert none.status_code == 404
