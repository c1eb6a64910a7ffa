"""The test-only Widget CRD (group test.vast.ai) and helpers for the cluster_basics tests."""

from __future__ import annotations

import json
from typing import Any

from envtest import Cluster

GROUP = "test.vast.ai"
CRD_NAME = f"widgets.{GROUP}"
CEL_MESSAGE = "minReplicas must not exceed maxReplicas"
IMMUTABLE_MESSAGE = "size is immutable"
IMMUTABLE_RULE = {"rule": "self == oldSelf", "message": IMMUTABLE_MESSAGE}  # a transition rule

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": CRD_NAME},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.minReplicas <= self.maxReplicas",
                                        "message": CEL_MESSAGE,
                                    }
                                ],
                                "properties": {
                                    "size": {
                                        "type": "string",
                                        "enum": ["small", "large"],
                                        "x-kubernetes-validations": [
                                            {
                                                "rule": "self == oldSelf",
                                                "message": IMMUTABLE_MESSAGE,
                                            }
                                        ],
                                    },
                                    "minReplicas": {"type": "integer", "minimum": 0, "default": 0},
                                    "maxReplicas": {"type": "integer", "minimum": 0, "default": 1},
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {
                                    "phase": {"type": "string"},
                                    "observedGeneration": {"type": "integer"},
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}


def widget(name: str, finalizers: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    """A Widget manifest (spec defaults to size=small)."""
    metadata: dict[str, Any] = {"name": name}
    if finalizers:
        metadata["finalizers"] = finalizers
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "metadata": metadata,
        "spec": {"size": "small", **spec},
    }


def patch_args(patch: dict[str, Any] | list[dict[str, Any]]) -> list[str]:
    kind = "json" if isinstance(patch, list) else "merge"
    return [f"--type={kind}", "-p", json.dumps(patch)]


def get_or_none(cluster: Cluster, *args: str, namespace: str | None = None) -> Any:
    """`kubectl get ... -o json`, or None if NotFound."""
    ns = ["-n", namespace] if namespace else []
    result = cluster.kubectl("get", *args, *ns, "-o", "json", check=False)
    if result.returncode != 0:
        assert "NotFound" in result.stderr, result.stderr
        return None
    return json.loads(result.stdout)
