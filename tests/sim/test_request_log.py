"""`vast-sim --request-log PATH`: every Vast request as one JSON line (headers, body, status);
admin routes are not logged."""

from __future__ import annotations

import json
from pathlib import Path

from vast_sim.config import SimConfig
from vast_sim.testing import run_sim_in_thread


def test_each_vast_request_is_logged_with_headers_body_and_status(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    config = SimConfig(api_key="log-test-key", boot_seconds=0.0, request_log=str(path))
    with run_sim_in_thread(config) as sim, sim.client() as client:
        client.get("/api/v0/users/current")
        client.post("/api/v0/bundles/", json={"limit": 1, "verified": {"eq": True}})
        client.get("/api/v0/instances/999999/", headers={"Authorization": "Bearer wrong"})
        sim.admin.counters()  # an admin route: not logged

    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["method"], e["path"]) for e in entries] == [
        ("GET", "/api/v0/users/current"),
        ("POST", "/api/v0/bundles/"),
        ("GET", "/api/v0/instances/999999/"),
    ]
    first = dict(entries[0]["headers"])
    assert first["authorization"] == "Bearer log-test-key"
    assert json.loads(entries[1]["body"])["limit"] == 1
    assert entries[0]["status"] == 200
    assert entries[2]["status"] >= 400  # the answer to a wrong key is recorded too
