"""Fixtures for the dashboard and alert tests: promtool, the rendered chart, exported metrics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import promkit

import envtest

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "vast-operator"
RELEASE, NAMESPACE = "r", "vast-system"  # rules_test.yaml expects these
PROMETHEUS_RULE_API = "monitoring.coreos.com/v1/PrometheusRule"


@pytest.fixture(scope="session")
def promtool() -> Path:
    """promtool (PATH, else Debian's unpacked into the cache). Never skipped: fails with why."""
    try:
        return promkit.ensure_promtool()
    except promkit.PromtoolError as exc:
        pytest.fail(f"no promtool: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def rendered() -> list[dict[str, Any]]:
    """The chart with the dashboard and the alerts on, default thresholds."""
    helm = envtest.ensure_client_tools().helm
    result = subprocess.run(
        [
            str(helm),
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--set",
            "prometheusRule.enabled=true",
            "--set",
            "grafana.dashboard.enabled=true",
            "--api-versions",
            PROMETHEUS_RULE_API,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="session")
def rule_groups(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    """The PrometheusRule's spec: a Prometheus rule file ({groups: [...]})."""
    (rule,) = [d for d in rendered if d["kind"] == "PrometheusRule"]
    spec: dict[str, Any] = rule["spec"]
    return spec
