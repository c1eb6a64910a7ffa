"""Fixtures of the cluster_basics tests: the test-only Widget CRD."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from widgets import CRD_NAME, WIDGET_CRD

from envtest import Cluster, wait_until


@pytest.fixture(scope="session")
def widget_crd(cluster: Cluster) -> Iterator[str]:
    """Install the Widget CRD; wait until it is established and served."""
    cluster.apply_yaml(WIDGET_CRD)
    cluster.wait_established(CRD_NAME)
    wait_until(
        lambda: cluster.kubectl("get", "widgets", "-A", check=False).returncode == 0,
        what="widgets to be served",
    )
    yield CRD_NAME
    cluster.kubectl("delete", "crd", CRD_NAME, "--wait=false", "--ignore-not-found", check=False)
