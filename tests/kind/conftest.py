"""The kind suite: the operator as a Pod, installed by Helm, in a real kind cluster.

What takes long is built before the first test and outside the per-test timeout
(``pytest_collection_finish``, like the control-plane binaries and the image): the Go tools,
the node image and the operator image, when missing. The cluster itself is made once, by the
session fixture ``kind`` at its first use (``kind create cluster``, the operator image loaded,
the chart installed with its simulator; tests/kindkit, docs/kind.md), and deleted right after
the last kind test, so it does not run while other suites do. If any step fails, every kind
test fails with the reason: these tests are never skipped.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kindkit"))

import cluster as kc
from engine import Workarounds, log
from kindlib import Sim

CLUSTER_NAME = "vast-operator-test"
# The chart's defaults, plus the operator image loaded into the node and the simulator. A
# shorter poll interval only makes the suite faster.
VALUES = ("operator.pollInterval=3",)

_prepared_key = pytest.StashKey[tuple[kc.KindCluster, Workarounds, str] | BaseException]()
_created_key = pytest.StashKey[bool]()


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
            if item.get_closest_marker("timeout") is None:  # the first one makes the cluster
                item.add_marker(pytest.mark.timeout(600))
            item.add_marker(pytest.mark.cluster)  # `make unit` (-m 'not cluster') skips it


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build what the cluster needs before the first test (outside the per-test timeout)."""
    if not any(_is_kind(item) for item in session.items):
        return
    kubeconfig = Path(tempfile.mkdtemp(prefix="vast-kind-")) / "kubeconfig"
    started = time.monotonic()
    try:
        session.config.stash[_prepared_key] = kc.prepare(CLUSTER_NAME, kubeconfig)
    except Exception as exc:  # reported by the `kind` fixture, as a failure of each test
        session.config.stash[_prepared_key] = exc
        log(f"kind: preparing failed after {time.monotonic() - started:.0f}s: {exc}")


def _delete(config: pytest.Config) -> None:
    prepared = config.stash.get(_prepared_key, None)
    if isinstance(prepared, tuple) and config.stash.get(_created_key, False):
        made = prepared[0]
        made.kind("delete", "cluster", "--name", made.name, timeout=300, check=False)
        config.stash[_created_key] = False


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The cluster goes right after the last kind test: the suites after it get the CPU."""
    if _is_kind(item) and (nextitem is None or not _is_kind(nextitem)):
        _delete(item.config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    _delete(session.config)


@pytest.fixture(scope="session")
def kind(request: pytest.FixtureRequest) -> kc.KindCluster:
    """The cluster, created at its first use: `kind create cluster`, the operator image
    loaded, the chart installed (about a minute when the images are built)."""
    prepared = request.config.stash.get(_prepared_key, None)
    if prepared is None:
        pytest.fail("the kind cluster was not prepared (collection hook did not run)")
    if isinstance(prepared, BaseException):
        pytest.fail(f"the kind cluster could not be prepared: {prepared}", pytrace=False)
    made, work, node_image = prepared
    if not request.config.stash.get(_created_key, False):
        request.config.stash[_created_key] = True  # from here on, delete it at the end
        try:
            kc.create(made, work, node_image, fresh=True)
            kc.install(made, *VALUES)
        except Exception as exc:
            pytest.fail(f"the kind cluster could not be made: {exc}", pytrace=False)
        log(f"kind cluster {CLUSTER_NAME} ready; timings (s): {made.timings}")
    return made


@pytest.fixture(scope="session")
def sim(kind: kc.KindCluster) -> Iterator[Sim]:
    """The chart's simulator, its admin routes reached through `kubectl port-forward`."""
    view = Sim(kind, f"svc/{kc.RELEASE}-simulator", kc.RELEASE_NS)
    yield view
    view.close()
