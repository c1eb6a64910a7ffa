"""The official vastai CLI (1.9.1) against a strict `vast-sim` subprocess.

Each command is checked by its real effect: the parsed --raw output and the simulator's state
and counters afterwards, not just the exit code.

The simulator is fully strict here (rate limits, Bearer-only auth, documented empty lists,
unloading, unknown search fields, search quota). The tests pace the CLI like a person would:
before each command the simulated clock moves on by `PACE` seconds, more than any per-route
interval (5.5 s) and 60 s / 10 searches, so no command meets a rate limit it would not meet at a
human's pace. The limits themselves are tested in test_sim_strict.py.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sim_test_support import cli_env, run_vastai

from vast_sim.testing import RunningSim

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBsimulatedkeymaterial cli@test"
TEMPLATE = "661d064bbda1f2a133816b6d55da07c3"

Vastai = Callable[..., subprocess.CompletedProcess[str]]

PACE = 6.5


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vastai-home")


@pytest.fixture
def cli_sim(sim_process: RunningSim) -> RunningSim:
    sim_process.admin.reset()
    # Unloading outlasts a few paced commands, so the tests can watch it.
    sim_process.admin.config(boot_seconds=0, strict=True, unload_seconds=10 * PACE)
    return sim_process


@pytest.fixture
def vastai(cli_sim: RunningSim, cli_home: Path) -> Iterator[Vastai]:
    env = cli_env(cli_home, cli_sim.url)

    def run(
        *args: str, ok: bool = True, key: str | None = None, pace: bool = True
    ) -> subprocess.CompletedProcess[str]:
        if pace:
            cli_sim.admin.advance_clock(PACE)
        done = run_vastai(cli_sim.url, key or cli_sim.api_key, env, *args)
        if ok:
            assert done.returncode == 0, f"vastai {' '.join(args)}\n{done.stdout}\n{done.stderr}"
            assert "Traceback" not in done.stderr, done.stderr
        return done

    yield run


def raw(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def routes(sim: RunningSim) -> dict[str, int]:
    counted: dict[str, int] = sim.admin.counters()["routes"]
    return counted


def test_search_offers(vastai: Vastai, cli_sim: RunningSim) -> None:
    offers = raw(vastai("search", "offers", "gpu_name=RTX_4090 num_gpus>=1 dph_total<2", "--raw"))
    assert offers, "the seeded market has RTX 4090s"
    assert all(o["gpu_name"] == "RTX 4090" for o in offers)
    assert all(o["num_gpus"] >= 1 and o["dph_total"] < 2 for o in offers)
    assert all(o["verification"] == "verified" and o["rentable"] for o in offers)
    scores = [o["score"] for o in offers]
    assert scores == sorted(scores, reverse=True), "default order is score-"

    table = vastai("search", "offers", "gpu_name=RTX_4090 num_gpus>=1 dph_total<2").stdout
    assert "RTX_4090" in table and str(offers[0]["id"]) in table

    cheap = raw(vastai("search", "offers", "num_gpus=1", "--limit", "3", "-o", "dph", "--raw"))
    assert len(cheap) == 3
    assert [o["dph_total"] for o in cheap] == sorted(o["dph_total"] for o in cheap)
    big = raw(vastai("search", "offers", "-o", "num_gpus-,dph_total", "--limit", "5", "--raw"))
    assert big[0]["num_gpus"] == max(o["num_gpus"] for o in big)
    default = raw(vastai("search", "offers", "--raw"))
    assert len(default) == 64
    assert routes(cli_sim)["POST /api/v0/bundles/"] == 5


def test_instance_lifecycle(vastai: Vastai, cli_sim: RunningSim) -> None:
    offer = raw(vastai("search", "offers", "num_gpus=1 direct_port_count>=20", "--raw"))[0]
    created = raw(
        vastai(
            "create",
            "instance",
            str(offer["id"]),
            "--image",
            "pytorch/pytorch:latest",
            "--disk",
            "24",
            "--env",
            "-e HF_HOME=/workspace -p 8000:8000",
            "--label",
            "cli-job",
            "--onstart-cmd",
            "echo hi",
            "--raw",
        )
    )
    assert created["success"] is True
    inst_id = created["new_contract"]
    assert isinstance(created["instance_api_key"], str)

    (row,) = raw(vastai("show", "instances", "--raw"))
    assert row["id"] == inst_id and row["actual_status"] == "running"
    assert row["machine_id"] == offer["machine_id"] and row["label"] == "cli-job"
    assert row["extra_env"] == {"HF_HOME": "/workspace", "-p 8000:8000": "1"}
    assert row["disk_space"] == 24 and row["image_runtype"] == "ssh"
    assert row["ports"]["8000/tcp"][0]["HostPort"].isdigit()
    one = raw(vastai("show", "instance", str(inst_id), "--raw"))
    assert one["id"] == inst_id and one["onstart"] == "echo hi"
    table = vastai("show", "instances").stdout
    assert str(inst_id) in table and "running" in table
    assert str(inst_id) in vastai("show", "instance", str(inst_id)).stdout

    assert (
        f"label for {inst_id} set to renamed"
        in vastai("label", "instance", str(inst_id), "renamed").stdout
    )
    assert cli_sim.admin.instance(inst_id)["instance"]["label"] == "renamed"  # type: ignore[index]

    assert "stopping instance" in vastai("stop", "instance", str(inst_id)).stdout
    stopped = raw(vastai("show", "instance", str(inst_id), "--raw"))
    assert (stopped["actual_status"], stopped["intended_status"]) == ("stopped", "stopped")
    assert "starting instance" in vastai("start", "instance", str(inst_id)).stdout
    assert raw(vastai("show", "instance", str(inst_id), "--raw"))["actual_status"] == "running"

    attached = vastai("attach", "ssh", str(inst_id), SSH_KEY).stdout
    assert "'success': True" in attached
    assert cli_sim.admin.instance_ssh_keys(inst_id) == [SSH_KEY]

    assert "destroying instance" in vastai("destroy", "instance", str(inst_id), "-y").stdout
    assert raw(vastai("show", "instance", str(inst_id), "--raw")) == {"instances": None}
    (unloading,) = raw(vastai("show", "instances", "--raw"))  # listed while it unloads
    assert (unloading["id"], unloading["cur_state"]) == (inst_id, "unloaded")
    cli_sim.admin.advance_clock(cli_sim.admin.config()["unload_seconds"])
    assert raw(vastai("show", "instances", "--raw")) == []
    missing = vastai("show", "instance", str(inst_id), ok=False)
    assert missing.returncode == 1 and "not found" in missing.stderr
    assert cli_sim.admin.state()["instances"] == []
    counted = routes(cli_sim)
    assert counted["PUT /api/v0/asks/{id}/"] == 1
    assert counted["PUT /api/v0/instances/{id}/"] == 3  # label, stop, start
    assert counted["DELETE /api/v0/instances/{id}/"] == 1
    assert counted["POST /api/v0/instances/{id}/ssh/"] == 1


def test_create_errors_reach_the_cli(vastai: Vastai, cli_sim: RunningSim) -> None:
    # The CLI exits 0 after an HTTP error; the error goes to stderr as JSON with --raw.
    failed = vastai("create", "instance", "12345", "--image", "x", "--raw", ok=False)
    error = json.loads(failed.stderr.strip().splitlines()[-1])
    assert error["status_code"] == 404 and "no_such_ask" in error["msg"]
    wrong = vastai("show", "instances", "--raw", ok=False, key="wrong-key")
    assert "Invalid user key" in wrong.stderr
    assert routes(cli_sim)["GET /api/v1/instances/"] == 1


def rent_one(vastai: Vastai, key: str | None = None) -> int:
    offer = raw(vastai("search", "offers", "num_gpus=1", "--limit", "1", "--raw", key=key))[0]
    created = vastai("create", "instance", str(offer["id"]), "--image", "img", "--raw", key=key)
    return int(raw(created)["new_contract"])


def test_the_daily_search_quota_reaches_the_cli(vastai: Vastai, cli_sim: RunningSim) -> None:
    cli_sim.admin.config(search_quota=1)
    assert raw(vastai("search", "offers", "--limit", "1", "--raw"))
    over = vastai("search", "offers", "--limit", "1", "--raw", ok=False)
    error = json.loads(over.stderr.strip().splitlines()[-1])
    assert error["status_code"] == 429
    # The CLI reads X-RateLimit-Reset and names the reset time (UTC midnight).
    assert error["msg"].startswith("Daily search quota exceeded. Resets at ")
    assert error["msg"].endswith(" 00:00 UTC.")
    assert routes(cli_sim)["POST /api/v0/bundles/"] == 2  # a quota 429 is not retried


def test_the_cli_waits_out_a_retry_after(vastai: Vastai, cli_sim: RunningSim) -> None:
    inst_id = rent_one(vastai)
    cli_sim.admin.config(retry_after=True, rate_limits={"GET /api/v0/instances/{id}/": 5.0})
    assert raw(vastai("show", "instance", str(inst_id), "--raw"))["id"] == inst_id
    # At once again: 429 with Retry-After, which the CLI honours, then the answer.
    again = vastai("show", "instance", str(inst_id), "--raw", pace=False)
    assert raw(again)["id"] == inst_id
    assert routes(cli_sim)["GET /api/v0/instances/{id}/"] == 3


def test_the_cli_follows_slash_redirects(vastai: Vastai, cli_sim: RunningSim) -> None:
    inst_id = rent_one(vastai)
    cli_sim.admin.config(redirect_slashes=True)
    assert raw(vastai("show", "user", "--raw"))["id"] > 0  # GET /users/current -> 301
    assert raw(vastai("show", "volumes", "--raw")) == []  # GET /volumes -> 301
    logs = vastai("logs", str(inst_id))  # PUT /instances/request_logs/{id}/ -> 308
    assert f"instance {inst_id}" in logs.stdout
    counted = routes(cli_sim)
    assert counted["REDIRECT"] == 3
    assert counted["PUT /api/v0/instances/request_logs/{id}/"] == 1


def test_accounts_do_not_see_each_other(vastai: Vastai, cli_sim: RunningSim) -> None:
    other = cli_sim.admin.create_account(credit=50)["api_key"]
    mine = rent_one(vastai)
    theirs = rent_one(vastai, key=other)
    assert [r["id"] for r in raw(vastai("show", "instances", "--raw"))] == [mine]
    assert [r["id"] for r in raw(vastai("show", "instances", "--raw", key=other))] == [theirs]
    assert raw(vastai("show", "instance", str(mine), "--raw", key=other)) == {"instances": None}
    refused = vastai("destroy", "instance", str(mine), "-y", "--raw", key=other, ok=False)
    assert "Instance not found" in refused.stdout + refused.stderr
    assert cli_sim.admin.instance(mine)["instance"]["cur_state"] == "running"  # type: ignore[index]
    assert raw(vastai("show", "user", "--raw", key=other))["credit"] == 50


def test_volumes(vastai: Vastai, cli_sim: RunningSim) -> None:
    offers = raw(vastai("search", "volumes", "disk_space>=20", "--raw"))
    assert offers and all(o["disk_space"] >= 20 for o in offers)
    created = raw(
        vastai("create", "volume", str(offers[0]["id"]), "-s", "20", "-n", "data", "--raw")
    )
    assert created["success"] is True and created["volume_name"].startswith("V.")
    vol_id = int(created["volume_name"][2:])
    (row,) = raw(vastai("show", "volumes", "--raw"))
    assert (row["id"], row["label"], row["disk_space"]) == (vol_id, "data", 20)
    assert row["machine_id"] == offers[0]["machine_id"]
    assert "data" in vastai("show", "volumes").stdout
    assert "'success': True" in vastai("delete", "volume", str(vol_id)).stdout
    assert cli_sim.admin.state()["volumes"] == []
    assert routes(cli_sim)["DELETE /api/v0/volumes/"] == 1


def test_endpoints_and_workergroups(vastai: Vastai, cli_sim: RunningSim) -> None:
    created = raw(
        vastai("create", "endpoint", "--endpoint_name", "llama", "--max_workers", "7", "--raw")
    )
    assert created["success"] is True
    ep_id = created["result"]
    (ep,) = raw(vastai("show", "endpoints", "--raw"))
    assert (ep["id"], ep["endpoint_name"], ep["max_workers"], ep["endpoint_state"]) == (
        ep_id,
        "llama",
        7,
        "active",
    )
    assert "api_key" not in ep  # the CLI strips it; the API sends it

    made = vastai(
        "create",
        "workergroup",
        "--template_hash",
        TEMPLATE,
        "--endpoint_name",
        "llama",
        "--search_params",
        "gpu_ram>=23 num_gpus=1",
    ).stdout
    assert "'success': True" in made
    (wg,) = raw(vastai("show", "workergroups", "--raw"))
    assert (wg["endpoint_id"], wg["template_hash"]) == (ep_id, TEMPLATE)
    assert wg["search_query"]["gpu_ram"] == {"gte": 23000.0}
    assert wg["search_query"]["rented"] == {"eq": False}  # CLI default appended
    assert "'success': True" in vastai("delete", "workergroup", str(wg["id"])).stdout
    # None left: the documented 400 (oas:show_endpoints; the same for workergroups), which the
    # CLI reports as an error.
    empty = vastai("show", "workergroups", "--raw", ok=False)
    error = json.loads(empty.stderr.strip().splitlines()[-1])
    assert (error["status_code"], error["msg"]) == (400, "No workergroups for user found")

    vastai("create", "workergroup", "--template_hash", TEMPLATE, "--endpoint_id", str(ep_id))
    assert "'success': True" in vastai("delete", "endpoint", str(ep_id)).stdout
    state = cli_sim.admin.state()
    assert state["endpoints"] == [] and state["workergroups"] == []
    counted = routes(cli_sim)
    assert counted["POST /api/v0/autojobs/"] == 2
    assert counted["DELETE /api/v0/endptjobs/{id}/"] == 1
