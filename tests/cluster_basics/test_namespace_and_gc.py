"""Namespace deletion and ownerReference GC: needs kube-controller-manager's controllers."""

from __future__ import annotations

import secrets

from widgets import get_or_none, patch_args, widget

from envtest import Cluster, wait_until


def test_namespace_deletion_waits_for_finalizers_then_removes_everything(
    cluster: Cluster, widget_crd: str
) -> None:
    ns = f"t-nsdel-{secrets.token_hex(3)}"
    cluster.kubectl("create", "namespace", ns)
    try:
        cluster.kubectl("create", "configmap", "plain", "-n", ns, "--from-literal=a=b")
        cluster.apply_yaml(widget("held", finalizers=["test.vast.ai/hold"]), ns)

        cluster.kubectl("delete", "namespace", ns, "--wait=false")
        # The namespace controller deletes the contents: the configmap goes, the widget is
        # marked for deletion but stays while its finalizer is there; so does the namespace.
        wait_until(
            lambda: get_or_none(cluster, "configmap", "plain", namespace=ns) is None,
            timeout=60,
            what="namespace controller to delete the configmap",
        )
        held = wait_until(
            lambda: (
                (obj := get_or_none(cluster, "widget", "held", namespace=ns))
                and obj["metadata"].get("deletionTimestamp")
                and obj
            ),
            timeout=60,
            what="namespace controller to delete the widget",
        )
        assert held["metadata"]["finalizers"] == ["test.vast.ai/hold"]
        namespace = get_or_none(cluster, "namespace", ns)
        assert namespace is not None
        assert namespace["status"]["phase"] == "Terminating"

        # NamespaceLifecycle admission: nothing new may be created in a terminating namespace.
        refused = cluster.kubectl("create", "configmap", "late", "-n", ns, check=False)
        assert refused.returncode != 0
        assert "being terminated" in refused.stderr

        cluster.kubectl(
            "patch", "widget", "held", "-n", ns,
            *patch_args([{"op": "remove", "path": "/metadata/finalizers"}]),
        )  # fmt: skip
        wait_until(
            lambda: get_or_none(cluster, "namespace", ns) is None,
            timeout=120,
            interval=0.5,
            what=f"namespace {ns} to be deleted",
        )
    finally:
        cluster.kubectl(
            "delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False
        )


def test_garbage_collector_deletes_dependents(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "owner", "-n", namespace)
    owner = cluster.get_json("configmap", "owner", namespace=namespace)
    cluster.apply_yaml(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "dependent",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            },
        },
        namespace,
    )
    cluster.kubectl("delete", "configmap", "owner", "-n", namespace)  # background propagation
    wait_until(
        lambda: get_or_none(cluster, "configmap", "dependent", namespace=namespace) is None,
        timeout=60,
        interval=0.5,
        what="garbage collector to delete the dependent",
    )
