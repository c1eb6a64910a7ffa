"""`helm install` with the chart's defaults: the operator runs as a Pod under a kubelet."""

from __future__ import annotations

import cluster as kc
import pytest
from kindlib import (
    Sim,
    apply,
    get,
    instance,
    live_instances_for,
    new_namespace,
    operator_pods,
    ready,
    uid_of,
    wait_for,
    wait_running,
)


def test_deployment_available_with_chart_defaults(kind: kc.KindCluster) -> None:
    deployment = get(kind, "deployment", kc.RELEASE, "-n", kc.RELEASE_NS)
    available = [c for c in deployment["status"]["conditions"] if c["type"] == "Available"]
    assert available and available[0]["status"] == "True", deployment["status"]
    pods = operator_pods(kind)
    assert len(pods) == 1 and ready(pods[0]), pods
    pod = pods[0]
    container = pod["spec"]["containers"][0]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    status = pod["status"]["containerStatuses"][0]
    assert status["ready"] is True and status["restartCount"] == 0, status
    name = pod["metadata"]["name"]
    # What the kubelet really applied, seen from inside the container.
    uid = kind.kubectl("exec", "-n", kc.RELEASE_NS, name, "--", "id", "-u").strip()
    assert uid == "10001"
    touched = kind.run(
        [kind.client.kubectl, "--kubeconfig", kind.kubeconfig, "exec", "-n", kc.RELEASE_NS,
         name, "--", "touch", "/should-not-exist"], check=False,
    )  # fmt: skip
    assert touched.returncode != 0 and "Read-only file system" in touched.stderr, touched
    # The in-cluster ServiceAccount token is mounted (the operator authenticates with it).
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    assert "/var/run/secrets/kubernetes.io/serviceaccount" in mounts


def test_instance_reaches_running_with_the_operator_in_a_pod(
    kind: kc.KindCluster, sim: Sim
) -> None:
    ns = new_namespace(kind, "kind-run")
    apply(kind, ns, instance("first"))
    uid = uid_of(kind, ns, "first")
    wait_running(kind, ns, "first")
    rented = live_instances_for(sim, uid)
    assert len(rented) == 1, rented
    status = get(kind, "vastinstances", "first", "-n", ns)["status"]
    assert status["instanceId"] == rented[0]["id"]
    kind.kubectl("delete", "vastinstance", "first", "-n", ns, "--wait=true", "--timeout=120s",
                 timeout=150)  # fmt: skip
    wait_for("the rental destroyed", lambda: not live_instances_for(sim, uid), timeout=60)
    kind.kubectl("delete", "namespace", ns, "--wait=false")


@pytest.mark.timeout(420)
def test_examples_reach_their_ready_phases(kind: kc.KindCluster) -> None:
    """What `make kind` does after `helm install`."""
    kc.apply_examples(kind, namespace="kind-examples", timeout=300)
    for plural, name, wanted in kc.example_objects():
        obj = get(kind, plural, name, "-n", "kind-examples")
        assert obj["status"]["phase"] == wanted, (plural, name, obj["status"])
    kind.kubectl("delete", "namespace", "kind-examples", "--wait=false")
