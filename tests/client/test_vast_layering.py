"""`vast_operator.vast` is the bottom layer: small modules that import nothing above them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vast_operator.vast as vast_pkg

VAST_DIR = Path(vast_pkg.__file__).parent
MODULES = sorted(VAST_DIR.rglob("*.py"))
FORBIDDEN_ROOTS = {"kopf", "kubernetes"}
MAX_LINES = 400


def _imported_modules(path: Path) -> list[str]:
    """Absolute names of everything `path` imports (relative imports resolved)."""
    module = ".".join(("vast_operator", *path.relative_to(VAST_DIR.parent).with_suffix("").parts))
    package = module.rsplit(".", 1)[0]  # drops the module name, or `__init__`
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.append(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.append(node.module)
    return names


def test_relative_imports_are_resolved() -> None:
    assert "vast_operator.vast.errors" in _imported_modules(VAST_DIR / "client" / "offers.py")
    assert "vast_operator.vast.client.transport" in _imported_modules(
        VAST_DIR / "client" / "__init__.py"
    )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(VAST_DIR)))
def test_vast_imports_nothing_above_it(path: Path) -> None:
    for name in _imported_modules(path):
        root = name.split(".", 1)[0]
        assert root not in FORBIDDEN_ROOTS, f"{path.name} imports {name}"
        if root == "vast_operator":
            assert name == "vast_operator.vast" or name.startswith("vast_operator.vast."), (
                f"{path.name} imports {name}, outside vast_operator.vast"
            )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(VAST_DIR)))
def test_vast_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines (limit {MAX_LINES})"


def test_the_public_import_paths_still_work() -> None:
    from vast_operator.vast.client import DEFAULT_BASE_URL, RequestObserver, VastClient
    from vast_operator.vast.models import (
        CreateInstanceRequest,
        Endpoint,
        Instance,
        Offer,
        User,
        Volume,
        build_env,
        country_code,
        parse_ssh_keys,
    )

    assert DEFAULT_BASE_URL == "https://console.vast.ai"
    assert RequestObserver is not None
    for name in (
        "search_offers",
        "create_instance",
        "list_instances",
        "destroy_instance",
        "list_volumes",
        "create_endpoint",
        "create_workergroup",
        "create_template",
        "current_user",
    ):
        assert callable(getattr(VastClient, name)), name
    assert all(
        (CreateInstanceRequest, Endpoint, Instance, Offer, User, Volume, build_env, country_code)
    )
    assert parse_ssh_keys("[]") == []
