"""CRD schema/CEL validation, the status subresource and finalizers on a real kube-apiserver."""

from __future__ import annotations

import json
import time

from widgets import CEL_MESSAGE, IMMUTABLE_MESSAGE, get_or_none, patch_args, widget

from envtest import Cluster, wait_until


def test_cel_rule_rejects_bad_object(cluster: Cluster, namespace: str, widget_crd: str) -> None:
    bad = cluster.apply_yaml(widget("bad", minReplicas=3, maxReplicas=1), namespace, check=False)
    assert bad.returncode != 0
    assert CEL_MESSAGE in bad.stderr
    assert get_or_none(cluster, "widget", "bad", namespace=namespace) is None

    # The OpenAPI schema is enforced too (enum), and a valid object is accepted with defaults.
    wrong_enum = cluster.apply_yaml(widget("enum", size="huge"), namespace, check=False)
    assert wrong_enum.returncode != 0
    assert "Unsupported value" in wrong_enum.stderr

    cluster.apply_yaml(widget("good", maxReplicas=2), namespace)
    good = cluster.get_json("widget", "good", namespace=namespace)
    assert good["spec"] == {"size": "small", "minReplicas": 0, "maxReplicas": 2}

    # Transition rule (oldSelf): the size cannot change after creation.
    changed = cluster.kubectl(
        "patch",
        "widget",
        "good",
        "-n",
        namespace,
        *patch_args({"spec": {"size": "large"}}),
        check=False,
    )
    assert changed.returncode != 0
    assert IMMUTABLE_MESSAGE in changed.stderr


def test_status_subresource_separates_spec_and_status(
    cluster: Cluster, namespace: str, widget_crd: str
) -> None:
    cluster.apply_yaml(widget("w", maxReplicas=1), namespace)
    status_patch = ["--subresource=status"]
    cluster.kubectl(
        "patch",
        "widget",
        "w",
        "-n",
        namespace,
        *status_patch,
        *patch_args({"status": {"phase": "Ready", "observedGeneration": 1}}),
    )
    obj = cluster.get_json("widget", "w", namespace=namespace)
    assert obj["status"]["phase"] == "Ready"
    generation = obj["metadata"]["generation"]

    # An update of the main resource changes spec (and generation) but ignores status.
    cluster.kubectl(
        "patch",
        "widget",
        "w",
        "-n",
        namespace,
        *patch_args({"spec": {"maxReplicas": 5}, "status": {"phase": "Hacked"}}),
    )
    obj = cluster.get_json("widget", "w", namespace=namespace)
    assert obj["spec"]["maxReplicas"] == 5
    assert obj["status"]["phase"] == "Ready"
    assert obj["metadata"]["generation"] == generation + 1

    # An update of the status subresource changes status but ignores spec.
    cluster.kubectl(
        "patch",
        "widget",
        "w",
        "-n",
        namespace,
        *status_patch,
        *patch_args({"spec": {"maxReplicas": 9}, "status": {"phase": "Done"}}),
    )
    obj = cluster.get_json("widget", "w", namespace=namespace)
    assert obj["spec"]["maxReplicas"] == 5
    assert obj["status"]["phase"] == "Done"
    assert obj["metadata"]["generation"] == generation + 1


def test_finalizer_blocks_deletion_until_removed(
    cluster: Cluster, namespace: str, widget_crd: str
) -> None:
    finalizer = "test.vast.ai/hold"
    cluster.apply_yaml(widget("held", finalizers=[finalizer]), namespace)
    cluster.kubectl("delete", "widget", "held", "-n", namespace, "--wait=false")

    obj = cluster.get_json("widget", "held", namespace=namespace)
    assert obj["metadata"]["deletionTimestamp"]
    assert obj["metadata"]["finalizers"] == [finalizer]
    # Still there a moment later: only removing the finalizer releases it.
    time.sleep(1)
    assert get_or_none(cluster, "widget", "held", namespace=namespace) is not None

    cluster.kubectl(
        "patch",
        "widget",
        "held",
        "-n",
        namespace,
        *patch_args([{"op": "remove", "path": "/metadata/finalizers"}]),
    )
    wait_until(
        lambda: get_or_none(cluster, "widget", "held", namespace=namespace) is None,
        timeout=15,
        what="widget to be gone after its finalizer was removed",
    )
    assert (
        json.loads(cluster.kubectl("get", "widgets", "-n", namespace, "-o", "json").stdout)["items"]
        == []
    )
