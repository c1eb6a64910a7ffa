"""The Helm chart against the real API server: dry run, install, RBAC, upgrade, uninstall."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from chart_helpers import CHART, CRDS, KOPF_PEERING_CRDS, Render, container, flag

from envtest import Cluster, wait_until

VAST_KINDS = ("vastinstances", "vastvolumes", "vastendpoints")
CRD_NAMES = tuple(f"{k}.vast.ai" for k in VAST_KINDS)


@pytest.fixture(scope="module")
def kopf_peering_crds(cluster: Cluster) -> Iterator[None]:
    """kopf's peering CRDs, for the peering variants; removed again after this module."""
    cluster.kubectl("apply", "--server-side", "--field-manager=tests", "-f", KOPF_PEERING_CRDS)
    for name in ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"):
        cluster.wait_established(name)
    yield
    cluster.kubectl("delete", "-f", KOPF_PEERING_CRDS, "--ignore-not-found", "--wait=false")


def _release() -> str:
    return f"vo-{secrets.token_hex(3)}"


def _can_i(cluster: Cluster, kubeconfig: Path, namespace: str, check: str) -> bool:
    """`kubectl auth can-i` as the ServiceAccount; check is "VERB RESOURCE [--flags]"."""
    args = check.split()
    if "--all-namespaces" not in args and "-n" not in args:
        args += ["-n", namespace]
    result = cluster.kubectl("auth", "can-i", *args, kubeconfig=kubeconfig, check=False)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout.strip() == "yes"


def _assert_permissions(
    cluster: Cluster, kubeconfig: Path, namespace: str, allowed: list[str], denied: list[str]
) -> None:
    # The new binding reaches the authorizer through informers: allow it a moment.
    wait_until(
        lambda: _can_i(cluster, kubeconfig, namespace, allowed[0]),
        timeout=30,
        what=f"RBAC to allow {allowed[0]}",
    )
    checks = allowed + denied
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda c: _can_i(cluster, kubeconfig, namespace, c), checks))
    got = dict(zip(checks, answers, strict=True))
    wrong = [c for c in allowed if not got[c]] + [c for c in denied if got[c]]
    assert not wrong, f"RBAC answers wrong for: {wrong}"


def _needed(prefix: str = "") -> list[str]:
    """Every verb the operator needs on namespaced resources (see templates/rbac.yaml)."""
    checks = []
    for kind in VAST_KINDS:
        for verb in ("get", "list", "watch", "patch", "update"):
            checks.append(f"{verb} {kind}.vast.ai{prefix}")
        for verb in ("get", "patch", "update"):
            checks.append(f"{verb} {kind}.vast.ai --subresource=status{prefix}")
    for verb in ("get", "create", "patch", "watch"):
        checks.append(f"{verb} secrets{prefix}")
    for verb in ("create", "patch"):
        checks.append(f"{verb} events{prefix}")
        checks.append(f"{verb} events.events.k8s.io{prefix}")
    return checks


# What the operator must never be able to do, whatever the mode.
FORBIDDEN = [
    "delete vastinstances.vast.ai",
    "create vastinstances.vast.ai",
    "deletecollection vastvolumes.vast.ai",
    "delete vastendpoints.vast.ai",
    "list secrets",
    "update secrets",
    "delete secrets",
    "list pods",
    "create pods",
    "get configmaps",
    "create deployments.apps",
    "create clusterroles.rbac.authorization.k8s.io --all-namespaces",
    "create rolebindings.rbac.authorization.k8s.io",
    "create customresourcedefinitions.apiextensions.k8s.io --all-namespaces",
    "delete customresourcedefinitions.apiextensions.k8s.io --all-namespaces",
    "delete namespaces --all-namespaces",
    "impersonate serviceaccounts",
]


def test_rendered_manifests_pass_server_side_dry_run(
    cluster: Cluster, namespace: str, render: Render, kopf_peering_crds: None
) -> None:
    """Every object the chart renders is accepted by the real API server (strict fields)."""
    variants = [
        ["--set", "simulator.enabled=true"],
        [
            "--set",
            f"watchNamespaces={{{namespace}}}",
            "--set",
            "peering.enabled=true",
            "--set",
            "replicaCount=2",
            "--set",
            "vast.existingSecret=team-key",
            "--api-versions",
            "kopf.dev/v1/KopfPeering",
        ],
    ]
    for values in variants:
        objs = render(*values, namespace=namespace, release=_release())
        result = cluster.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=chart-dry-run",
            "--dry-run=server",
            "--validate=strict",
            "-f",
            "-",
            input="\n---\n".join(json.dumps(o) for o in objs),
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("(server dry run)") == len(objs)


def test_install_upgrade_uninstall(
    cluster: Cluster, namespace: str, kopf_peering_crds: None
) -> None:
    release = _release()
    fullname = f"{release}-vast-operator"
    # As if the CRDs had been applied by hand before (or by another release): the chart adopts
    # them, and helm's server-side apply takes over their fields.
    cluster.kubectl("apply", "--server-side", "--field-manager=tests", "-f", CRDS)
    helm_args = ["--namespace", namespace, "--take-ownership", "--force-conflicts"]
    cluster.helm(
        "install", release, CHART, *helm_args, "--set", "vast.apiKey=test-key", "--timeout", "2m"
    )
    try:
        dep = cluster.get_json("deployment", fullname, namespace=namespace)
        args = container(dep)["args"]
        assert flag(args, "--log-format") == ["plain"]
        assert dep["spec"]["strategy"]["type"] == "Recreate"
        secret = cluster.get_json("secret", f"{fullname}-api-key", namespace=namespace)
        assert secret["data"] == {"api-key": "dGVzdC1rZXk="}
        for crd in CRD_NAMES:
            got = cluster.get_json("crd", crd)
            assert got["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
            assert got["metadata"]["annotations"]["meta.helm.sh/release-name"] == release

        # RBAC, checked by the real authorizer with the chart's ServiceAccount token.
        kubeconfig = cluster.sa_kubeconfig(namespace, fullname)
        _assert_permissions(
            cluster,
            kubeconfig,
            namespace,
            allowed=[
                "list vastinstances.vast.ai --all-namespaces",
                "watch vastendpoints.vast.ai --all-namespaces",
                *_needed(),
                "list namespaces --all-namespaces",
                "watch namespaces --all-namespaces",
                "list customresourcedefinitions.apiextensions.k8s.io --all-namespaces",
                "watch customresourcedefinitions.apiextensions.k8s.io --all-namespaces",
            ],
            denied=[*FORBIDDEN, "patch clusterkopfpeerings.kopf.dev --all-namespaces"],
        )

        # Upgrade with a value change: json logs and two peered replicas.
        cluster.helm(
            "upgrade",
            release,
            CHART,
            "--namespace",
            namespace,
            "--reuse-values",
            "--set",
            "operator.logFormat=json",
            "--set",
            "peering.enabled=true",
            "--set",
            "replicaCount=2",
            "--timeout",
            "2m",
        )
        for name, priority in ((fullname, "100"), (f"{fullname}-1", "99")):
            args = container(cluster.get_json("deployment", name, namespace=namespace))["args"]
            assert flag(args, "--log-format") == ["json"]
            assert flag(args, "--priority") == [priority]
        cluster.get_json("clusterkopfpeering", "vast-operator")
        history = cluster.helm("history", release, "--namespace", namespace, "-o", "json").stdout
        assert '"revision":2' in history.replace(" ", "")
        _assert_permissions(
            cluster,
            kubeconfig,
            namespace,
            allowed=[
                f"{verb} clusterkopfpeerings.kopf.dev --all-namespaces"
                for verb in ("get", "list", "watch", "patch")
            ],
            denied=["delete clusterkopfpeerings.kopf.dev --all-namespaces"],
        )
    finally:
        cluster.helm("uninstall", release, "--namespace", namespace, check=False)

    # Uninstalled: the operator and its RBAC are gone, the CRDs (and so all objects) stay.
    gone = cluster.kubectl(
        "get", "deployment", fullname, "-n", namespace, "--ignore-not-found", "-o", "name"
    )
    assert gone.stdout.strip() == ""
    gone = cluster.kubectl("get", "clusterrole", fullname, "--ignore-not-found", "-o", "name")
    assert gone.stdout.strip() == ""
    gone = cluster.kubectl(
        "get", "clusterkopfpeering", "vast-operator", "--ignore-not-found", "-o", "name"
    )
    assert gone.stdout.strip() == ""
    for crd in CRD_NAMES:
        cluster.get_json("crd", crd)


def test_namespaced_rbac(cluster: Cluster, namespace: str) -> None:
    """watchNamespaces: Roles only in the watched namespaces, nothing elsewhere."""
    watched = f"{namespace[:50]}-w"
    cluster.apply_yaml({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": watched}})
    release = _release()
    fullname = f"{release}-vast-operator"
    try:
        cluster.helm(
            "install",
            release,
            CHART,
            "--namespace",
            namespace,
            "--set",
            "crds.enabled=false",
            "--set",
            f"watchNamespaces={{{watched}}}",
        )
        args = container(cluster.get_json("deployment", fullname, namespace=namespace))["args"]
        assert flag(args, "--namespace") == [watched]
        kubeconfig = cluster.sa_kubeconfig(namespace, fullname)
        _assert_permissions(
            cluster,
            kubeconfig,
            watched,
            allowed=[
                *_needed(),
                "list customresourcedefinitions.apiextensions.k8s.io --all-namespaces",
                "watch customresourcedefinitions.apiextensions.k8s.io --all-namespaces",
            ],
            denied=[
                *FORBIDDEN,
                "list vastinstances.vast.ai --all-namespaces",
                "list namespaces --all-namespaces",
                f"list vastinstances.vast.ai -n {namespace}",
                f"get secrets -n {namespace}",
                "get secrets -n default",
            ],
        )
    finally:
        cluster.helm("uninstall", release, "--namespace", namespace, check=False)
        cluster.kubectl("delete", "namespace", watched, "--wait=false", "--ignore-not-found")
