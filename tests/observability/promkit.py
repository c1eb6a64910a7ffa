"""promtool for the alert-rule tests: the one on PATH, else Debian's, unpacked into the cache.

Debian's ``prometheus`` package ships ``/usr/bin/promtool``. Installing that package would also
install the Prometheus server and start it (its postinst runs ``invoke-rc.d prometheus start``,
listening on :9090), so instead, like tests/image/imagekit.py does for docker.io, when no
``promtool`` is on PATH this module uses apt-get, as root: ``apt-get update`` if the package
lists do not know ``prometheus``, then ``apt-get download prometheus``, and unpacks only
``usr/bin/promtool`` (a static Go binary) into
``${VAST_OPERATOR_CACHE:-~/.cache/vast-operator}/bin/promtool-<Debian version>/``. That happens
once; afterwards the cached binary is used. ``VAST_OPERATOR_PROMTOOL`` names a promtool to use
instead.

    python tests/observability/promkit.py     # ensure; print the path
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

PACKAGE = "prometheus"
MARKER = ".complete"


class PromtoolError(RuntimeError):
    """promtool could not be found or unpacked (the message says why)."""


def log(message: str) -> None:
    print(f"[promkit {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    env = os.environ.get("VAST_OPERATOR_CACHE")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "vast-operator"
    (path / "bin").mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run(cmd: Sequence[str | Path], *, cwd: Path | None = None, timeout: float = 600) -> str:
    argv = [str(c) for c in cmd]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        result = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PromtoolError(f"`{' '.join(argv)}`: {exc}") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise PromtoolError(f"`{' '.join(argv)}` exited {result.returncode}:\n{tail}")
    return result.stdout


def candidate_version() -> str | None:
    """The version apt would install, or None when the package lists do not know it."""
    if shutil.which("apt-cache") is None:
        return None
    out = subprocess.run(
        ["apt-cache", "policy", PACKAGE], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"Candidate:\s*(\S+)", out)
    return match.group(1) if match and match.group(1) != "(none)" else None


def _cached() -> Path | None:
    for folder in sorted((cache_dir() / "bin").glob("promtool-*")):
        binary = folder / "promtool"
        if (folder / MARKER).is_file() and os.access(binary, os.X_OK):
            return binary
    return None


def ensure_promtool() -> Path:
    """A working promtool; PromtoolError with the reason when there is none and none can be had."""
    override = os.environ.get("VAST_OPERATOR_PROMTOOL")
    if override:
        return Path(override)
    on_path = shutil.which("promtool")
    if on_path:
        return Path(on_path)
    cached = _cached()
    if cached:
        return cached
    with file_lock(cache_dir() / "bin" / ".promtool.lock"):
        cached = _cached()
        if cached:
            return cached
        if shutil.which("apt-get") is None:
            raise PromtoolError("no promtool on PATH and no apt-get to fetch Debian's")
        version = candidate_version()
        if version is None:
            if os.geteuid() != 0:
                raise PromtoolError(
                    "no promtool on PATH and apt does not know the prometheus package: run "
                    "`apt-get update` as root (or install promtool)"
                )
            log("apt-get update (to find Debian's prometheus package)")
            run(["apt-get", "update"])
            version = candidate_version()
            if version is None:
                raise PromtoolError("apt-get knows no prometheus package (no promtool to use)")
        final = cache_dir() / "bin" / f"promtool-{version.replace(':', '_')}"
        tmp = Path(tempfile.mkdtemp(prefix=".promtool.", dir=cache_dir() / "bin"))
        try:
            started = time.monotonic()
            log(f"apt-get download {PACKAGE}={version}; unpacking usr/bin/promtool")
            run(["apt-get", "download", f"{PACKAGE}={version}"], cwd=tmp)
            (deb,) = tmp.glob("*.deb")
            unpacked = tmp / "root"
            run(["dpkg-deb", "-x", deb, unpacked])
            (tmp / "promtool").write_bytes((unpacked / "usr/bin/promtool").read_bytes())
            (tmp / "promtool").chmod(0o755)
            shutil.rmtree(unpacked)
            deb.unlink()
            run([tmp / "promtool", "--version"])
            (tmp / MARKER).write_text(f"{PACKAGE} {version}\n")
            tmp.chmod(0o755)
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
            log(f"promtool {version} in {final} ({time.monotonic() - started:.1f}s)")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final / "promtool"


if __name__ == "__main__":
    try:
        print(ensure_promtool())
    except PromtoolError as exc:
        log(f"FAILED: {exc}")
        sys.exit(1)
