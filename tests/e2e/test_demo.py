"""`make demo` and `make demo-down` as a new user runs them, in a state directory of their own.

What a person sees is checked, not only that the commands exit 0: the examples reach their
phases, the operator's log has no traceback and no ERROR line (the demo waits for the API
server before it starts the operator, and expected refusals are quiet), every event comes from
`vast-operator`, `kubectl explain` shows defaults, and `demo-down` leaves nothing rented.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import ROOT, wait_for

CONTROLPLANE = ROOT / "tests" / "controlplane"
DEMO_NS = "vast-demo"


def run(*argv: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result


class Demo:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.kubeconfig = state / "kubeconfig"
        self.up_output = ""

    def kubectl(self, *args: str) -> str:
        from envtest import ensure_client_tools  # the same kubectl the demo prints

        tools = ensure_client_tools()
        result = subprocess.run(
            [str(tools.kubectl), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout

    def objects(self) -> list[dict[str, Any]]:
        items = json.loads(self.kubectl("get", "vast", "-n", DEMO_NS, "-o", "json"))["items"]
        return list(items)

    def sim_rented(self) -> dict[str, list[Any]]:
        """What the simulator's saved state still holds: live instances, volumes, endpoints."""
        state = json.loads((self.state / "demo" / "sim-state.json").read_text())
        instances = [i["id"] for i in state["instances"] if i.get("cur_state") != "unloaded"]
        volumes = [v["id"] for v in state["volumes"]]
        endpoints = [e["id"] for e in state["endpoints"]]
        return {"instances": instances, "volumes": volumes, "endpoints": endpoints}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    state = tmp_path_factory.mktemp("demo-state")
    up = run(CONTROLPLANE / "envtest.py", "up", "--state-dir", state)
    d = Demo(state)
    d.up_output = up.stdout + up.stderr
    try:
        run(CONTROLPLANE / "demo.py", "up", "--state-dir", state)
        yield d
    finally:
        subprocess.run(
            [sys.executable, CONTROLPLANE / "demo.py", "down", "--state-dir", state],
            timeout=300,
            check=False,
        )
        subprocess.run(
            [sys.executable, CONTROLPLANE / "envtest.py", "down", "--state-dir", state],
            timeout=120,
            check=False,
        )


def test_the_examples_reach_their_phases(demo: Demo) -> None:
    def ready() -> bool:
        return all(
            (o.get("status") or {}).get("phase") in ("Running", "Available", "Ready")
            for o in demo.objects()
        )

    wait_for("the demo's objects to be ready", ready, timeout=180)
    assert len(demo.objects()) >= 4


def test_the_operator_log_tells_a_clean_story(demo: Demo) -> None:
    log = (demo.state / "demo" / "operator.log").read_text()
    assert "Traceback" not in log
    errors = [line for line in log.splitlines() if " ERROR " in line or "[ERROR" in line]
    assert errors == []
    assert "Created: rented instance" in log  # one INFO line per money action


def test_every_event_comes_from_the_operator_by_name(demo: Demo) -> None:
    events = json.loads(demo.kubectl("get", "events", "-n", DEMO_NS, "-o", "json"))["items"]
    ours = [e for e in events if e["involvedObject"].get("apiVersion", "").startswith("vast.ai")]
    assert ours
    assert {(e.get("source") or {}).get("component") for e in ours} == {"vast-operator"}
    assert not [e for e in ours if "['" in e.get("message", "")]  # no Python lists


def test_kubectl_explain_shows_defaults(demo: Demo) -> None:
    for field, default in (
        ("vastinstances.spec.disk", "16"),
        ("vastinstances.spec.placement.bootTimeout", "20m"),
        ("vastinstances.spec.placement.maxAttempts", "3"),
        ("vastinstances.spec.credentialsRef.key", "api-key"),
    ):
        assert f"Default: {default}" in demo.kubectl("explain", field), field


def test_envtest_names_the_command_that_stops_everything(demo: Demo) -> None:
    assert "make demo-down" in demo.up_output


def test_demo_down_leaves_nothing_rented(demo: Demo) -> None:
    run(CONTROLPLANE / "demo.py", "down", "--state-dir", demo.state)
    assert demo.sim_rented() == {"instances": [], "volumes": [], "endpoints": []}
