"""`vast-operator`: run the operator, or print/write the CRDs (and ArgoCD health checks)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from . import __version__
from .config import add_run_arguments, settings_from_args


def _find_root() -> Path:
    here = Path.cwd()
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").exists() and (candidate / "deploy").is_dir():
            return candidate
    raise SystemExit("run `vast-operator crds --write` from inside the repository")


def cmd_crds(args: argparse.Namespace) -> int:
    from .api import crdgen, healthgen

    if args.write:
        root = _find_root()
        for path in [*crdgen.write_all(root), *healthgen.write_all(root)]:
            print(f"wrote {path.relative_to(root)}")
        return 0
    if args.check:
        root = _find_root()
        expected = {**crdgen.expected_files(root), **healthgen.expected_files(root)}
        stale = [
            str(p.relative_to(root))
            for p, text in expected.items()
            if not p.exists() or p.read_text() != text
        ]
        if stale:
            print("out of date, run `make crds`: " + ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(yaml.safe_dump_all(crdgen.all_crds(), sort_keys=False, width=100))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .runner import run

    return run(settings_from_args(args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vast-operator", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run the operator")
    add_run_arguments(run_p)
    run_p.set_defaults(func=cmd_run)
    crds_p = sub.add_parser("crds", help="print the CRDs (or --write them into the repo)")
    crds_p.add_argument("--write", action="store_true", help="write CRDs and ArgoCD checks")
    crds_p.add_argument("--check", action="store_true", help="fail if the files are stale")
    crds_p.set_defaults(func=cmd_crds)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
