"""The short soak (fixed seed, about two minutes): random operations and faults, including
operator, simulator, kube-apiserver and etcd restarts, with the invariants checked every second.
It must end with zero violations, nothing leaked and no API key outside an Authorization header.
The long run and its numbers are in docs/reliability.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import driver

SEED = 20261130


@pytest.mark.cluster
@pytest.mark.timeout(420)
def test_short_soak_finds_no_violation(tmp_path: Path) -> None:
    args = driver.parse(
        f"--duration 60 --objects 10 --seed {SEED} --out {tmp_path} --fault-interval 7 "
        "--op-interval 1.5 --quiet-timeout 90 --quiet-min 25 --finalizer-bound 60 "
        "--every-process-fault".split()
    )
    report = driver.run(args)
    print(driver.table(report))

    assert report["violations"] == [], json.dumps(report["violations"], indent=1)
    assert report["operations_total"] > 10
    for fault in driver.PROCESS_FAULTS:  # each process fault happened at least once
        assert report["faults"].get(fault, 0) >= 1, report["faults"]
    assert report["requests"]["with_key_in_authorization"] > 0  # the scan saw the keys travel
    assert report["secrets"]["requests_scanned"] == report["requests"]["total"]
    assert report["leaked_instances"] == [] and report["money"]["leaked"] == 0
    assert report["left_after_teardown"] == []
    assert report["stuck_finalizers"] == []
    assert report["checker"]["looks"] > 30
