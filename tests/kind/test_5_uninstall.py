"""`helm uninstall` keeps the CRDs (crds.keep, the default), and with them the objects.

Runs last: it removes the suite's release."""

from __future__ import annotations

import cluster as kc
from kindlib import apply, get, instance, new_namespace, operator_pods, wait_for

CRDS = ("vastinstances.vast.ai", "vastvolumes.vast.ai", "vastendpoints.vast.ai")


def test_helm_uninstall_keeps_the_crds(kind: kc.KindCluster) -> None:
    ns = new_namespace(kind, "kind-keep")
    apply(kind, ns, instance("kept", state="Stopped"))
    for crd in CRDS:
        annotations = get(kind, "crd", crd)["metadata"].get("annotations") or {}
        assert annotations.get("helm.sh/resource-policy") == "keep", (crd, annotations)
    kind.helm("uninstall", kc.RELEASE, "-n", kc.RELEASE_NS, "--wait", "--timeout", "3m")
    wait_for("the operator Pod gone", lambda: operator_pods(kind) == [], timeout=120)
    assert get(kind, "deployment", kc.RELEASE, "-n", kc.RELEASE_NS) is None
    for crd in CRDS:
        assert get(kind, "crd", crd) is not None, f"{crd} deleted by helm uninstall"
    assert get(kind, "vastinstance", "kept", "-n", ns) is not None
