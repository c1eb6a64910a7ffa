"""The touch that wakes a stalled deletion, on a real kube-apiserver with the chart's RBAC: it
merges one annotation into the object it names, is refused (422) when the name now belongs to
another object (the uid in the patch must match: 422), and says False for an object that is gone.
An object left behind in a namespace that was removed (as the soak saw: the namespace controller
missed the vast.ai kinds across a kube-apiserver restart) cannot be written at all: the touch
says NamespaceGone, and works again once the namespace is created again."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from harness import Kubectl, instance_manifest
from vast_operator.deletion_watch import ANNOTATION
from vast_operator.kube import ClientKube, KubeError, NamespaceGone

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
        # The status write says which resourceVersion it made (the daemon waits for its echo),
        # and a write that changes nothing leaves the version as it was.
        version = await kube.patch_status(KIND, namespace, "touched", {"message": "m1"})
        seen = k.get(KIND, "touched")
        assert seen is not None and version == seen["metadata"]["resourceVersion"]
        assert await kube.patch_status(KIND, namespace, "touched", {"message": "m1"}) == version
    finally:
        kube.close()


def _namespace_exists(cluster: Any, name: str) -> bool:
    return cluster.kubectl("get", "namespace", name, check=False).returncode == 0


async def test_the_touch_of_an_object_whose_namespace_is_gone_says_namespace_gone(
    operator_kubeconfig: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns = f"t-gone-{secrets.token_hex(3)}"
    cluster.kubectl("create", "namespace", ns)
    k = Kubectl(cluster, ns)
    manifest = instance_manifest("left-behind")
    manifest["metadata"]["finalizers"] = ["test.vast.ai/hold"]  # keeps it while ns goes
    assert k.apply(manifest).returncode == 0
    body = k.get(KIND, "left-behind")
    assert body is not None
    uid = body["metadata"]["uid"]
    # Delete the namespace and drop its own finalizer, as the namespace controller does once it
    # believes the namespace empty: the namespace goes, the object stays in storage.
    cluster.kubectl("delete", "namespace", ns, "--wait=false")
    spec = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "spec": {}}
    deadline = time.monotonic() + 60
    while _namespace_exists(cluster, ns) and time.monotonic() < deadline:
        cluster.kubectl(
            "replace",
            "--raw",
            f"/api/v1/namespaces/{ns}/finalize",
            "-f",
            "-",
            input=json.dumps({**spec, "spec": {"finalizers": []}}),
            check=False,
        )
        await asyncio.sleep(0.5)
    assert not _namespace_exists(cluster, ns)
    assert k.get(KIND, "left-behind") is not None  # still stored, and readable
    monkeypatch.setenv("KUBECONFIG", str(operator_kubeconfig))  # the chart's RBAC
    kube = await ClientKube.connect()
    try:
        with pytest.raises(NamespaceGone, match="not found"):
            await kube.annotate_object(KIND, ns, "left-behind", uid, {ANNOTATION: "t1"})
        cluster.kubectl("create", "namespace", ns)  # the remedy the warning names
        assert await kube.annotate_object(KIND, ns, "left-behind", uid, {ANNOTATION: "t2"})
    finally:
        kube.close()
        k.patch(KIND, "left-behind", {"metadata": {"finalizers": None}})
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
