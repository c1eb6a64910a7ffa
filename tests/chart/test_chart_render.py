"""The Helm chart, without a cluster: lint, rendering with several value sets, the schema, CRDs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import CHART, CRDS, Render, container, env_of, flag, of_kind, one, run_helm

HELM_CRD_METADATA = ("annotations", "labels")
PEERING_API = ("--api-versions", "kopf.dev/v1/ClusterKopfPeering")


def _operator_deployments(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        d
        for d in of_kind(objs, "Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
    ]


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["--set", "simulator.enabled=true"],
        ["--set", "watchNamespaces={team-a,team-b}", "--set", "metrics.enabled=false"],
        # lint has no --api-versions: leave the peering object (and its CRD check) out
        [
            "--set",
            "peering.enabled=true",
            "--set",
            "replicaCount=2",
            "--set",
            "peering.create=false",
        ],
    ],
    ids=["defaults", "simulator", "namespaced", "peering"],
)
def test_lint_strict(helm_bin: Path, values: list[str]) -> None:
    result = run_helm(helm_bin, "lint", "--strict", CHART, *values)
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_defaults(render: Render) -> None:
    objs = render()
    kinds = sorted({o["kind"] for o in objs})
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Deployment",
        "Service",
        "ServiceAccount",
    ]
    (dep,) = _operator_deployments(objs)
    assert dep["metadata"]["name"] == "r-vast-operator"
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    pod = dep["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "r-vast-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    c = container(dep)
    assert c["image"] == "vast-operator:0.1.0"
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    args = c["args"]
    assert args[0] == "run"
    assert flag(args, "--liveness-port") == ["8080"]
    assert flag(args, "--metrics-port") == ["9090"]
    assert flag(args, "--poll-interval") == ["15"]
    assert flag(args, "--log-format") == ["plain"]
    assert flag(args, "--max-price-per-hour") == ["10"]  # never an operator without a cap
    for absent in ("--namespace", "--peering", "--priority", "--allow-adoption"):
        assert absent not in args
    env = env_of(c)
    assert env["VAST_URL"] == "https://console.vast.ai"
    assert "VAST_API_KEY" not in env  # no key configured: objects need credentialsRef
    svc = one(objs, "Service", "r-vast-operator-metrics")
    assert svc["spec"]["ports"][0]["targetPort"] == "metrics"
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "operator"
    assert not of_kind(objs, "Secret")
    crds = of_kind(objs, "CustomResourceDefinition")
    assert len(crds) == 3
    for crd in crds:
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_cluster_rbac_is_least_privilege(render: Render) -> None:
    objs = render()
    role = one(objs, "ClusterRole")
    rules = {
        (group, res): sorted(r["verbs"])
        for r in role["rules"]
        for group in r["apiGroups"]
        for res in r["resources"]
    }
    crud = sorted(["get", "list", "watch", "patch", "update"])
    assert rules == {
        ("vast.ai", "vastinstances"): crud,
        ("vast.ai", "vastvolumes"): crud,
        ("vast.ai", "vastendpoints"): crud,
        ("vast.ai", "vastinstances/status"): ["get", "patch", "update"],
        ("vast.ai", "vastvolumes/status"): ["get", "patch", "update"],
        ("vast.ai", "vastendpoints/status"): ["get", "patch", "update"],
        ("", "secrets"): sorted(["get", "create", "patch", "watch"]),
        ("", "events"): ["create", "patch"],
        ("events.k8s.io", "events"): ["create", "patch"],
        ("", "namespaces"): ["list", "watch"],
        ("apiextensions.k8s.io", "customresourcedefinitions"): ["list", "watch"],
    }
    binding = one(objs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "r-vast-operator", "namespace": "vast-system"}
    ]


def test_secret_watch_can_be_turned_off(render: Render) -> None:
    """operator.watchSecrets=false removes the `watch` verb and tells the operator so."""
    objs = render("--set", "operator.watchSecrets=false")
    role = one(objs, "ClusterRole")
    verbs = [r["verbs"] for r in role["rules"] if "secrets" in r["resources"]]
    assert verbs == [["get", "create", "patch"]]
    args = container(one(objs, "Deployment", "r-vast-operator"), "operator")["args"]
    assert "--no-watch-secrets" in args
    default_args = container(one(render(), "Deployment", "r-vast-operator"), "operator")["args"]
    assert "--no-watch-secrets" not in default_args


def test_simulator(render: Render) -> None:
    objs = render("--set", "simulator.enabled=true", "--set", "simulator.bootSeconds=2")
    secret = one(objs, "Secret", "r-vast-operator-api-key")
    assert set(secret["data"]) == {"api-key"}
    sim = one(objs, "Deployment", "r-vast-operator-simulator")
    sc = container(sim, "simulator")
    assert sc["command"] == ["vast-sim"]
    assert flag(sc["args"], "--port") == ["8000"]
    assert flag(sc["args"], "--api-key") == ["$(VAST_SIM_API_KEY)"]
    assert flag(sc["args"], "--boot-seconds") == ["2"]
    assert env_of(sc)["VAST_SIM_API_KEY"] == {
        "secretKeyRef": {"name": "r-vast-operator-api-key", "key": "api-key"}
    }
    assert sc["securityContext"]["readOnlyRootFilesystem"] is True
    assert sim["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    svc = one(objs, "Service", "r-vast-operator-simulator")
    assert svc["spec"]["ports"][0]["port"] == 8000
    (dep,) = _operator_deployments(objs)
    env = env_of(container(dep))
    assert env["VAST_URL"] == "http://r-vast-operator-simulator.vast-system.svc:8000"
    assert env["VAST_API_KEY"] == sc_key("r-vast-operator-api-key")
    # vast.url wins over the simulator default
    objs = render("--set", "simulator.enabled=true", "--set", "vast.url=http://sim.example:9")
    (dep,) = _operator_deployments(objs)
    assert env_of(container(dep))["VAST_URL"] == "http://sim.example:9"


def sc_key(secret: str, key: str = "api-key") -> dict[str, Any]:
    return {"secretKeyRef": {"name": secret, "key": key}}


def test_api_key_sources(render: Render) -> None:
    objs = render("--set", "vast.apiKey=s3cr3t")
    secret = one(objs, "Secret")
    assert secret["data"] == {"api-key": "czNjcjN0"}
    (dep,) = _operator_deployments(objs)
    assert env_of(container(dep))["VAST_API_KEY"] == sc_key("r-vast-operator-api-key")
    assert "checksum/api-key" in dep["spec"]["template"]["metadata"]["annotations"]
    objs = render("--set", "vast.existingSecret=team-key", "--set", "vast.existingSecretKey=token")
    assert not of_kind(objs, "Secret")
    (dep,) = _operator_deployments(objs)
    assert env_of(container(dep))["VAST_API_KEY"] == sc_key("team-key", "token")
    assert "checksum/api-key" not in (dep["spec"]["template"]["metadata"]["annotations"] or {})


def test_namespaced_mode(render: Render) -> None:
    objs = render("--set", "watchNamespaces={team-a,team-b}")
    (dep,) = _operator_deployments(objs)
    assert flag(container(dep)["args"], "--namespace") == ["team-a", "team-b"]
    roles = of_kind(objs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    bindings = of_kind(objs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for b in bindings:
        assert b["subjects"][0]["namespace"] == "vast-system"
    (cluster_role,) = of_kind(objs, "ClusterRole")
    assert cluster_role["rules"] == [
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "verbs": ["list", "watch"],
        }
    ]
    resources = {res for r in roles[0]["rules"] for res in r["resources"]}
    assert "namespaces" not in resources
    assert "vastinstances" in resources


def test_peering_gives_each_replica_its_own_priority(render: Render) -> None:
    objs = render("--set", "peering.enabled=true", "--set", "replicaCount=3", *PEERING_API)
    deps = _operator_deployments(objs)
    assert [d["metadata"]["name"] for d in deps] == [
        "r-vast-operator",
        "r-vast-operator-1",
        "r-vast-operator-2",
    ]
    priorities = []
    selectors = []
    for d in deps:
        assert d["spec"]["replicas"] == 1
        assert d["spec"]["strategy"] == {"type": "Recreate"}
        args = container(d)["args"]
        assert flag(args, "--peering") == ["vast-operator"]
        priorities += flag(args, "--priority")
        selectors.append(tuple(sorted(d["spec"]["selector"]["matchLabels"].items())))
    assert priorities == ["100", "99", "98"]
    assert len(set(selectors)) == 3
    peering = one(objs, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == "vast-operator"
    role = one(objs, "ClusterRole")
    assert {
        "apiGroups": ["kopf.dev"],
        "resources": ["clusterkopfpeerings"],
        "verbs": ["get", "list", "watch", "patch"],
    } in role["rules"]
    # namespaced: one KopfPeering and a kopfpeerings rule per watched namespace
    objs = render(
        "--set",
        "peering.enabled=true",
        "--set",
        "watchNamespaces={team-a}",
        "--api-versions",
        "kopf.dev/v1/KopfPeering",
    )
    assert one(objs, "KopfPeering")["metadata"]["namespace"] == "team-a"
    assert "kopfpeerings" in {res for r in one(objs, "Role")["rules"] for res in r["resources"]}
    # without peering.create the objects are the user's business
    objs = render("--set", "peering.enabled=true", "--set", "peering.create=false")
    assert not of_kind(objs, "ClusterKopfPeering")


def test_replica_count_zero_keeps_the_deployment(render: Render) -> None:
    (dep,) = _operator_deployments(render("--set", "replicaCount=0"))
    assert dep["spec"]["replicas"] == 0


def test_operator_flags_and_pod_settings(render: Render) -> None:
    objs = render(
        "--set",
        "operator.maxPricePerHour=1.25",
        "--set",
        "operator.clusterId=prod-eu",
        "--set",
        "operator.sweepOrphans=true",
        "--set",
        "operator.pollInterval=30",
        "--set",
        "operator.logFormat=json",
        "--set",
        "extraArgs={--verbose}",
        "--set",
        "podAnnotations.team=ml",
        "--set",
        "nodeSelector.pool=system",
        "--set",
        "image.repository=registry.example/vast-operator",
        "--set",
        "image.tag=1.2.3",
        "--set",
        "metrics.enabled=false",
    )
    (dep,) = _operator_deployments(objs)
    c = container(dep)
    assert c["image"] == "registry.example/vast-operator:1.2.3"
    assert flag(c["args"], "--max-price-per-hour") == ["1.25"]
    assert flag(c["args"], "--cluster-id") == ["prod-eu"]
    assert "--sweep-orphans" in c["args"]
    assert flag(c["args"], "--poll-interval") == ["30"]
    assert flag(c["args"], "--log-format") == ["json"]
    assert flag(c["args"], "--metrics-port") == ["0"]
    assert c["args"][-1] == "--verbose"
    assert [p["name"] for p in c["ports"]] == ["health"]
    pod = dep["spec"]["template"]
    assert pod["metadata"]["annotations"]["team"] == "ml"
    assert pod["spec"]["nodeSelector"] == {"pool": "system"}
    assert not [s for s in of_kind(objs, "Service") if s["metadata"]["name"].endswith("metrics")]


def test_service_monitor_needs_the_api(render: Render) -> None:
    on = ["--set", "metrics.serviceMonitor.enabled=true"]
    assert not of_kind(render(*on), "ServiceMonitor")
    sm = one(
        render(*on, "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"), "ServiceMonitor"
    )
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    assert sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"


def test_crd_switches(render: Render) -> None:
    assert not of_kind(render("--set", "crds.enabled=false"), "CustomResourceDefinition")
    crds = of_kind(
        render(
            "--set",
            "crds.keep=false",
            "--set-string",
            "crds.annotations.argocd\\.argoproj\\.io/sync-wave=-1",
        ),
        "CustomResourceDefinition",
    )
    assert len(crds) == 3
    for crd in crds:
        assert crd["metadata"]["annotations"] == {"argocd.argoproj.io/sync-wave": "-1"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "replicaCount=2"], "more than one replica needs peering.enabled=true"),
        (["--set", "operator.logFormat=xml"], "at '/operator/logFormat'"),
        (["--set", "imagePullPolicy=Always"], "additional properties 'imagePullPolicy'"),
        (["--set", "image.pullPolicy=Sometimes"], "at '/image/pullPolicy'"),
        (["--set", "watchNamespaces={Team_A}"], "at '/watchNamespaces/0'"),
        (["--set", "operator.pollInterval=0"], "at '/operator/pollInterval'"),
        (["--set", "operator.maxPricePerHour=-1"], "at '/operator/maxPricePerHour'"),
        (["--set", "operator.maxPricePerHour=cheap"], "at '/operator/maxPricePerHour'"),
        (["--set", "vast.url=console.vast.ai"], "at '/vast/url'"),
        (["--set", "metrics.port=70000"], "at '/metrics/port'"),
        (["--set", "crds.keep=maybe"], "at '/crds/keep'"),
        (
            ["--set", "vast.apiKey=a", "--set", "vast.existingSecret=b"],
            "vast.existingSecret and vast.apiKey are both set",
        ),
        (["--set", "peering.enabled=true"], "needs kopf's peering CRDs"),
        (["--set", "operator.sweepOrphans=true"], "operator.sweepOrphans needs operator.clusterId"),
        (
            ["--set", "simulator.enabled=true", "--set", "vast.existingSecret=real-vast-key"],
            "a real Vast key must never be sent to the simulator",
        ),
        (
            ["--set", "simulator.enabled=true", "--set", "vast.apiKey=real"],
            "a real Vast key must never be sent to the simulator",
        ),
    ],
)
def test_bad_values_are_rejected_readably(helm_bin: Path, values: list[str], message: str) -> None:
    result = run_helm(helm_bin, "template", "r", CHART, *values, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def _strip_helm_metadata(crd: dict[str, Any]) -> dict[str, Any]:
    crd = dict(crd, metadata=dict(crd["metadata"]))
    for key in HELM_CRD_METADATA:
        crd["metadata"].pop(key, None)
    return crd


def test_rendered_crds_equal_deploy_crds(render: Render) -> None:
    """The chart's CRDs are the checked-in deploy/crds/ documents (helm metadata aside)."""
    expected = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                expected[doc["metadata"]["name"]] = _strip_helm_metadata(doc)
    assert set(expected) == {
        "vastinstances.vast.ai",
        "vastvolumes.vast.ai",
        "vastendpoints.vast.ai",
    }, "deploy/crds/ must hold the three CRDs (run `make crds`)"
    rendered = {
        crd["metadata"]["name"]: _strip_helm_metadata(crd)
        for crd in of_kind(render(), "CustomResourceDefinition")
    }
    assert set(rendered) == set(expected)
    for name, crd in expected.items():
        assert rendered[name] == crd, f"{name}: the chart's template differs from deploy/crds"


# Values that are Kubernetes objects passed through as a whole: documented as one row.
OPAQUE_VALUES = {
    "podSecurityContext",
    "securityContext",
    "resources",
    "livenessProbe",
    "readinessProbe",
    "simulator.resources",
}


def _value_paths(node: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in OPAQUE_VALUES:
            paths |= _value_paths(value, f"{path}.")
        else:
            paths.add(path)
    return paths


def test_every_value_is_documented_and_in_the_schema() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    doc = (CHART.parents[2] / "docs" / "helm.md").read_text()
    table = doc.split("\n## Values\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Za-z.]+)` \|", table, re.MULTILINE))
    assert documented == _value_paths(values)
    schema = json.loads((CHART / "values.schema.json").read_text())
    for path in _value_paths(values):
        node = schema
        for part in path.split("."):
            assert part in node.get("properties", {}), f"{path} is not in values.schema.json"
            node = node["properties"][part]
        assert node.get("description"), f"{path} has no description in values.schema.json"
