"""Helpers for the Helm chart tests: running helm, parsing and picking rendered objects."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "vast-operator"
CRDS = ROOT / "deploy" / "crds"
KOPF_PEERING_CRDS = Path(__file__).resolve().parent / "kopf-peering-crds.yaml"

Manifest = dict[str, Any]
Render = Callable[..., list[Manifest]]


def run_helm(helm: Path, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(helm), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(map(str, args))} failed:\n{result.stderr}")
    return result


def parse_manifests(text: str) -> list[Manifest]:
    return [d for d in yaml.safe_load_all(text) if d]


def of_kind(objs: Iterable[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objs if o["kind"] == kind]


def one(objs: Iterable[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [o for o in of_kind(objs, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
    return found[0]


def container(deployment: Manifest, name: str = "operator") -> Manifest:
    (c,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return c


def flag(args: list[str], name: str) -> list[str]:
    """All values of a `--name VALUE` flag in an argument list."""
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == name]


def env_of(c: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}
