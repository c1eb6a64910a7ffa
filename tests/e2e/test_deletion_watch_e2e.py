"""The touch that wakes a stalled deletion, on a real kube-apiserver with the chart's RBAC: it
merges one annotation into the object it names, is refused (422) when the name now belongs to
another object (the uid in the patch must match: 422), and says False for an object that is gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import Kubectl, instance_manifest
from vast_operator.deletion_watch import ANNOTATION
from vast_operator.kube import ClientKube, KubeError

KIND = "vastinstances"


async def test_the_deletion_touch_patches_only_the_object_it_names(
    operator_kubeconfig: Path, namespace: str, k: Kubectl, monkeypatch: pytest.MonkeyPatch
) -> None:
    k.apply(instance_manifest("touched"))
    body = k.get(KIND, "touched")
    assert body is not None
    uid = body["metadata"]["uid"]
    monkeypatch.setenv("KUBECONFIG", str(operator_kubeconfig))  # the chart's RBAC
    kube = await ClientKube.connect()
    try:
        assert await kube.annotate_object(KIND, namespace, "touched", uid, {ANNOTATION: "t1"})
        after = k.get(KIND, "touched")
        assert after is not None and after["metadata"]["annotations"][ANNOTATION] == "t1"
        assert after["spec"] == body["spec"]  # nothing else moved
        with pytest.raises(KubeError, match="HTTP 422"):  # metadata.uid is immutable
            await kube.annotate_object(KIND, namespace, "touched", "another-uid", {ANNOTATION: "x"})
        assert not await kube.annotate_object(KIND, namespace, "absent", uid, {ANNOTATION: "t"})
    finally:
        kube.close()
