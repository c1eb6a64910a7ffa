"""Shared fixtures: a real Kubernetes control plane for the test session (docs/controlplane.md).

* ``cluster`` (session): an ``envtest.Cluster`` - ``.kubeconfig`` (admin), ``.kubectl(...)``,
  ``.helm(...)``, ``.apply_yaml(...)``, ``.sa_kubeconfig(ns, sa)``, ``.api_client()``.
  Started from the locally built etcd/kube-apiserver/kube-controller-manager, or - when
  ``VAST_TEST_KUBECONFIG`` names a kubeconfig - that existing cluster is used instead.
* ``namespace`` (function): a fresh namespace per test, deleted (without waiting) afterwards.

Every test that uses ``cluster`` (directly or through another fixture) gets the ``cluster``
marker automatically. Cluster tests are never skipped: if the control plane cannot be built or
started, they fail with the reason.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "controlplane"))

import envtest
from envtest import Cluster

EXTERNAL_KUBECONFIG_ENV = "VAST_TEST_KUBECONFIG"

_binaries_key = pytest.StashKey[envtest.Binaries | envtest.ClientTools | BaseException]()


def _external_kubeconfig() -> Path | None:
    value = os.environ.get(EXTERNAL_KUBECONFIG_ENV)
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise envtest.ControlPlaneError(
            f"{EXTERNAL_KUBECONFIG_ENV}={value} does not name an existing kubeconfig file"
        )
    return path


@pytest.hookimpl(tryfirst=True)  # before `-m` deselection sees the items
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build missing binaries before the first cluster test (outside any per-test timeout)."""
    if not any(item.get_closest_marker("cluster") for item in session.items):
        return
    try:
        if _external_kubeconfig() is not None:
            session.config.stash[_binaries_key] = envtest.ensure_client_tools()
        else:
            session.config.stash[_binaries_key] = envtest.ensure_binaries()
    except Exception as exc:  # reported by the `cluster` fixture, as a failure of each test
        session.config.stash[_binaries_key] = exc


@pytest.fixture(scope="session")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    prepared = request.config.stash.get(_binaries_key, None)
    if isinstance(prepared, BaseException):
        pytest.fail(f"cluster unavailable: {prepared}", pytrace=False)
    work_dir = tmp_path_factory.mktemp("cluster")
    try:
        external = _external_kubeconfig()
        tools = envtest.ensure_client_tools()
        binaries = None if external else envtest.ensure_binaries()
    except envtest.ControlPlaneError as exc:
        pytest.fail(str(exc), pytrace=False)
    if external is not None:
        yield Cluster(external, tools, work_dir)
        return
    assert binaries is not None
    plane = envtest.ControlPlane(work_dir / "state", binaries)
    try:
        plane.start()
    except envtest.ControlPlaneError as exc:
        pytest.fail(f"control plane did not start: {exc}", pytrace=False)
    try:
        yield Cluster(plane.kubeconfig, tools, work_dir, plane)
    finally:
        plane.stop()


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test; deleted afterwards without waiting."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{base}-{secrets.token_hex(3)}"
    cluster.apply_yaml(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"test.vast.ai/pytest": "true"}},
        }
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
