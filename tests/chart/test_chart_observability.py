"""The chart's Grafana dashboard ConfigMap and PrometheusRule: off by default, right when on.

What the dashboard and the rules query is checked in tests/observability (exported metric
names, promtool check/test rules).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chart_helpers import CHART, Render, of_kind, one, run_helm

from envtest import Cluster

DASHBOARD = CHART / "dashboards" / "vast-operator.json"
RULE_API = ("--api-versions", "monitoring.coreos.com/v1/PrometheusRule")
ALERTS = [
    "VastOperatorDown",
    "VastObjectsStuckDeleting",
    "VastApiRateLimitStorm",
    "VastSpendAboveLimit",
    "VastOrphansFound",
    "VastCreditLow",
    "VastOperatorReconcileErrors",
]
# The fields of a monitoring.coreos.com/v1 PrometheusRule's rule (prometheus-operator's CRD).
RULE_FIELDS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}


def test_off_by_default(render: Render) -> None:
    objs = render(*RULE_API)
    assert not of_kind(objs, "ConfigMap")
    assert not of_kind(objs, "PrometheusRule")


def test_dashboard_configmap(render: Render) -> None:
    cm = one(render("--set", "grafana.dashboard.enabled=true"), "ConfigMap")
    assert cm["metadata"]["name"] == "r-vast-operator-dashboard"
    assert cm["metadata"]["namespace"] == "vast-system"
    labels = cm["metadata"]["labels"]
    assert labels["grafana_dashboard"] == "1"
    assert labels["app.kubernetes.io/instance"] == "r"
    assert "annotations" not in cm["metadata"]
    assert list(cm["data"]) == ["vast-operator.json"]
    board = json.loads(cm["data"]["vast-operator.json"])
    assert board == json.loads(DASHBOARD.read_text())
    assert board["uid"] == "vast-operator"
    assert "${datasource}" in cm["data"]["vast-operator.json"]  # not eaten by helm


def test_dashboard_placement_labels_and_annotations(render: Render) -> None:
    cm = one(
        render(
            "--set",
            "grafana.dashboard.enabled=true",
            "--set",
            "grafana.dashboard.namespace=monitoring",
            "--set",
            "grafana.dashboard.labels.team=ml",
            "--set",
            "grafana.dashboard.annotations.grafana_folder=GPUs",
        ),
        "ConfigMap",
    )
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["labels"]["team"] == "ml"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "GPUs"}


def test_prometheus_rule(render: Render) -> None:
    rule = one(render("--set", "prometheusRule.enabled=true", *RULE_API), "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["name"] == "r-vast-operator"
    assert rule["metadata"]["namespace"] == "vast-system"
    (group,) = rule["spec"]["groups"]
    assert group["name"] == "vast-operator"
    assert [r["alert"] for r in group["rules"]] == ALERTS
    by_name = {r["alert"]: r for r in group["rules"]}
    for r in group["rules"]:
        assert set(r) <= RULE_FIELDS, r["alert"]
        assert r["labels"]["severity"] in ("critical", "warning")
        assert r["annotations"]["summary"] and r["annotations"]["description"]
        assert 'job="r-vast-operator-metrics", namespace="vast-system"' in r["expr"]
    assert by_name["VastOperatorDown"]["for"] == "5m"
    assert by_name["VastOperatorDown"]["labels"]["namespace"] == "vast-system"
    assert by_name["VastObjectsStuckDeleting"]["for"] == "30m"
    assert 'phase="Deleting"' in by_name["VastObjectsStuckDeleting"]["expr"]
    assert by_name["VastSpendAboveLimit"]["expr"].rstrip().endswith("> 50")
    assert by_name["VastApiRateLimitStorm"]["expr"].rstrip().endswith("> 0.2")
    assert by_name["VastOperatorReconcileErrors"]["for"] == "15m"


def test_prometheus_rule_settings(render: Render) -> None:
    rule = one(
        render(
            "--set",
            "prometheusRule.enabled=true",
            "--set",
            "prometheusRule.job=vast-operator",
            "--set",
            "prometheusRule.labels.release=kube-prometheus-stack",
            "--set",
            "prometheusRule.additionalLabels.team=ml",
            "--set",
            "prometheusRule.maxDollarsPerHour=12.5",
            "--set",
            "prometheusRule.rateLimitedRatio=0.5",
            "--set",
            "prometheusRule.stuckDeletingFor=2h",
            "--set",
            "prometheusRule.operatorDownFor=10m",
            "--set",
            "prometheusRule.reconcileErrorsFor=1h",
            *RULE_API,
        ),
        "PrometheusRule",
    )
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    by_name = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    for r in by_name.values():
        assert r["labels"]["team"] == "ml"
        assert 'job="vast-operator", namespace="vast-system"' in r["expr"]
    assert by_name["VastOperatorDown"]["for"] == "10m"
    assert by_name["VastOperatorDown"]["labels"]["job"] == "vast-operator"
    assert by_name["VastObjectsStuckDeleting"]["for"] == "2h"
    assert by_name["VastOperatorReconcileErrors"]["for"] == "1h"
    assert by_name["VastSpendAboveLimit"]["expr"].rstrip().endswith("> 12.5")
    assert "12.5 $/h" in by_name["VastSpendAboveLimit"]["annotations"]["description"]
    assert by_name["VastApiRateLimitStorm"]["expr"].rstrip().endswith("> 0.5")
    assert "50%" in by_name["VastApiRateLimitStorm"]["annotations"]["description"]


def test_lint_strict_with_the_dashboard(helm_bin: Path) -> None:
    result = run_helm(
        helm_bin, "lint", "--strict", CHART, "--set", "grafana.dashboard.enabled=true"
    )
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "prometheusRule.enabled=true"], "needs prometheus-operator's PrometheusRule"),
        (
            ["--set", "prometheusRule.enabled=true", "--set", "metrics.enabled=false", *RULE_API],
            "prometheusRule.enabled needs metrics.enabled=true",
        ),
        (["--set", "prometheusRule.rateLimitedRatio=2"], "at '/prometheusRule/rateLimitedRatio'"),
        (["--set", "prometheusRule.maxDollarsPerHour=0"], "at '/prometheusRule/maxDollarsPerHour'"),
        (
            ["--set", "prometheusRule.stuckDeletingFor=soon"],
            "at '/prometheusRule/stuckDeletingFor'",
        ),
        (["--set", 'prometheusRule.job=a"b'], "at '/prometheusRule/job'"),
        (["--set", "prometheusRule.severity=page"], "additional properties 'severity'"),
        (["--set", "grafana.dashboard.enabled=maybe"], "at '/grafana/dashboard/enabled'"),
        (["--set", "grafana.dashboard.namespace=Mon_itoring"], "at '/grafana/dashboard/namespace'"),
    ],
)
def test_bad_values_are_rejected_readably(helm_bin: Path, values: list[str], message: str) -> None:
    result = run_helm(helm_bin, "template", "r", CHART, *values, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_dashboard_configmap_passes_server_side_dry_run(
    cluster: Cluster, namespace: str, render: Render
) -> None:
    (cm,) = of_kind(
        render("--set", "grafana.dashboard.enabled=true", namespace=namespace), "ConfigMap"
    )
    result = cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=chart-dry-run",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        input=json.dumps(cm),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "(server dry run)" in result.stdout
