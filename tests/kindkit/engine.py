"""The machine's side of kind: the Go tools, and a Docker engine that can run kind nodes.

* Go binaries, built from their modules into ``<cache>/bin`` only when missing (envtest's
  ``go_build``): ``kind`` (sigs.k8s.io/kind), the node's Kubernetes binaries (kubelet, kubeadm,
  kubectl, kube-scheduler, kube-proxy from the k8s.io/kubernetes version the control plane
  uses), CoreDNS, and ``runc-nocap`` (hack/kind/runc-nocap).
* Two workarounds, each switched on only where this machine needs it (docs/kind.md):

  - ``CAP_SYS_RESOURCE`` (or any capability) missing from the capability bounding set: runc
    cannot start a privileged container ("unable to apply caps"). dockerd then runs with
    ``runc-nocap`` as its default runtime, and the node's containerd gets it too (a
    containerdConfigPatch), so that privileged containers and pods drop what cannot be had.
  - cgroup v1: kubelet 1.35 refuses it unless its configuration says ``failCgroupV1: false``
    (a kubeadmConfigPatch in the cluster config, cluster.py).

A dockerd that answers but lacks the runtime is restarted with it, if it is the one imagekit
starts (its data-root is the cache's); any other engine is left alone and the reason given.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "controlplane"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "image"))

import imagekit

import envtest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HACK = ROOT / "hack" / "kind"

RUNTIME_NAME = "vast-runc-nocap"
CAP_NAMES = (  # noqa: SIM905 (the bit order of linux/capability.h, one string)
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
    "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
    "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
    "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
    "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
    "CHECKPOINT_RESTORE"
).split()


class KindError(RuntimeError):
    """kind cannot run here, or a step failed; the message says which and why."""


def log(message: str) -> None:
    print(f"[kind {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# What this machine needs
# --------------------------------------------------------------------------------------------


def missing_capabilities(status: str | None = None) -> list[str]:
    """Capabilities absent from this process's bounding set (CapBnd of /proc/self/status)."""
    text = status if status is not None else Path("/proc/self/status").read_text()
    for line in text.splitlines():
        if line.startswith("CapBnd:"):
            bounding = int(line.split(":", 1)[1].strip(), 16)
            return [f"CAP_{n}" for bit, n in enumerate(CAP_NAMES) if not bounding >> bit & 1]
    raise KindError("no CapBnd line in /proc/self/status")


def cgroup_v1(mounts: str | None = None) -> bool:
    """True unless /sys/fs/cgroup is the unified (cgroup2) hierarchy."""
    text = mounts if mounts is not None else Path("/proc/mounts").read_text()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[1] == "/sys/fs/cgroup":
            return fields[2] != "cgroup2"
    return True


@dataclass(frozen=True)
class Workarounds:
    """Which workarounds this machine needs, and why (empty reasons: none)."""

    drop_caps: list[str]
    cgroup_v1: bool

    @property
    def reasons(self) -> list[str]:
        out = []
        if self.drop_caps:
            out.append(f"bounding set lacks {', '.join(self.drop_caps)}: runtime runc-nocap")
        if self.cgroup_v1:
            out.append("cgroup v1: kubelet failCgroupV1=false")
        return out


def detect() -> Workarounds:
    return Workarounds(drop_caps=missing_capabilities(), cgroup_v1=cgroup_v1())


# --------------------------------------------------------------------------------------------
# Go tools
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceBuild(envtest.GoBuild):
    """A build of our own small module: the cache folder is named by a hash of its files."""

    @property
    def version(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.module_dir.iterdir()):
            if path.is_file():
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return "src-" + digest.hexdigest()[:12]


def _kind_build() -> envtest.GoBuild:
    module = HACK / "kind"
    version = envtest.module_version(module / "go.mod", "sigs.k8s.io/kind")
    return envtest.GoBuild(
        key="kind",
        module_dir=module,
        module="sigs.k8s.io/kind",
        packages=("sigs.k8s.io/kind",),
        outputs=("kind",),
        version_marker=f"kind version {version.lstrip('v')}",
    )


def kube_version() -> str:
    return envtest.module_version(envtest.KUBE_MODULE_DIR / "go.mod", "k8s.io/kubernetes")


def _node_kube_build() -> envtest.GoBuild:
    version = envtest.module_version(HACK / "kube" / "go.mod", "k8s.io/kubernetes")
    if version != kube_version():
        raise KindError(
            f"hack/kind/kube/go.mod pins k8s.io/kubernetes {version} but "
            f"tests/controlplane/kube/go.mod pins {kube_version()}: keep them equal"
        )
    base = envtest._kube_build()  # the same ldflags (version stamps)
    cmds = ("kubelet", "kubeadm", "kubectl", "kube-scheduler", "kube-proxy")
    return envtest.GoBuild(
        key="k8s-node",
        module_dir=HACK / "kube",
        module="k8s.io/kubernetes",
        packages=tuple(f"k8s.io/kubernetes/cmd/{c}" for c in cmds),
        outputs=cmds,
        version_marker="",  # kubeadm and kubectl have no --version flag
        ldflags=base.ldflags,
    )


def _coredns_build() -> envtest.GoBuild:
    version = envtest.module_version(HACK / "coredns" / "go.mod", "github.com/coredns/coredns")
    return envtest.GoBuild(
        key="coredns",
        module_dir=HACK / "coredns",
        module="github.com/coredns/coredns",
        packages=(".",),
        outputs=("coredns",),
        version_marker=f"CoreDNS-{version.lstrip('v')}",
    )


def coredns_version() -> str:
    return _coredns_build().version


def _nocap_build() -> envtest.GoBuild:
    return SourceBuild(
        key="runc-nocap",
        module_dir=HACK / "runc-nocap",
        module="",
        packages=(".",),
        outputs=("runc-nocap",),
        version_marker="",
    )


@dataclass(frozen=True)
class Tools:
    kind: Path
    node_bin: Path  # folder: kubelet, kubeadm, kubectl, kube-scheduler, kube-proxy
    coredns: Path
    runc_nocap: Path
    control_plane: envtest.Binaries


@cache
def ensure_tools() -> Tools:
    """Every binary the node image and `kind` need, built when missing (minutes cold)."""
    control_plane = envtest.ensure_binaries()
    return Tools(
        kind=envtest.go_build(_kind_build()) / "kind",
        node_bin=envtest.go_build(_node_kube_build()),
        coredns=envtest.go_build(_coredns_build()) / "coredns",
        runc_nocap=envtest.go_build(_nocap_build()) / "runc-nocap",
        control_plane=control_plane,
    )


# --------------------------------------------------------------------------------------------
# Docker engine
# --------------------------------------------------------------------------------------------


def _docker_info(fmt: str) -> str:
    return imagekit.docker("info", "--format", fmt, timeout=60).stdout.decode().strip()


def _runs_with(wrapper: Path) -> bool:
    """The engine's default runtime is this very runc-nocap (a stale build is not)."""
    if _docker_info("{{.DefaultRuntime}}") != RUNTIME_NAME:
        return False
    runtimes = json.loads(_docker_info("{{json .Runtimes}}") or "{}")
    return bool(runtimes.get(RUNTIME_NAME, {}).get("path") == str(wrapper))


def _our_dockerd_pid() -> int | None:
    """The pid of a dockerd whose data-root is the cache's (the one imagekit starts)."""
    try:
        pid = int(Path("/var/run/docker.pid").read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    data_root = str(imagekit.cache_dir() / "docker").encode()
    return pid if data_root in argv else None


def _stop_dockerd(pid: int) -> None:
    log(f"restarting dockerd (pid {pid}) with the runtime {RUNTIME_NAME}")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.3)
    raise KindError(f"dockerd (pid {pid}) did not stop within 60s after SIGTERM")


def ensure_engine(work: Workarounds, tools: Tools) -> str:
    """A Docker engine whose privileged containers start on this machine; its version."""
    timings = imagekit.Timings()
    try:
        imagekit.ensure_host_packages(timings)
    except imagekit.ImageError as exc:
        raise KindError(f"Docker is not available: {exc}") from exc
    extra: list[str] = []
    if work.drop_caps:
        runtime = f"{RUNTIME_NAME}={tools.runc_nocap}"
        extra = ["--add-runtime", runtime, "--default-runtime", RUNTIME_NAME]
        if imagekit._engine_answers() and not _runs_with(tools.runc_nocap):
            pid = _our_dockerd_pid()
            if pid is None:
                raise KindError(
                    f"the running Docker engine cannot start privileged containers here "
                    f"(the bounding set lacks {', '.join(work.drop_caps)}); start dockerd with "
                    f"--add-runtime {runtime} --default-runtime {RUNTIME_NAME} (docs/kind.md)"
                )
            with imagekit.file_lock(imagekit.cache_dir() / "dockerd.lock"):
                _stop_dockerd(pid)
    try:
        version = imagekit.ensure_engine(timings, extra_args=extra)
    except imagekit.ImageError as exc:
        raise KindError(f"Docker cannot run here: {exc}") from exc
    return version


def check_privileged(image: str) -> None:
    """One privileged container, as kind starts its nodes; KindError with the reason if not."""
    result = subprocess.run(
        [imagekit.docker_bin(), "run", "--rm", "--privileged", "--network", "none", image, "true"],
        capture_output=True,
        text=True,
        timeout=120,
        env=imagekit.docker_env(),
        check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise KindError(f"Docker cannot start privileged containers here: {reason}")
