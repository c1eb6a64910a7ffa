"""Every example in examples/ is accepted by the real API server as it is, and reaches its ready
phase against the simulator's default market with the e2e operator (its $50/h price cap)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import ROOT, Kubectl, OperatorProcess, wait_for

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
PLURALS = {
    "VastInstance": "vastinstances",
    "VastVolume": "vastvolumes",
    "VastEndpoint": "vastendpoints",
}
READY_PHASE = {"VastVolume": "Available", "VastEndpoint": "Ready"}


def test_there_are_examples_for_every_kind() -> None:
    text = "\n".join(p.read_text() for p in EXAMPLES)
    for kind in ("VastInstance", "VastVolume", "VastEndpoint"):
        assert f"kind: {kind}" in text
    assert "type: interruptible" in text and "runtype: jupyter" in text and "sshKeys" in text
    assert "restartPolicy: OnFailure" in text  # a job that finishes


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_applies_cleanly(k: Kubectl, crds: None, path: Path) -> None:
    result = k.cluster.kubectl(
        "apply", "-n", k.namespace, "--validate=strict", "-f", str(path), check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr


def docs_of(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def ready_phase(doc: dict[str, Any]) -> str:
    """The phase an object of an example settles in when everything went right."""
    kind = doc["kind"]
    if kind == "VastInstance":
        spec = doc.get("spec") or {}
        if spec.get("restartPolicy") in ("OnFailure", "Never"):
            return "Succeeded"  # a job: it finishes
        return "Stopped" if spec.get("state") == "Stopped" else "Running"
    return READY_PHASE[kind]


def files_to_apply(path: Path) -> list[Path]:
    """The example, after the examples defining the VastVolumes it mounts but does not carry."""
    docs = docs_of(path)
    carried = {d["metadata"]["name"] for d in docs if d["kind"] == "VastVolume"}
    mounted = {
        v["name"]
        for d in docs
        if d["kind"] == "VastInstance"
        for v in (d.get("spec") or {}).get("volumes") or []
    }
    needed = []
    for name in sorted(mounted - carried):
        found = [
            other
            for other in EXAMPLES
            if any(d["kind"] == "VastVolume" and d["metadata"]["name"] == name
                   for d in docs_of(other))
        ]  # fmt: skip
        assert found, f"{path.name} mounts VastVolume {name}, which no example defines"
        needed.append(found[0])
    return [*dict.fromkeys(needed), path]


def managed_objects(paths: list[Path]) -> list[tuple[str, str, str]]:
    """(plural, name, ready phase) of every operator object in these example files."""
    return [
        (PLURALS[d["kind"]], d["metadata"]["name"], ready_phase(d))
        for path in paths
        for d in docs_of(path)
        if d["kind"] in PLURALS
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_reaches_its_ready_phase_on_the_simulator(
    k: Kubectl, operator: OperatorProcess, path: Path
) -> None:
    # Each example runs in its own namespace (the fixture's), with the examples defining the
    # volumes it mounts, on the simulator's default market and the operator's $50/h cap.
    paths = files_to_apply(path)
    for each in paths:
        k.cluster.kubectl("apply", "-n", k.namespace, "-f", str(each))
    objects = managed_objects(paths)
    assert objects, f"{path.name} has no operator object"

    def settled() -> bool:
        return all(k.phase(plural, name) == phase for plural, name, phase in objects)

    def seen() -> list[tuple[str, str, Any, Any]]:
        return [
            (plural, name, k.phase(plural, name), k.status(plural, name).get("message"))
            for plural, name, _ in objects
        ]

    try:
        wait_for(f"{path.name} to be ready", settled, timeout=120, interval=1.0)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; objects: {seen()}") from None
    for plural, name, _ in objects:
        ready = k.condition(plural, name, "Ready")
        assert ready and ready["status"] == "True", (plural, name, ready)
