"""The kind suite: the operator as a Pod, installed by Helm, in a real kind cluster.

The cluster is made once per session, before the first test and outside the per-test timeout
(``pytest_collection_finish``, like the control-plane binaries and the image): the node image
and the operator image are built when missing, ``kind create cluster`` runs, the operator image
is loaded and the chart installed with its simulator (tests/kindkit, docs/kind.md). The cluster
is deleted at the end of the session. If any step fails, every kind test fails with the reason:
these tests are never skipped.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kindkit"))

import cluster as kc
from engine import log
from kindlib import Sim

CLUSTER_NAME = "vast-operator-test"
# The chart's defaults, plus the operator image loaded into the node and the simulator. A
# shorter poll interval only makes the suite faster.
VALUES = ("operator.pollInterval=3",)

_cluster_key = pytest.StashKey[kc.KindCluster | BaseException]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kind: runs in a kind cluster with the operator as a Pod (docs/kind.md)"
    )


def _is_kind(item: pytest.Item) -> bool:
    return Path(str(item.fspath)).resolve().parent == Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _is_kind(item):
            item.add_marker(pytest.mark.kind)
            item.add_marker(pytest.mark.cluster)  # `make unit` (-m 'not cluster') skips it


def pytest_collection_finish(session: pytest.Session) -> None:
    if not any(_is_kind(item) for item in session.items):
        return
    kubeconfig = Path(tempfile.mkdtemp(prefix="vast-kind-")) / "kubeconfig"
    started = time.monotonic()
    try:
        made = kc.up(CLUSTER_NAME, kubeconfig, fresh=True, with_examples=False, values=VALUES)
    except Exception as exc:  # reported by the `kind` fixture, as a failure of each test
        session.config.stash[_cluster_key] = exc
        log(f"kind cluster for the tests failed after {time.monotonic() - started:.0f}s: {exc}")
        return
    session.config.stash[_cluster_key] = made
    log(f"kind cluster {CLUSTER_NAME} ready; timings (s): {made.timings}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    made = session.config.stash.get(_cluster_key, None)
    if isinstance(made, kc.KindCluster):
        made.kind("delete", "cluster", "--name", made.name, timeout=300, check=False)


@pytest.fixture(scope="session")
def kind(request: pytest.FixtureRequest) -> kc.KindCluster:
    made = request.config.stash.get(_cluster_key, None)
    if made is None:
        pytest.fail("the kind cluster was not prepared (collection hook did not run)")
    if isinstance(made, BaseException):
        pytest.fail(f"the kind cluster could not be made: {made}", pytrace=False)
    return made


@pytest.fixture(scope="session")
def sim(kind: kc.KindCluster) -> Sim:
    """The chart's simulator, its admin routes reached through `kubectl port-forward`."""
    return Sim(kind, f"svc/{kc.RELEASE}-simulator", kc.RELEASE_NS)
