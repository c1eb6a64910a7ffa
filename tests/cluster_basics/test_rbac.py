"""A ServiceAccount token (TokenRequest API) is held to its Role by the real RBAC authorizer."""

from __future__ import annotations

import json

from widgets import GROUP, widget

from envtest import Cluster, wait_until


def _rbac(namespace: str) -> list[dict[str, object]]:
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "narrow"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "widget-reader"},
            "rules": [
                {"apiGroups": [GROUP], "resources": ["widgets"], "verbs": ["get", "list", "watch"]}
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "narrow-reads-widgets"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "widget-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "narrow", "namespace": namespace}],
        },
    ]


def test_service_account_token_is_limited_to_its_role(
    cluster: Cluster, namespace: str, widget_crd: str
) -> None:
    cluster.apply_yaml(_rbac(namespace), namespace)
    cluster.apply_yaml(widget("w"), namespace)
    kubeconfig = cluster.sa_kubeconfig(namespace, "narrow")

    def can_i(*args: str) -> bool:
        result = cluster.kubectl(
            "auth", "can-i", *args, "-n", namespace, kubeconfig=kubeconfig, check=False
        )
        assert result.returncode in (0, 1), result.stderr
        return result.returncode == 0 and result.stdout.strip() == "yes"

    who = json.loads(cluster.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig).stdout)
    assert who["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:narrow"

    # The binding reaches the authorizer through informers: allow a moment.
    wait_until(lambda: can_i("list", f"widgets.{GROUP}"), timeout=15, what="RBAC to allow list")
    assert can_i("get", f"widgets.{GROUP}")
    assert not can_i("delete", f"widgets.{GROUP}")
    assert not can_i("create", "configmaps")
    assert not can_i("list", "secrets")

    listed = cluster.kubectl("get", "widgets", "-n", namespace, "-o", "name", kubeconfig=kubeconfig)
    assert listed.stdout.split() == [f"widget.{GROUP}/w"]

    denied = cluster.kubectl(
        "delete", "widget", "w", "-n", namespace, kubeconfig=kubeconfig, check=False
    )
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr
    assert 'cannot delete resource "widgets"' in denied.stderr
    assert f"system:serviceaccount:{namespace}:narrow" in denied.stderr
    # ...and the admin still sees the object: the request really was refused.
    assert cluster.kubectl("get", "widget", "w", "-n", namespace).returncode == 0

    other = cluster.kubectl("get", "widgets", "-A", kubeconfig=kubeconfig, check=False)
    assert other.returncode != 0
    assert "Forbidden" in other.stderr
