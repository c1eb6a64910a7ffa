"""Build the vast-operator container image on a machine without a container registry.

Everything is idempotent and cached; each step runs only when its result is missing:

1. Debian's ``docker.io`` and ``debootstrap`` (apt-get, as root) when ``dockerd``/``debootstrap``
   are not installed.
2. A Docker engine: the one that answers ``docker info``, else ``dockerd`` started in the
   background with its data-root under the cache (``$VAST_OPERATOR_CACHE``, default
   ``~/.cache/vast-operator``) and its log in ``<cache>/dockerd.log``. It is left running.
3. The base image ``vast-operator-base:bookworm``: ``debootstrap --variant=minbase bookworm``
   from the machine's configured Debian mirror, plus python3, python3-venv and
   ca-certificates, then ``docker import``.
4. A wheelhouse of the project's dependencies (``pip download`` on the host, with the host's pip
   configuration: index, proxy, CA), served on 127.0.0.1 while the image builds, so the build
   needs neither PyPI nor the host's CA: ``--network host --build-arg PIP_NO_INDEX=1
   --build-arg PIP_FIND_LINKS=http://127.0.0.1:PORT/``.
5. ``vast-operator:test`` from the repository's Dockerfile with
   ``--build-arg BASE_IMAGE=vast-operator-base:bookworm``, labelled with a hash of everything
   that goes into it (Dockerfile, .dockerignore, pyproject.toml, README.md, operator/, the base
   image's id): rebuilt only when that hash changes.

Run it: ``python tests/image/imagekit.py [ensure|status|engine]``; import it:
``imagekit.ensure_image()``. See docs/image.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import http.server
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SUITE = "bookworm"
BASE_IMAGE = f"vast-operator-base:{SUITE}"
IMAGE = "vast-operator:test"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
# The interpreter of the base image (Debian bookworm's python3 is 3.11, glibc 2.36): the
# wheelhouse is downloaded for it, whatever Python runs this script.
TARGET_PYTHON = "3.11"
TARGET_GLIBC = "2_36"
SOURCE_LABEL = "ai.vast.operator.source-hash"
BASE_LABEL_RECIPE = "ai.vast.operator.base-recipe"
HOST_PACKAGES = ("docker.io", "debootstrap", "debian-archive-keyring")

ENGINE_START_TIMEOUT = 90.0


class ImageError(RuntimeError):
    """The image could not be built (the message says which step failed and why)."""


def log(message: str) -> None:
    print(f"[imagekit {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    env = os.environ.get("VAST_OPERATOR_CACHE")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "vast-operator"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock held for the block (several test runs may build at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for {path} (another process is building)")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(text: str | bytes | None, lines: int = 40) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run(
    cmd: Sequence[str | Path],
    *,
    timeout: float = 600,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    what: str | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command, capturing its output; ImageError with the output's tail on failure."""
    argv = [str(c) for c in cmd]
    try:
        result = subprocess.run(
            argv,
            input=input,
            capture_output=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ImageError(f"{what or argv[0]}: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ImageError(
            f"{what or ' '.join(argv)}: timed out after {timeout:.0f}s\n"
            f"{_tail(exc.stdout)}\n{_tail(exc.stderr)}"
        ) from exc
    if result.returncode != 0:
        raise ImageError(
            f"{what or ' '.join(argv)}: exit {result.returncode}\n"
            f"{_tail(result.stdout)}\n{_tail(result.stderr)}".rstrip()
        )
    return result


@dataclass
class Timings:
    """Seconds spent per step in this process (only steps that actually ran)."""

    steps: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        log(f"{name} ...")
        try:
            yield
        finally:
            self.steps[name] = round(time.monotonic() - start, 1)
            log(f"{name}: {self.steps[name]}s")


# --------------------------------------------------------------------------------------------
# Host packages
# --------------------------------------------------------------------------------------------


def _which(name: str) -> str | None:
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    return shutil.which(name, path=path)


def ensure_host_packages(timings: Timings) -> None:
    """apt-get install docker.io debootstrap when dockerd (or docker) or debootstrap is missing."""
    have_engine = _which("dockerd") is not None or _engine_answers()
    missing = [] if have_engine and _which("docker") else ["docker.io"]
    if _which("debootstrap") is None:
        missing += ["debootstrap", "debian-archive-keyring"]
    if not missing:
        return
    if os.geteuid() != 0:
        raise ImageError(
            f"{', '.join(missing)} not installed and not running as root: "
            f"run `apt-get update && apt-get install -y {' '.join(missing)}`"
        )
    if _which("apt-get") is None:
        raise ImageError(f"{', '.join(missing)} not installed and there is no apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with timings.step(f"apt-get install {' '.join(missing)}"):
        run(["apt-get", "update"], env=env, timeout=600, what="apt-get update")
        run(
            ["apt-get", "install", "-y", "--no-install-recommends", *missing],
            env=env,
            timeout=900,
            what="apt-get install",
        )


# --------------------------------------------------------------------------------------------
# Engine
# --------------------------------------------------------------------------------------------


@functools.cache
def docker_bin() -> str:
    """The docker CLI: Debian's (matches its dockerd) if installed, else the one on PATH."""
    for candidate in ("/usr/bin/docker", _which("docker")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ImageError("no docker CLI found (install Debian's docker.io)")


def docker_env() -> dict[str, str]:
    # The classic builder: BuildKit needs the buildx plugin with recent CLIs, and `# syntax=`
    # lines would make it pull a frontend image from a registry.
    return dict(os.environ, DOCKER_BUILDKIT="0", DOCKER_CLI_HINTS="false")


def docker(
    *args: str | Path, timeout: float = 600, input: bytes | None = None, what: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    return run([docker_bin(), *args], timeout=timeout, env=docker_env(), input=input, what=what)


def _engine_answers() -> bool:
    cli = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else _which("docker")
    if cli is None:
        return False
    try:
        result = subprocess.run(
            [cli, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=20,
            env=docker_env(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def dockerd_log() -> Path:
    return cache_dir() / "dockerd.log"


def ensure_engine(timings: Timings, extra_args: Sequence[str] = ()) -> str:
    """A Docker engine that answers; starts dockerd in the background if none does.

    ``extra_args`` go to a dockerd started here (tests/kindkit adds a runtime with them)."""
    if _engine_answers():
        return docker("version", "--format", "{{.Server.Version}}").stdout.decode().strip()
    with file_lock(cache_dir() / "dockerd.lock"):
        if _engine_answers():
            return docker("version", "--format", "{{.Server.Version}}").stdout.decode().strip()
        dockerd = _which("dockerd")
        if dockerd is None:
            raise ImageError("no Docker engine answers and dockerd is not installed")
        if os.geteuid() != 0:
            raise ImageError("no Docker engine answers and only root can start dockerd here")
        data_root = cache_dir() / "docker"
        data_root.mkdir(parents=True, exist_ok=True)
        logfile = dockerd_log()
        argv = [dockerd, "--data-root", str(data_root), "--log-level", "warn", *extra_args]
        with timings.step("start dockerd"):
            with logfile.open("ab") as out:
                out.write(f"\n==== {time.ctime()} {' '.join(argv)}\n".encode())
                out.flush()
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # outlives this process (and pytest)
                    close_fds=True,
                )
            deadline = time.monotonic() + ENGINE_START_TIMEOUT
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise ImageError(
                        f"dockerd exited with {proc.returncode} (log {logfile}):\n"
                        f"{_tail(logfile.read_bytes(), 25)}"
                    )
                if _engine_answers():
                    break
                time.sleep(0.5)
            else:
                raise ImageError(
                    f"dockerd (pid {proc.pid}) did not answer within {ENGINE_START_TIMEOUT:.0f}s "
                    f"(log {logfile}):\n{_tail(logfile.read_bytes(), 25)}"
                )
        log(f"dockerd pid {proc.pid}, data-root {data_root}, log {logfile}")
        return docker("version", "--format", "{{.Server.Version}}").stdout.decode().strip()


def image_id(ref: str) -> str | None:
    result = subprocess.run(
        [docker_bin(), "image", "inspect", "--format", "{{.Id}}", ref],
        capture_output=True,
        timeout=60,
        env=docker_env(),
        check=False,
    )
    return result.stdout.decode().strip() if result.returncode == 0 else None


def image_label(ref: str, label: str) -> str | None:
    result = subprocess.run(
        [docker_bin(), "image", "inspect", "--format", "{{json .Config.Labels}}", ref],
        capture_output=True,
        timeout=60,
        env=docker_env(),
        check=False,
    )
    if result.returncode != 0:
        return None
    labels = json.loads(result.stdout or b"null") or {}
    value = labels.get(label)
    return str(value) if value is not None else None


# --------------------------------------------------------------------------------------------
# Base image
# --------------------------------------------------------------------------------------------


def _apt_sources() -> list[tuple[str, list[str]]]:
    """(URI, suites) of the host's apt sources, one-line and deb822 formats alike."""
    found: list[tuple[str, list[str]]] = []
    files = [Path("/etc/apt/sources.list")]
    src_dir = Path("/etc/apt/sources.list.d")
    if src_dir.is_dir():
        files += sorted(src_dir.iterdir())
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line or line[:1].isspace():
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if "deb" not in fields.get("types", "").split() or fields.get(
                    "enabled", "yes"
                ).lower() in ("no", "false"):
                    continue
                suites = fields.get("suites", "").split()
                found += [(uri, suites) for uri in fields.get("uris", "").split()]
        elif path.suffix == ".list" or path.name == "sources.list":
            for line in text.splitlines():
                # deb [options] URI suite components...
                parts = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(parts) >= 3 and parts[0] == "deb":
                    found.append((parts[1], [parts[2]]))
    return found


def debian_mirror() -> str:
    """The host's configured mirror for the Debian archive (not security, not third parties)."""
    override = os.environ.get("VAST_OPERATOR_DEBIAN_MIRROR")
    if override:
        return override
    for uri, suites in _apt_sources():
        if SUITE in suites and not uri.rstrip("/").endswith("-security"):
            return uri
    for uri, suites in _apt_sources():
        if any(s.startswith(SUITE) for s in suites) and "security" not in uri:
            return uri
    return "http://deb.debian.org/debian"


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    mounts = []
    with open("/proc/mounts") as fh:
        for line in fh:
            target = line.split()[1].replace("\\040", " ")
            if target == prefix or target.startswith(prefix + "/"):
                mounts.append(target)
    return sorted(mounts, key=len, reverse=True)


def _remove_tree(path: Path) -> None:
    """rm -rf, unmounting first whatever a failed debootstrap left mounted inside."""
    if not path.exists():
        return
    for target in _mounts_under(path):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)


def base_recipe(mirror: str) -> str:
    return f"debootstrap --variant=minbase --include={','.join(BASE_PACKAGES)} {SUITE} {mirror}"


def debootstrap_image(
    ref: str,
    *,
    packages: Sequence[str],
    timings: Timings,
    changes: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    customize: Callable[[Path], None] | None = None,
) -> str:
    """``debootstrap --variant=minbase --include=<packages> bookworm`` from the machine's
    mirror, ``customize(rootfs)`` (files added in place), then ``docker import`` as ``ref``.

    Always builds: callers check their cache first. Labels the image with its recipe
    (``ai.vast.operator.base-recipe``) and ``labels``. Returns the image id. The kind node
    image reuses this (tests/kindkit, docs/kind.md)."""
    debootstrap = _which("debootstrap")
    if debootstrap is None:
        raise ImageError("debootstrap is not installed")
    if os.geteuid() != 0:
        raise ImageError("debootstrap needs root")
    mirror = debian_mirror()
    recipe = f"debootstrap --variant=minbase --include={','.join(packages)} {SUITE} {mirror}"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", ref)
    work = cache_dir() / "rootfs" / slug
    _remove_tree(work)  # leftovers of an interrupted run
    work.mkdir(parents=True)
    rootfs = work / SUITE
    try:
        with timings.step(f"debootstrap {SUITE} for {ref} from {mirror}"):
            run(
                [
                    debootstrap,
                    "--variant=minbase",
                    f"--include={','.join(packages)}",
                    SUITE,
                    rootfs,
                    mirror,
                ],
                timeout=1800,
                env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                what="debootstrap",
            )
        leftovers = _mounts_under(rootfs)
        if leftovers:
            raise ImageError(f"debootstrap left mounts behind: {leftovers}")
        # Slimmer image: no package lists or downloaded .debs (apt-get update restores them).
        for sub in ("var/lib/apt/lists", "var/cache/apt/archives", "var/log"):
            for entry in (rootfs / sub).glob("*"):
                if entry.is_file() or entry.is_symlink():
                    entry.unlink()
        for entry in (rootfs / "var/cache/apt").glob("*.bin"):
            entry.unlink()
        if customize is not None:
            customize(rootfs)
        with timings.step(f"docker import {ref}"):
            tarball = work / "rootfs.tar"
            run(
                [
                    "tar",
                    "-C",
                    rootfs,
                    "--numeric-owner",
                    "--xattrs",
                    "--exclude=./dev/*",
                    "--exclude=./proc/*",
                    "--exclude=./sys/*",
                    "--exclude=./run/*",
                    "-cf",
                    tarball,
                    ".",
                ],
                what="tar of the root filesystem",
            )
            label_changes: list[str] = []
            for key, value in {BASE_LABEL_RECIPE: recipe, **(labels or {})}.items():
                label_changes += ["--change", f"LABEL {key}={json.dumps(value)}"]
            docker(
                "import",
                *(arg for change in changes for arg in ("--change", change)),
                *label_changes,
                "--message",
                recipe,
                tarball,
                ref,
                what=f"docker import {ref}",
            )
    finally:
        _remove_tree(work)
    new_id = image_id(ref)
    if not new_id:
        raise ImageError(f"{ref} missing after docker import")
    return new_id


def ensure_base_image(timings: Timings) -> str:
    """vast-operator-base:bookworm from debootstrap + docker import; its image id."""
    existing = image_id(BASE_IMAGE)
    if existing:
        return existing
    with file_lock(cache_dir() / "image.lock"):
        existing = image_id(BASE_IMAGE)
        if existing:
            return existing
        return debootstrap_image(
            BASE_IMAGE,
            packages=BASE_PACKAGES,
            timings=timings,
            changes=(
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "ENV LANG=C.UTF-8",
                'CMD ["/bin/bash"]',
            ),
        )


# --------------------------------------------------------------------------------------------
# Wheelhouse
# --------------------------------------------------------------------------------------------


def _requirements() -> list[str]:
    """The exact pins of the lock file the Dockerfile installs from (hashes are checked there),
    so the wheelhouse always holds what the build asks for; without one, pyproject's ranges."""
    lock = ROOT / "operator" / "requirements.lock"
    if lock.exists():
        pins = [
            line.split(" \\")[0].strip()
            for line in lock.read_text().splitlines()
            if line and not line.startswith((" ", "#", "\t"))
        ]
        return [*pins, "wheel"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(pyproject["project"].get("dependencies", []))
    reqs += list(pyproject.get("build-system", {}).get("requires", []))
    return [*reqs, "wheel"]


def ensure_wheelhouse(timings: Timings) -> Path:
    """The dependencies (and the build backend) as wheels for the base image's Python."""
    reqs = _requirements()
    machine = platform.machine()
    # pip does not expand manylinux_2_X to the older tags it implies: list them all.
    glibc_minor = int(TARGET_GLIBC.split("_")[1])
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in range(glibc_minor, 4, -1)]
    platforms += [f"manylinux{legacy}_{machine}" for legacy in ("2014", "2010", "1")]
    key_src = json.dumps({"reqs": reqs, "python": TARGET_PYTHON, "platforms": platforms})
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    folder = cache_dir() / "wheelhouse" / key
    marker = folder / ".complete"
    if marker.exists():
        return folder
    with file_lock(cache_dir() / "wheelhouse.lock"):
        if marker.exists():
            return folder
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder.parent))
        try:
            with timings.step(f"pip download ({len(reqs)} requirements) into the wheelhouse"):
                run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "--disable-pip-version-check",
                        "--dest",
                        tmp,
                        "--only-binary=:all:",
                        "--python-version",
                        TARGET_PYTHON,
                        "--implementation",
                        "cp",
                        *(arg for plat in platforms for arg in ("--platform", plat)),
                        *reqs,
                    ],
                    timeout=900,
                    what="pip download (the wheelhouse)",
                )
            (tmp / ".complete").write_text(key_src + "\n")
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


@contextlib.contextmanager
def serve_directory(folder: Path) -> Iterator[str]:
    """Serve a folder read-only on 127.0.0.1 (a pip --find-links page); yields its URL."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------------------------
# Operator image
# --------------------------------------------------------------------------------------------


def _context_files() -> list[Path]:
    """What the Dockerfile's COPY lines can see (mirrors .dockerignore)."""
    files = [ROOT / "Dockerfile", ROOT / ".dockerignore", ROOT / "pyproject.toml"]
    files.append(ROOT / "README.md")
    for path in sorted((ROOT / "operator").rglob("*")):
        rel = path.relative_to(ROOT)
        if not path.is_file() or "__pycache__" in rel.parts or path.suffix == ".pyc":
            continue
        if any(part.endswith(".egg-info") for part in rel.parts):
            continue
        files.append(path)
    return files


def source_hash(base_id: str) -> str:
    digest = hashlib.sha256(f"base {base_id}\n".encode())
    for path in _context_files():
        rel = path.relative_to(ROOT).as_posix()
        data = path.read_bytes() if path.exists() else b"<missing>"
        digest.update(f"{rel} {len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()


@dataclass
class BuiltImage:
    image: str
    image_id: str
    base_image: str
    source_hash: str
    rebuilt: bool
    timings: dict[str, float]
    engine_version: str


def ensure_image(force: bool = False) -> BuiltImage:
    """All of the above, each step only when needed. Raises ImageError with the reason."""
    timings = Timings()
    started = time.monotonic()
    ensure_host_packages(timings)
    version = ensure_engine(timings)
    base_id = ensure_base_image(timings)
    wanted = source_hash(base_id)
    rebuilt = False
    if force or image_label(IMAGE, SOURCE_LABEL) != wanted:
        with file_lock(cache_dir() / "image.lock"):
            if force or image_label(IMAGE, SOURCE_LABEL) != wanted:
                wheelhouse = ensure_wheelhouse(timings)
                with (
                    serve_directory(wheelhouse) as url,
                    timings.step(f"docker build {IMAGE}"),
                ):
                    docker(
                        "build",
                        "--network",
                        "host",
                        "--file",
                        ROOT / "Dockerfile",
                        "--build-arg",
                        f"BASE_IMAGE={BASE_IMAGE}",
                        "--build-arg",
                        "PIP_NO_INDEX=1",
                        "--build-arg",
                        f"PIP_FIND_LINKS={url}",
                        "--label",
                        f"{SOURCE_LABEL}={wanted}",
                        "--tag",
                        IMAGE,
                        ROOT,
                        timeout=1200,
                        what=f"docker build {IMAGE}",
                    )
                # Untagged leftovers on our base: earlier builds of the test image and the
                # classic builder's builder-stage images (each rebuild would add one).
                docker(
                    "image",
                    "prune",
                    "--force",
                    "--filter",
                    f"label={BASE_LABEL_RECIPE}",
                    what="docker image prune",
                )
                rebuilt = True
    built_id = image_id(IMAGE)
    if not built_id:
        raise ImageError(f"{IMAGE} missing after the build")
    timings.steps["total"] = round(time.monotonic() - started, 1)
    return BuiltImage(IMAGE, built_id, BASE_IMAGE, wanted, rebuilt, timings.steps, version)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        nargs="?",
        default="ensure",
        choices=["ensure", "rebuild", "engine", "status", "mirror"],
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "mirror":
            print(base_recipe(debian_mirror()))
            return 0
        if args.command == "engine":
            timings = Timings()
            ensure_host_packages(timings)
            print(ensure_engine(timings))
            return 0
        if args.command == "status":
            status = {
                "engine": _engine_answers(),
                "base": image_id(BASE_IMAGE) if _engine_answers() else None,
                "image": image_id(IMAGE) if _engine_answers() else None,
                "image_source_hash": image_label(IMAGE, SOURCE_LABEL)
                if _engine_answers()
                else None,
                "cache": str(cache_dir()),
            }
            print(json.dumps(status, indent=2))
            return 0
        built = ensure_image(force=args.command == "rebuild")
    except ImageError as exc:
        log(f"FAILED: {exc}")
        return 1
    print(json.dumps(built.__dict__, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
