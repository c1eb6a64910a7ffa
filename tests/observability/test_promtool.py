"""The chart's alert rules through promtool: `check rules` (syntax, PromQL) and `test rules`.

rules_test.yaml drives each alert with synthetic series: it fires when it should (with the
labels and annotations a receiver gets), stays quiet while pending and when it should not fire
(another namespace, a standby replica, a single error). The dashboard's queries go through
`promtool check rules` too, as recording rules, so a PromQL syntax error in a panel fails here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHART = ROOT / "deploy" / "helm" / "vast-operator"
DASHBOARD = CHART / "dashboards" / "vast-operator.json"
RULES_TEST = HERE / "rules_test.yaml"
# What Grafana substitutes before sending a query (values only need to be valid PromQL).
GRAFANA_VARIABLES = {"$__rate_interval": "2m", "$__range": "6h", "$namespace": ".*"}


def promtool_run(promtool: Path, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_rules(groups: dict[str, Any], folder: Path) -> Path:
    path = folder / "rules.yaml"
    path.write_text(yaml.safe_dump(groups, sort_keys=False))
    return path


def test_promtool_check_rules(promtool: Path, rule_groups: dict[str, Any], tmp_path: Path) -> None:
    write_rules(rule_groups, tmp_path)
    result = promtool_run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def test_promtool_test_rules(promtool: Path, rule_groups: dict[str, Any], tmp_path: Path) -> None:
    write_rules(rule_groups, tmp_path)
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    result = promtool_run(promtool, "test", "rules", RULES_TEST.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules_notices_a_changed_threshold(
    promtool: Path, rule_groups: dict[str, Any], tmp_path: Path
) -> None:
    """The unit tests really look at the rules: a higher spend limit fails them."""
    raised = json.loads(json.dumps(rule_groups))
    for rule in raised["groups"][0]["rules"]:
        if rule.get("alert") == "VastSpendAboveLimit":
            rule["expr"] = re.sub(r"> 50$", "> 100", rule["expr"].strip())
            assert rule["expr"].endswith("> 100")
    write_rules(raised, tmp_path)
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    result = promtool_run(promtool, "test", "rules", RULES_TEST.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "VastSpendAboveLimit" in result.stdout + result.stderr


def test_every_alert_has_a_firing_unit_test(rule_groups: dict[str, Any]) -> None:
    alerts = {r["alert"] for g in rule_groups["groups"] for r in g["rules"] if "alert" in r}
    spec = yaml.safe_load(RULES_TEST.read_text())
    fired = {
        case["alertname"]
        for test in spec["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"]
        for test in spec["tests"]
        for case in test.get("alert_rule_test", [])
        if not case.get("exp_alerts")
    }
    assert fired == alerts
    assert quiet == alerts


def test_dashboard_queries_are_valid_promql(promtool: Path, tmp_path: Path) -> None:
    board = json.loads(DASHBOARD.read_text())
    rules = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: unknown variable in {expr}"
            record = f"dashboard:panel_{panel['id']}_{target['refId']}"
            rules.append({"record": record, "expr": expr})
    write_rules({"groups": [{"name": "dashboard", "rules": rules}]}, tmp_path)
    result = promtool_run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
