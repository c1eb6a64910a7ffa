"""The client tools the fixture hands out: helm (v4) and the `kubernetes` ApiClient factory."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes.client

from envtest import Cluster

CHART_YAML = """\
apiVersion: v2
name: smoke
version: 0.1.0
"""

CONFIGMAP_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
"""


def test_helm_installs_and_uninstalls_a_chart(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    chart = tmp_path / "smoke"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART_YAML)
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "configmap.yaml").write_text(CONFIGMAP_TEMPLATE)

    cluster.helm("install", "demo", chart, "-n", namespace, "--set", "greeting=hi")
    settings = cluster.get_json("configmap", "demo-settings", namespace=namespace)
    assert settings["data"] == {"greeting": "hi"}
    releases = json.loads(cluster.helm("list", "-n", namespace, "-o", "json").stdout)
    assert [r["name"] for r in releases] == ["demo"]

    cluster.helm("uninstall", "demo", "-n", namespace)
    gone = cluster.kubectl("get", "configmap", "demo-settings", "-n", namespace, check=False)
    assert "NotFound" in gone.stderr


def test_api_client_factory(cluster: Cluster, namespace: str) -> None:
    with cluster.api_client() as client:
        version = kubernetes.client.VersionApi(client).get_code()
        assert version.major == "1"
        listed = kubernetes.client.CoreV1Api(client).list_namespace()
        assert namespace in [ns.metadata.name for ns in listed.items]
