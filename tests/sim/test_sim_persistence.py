"""--state-file: the world survives `kill -TERM` and a restart of the `vast-sim` process."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx

from vast_sim.testing import start_sim_subprocess


def test_state_survives_sigterm_and_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "state" / "vast.json"
    sim = start_sim_subprocess(
        api_key="persist-key",
        boot_seconds=0,
        state_file=str(state_file),
        num_machines=40,
        relax=["rate_limits"],  # two rentals back to back; persistence is what is tested here
    )
    try:
        with sim.client(timeout=10) as api:
            offers = api.post("/api/v0/bundles/", json={"num_gpus": {"eq": 1}, "limit": 2}).json()[
                "offers"
            ]
            first = api.put(
                f"/api/v0/asks/{offers[0]['id']}/", json={"image": "img:1", "label": "keep-me"}
            ).json()["new_contract"]
            second = api.put(f"/api/v0/asks/{offers[1]['id']}/", json={"image": "img:2"}).json()[
                "new_contract"
            ]
            api.put(f"/api/v0/instances/{second}/", json={"state": "stopped"})
            volume = api.put(
                "/api/v0/volumes/", json={"id": offers[0]["avail_vol_ask_id"], "size": 5}
            ).json()["volume_name"]
            endpoint = api.post("/api/v0/endptjobs/", json={"endpoint_name": "persisted"}).json()
            before = api.get("/api/v1/instances/").json()["instances"]
    finally:
        code = sim.stop(signal.SIGTERM)
    assert code in (0, -signal.SIGTERM)
    saved = json.loads(state_file.read_text())
    assert saved["format"] == "vast-sim/1"
    assert {i["id"] for i in saved["instances"]} == {first, second}
    assert not list(state_file.parent.glob("*.tmp")), "atomic write leaves no temp files"

    again = start_sim_subprocess(
        api_key="persist-key",
        boot_seconds=0,
        state_file=str(state_file),
        num_machines=40,
        relax=["rate_limits"],  # two rentals back to back; persistence is what is tested here
    )
    try:
        with again.client(timeout=10) as api:
            after = api.get("/api/v1/instances/").json()["instances"]
            assert [(r["id"], r["actual_status"], r["label"]) for r in after] == [
                (r["id"], r["actual_status"], r["label"]) for r in before
            ]
            assert {r["actual_status"] for r in after} == {"running", "stopped"}
            assert api.get("/api/v0/volumes").json()["volumes"][0]["id"] == int(volume[2:])
            endpoints = api.get("/api/v0/endptjobs/").json()["results"]
            assert [e["id"] for e in endpoints] == [endpoint["result"]]
            # Rented offers stay rented: the old offer ids are gone for good.
            retry = api.put(f"/api/v0/asks/{offers[0]['id']}/", json={"image": "img"})
            assert retry.status_code == 404
            # New ids keep counting from where they were.
            third = api.post("/api/v0/bundles/", json={"num_gpus": {"eq": 1}, "limit": 1})
            made = api.put(
                f"/api/v0/asks/{third.json()['offers'][0]['id']}/", json={"image": "img"}
            ).json()["new_contract"]
            assert made not in (first, second) and made > second
            api.delete(f"/api/v0/instances/{first}/")
        again.admin.save()
    finally:
        again.stop(signal.SIGTERM)
    saved = json.loads(state_file.read_text())
    phases = {i["id"]: i["phase"] for i in saved["instances"]}
    assert phases[first] == "unloading"  # destroyed moments ago: unloading survives a restart


def test_missing_state_file_starts_fresh_and_is_created(tmp_path: Path) -> None:
    state_file = tmp_path / "fresh.json"
    sim = start_sim_subprocess(state_file=str(state_file), num_machines=10)
    try:
        assert httpx.get(f"{sim.url}/_sim/health").json() == {"ok": True}
        httpx.post(f"{sim.api_url}/endptjobs/", json={"endpoint_name": "x"}, headers=sim.headers)
    finally:
        sim.stop()
    assert json.loads(state_file.read_text())["endpoints"][0]["endpoint_name"] == "x"
