"""Several accounts: each key is its own account with its own instances, volumes, keys,
endpoints, workergroups, templates, secrets and credit. For account B every id of account A
answers exactly like an id that does not exist."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sim_test_support import asgi_client
from starlette.applications import Starlette

from vast_sim.app import Sim

MISSING = 999_999_999
KEY_TEXT = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIaccountsisolation a@test"


async def build_account_a(api: httpx.AsyncClient) -> dict[str, Any]:
    """Account A (the primary) with one of everything."""
    offer = (await api.post("/api/v0/bundles/", json={"num_gpus": {"eq": 1}, "limit": 1})).json()[
        "offers"
    ][0]
    volume = await api.put("/api/v0/volumes/", json={"id": offer["avail_vol_ask_id"], "size": 5})
    vol_id = int(volume.json()["volume_name"][2:])
    inst = (
        await api.put(
            f"/api/v0/asks/{offer['id']}/",
            json={"image": "img", "disk": 10, "env": {f"-v V.{vol_id}:/data": "1"}},
        )
    ).json()["new_contract"]
    await api.post(f"/api/v0/instances/{inst}/ssh/", json={"ssh_key": KEY_TEXT})
    keys = json.loads((await api.get(f"/api/v0/instances/{inst}/ssh/")).json()["ssh_keys"])
    account_key = (await api.post("/api/v0/ssh/", json={"ssh_key": KEY_TEXT})).json()["key"]
    ep = (await api.post("/api/v0/endptjobs/", json={"endpoint_name": "shared-name"})).json()
    template = (
        await api.post("/api/v0/template/", json={"name": "a", "image": "a/img", "private": True})
    ).json()["template"]
    wg = (
        await api.post(
            "/api/v0/workergroups/",
            json={"endpoint_id": ep["result"], "template_hash": template["hash_id"]},
        )
    ).json()
    await api.post("/api/v0/secrets/", json={"key": "A_ONLY", "value": "x"})
    return {
        "inst": inst,
        "vol": vol_id,
        "inst_key": keys[0]["id"],
        "ssh": account_key["id"],
        "ep": ep["result"],
        "wg": wg["id"],
        "hash": template["hash_id"],
        "vol_offer": offer["avail_vol_ask_id"],
    }


# (method, path, body) with {id} (and {key} for the instance ssh key) to fill in.
ID_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/api/v0/instances/{id}/", None),
    ("PUT", "/api/v0/instances/{id}/", {"state": "stopped"}),
    ("PUT", "/api/v0/instances/{id}/", {"label": "mine now"}),
    ("DELETE", "/api/v0/instances/{id}/", {}),
    ("PUT", "/api/v0/instances/reboot/{id}/", {}),
    ("PUT", "/api/v0/instances/recycle/{id}/", {}),
    ("PUT", "/api/v0/instances/bid_price/{id}/", {"client_id": "me", "price": 1.0}),
    ("PUT", "/api/v0/instances/request_logs/{id}/", {}),
    ("PUT", "/api/v0/instances/command/{id}/", {"command": "ls"}),
    ("GET", "/api/v0/instances/{id}/ssh/", None),
    ("POST", "/api/v0/instances/{id}/ssh/", {"ssh_key": KEY_TEXT}),
    ("DELETE", "/api/v0/instances/{id}/ssh/{key}/", {}),
    ("PUT", "/api/v0/instances/", {"ids": ["{id}"], "state": "stopped"}),
    ("DELETE", "/api/v0/instances/", {"instance_ids": ["{id}"]}),
]


def fill(value: Any, ids: dict[str, Any]) -> Any:
    text = json.dumps(value)
    for name, real in ids.items():
        text = text.replace(f'"{{{name}}}"', json.dumps(real)).replace(f"{{{name}}}", str(real))
    return json.loads(text)


async def answer(http: httpx.AsyncClient, method: str, path: str, body: Any) -> tuple[int, str]:
    r = await http.request(method, path, json=body)
    return r.status_code, r.text


def same(a: tuple[int, str], b: tuple[int, str], real: Any) -> bool:
    return a[0] == b[0] and a[1].replace(str(real), "X") == b[1].replace(str(MISSING), "X")


async def test_another_accounts_ids_answer_like_missing_ones(app: Starlette, sim: Sim) -> None:
    other = sim.world.create_account(credit=100)
    async with asgi_client(app) as a, asgi_client(app, other["api_key"]) as b:
        owned = await build_account_a(a)
        before = sim.world.instance_row(owned["inst"])
        for method, path, body in ID_ROUTES:
            theirs = {"id": owned["inst"], "key": owned["inst_key"]}
            missing = {"id": MISSING, "key": owned["inst_key"]}
            got = await answer(b, method, fill(path, theirs), fill(body, theirs))
            expected = await answer(b, method, fill(path, missing), fill(body, missing))
            assert same(got, expected, owned["inst"]), (method, path, got, expected)
        after = sim.world.instance_row(owned["inst"])
        assert after is not None and before is not None
        assert (after["cur_state"], after["label"]) == (before["cur_state"], before["label"])

        for method, path, body, real in [
            ("PUT", f"/api/v0/ssh/{owned['ssh']}/", {"ssh_key": KEY_TEXT}, owned["ssh"]),
            ("DELETE", f"/api/v0/ssh/{owned['ssh']}/", {}, owned["ssh"]),
            ("DELETE", f"/api/v0/volumes/?id={owned['vol']}", {}, owned["vol"]),
            ("GET", f"/api/v0/endptjobs/{owned['ep']}/", None, owned["ep"]),
            ("PUT", f"/api/v0/endptjobs/{owned['ep']}/", {"min_load": 3}, owned["ep"]),
            ("DELETE", f"/api/v0/endptjobs/{owned['ep']}/", {}, owned["ep"]),
            ("GET", f"/api/v0/autojobs/{owned['wg']}/", None, owned["wg"]),
            ("PUT", f"/api/v0/workergroups/{owned['wg']}/", {"min_load": 3}, owned["wg"]),
            ("DELETE", f"/api/v0/workergroups/{owned['wg']}/", {}, owned["wg"]),
            ("POST", "/get_endpoint_workers/", {"id": owned["ep"]}, owned["ep"]),
            ("PUT", "/api/v0/template/", {"hash_id": owned["hash"], "tag": "x"}, owned["hash"]),
            ("DELETE", "/api/v0/template/", {"hash_id": owned["hash"]}, owned["hash"]),
        ]:
            got = await answer(b, method, path, body)
            missing_body = json.loads(json.dumps(body).replace(str(real), str(MISSING)))
            missing_path = path.replace(str(real), str(MISSING))
            expected = await answer(b, method, missing_path, missing_body)
            assert got[0] >= 400 or "error_msg" in got[1], (method, path, got)
            assert same(got, expected, real), (method, path, got, expected)

        # Renting with A's volume, or A's private template, fails like a missing one would.
        offer = (await b.post("/api/v0/bundles/", json={"num_gpus": {"eq": 1}, "limit": 1})).json()
        ask = f"/api/v0/asks/{offer['offers'][0]['id']}/"
        with_volume = await b.put(ask, json={"image": "i", "env": {f"-v V.{owned['vol']}:/d": "1"}})
        assert with_volume.status_code == 400
        with_template = await b.put(ask, json={"template_hash_id": owned["hash"]})
        assert with_template.status_code == 400

        # B's lists hold nothing of A's.
        assert (await b.get("/api/v1/instances/")).json()["instances"] == []
        assert (await b.get("/api/v0/volumes")).json()["volumes"] == []
        assert (await b.get("/api/v0/ssh/")).json() == []
        assert (await b.get("/api/v0/endptjobs/")).status_code == 400  # none: documented 400
        assert (await b.get("/api/v0/autojobs/")).status_code == 400
        assert (await b.get("/api/v0/secrets/")).json()["secrets"] == {}
        found = (await b.get("/api/v0/template/")).json()["templates"]
        assert owned["hash"] not in {t["hash_id"] for t in found}
        me = (await b.get("/api/v0/users/current/")).json()
        assert (me["id"], me["credit"], me["api_key"]) == (other["user_id"], 100, other["api_key"])
        # run.vast.ai: B's key does not open A's endpoint, even by its name.
        routed = await b.post("/route/", json={"endpoint": "shared-name", "api_key": "nope"})
        assert routed.status_code == 401

        # A still has everything.
        assert [i["id"] for i in (await a.get("/api/v1/instances/")).json()["instances"]] == [
            owned["inst"]
        ]
        assert (await a.get("/api/v0/secrets/")).json()["secrets"] == {"A_ONLY": "x"}
        assert len((await a.get("/api/v0/endptjobs/")).json()["results"]) == 1


async def test_names_and_credit_are_per_account(app: Starlette, sim: Sim) -> None:
    other = sim.world.create_account(credit=0)
    async with asgi_client(app) as a, asgi_client(app, other["api_key"]) as b:
        for http in (a, b):  # the same endpoint name in two accounts
            made = await http.post("/api/v0/endptjobs/", json={"endpoint_name": "same"})
            assert made.status_code == 200
        offer = (await b.post("/api/v0/bundles/", json={"num_gpus": {"eq": 1}, "limit": 1})).json()
        broke = await b.put(f"/api/v0/asks/{offer['offers'][0]['id']}/", json={"image": "i"})
        assert broke.status_code == 402 and broke.json()["error"] == "insufficient_credit"
        assert await a.put(f"/api/v0/asks/{offer['offers'][0]['id']}/", json={"image": "i"})


async def test_admin_accounts_api(app: Starlette, sim: Sim) -> None:
    async with asgi_client(app) as http:
        made = (await http.post("/_sim/accounts", json={"api_key": "bee", "credit": 7})).json()
        assert made["account"]["api_key"] == "bee" and made["account"]["credit"] == 7
        dup = await http.post("/_sim/accounts", json={"api_key": "bee"})
        assert dup.status_code == 400
        uid = made["account"]["user_id"]
        changed = await http.post(f"/_sim/accounts/{uid}", json={"credit": 9})
        assert changed.json()["account"]["credit"] == 9
        listed = (await http.get("/_sim/accounts")).json()["accounts"]
        assert [a["api_key"] for a in listed] == [sim.config.api_key, "bee"]
        generated = (await http.post("/_sim/accounts", json={})).json()["account"]
        assert generated["api_key"].startswith("sim-")
        # A reset keeps only the accounts of the configuration.
        await http.post("/_sim/reset", json={})
        assert len((await http.get("/_sim/accounts")).json()["accounts"]) == 1
