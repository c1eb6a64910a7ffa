"""The kind node image, built here without a registry (docs/kind.md).

kind's own ``kind build node-image`` starts from kind's base image (a registry pull) and
fetches etcd, CoreDNS, pause, kindnetd and the storage images from registries, so this module
does what it does, from local parts:

1. A node root filesystem: debootstrapped bookworm (imagekit.debootstrap_image) with systemd,
   Debian's containerd and runc, the CNI plugins, iptables, ...; kind's own base-image files
   (entrypoint, systemd units, containerd config) taken from the kind Go module; kubelet,
   kubeadm and kubectl built from the same k8s.io/kubernetes version as the control plane;
   a bridge CNI configuration; runc-nocap (unused unless the cluster config switches it on).
2. The images kubeadm and kind run, made from binaries built here, each tagged with the
   version it really is: kube-apiserver, kube-controller-manager, kube-scheduler (static
   binaries on an empty root), kube-proxy (on a debootstrapped bookworm with iptables),
   etcd (the control plane's etcd; kubeadm is told its tag), CoreDNS, and pause (kube's
   pause.c, compiled with gcc -static).
3. As kind does: a container of (1), containerd started in it, the images of (2) imported
   into its ``k8s.io`` namespace, ``docker commit``.

The CNI is Debian's ``bridge`` + ``host-local`` plugins with a fixed range instead of kind's
kindnetd: kindnetd is no longer part of the kind module, and a single-node cluster has no
routes between nodes to program. The result is labelled with a hash of its recipe and rebuilt
only when that changes.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from engine import KindError, Tools, coredns_version, envtest, imagekit, kube_version, log

NODE_REPO = "vast-operator-kind-node"
RECIPE_LABEL = "ai.vast.operator.kind-node-recipe"
NODE_PACKAGES = (
    "systemd", "dbus", "containerd", "runc", "containernetworking-plugins", "conntrack",
    "iptables", "nftables", "iproute2", "ethtool", "util-linux", "mount", "kmod",
    "libseccomp2", "pigz", "bash", "ca-certificates", "curl", "jq", "procps", "socat",
)  # fmt: skip
PROXY_PACKAGES = ("iptables", "nftables", "conntrack", "kmod")
POD_SUBNET = "10.244.0.0/16"
NODE_POD_RANGE = "10.244.0.0/24"  # the first node's podCIDR: this is a one-node cluster
REGISTRY = "registry.k8s.io"

CNI_CONFLIST = {
    "cniVersion": "0.4.0",
    "name": "kind-bridge",
    "plugins": [
        {
            "type": "bridge",
            "bridge": "cni0",
            "isGateway": True,
            "ipMasq": True,
            "hairpinMode": True,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": NODE_POD_RANGE}]],
                "routes": [{"dst": "0.0.0.0/0"}],
            },
        },
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}
# kind applies this file unless the cluster config disables the default CNI: here it only
# says where the CNI is (the bridge configuration is already on the node).
DEFAULT_CNI_MANIFEST = f"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: kind-node-cni
  namespace: kube-system
data:
  cni: bridge + host-local {NODE_POD_RANGE}, /etc/cni/net.d/10-kind-bridge.conflist on the node
"""


def node_image_ref() -> str:
    return f"{NODE_REPO}:{kube_version()}"


def etcd_tag() -> str:
    etcd = envtest.module_version(envtest.ETCD_MODULE_DIR / "go.mod", "go.etcd.io/etcd/server/v3")
    return f"{etcd.lstrip('v')}-0"


def _go_module_dir(module: str, version: str, cwd: Path) -> Path:
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod")
    out = imagekit.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        env=env,
        timeout=600,
        what=f"go mod download {module}@{version}",
    )
    return Path(json.loads(out.stdout)["Dir"])


def kind_files() -> Path:
    module = envtest.HERE.parents[1] / "hack" / "kind" / "kind"
    version = envtest.module_version(module / "go.mod", "sigs.k8s.io/kind")
    return _go_module_dir("sigs.k8s.io/kind", version, module) / "images" / "base" / "files"


def pause_source() -> tuple[Path, str]:
    """kube's pause.c and its version (TAG in build/pause/Makefile)."""
    kube = _go_module_dir("k8s.io/kubernetes", kube_version(), envtest.KUBE_MODULE_DIR)
    makefile = (kube / "build" / "pause" / "Makefile").read_text()
    match = re.search(r"^TAG \?= (\S+)", makefile, re.MULTILINE)
    if not match:
        raise KindError("no TAG in k8s.io/kubernetes build/pause/Makefile")
    return kube / "build" / "pause" / "linux" / "pause.c", match.group(1)


def base_recipe(tools: Tools) -> str:
    """What the node's root filesystem is made of (names the intermediate base image)."""
    parts = {
        "kube": kube_version(),
        "kind": tools.kind.parent.name,
        "nocap": tools.runc_nocap.parent.name,
        "node_packages": NODE_PACKAGES,
        "mirror": imagekit.debian_mirror(),
        "customize": inspect.getsource(customize_node),
        "cni": [CNI_CONFLIST, DEFAULT_CNI_MANIFEST],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def recipe(tools: Tools) -> str:
    """Everything the node image is made of; its hash labels the image."""
    parts = {
        "kube": kube_version(),
        "etcd": etcd_tag(),
        "coredns": coredns_version(),
        "kind": tools.kind.parent.name,
        "nocap": tools.runc_nocap.parent.name,
        "node_packages": NODE_PACKAGES,
        "proxy_packages": PROXY_PACKAGES,
        "mirror": imagekit.debian_mirror(),
        "nodeimage.py": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# Component images
# --------------------------------------------------------------------------------------------


def _single_binary_image(ref: str, binary: Path, target: str, entrypoint: bool) -> None:
    """An image whose root holds one static binary (and an empty /tmp)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for folder, mode in (("tmp", 0o1777), *((d, 0o755) for d in _parents(target))):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        info = tar.gettarinfo(str(binary), arcname=target.lstrip("/"))
        info.mode, info.uid, info.gid, info.uname, info.gname = 0o755, 0, 0, "root", "root"
        with binary.open("rb") as fh:
            tar.addfile(info, fh)
    changes = ["--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin"]
    if entrypoint:
        changes += ["--change", f"ENTRYPOINT {json.dumps([target])}"]
    imagekit.docker("import", *changes, "-", ref, input=buf.getvalue(), what=f"import {ref}")


def _parents(target: str) -> list[str]:
    parts = target.strip("/").split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _pause_binary(workdir: Path) -> tuple[Path, str]:
    source, tag = pause_source()
    out = workdir / "pause"
    imagekit.run(
        ["gcc", "-Os", "-Wall", "-Werror", "-static", f'-DVERSION="v{tag}-vast-operator"',
         "-o", out, source],
        what="gcc -static pause.c",
    )  # fmt: skip
    return out, tag


def component_images(tools: Tools, workdir: Path, timings: imagekit.Timings) -> list[str]:
    """Build the images kubeadm and kind run; their references."""
    version = kube_version()
    cp = tools.control_plane
    refs = []
    with timings.step("component images"):
        for name, binary in (
            ("kube-apiserver", cp.kube_apiserver),
            ("kube-controller-manager", cp.kube_controller_manager),
            ("kube-scheduler", tools.node_bin / "kube-scheduler"),
        ):
            ref = f"{REGISTRY}/{name}:{version}"
            _single_binary_image(ref, binary, f"/usr/local/bin/{name}", entrypoint=False)
            refs.append(ref)
        ref = f"{REGISTRY}/etcd:{etcd_tag()}"
        _single_binary_image(ref, cp.etcd, "/usr/local/bin/etcd", entrypoint=False)
        refs.append(ref)
        ref = f"{REGISTRY}/coredns/coredns:{coredns_version()}"
        _single_binary_image(ref, tools.coredns, "/coredns", entrypoint=True)
        refs.append(ref)
        pause, tag = _pause_binary(workdir)
        ref = f"{REGISTRY}/pause:{tag}"
        _single_binary_image(ref, pause, "/pause", entrypoint=True)
        refs.append(ref)

    def add_proxy(rootfs: Path) -> None:
        _install(tools.node_bin / "kube-proxy", rootfs / "usr/local/bin/kube-proxy")

    ref = f"{REGISTRY}/kube-proxy:{version}"
    imagekit.debootstrap_image(
        ref,
        packages=PROXY_PACKAGES,
        timings=timings,
        changes=("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
        customize=add_proxy,
    )
    refs.append(ref)
    return refs


# --------------------------------------------------------------------------------------------
# Node root filesystem
# --------------------------------------------------------------------------------------------


def _install(src: Path, dst: Path, mode: int = 0o755) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    dst.chmod(mode)


def _copy_tree(src: Path, dst: Path, mode: int) -> None:
    for path in sorted(src.rglob("*")):
        if path.is_file():
            _install(path, dst / path.relative_to(src), mode)


def _chroot(rootfs: Path, *cmd: str) -> str:
    return imagekit.run(["chroot", rootfs, *cmd], what=f"chroot {' '.join(cmd)}").stdout.decode()


def customize_node(rootfs: Path, tools: Tools, pause_ref: str) -> None:
    """What kind's base-image Dockerfile does after its packages, plus the kube binaries."""
    files = kind_files()
    _copy_tree(files / "usr/local/bin", rootfs / "usr/local/bin", 0o755)
    _copy_tree(files / "kind", rootfs / "kind", 0o644)
    _copy_tree(files / "kind/bin", rootfs / "kind/bin", 0o755)
    _copy_tree(files / "etc", rootfs / "etc", 0o644)
    config = (rootfs / "etc/containerd/config.toml").read_text()
    config = re.sub(r'sandbox_image = "[^"]*"', f'sandbox_image = "{pause_ref}"', config)
    (rootfs / "etc/containerd/config.toml").write_text(config)
    # Debian's containerd is /usr/bin/containerd (kind's unit starts /usr/local/bin/...), its
    # CNI plugins live in /usr/lib/cni (containerd looks in /opt/cni/bin).
    (rootfs / "usr/local/bin/containerd").symlink_to("/usr/bin/containerd")
    (rootfs / "opt/cni").mkdir(parents=True, exist_ok=True)
    (rootfs / "opt/cni/bin").symlink_to("/usr/lib/cni")
    spec = json.loads(_chroot(rootfs, "ctr", "oci", "spec"))
    spec.setdefault("hooks", {}).setdefault("createContainer", []).append(
        {"path": "/kind/bin/mount-product-files.sh"}
    )
    spec["process"].pop("rlimits", None)
    (rootfs / "etc/containerd/cri-base.json").write_text(json.dumps(spec, indent=2) + "\n")
    for pattern in (
        "lib/systemd/system/multi-user.target.wants/*",
        "etc/systemd/system/*.wants/*",
        "lib/systemd/system/local-fs.target.wants/*",
        "lib/systemd/system/sockets.target.wants/*udev*",
        "lib/systemd/system/sockets.target.wants/*initctl*",
        "lib/systemd/system/basic.target.wants/*",
        "lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service",
    ):
        for path in rootfs.glob(pattern):
            path.unlink()
    with (rootfs / "etc/systemd/journald.conf").open("a") as fh:
        fh.write("ReadKMsg=no\n")
    init = rootfs / "sbin/init"
    if not init.exists() and not init.is_symlink():
        init.symlink_to("/usr/lib/systemd/systemd")
    _chroot(rootfs, "systemctl", "enable", "kubelet.service", "containerd.service",
            "undo-mount-hacks.service")  # fmt: skip
    _chroot(rootfs, "systemctl", "mask", "systemd-binfmt.service")
    (rootfs / "etc/kubernetes/manifests").mkdir(parents=True, exist_ok=True)
    for name in ("kubelet", "kubeadm", "kubectl"):
        _install(tools.node_bin / name, rootfs / "usr/bin" / name)
    _install(tools.runc_nocap, rootfs / "usr/local/sbin/runc-nocap")
    (rootfs / "kind/version").write_text(kube_version())
    (rootfs / "kind/manifests").mkdir(parents=True, exist_ok=True)
    (rootfs / "kind/manifests/default-cni.yaml").write_text(DEFAULT_CNI_MANIFEST)
    (rootfs / "etc/cni/net.d").mkdir(parents=True, exist_ok=True)
    conflist = json.dumps(CNI_CONFLIST, indent=2) + "\n"
    (rootfs / "etc/cni/net.d/10-kind-bridge.conflist").write_text(conflist)


# --------------------------------------------------------------------------------------------
# The node image
# --------------------------------------------------------------------------------------------


STOP_CONTAINERD = (
    "pkill containerd; for i in $(seq 1 80); do "
    "ps -o stat= -C containerd | grep -q '^[^Z]' || exit 0; sleep 0.25; done; exit 1"
)


def _exec(container: str, script: str, stdin: Path | None = None, timeout: float = 600) -> str:
    cmd = [imagekit.docker_bin(), "exec", *(["-i"] if stdin else []), container, "bash", "-c"]
    with stdin.open("rb") if stdin else open(os.devnull, "rb") as fh:
        result = subprocess.run(
            [*cmd, script], stdin=fh, capture_output=True, timeout=timeout,
            env=imagekit.docker_env(), check=False,
        )  # fmt: skip
    if result.returncode != 0:
        raise KindError(
            f"in the build container: {script!r} failed: "
            f"{result.stdout.decode()[-2000:]}{result.stderr.decode()[-2000:]}"
        )
    return result.stdout.decode()


def ensure_node_image(tools: Tools, force: bool = False) -> tuple[str, bool, dict[str, float]]:
    """The node image (built only when missing or its recipe changed): (ref, rebuilt, times)."""
    ref = node_image_ref()
    wanted = recipe(tools)
    timings = imagekit.Timings()
    if not force and imagekit.image_label(ref, RECIPE_LABEL) == wanted:
        return ref, False, timings.steps
    with imagekit.file_lock(imagekit.cache_dir() / "kind-node.lock"):
        if not force and imagekit.image_label(ref, RECIPE_LABEL) == wanted:
            return ref, False, timings.steps
        started = time.monotonic()
        workdir = Path(tempfile.mkdtemp(prefix="kind-node.", dir=imagekit.cache_dir()))
        base = f"{NODE_REPO}-base:{base_recipe(tools)}"
        container = f"vast-kind-build-{wanted}"
        try:
            refs = component_images(tools, workdir, timings)
            pause_ref = next(r for r in refs if "/pause:" in r)
            if not imagekit.image_id(base):  # kept from a failed attempt: same recipe
                imagekit.debootstrap_image(
                    base,
                    packages=NODE_PACKAGES,
                    timings=timings,
                    changes=(
                        # (kind's base also sets STOPSIGNAL SIGRTMIN+3, which `docker import`
                        # cannot; kind removes its nodes with `docker rm -f`, no stop signal.)
                        "ENV container=docker",
                        'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
                    ),
                    customize=lambda rootfs: customize_node(rootfs, tools, pause_ref),
                )
            images_tar = workdir / "images.tar"
            with timings.step("docker save the component images"):
                imagekit.docker("save", "-o", images_tar, *refs, timeout=900)
            imagekit.run([imagekit.docker_bin(), "rm", "-f", container], env=imagekit.docker_env())
            with timings.step("import the images into the node's containerd"):
                imagekit.docker(
                    "run", "-d", "--name", container, "--entrypoint", "sleep",
                    "--security-opt", "seccomp=unconfined", base, "infinity",
                )  # fmt: skip
                _exec(container, "nohup containerd >/tmp/containerd.log 2>&1 &")
                _exec(container, "for i in $(seq 1 60); do ctr version >/dev/null 2>&1 && exit 0;"
                      " sleep 0.5; done; cat /tmp/containerd.log; exit 1")  # fmt: skip
                _exec(
                    container,
                    "ctr --namespace=k8s.io images import --all-platforms --no-unpack --digests -",
                    stdin=images_tar,
                    timeout=900,
                )
                listed = _exec(container, "ctr --namespace=k8s.io images list -q")
                missing = [r for r in refs if r not in listed.split()]
                if missing:
                    raise KindError(f"not imported into the node's containerd: {missing}")
                # (a stopped containerd stays a zombie: `sleep` as PID 1 reaps nothing)
                _exec(container, STOP_CONTAINERD)
            with timings.step(f"docker commit {ref}"):
                imagekit.docker(
                    "commit",
                    "--change", 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
                    "--change", f"LABEL {RECIPE_LABEL}={wanted}",
                    container, ref, timeout=900,
                )  # fmt: skip
        finally:
            subprocess.run(
                [imagekit.docker_bin(), "rm", "-f", container],
                capture_output=True, env=imagekit.docker_env(), check=False,
            )  # fmt: skip
            shutil.rmtree(workdir, ignore_errors=True)
        subprocess.run(  # its layers live on in the node image
            [imagekit.docker_bin(), "rmi", base],
            capture_output=True, env=imagekit.docker_env(), check=False,
        )  # fmt: skip
        timings.steps["total"] = round(time.monotonic() - started, 1)
        log(f"node image {ref} built in {timings.steps['total']:.0f}s: {timings.steps}")
        return ref, True, timings.steps
