"""The benchmark's quick mode runs end to end against the session's control plane.

Only structure is asserted (the JSON is written and complete, every object ran, nothing is left
rented, the steady state only lists instances): speed is reported by `make bench`, never judged
by a test (house rule 5). The pacing is compressed ten times (`rate_limit_scale=0.1`, enforced
by the simulator too) so the run stays short.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import vastbench

from envtest import Cluster


@pytest.mark.timeout(300)
def test_quick_benchmark_writes_json_and_leaves_nothing_rented(
    cluster: Cluster, tmp_path: Path
) -> None:
    params = vastbench.Params(objects=[10], steady_seconds=12, rate_limit_scale=0.1, quick=True)
    out = tmp_path / "results" / "quick.json"

    result = vastbench.run(params, out, cluster=cluster)

    data = json.loads(out.read_text())
    assert data == json.loads(json.dumps(result))
    assert data["git"]["commit"]
    assert data["machine"]["cpus"]
    assert data["parameters"]["objects"] == [10]
    (scenario,) = data["scenarios"]
    assert scenario["problems"] == []
    assert scenario["ok"] and data["ok"]

    create, steady, delete = scenario["create"], scenario["steady"], scenario["delete"]
    assert create["all_running"] and create["running"] == 10
    assert create["vast_calls_by_route"]["PUT /api/v0/asks/{id}/"] >= 10
    assert steady["pages_per_poll_expected"] == 1
    assert steady["still_running"] == 10
    assert steady["sim_instances_labelled"] == 10
    assert set(steady["vast_calls_per_min_by_route"]) <= vastbench.STEADY_ROUTES
    # The floor Vast's intervals impose, and the measured time over it (never judged here).
    assert create["floor_s"] > 0 and create["ratio_to_floor"] is not None
    assert delete["floor_s"] > 0 and delete["ratio_to_floor"] is not None
    assert create["searches"] >= 1 and create["first_status_since_created_p95_s"] is not None
    assert delete["all_gone"]
    assert delete["instances_left_in_sim"] == 0
    assert delete["vast_calls_by_route"]["DELETE /api/v0/instances/{id}/"] >= 10
    assert scenario["operator"]["peak_rss_mb"] > 0
    assert Path(scenario["log_path"]).is_file()

    printed = vastbench.table(data)
    assert printed.splitlines()[0].lstrip().startswith("N |")
    assert "PROBLEM" not in printed
