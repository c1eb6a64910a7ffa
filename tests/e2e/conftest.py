"""Fixtures for end-to-end tests: CRDs, the chart's RBAC, the simulator and the operator."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import ROOT, Kubectl, OperatorProcess, VastView, wait_for
from vast_sim.testing import RunningSim, run_sim_subprocess

OPERATOR_NS = "vast-operator-e2e"
RELEASE = "e2e"


@pytest.fixture(scope="session")
def crds(cluster) -> None:  # type: ignore[no-untyped-def]
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "deploy" / "crds"))
    cluster.wait_established(
        "vastinstances.vast.ai", "vastvolumes.vast.ai", "vastendpoints.vast.ai"
    )


@pytest.fixture(scope="session")
def operator_kubeconfig(cluster, crds) -> Path:  # type: ignore[no-untyped-def]
    """A kubeconfig with the token of the chart's ServiceAccount: the chart's RBAC, no more."""
    return Path(cluster.chart_rbac_kubeconfig(OPERATOR_NS, RELEASE))


@pytest.fixture(scope="session")
def sim_key() -> str:
    return "sim-" + secrets.token_hex(16)


@pytest.fixture(scope="session")
def sim(sim_key: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSim]:
    # Strict, as Vast, except for per-route rate limits: the e2e operator runs without pacing
    # (--rate-limit-scale 0) to keep the suite fast, and the tests' own checks read the
    # simulator with the same key. Pacing against enforced limits is proven by the benchmark
    # smoke test (tests/bench) and 429 handling by tests/e2e/test_instance_faults.py.
    with run_sim_subprocess(api_key=sim_key, boot_seconds=1.0, relax=["rate_limits"]) as running:
        yield running


@pytest.fixture
def vast(sim: RunningSim) -> Iterator[VastView]:
    view = VastView(sim.url, sim.api_key)
    yield view
    view.close()


@pytest.fixture
def k(cluster, namespace: str) -> Kubectl:  # type: ignore[no-untyped-def]
    return Kubectl(cluster, namespace)


@pytest.fixture
def operator(
    operator_kubeconfig: Path,
    sim: RunningSim,
    namespace: str,
    k: Kubectl,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[OperatorProcess]:
    marker = request.node.get_closest_marker("operator_args")  # extra `run` flags for a test
    proc = OperatorProcess(
        kubeconfig=operator_kubeconfig,
        vast_url=sim.url,
        api_key=sim.api_key,
        namespace=namespace,
        log_path=tmp_path / "operator.log",
        extra_args=list(marker.args) if marker else None,
    ).start()
    yield proc
    # Leave nothing rented: delete what the test left while an operator is still running.
    try:
        if not proc.alive:
            proc.start()
        k.cluster.kubectl(
            "delete",
            "vastinstances,vastvolumes,vastendpoints",
            "--all",
            "-n",
            namespace,
            "--wait=false",
            check=False,
        )
        wait_for(
            "the test's objects to be deleted",
            lambda: not any(k.list(kind) for kind in KINDS),
            timeout=90,
        )
    finally:
        proc.stop()
        print(proc.logs()[-8000:])


KINDS = ("vastinstances", "vastvolumes", "vastendpoints")
