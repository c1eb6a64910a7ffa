"""The example objects that deploy/argocd/application-objects.yaml syncs are valid for the CRDs."""

from __future__ import annotations

from pathlib import Path

from envtest import Cluster

ROOT = Path(__file__).resolve().parents[2]
OBJECTS = ROOT / "deploy" / "argocd" / "objects"
CRDS = ROOT / "deploy" / "crds"


def test_example_objects_pass_server_side_validation(cluster: Cluster, namespace: str) -> None:
    files = sorted(OBJECTS.glob("*.yaml"))
    assert files, f"no example objects in {OBJECTS}"
    cluster.kubectl("apply", "--server-side", "--field-manager=tests", "-f", CRDS)
    for crd in ("vastinstances.vast.ai", "vastvolumes.vast.ai", "vastendpoints.vast.ai"):
        cluster.wait_established(crd)
    for path in files:
        result = cluster.kubectl(
            "create", "--dry-run=server", "--validate=strict", "-n", namespace, "-f", path
        )
        assert "(server dry run)" in result.stdout, result.stderr
