"""The kind workarounds switch on only where the machine needs them (docs/kind.md)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kindkit"))

import cluster as kc
import engine

FULL = "CapBnd:\t000001ffffffffff\n"
NO_SYS_RESOURCE = "CapBnd:\t000001fffeffffff\n"


def test_missing_capabilities_reads_the_bounding_set() -> None:
    assert engine.missing_capabilities(FULL) == []
    assert engine.missing_capabilities(NO_SYS_RESOURCE) == ["CAP_SYS_RESOURCE"]


def test_cgroup_version_from_the_mount_table() -> None:
    v2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n"
    v1 = "tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n"
    assert engine.cgroup_v1(v2) is False
    assert engine.cgroup_v1(v1) is True


def _config(work: engine.Workarounds) -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load(kc.kind_config("x", "node:v1", work))
    return loaded


def test_a_normal_machine_gets_no_workaround() -> None:
    config = _config(engine.Workarounds(drop_caps=[], cgroup_v1=False))
    assert "containerdConfigPatches" not in config
    assert "failCgroupV1" not in json.dumps(config)
    assert engine.Workarounds([], False).reasons == []


def test_each_workaround_switches_on_with_its_cause() -> None:
    caps = _config(engine.Workarounds(drop_caps=["CAP_SYS_RESOURCE"], cgroup_v1=False))
    patches = "\n".join(caps["containerdConfigPatches"])  # type: ignore[arg-type]
    assert 'BinaryName = "/usr/local/sbin/runc-nocap"' in patches
    assert "restrict_oom_score_adj = true" in patches
    assert "failCgroupV1" not in json.dumps(caps)
    v1 = _config(engine.Workarounds(drop_caps=[], cgroup_v1=True))
    assert "containerdConfigPatches" not in v1
    kubelet = [yaml.safe_load(p) for p in v1["kubeadmConfigPatches"]]  # type: ignore[attr-defined]
    assert {"kind": "KubeletConfiguration", "failCgroupV1": False} in kubelet


def test_runc_nocap_removes_exactly_what_the_bounding_set_lacks(tmp_path: Path) -> None:
    """The real wrapper, with a fake runc that records the spec it was handed."""
    wrapper = engine.envtest.go_build(engine._nocap_build()) / "runc-nocap"
    fake = tmp_path / "runc"
    fake.write_text(
        f'#!/bin/sh\ncp "$3"/config.json {tmp_path}/seen.json\necho "$@" > {tmp_path}/args\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    every = [f"CAP_{n}" for n in engine.CAP_NAMES]
    spec = {"process": {"capabilities": {s: every for s in ("bounding", "effective", "permitted")}}}
    (bundle / "config.json").write_text(json.dumps(spec))
    env = dict(os.environ, RUNC_NOCAP_REAL=str(fake))
    subprocess.run([wrapper, "create", "--bundle", bundle, "cid"], env=env, check=True)
    seen = json.loads((tmp_path / "seen.json").read_text())
    missing = engine.missing_capabilities()
    for caps in seen["process"]["capabilities"].values():
        assert sorted(caps) == sorted(c for c in every if c not in missing)
    assert (tmp_path / "args").read_text().split() == ["create", "--bundle", str(bundle), "cid"]
