"""Every example in examples/ is accepted by the real API server as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import ROOT, Kubectl

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def test_there_are_examples_for_every_kind() -> None:
    text = "\n".join(p.read_text() for p in EXAMPLES)
    for kind in ("VastInstance", "VastVolume", "VastEndpoint"):
        assert f"kind: {kind}" in text
    assert "type: interruptible" in text and "runtype: jupyter" in text and "sshKeys" in text


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_applies_cleanly(k: Kubectl, crds: None, path: Path) -> None:
    result = k.cluster.kubectl(
        "apply", "-n", k.namespace, "--validate=strict", "-f", str(path), check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr
