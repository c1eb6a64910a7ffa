"""The dashboard and the alert rules use only metrics (and labels) the operator really exports.

The exported names come from the registry of ``vast_operator.metrics.Metrics``: its collectors,
with the sample suffixes prometheus_client adds (counters ``_total``/``_created``, histograms
``_bucket``/``_count``/``_sum``/``_created``). A renamed or removed metric, or a typo in a
query, fails here instead of leaving an empty panel or an alert that can never fire.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from vast_operator.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "helm" / "vast-operator" / "dashboards" / "vast-operator.json"

SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}
# Labels Prometheus puts on every scraped series (target labels), and the histogram's `le`.
TARGET_LABELS = {"job", "namespace", "instance", "pod", "service", "endpoint", "container"}
OWN_PREFIX = "vast_operator_"
# Metrics that are not the operator's own: Prometheus' per-target `up`.
FOREIGN = {"up"}

SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
OWN_NAME = re.compile(rf"\b{OWN_PREFIX}[a-zA-Z0-9_:]*")
FOREIGN_NAME = re.compile(rf"\b({'|'.join(FOREIGN)})\b")


def exported() -> dict[str, set[str]]:
    """Every sample name the operator exports -> the label names its series carry."""
    metrics = Metrics(CollectorRegistry())
    collectors = [c for c in vars(metrics).values() if isinstance(c, MetricWrapperBase)]
    assert collectors, "Metrics has no collectors?"
    labels_of = {c._name: set(c._labelnames) for c in collectors}
    names: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        assert family.name in labels_of, f"{family.name}: registered outside Metrics' attributes"
        for suffix in SUFFIXES[family.type]:
            extra = {"le"} if suffix == "_bucket" else set()
            names[family.name + suffix] = labels_of[family.name] | extra
    return names


def dashboard_queries() -> dict[str, str]:
    """Panel title (and target) -> PromQL, plus the template variables' queries."""
    board = json.loads(DASHBOARD.read_text())
    queries = {}
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            queries[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            queries[f"variable {var['name']}"] = query
    return queries


def rule_queries(rule_groups: dict[str, Any]) -> dict[str, str]:
    return {
        f"alert {rule.get('alert') or rule.get('record')}": rule["expr"]
        for group in rule_groups["groups"]
        for rule in group["rules"]
    }


def problems(queries: dict[str, str], names: dict[str, set[str]]) -> list[str]:
    """Unknown metric names, and label matchers or groupings a metric does not have."""
    all_labels = set().union(*names.values()) | TARGET_LABELS
    found = []
    for where, expr in queries.items():
        for name in OWN_NAME.findall(expr):
            if name not in names:
                found.append(f"{where}: {name} is not exported by the operator")
        for name, matchers in SELECTOR.findall(expr):
            allowed = names.get(name, set()) | TARGET_LABELS if name not in FOREIGN else None
            if allowed is None:
                continue
            for label in MATCHER.findall(matchers):
                if label not in allowed:
                    found.append(f"{where}: {name} has no label {label!r}")
        for group in GROUPING.findall(expr):
            for label in filter(None, (part.strip() for part in group.split(","))):
                if label not in all_labels:
                    found.append(f"{where}: no exported metric has a label {label!r}")
        if not OWN_NAME.search(expr) and not FOREIGN_NAME.search(expr):
            found.append(f"{where}: queries none of the operator's metrics")
    return found


def test_the_registry_is_read() -> None:
    names = exported()
    assert "vast_operator_running_dollars_per_hour" in names
    assert "vast_operator_vast_api_requests_total" in names
    assert names["vast_operator_vast_api_requests_total"] == {"method", "route", "outcome"}
    assert "vast_operator_vast_api_request_seconds_bucket" in names
    assert "vast_operator_vast_api_requests" not in names  # counters are exported as _total


def test_dashboard_uses_only_exported_metrics() -> None:
    queries = dashboard_queries()
    assert len(queries) >= 15
    assert problems(queries, exported()) == []


def test_alert_rules_use_only_exported_metrics(rule_groups: dict[str, Any]) -> None:
    queries = rule_queries(rule_groups)
    assert set(queries) == {
        "alert VastOperatorDown",
        "alert VastObjectsStuckDeleting",
        "alert VastApiRateLimitStorm",
        "alert VastSpendAboveLimit",
        "alert VastOrphansFound",
        "alert VastOperatorReconcileErrors",
        "alert VastCreditLow",
    }
    assert problems(queries, exported()) == []


@pytest.mark.parametrize(
    ("expr", "complaint"),
    [
        ("vast_operator_object", "vast_operator_object is not exported"),
        ("rate(vast_operator_reconciles[5m])", "vast_operator_reconciles is not exported"),
        ('vast_operator_objects{state="Deleting"}', "has no label 'state'"),
        ("sum by (gpu) (vast_operator_instances_by_gpu)", "a label 'gpu'"),
        ("sum(node_cpu_seconds_total)", "none of the operator's metrics"),
    ],
)
def test_the_check_catches_mistakes(expr: str, complaint: str) -> None:
    (found,) = problems({"q": expr}, exported())
    assert complaint in found


def test_every_exported_metric_is_on_the_dashboard() -> None:
    """Nothing the operator measures is left off the dashboard (its base names)."""
    used = set(OWN_NAME.findall(" ".join(dashboard_queries().values())))
    bases = {
        re.sub(r"_(total|created|bucket|count|sum)$", "", name)
        for name in exported()
        if not name.endswith("_created")
    }
    missing = {b for b in bases if not any(u.startswith(b) for u in used)}
    assert missing == set()
