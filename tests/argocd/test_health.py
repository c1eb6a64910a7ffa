"""ArgoCD health checks (deploy/argocd/health/vast.ai/<Kind>/health.lua), replayed like ArgoCD does.

ArgoCD's own runner (argo-cd util/lua/health_test.go) walks every health.lua, reads the
health_test.yaml beside it and requires both `status` and `message` to match exactly. This file
does the same, every case in two interpreters:

* ``gopher-lua``: the Lua VM ArgoCD embeds, at argo-cd's version, set up as argo-cd's util/lua
  does (tests/argocd/gopherlua/, a small Go program built once into the cache by
  gopherlua_vm.py; if Go cannot build it, these cases fail with the reason);
* ``lupa``: Lua 5.1 in a sandbox with only what ArgoCD opens by default: the base and table
  libraries, no string methods (quick, and a second opinion on the Lua semantics).

It also keeps deploy/argocd/argocd-cm.yaml identical to the .lua files. Both are generated
from one template by operator/vast_operator/api/healthgen.py; edit that, then run `make crds`
(test_generated.py fails when the checked-in files differ from the generator's output).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import gopherlua_vm
import pytest
import yaml

import envtest
from vast_operator.api import healthgen

ROOT = Path(__file__).resolve().parents[2]
ARGOCD = ROOT / "deploy" / "argocd"
HEALTH = ARGOCD / "health" / "vast.ai"
CRDS = ROOT / "deploy" / "crds"
KINDS = ("VastInstance", "VastVolume", "VastEndpoint")
PLURALS = {
    "VastInstance": "vastinstances",
    "VastVolume": "vastvolumes",
    "VastEndpoint": "vastendpoints",
}
HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended"}


def render_argocd_cm() -> str:
    """The argocd-cm snippet as it must be: the header plus each health.lua as a block scalar."""
    return healthgen.render_argocd_cm(
        {kind: (HEALTH / kind / "health.lua").read_text() for kind in KINDS}
    )


def _plain(value: Any) -> Any:
    """YAML as the API server would serve it as JSON (timestamps are strings)."""

    def default(o: Any) -> str:
        if isinstance(o, dt.datetime | dt.date):
            return o.isoformat()
        raise TypeError(o)

    return json.loads(json.dumps(value, default=default))


# The base functions the lupa sandbox offers (besides `obj` and `table`). Each must exist in
# ArgoCD's VM too: test_lupa_sandbox_offers_nothing_argocd_lacks checks it in gopher-lua.
SANDBOX_BASE_FUNCTIONS = (
    "assert",
    "error",
    "ipairs",
    "next",
    "pairs",
    "pcall",
    "select",
    "tonumber",
    "tostring",
    "type",
    "unpack",
)


def _use_open_libs(kind: str) -> bool:
    """argocd-cm's resource.customizations.useOpenLibs.vast.ai_<Kind> (ArgoCD: false if unset)."""
    cm = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    value = cm["data"].get(f"resource.customizations.useOpenLibs.vast.ai_{kind}", "false")
    return str(value).strip().lower() == "true"


class LupaRunner:
    """Runs a health.lua on an object the way ArgoCD does: global `obj`, base libraries only."""

    name = "lupa"

    def __init__(self) -> None:
        from lupa import lua51

        self.lua = lua51.LuaRuntime(unpack_returned_tuples=True)
        self._run = self.lua.eval(
            """
            function(source, name, object, base_functions)
              local env = {obj = object, table = table}
              for _, f in ipairs(base_functions) do
                env[f] = _G[f]
              end
              local chunk, err = loadstring(source, "@" .. name)
              if chunk == nil then error(err) end
              setfenv(chunk, env)
              -- ArgoCD (gopher-lua without open libs) has no string library: no s:sub() etc.
              local string_meta = debug.getmetatable("")
              debug.setmetatable("", nil)
              local ok, result = pcall(chunk)
              debug.setmetatable("", string_meta)
              if not ok then error(result) end
              return result
            end
            """
        )

    def __call__(self, kind: str, manifest: dict[str, Any]) -> dict[str, Any]:
        script = HEALTH / kind / "health.lua"
        obj = self.lua.table_from(_plain(manifest), recursive=True)
        functions = self.lua.table_from(list(SANDBOX_BASE_FUNCTIONS))
        result = self._run(script.read_text(), str(script.relative_to(ROOT)), obj, functions)
        assert result is not None, f"{script} returned nothing"
        return {"status": result["status"], "message": result["message"]}


class GopherLuaRunner:
    """Runs a health.lua in gopher-lua, set up as ArgoCD sets it up (tests/argocd/gopherlua)."""

    name = "gopher-lua"

    def __init__(self, binary: Path) -> None:
        self.binary = binary

    def __call__(self, kind: str, manifest: dict[str, Any]) -> dict[str, Any]:
        script = HEALTH / kind / "health.lua"
        return gopherlua_vm.run_health(
            self.binary, script, _plain(manifest), open_libs=_use_open_libs(kind)
        )


HealthRunner = LupaRunner | GopherLuaRunner


@pytest.fixture(scope="session")
def gopher_lua_binary() -> Path:
    """argocd-lua-health, built into the cache when missing. Never skipped: fails with why."""
    try:
        return gopherlua_vm.ensure_binary()
    except (envtest.ControlPlaneError, OSError) as exc:
        pytest.fail(
            f"cannot build the gopher-lua health runner (tests/argocd/gopherlua, needs `go`): "
            f"{exc}",
            pytrace=False,
        )


@pytest.fixture(scope="module", params=["lupa", "gopher-lua"])
def run_health(request: pytest.FixtureRequest) -> HealthRunner:
    if request.param == "lupa":
        return LupaRunner()
    return GopherLuaRunner(request.getfixturevalue("gopher_lua_binary"))


def _cases() -> list[Any]:
    cases = []
    for kind in KINDS:
        spec = yaml.safe_load((HEALTH / kind / "health_test.yaml").read_text())
        for test in spec["tests"]:
            cases.append(pytest.param(kind, test, id=f"{kind}/{Path(test['inputPath']).stem}"))
    return cases


@pytest.mark.parametrize(("kind", "test"), _cases())
def test_health_case(run_health: HealthRunner, kind: str, test: dict[str, Any]) -> None:
    manifest = yaml.safe_load((HEALTH / kind / test["inputPath"]).read_text())
    assert manifest["kind"] == kind
    assert test["healthStatus"]["status"] in HEALTH_STATUSES
    assert run_health(kind, manifest) == test["healthStatus"]


def test_lupa_sandbox_offers_nothing_argocd_lacks(gopher_lua_binary: Path, tmp_path: Path) -> None:
    """Every global the lupa sandbox gives a script is there in ArgoCD's VM as well."""
    names = ["obj", "table", *SANDBOX_BASE_FUNCTIONS]
    probe = tmp_path / "probe.lua"
    probe.write_text(
        "local missing = {}\n"
        + "".join(f'if {n} == nil then missing[#missing + 1] = "{n}" end\n' for n in names)
        + 'return {status = "Healthy", message = table.concat(missing, ",")}\n'
    )
    result = gopherlua_vm.run_health(gopher_lua_binary, probe, {"kind": "Probe"})
    assert result == {"status": "Healthy", "message": ""}, f"missing in ArgoCD: {result}"


def test_gopher_lua_is_set_up_like_argocd(gopher_lua_binary: Path, tmp_path: Path) -> None:
    """No string methods, no global os, ArgoCD's answer to a bad status; numbers are numbers."""
    cases = {
        'return {status = "Healthy", message = ("abc"):sub(1, 1)}': None,
        'return {status = "Healthy", message = type(os) .. type(string) .. type(math)}': {
            "status": "Healthy",
            "message": "nilnilnil",
        },
        'return {status = "Fine", message = "x"}': {
            "status": "Unknown",
            "message": "Lua returned an invalid health status",
        },
        'return {status = "Healthy", message = tostring(obj.metadata.generation + 1)}': {
            "status": "Healthy",
            "message": "4",
        },
    }
    obj = {"kind": "Probe", "metadata": {"generation": 3}}
    for source, expected in cases.items():
        probe = tmp_path / "probe.lua"
        probe.write_text(source + "\n")
        if expected is None:
            with pytest.raises(gopherlua_vm.LuaError, match="attempt to index"):
                gopherlua_vm.run_health(gopher_lua_binary, probe, obj)
        else:
            assert gopherlua_vm.run_health(gopher_lua_binary, probe, obj) == expected, source


@pytest.mark.parametrize("kind", KINDS)
def test_every_testdata_file_is_replayed(kind: str) -> None:
    spec = yaml.safe_load((HEALTH / kind / "health_test.yaml").read_text())
    listed = {Path(t["inputPath"]).name for t in spec["tests"]}
    on_disk = {p.name for p in (HEALTH / kind / "testdata").glob("*.yaml")}
    assert listed == on_disk
    # The file name says the expected status, as in argo-cd's own testdata.
    for t in spec["tests"]:
        assert Path(t["inputPath"]).name.lower().startswith(t["healthStatus"]["status"].lower())


def _crd_version_schema(kind: str) -> dict[str, Any]:
    path = CRDS / f"vast.ai_{PLURALS[kind]}.yaml"
    assert path.exists(), f"{path} is missing: run `make crds`"
    crd = yaml.safe_load(path.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return version["schema"]["openAPIV3Schema"]


def _check_against_schema(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    """A small structural check: known fields, enums and JSON types, recursively."""
    errors: list[str] = []
    types = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
    }
    expected = schema.get("type")
    if expected and not isinstance(value, types[expected]):
        return [f"{where}: expected {expected}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict) and "properties" in schema:
        for key, sub in value.items():
            if key not in schema["properties"]:
                errors.append(f"{where}.{key}: not declared in the CRD (would be pruned)")
            else:
                errors += _check_against_schema(sub, schema["properties"][key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += _check_against_schema(item, schema["items"], f"{where}[{i}]")
    return errors


@pytest.mark.parametrize("kind", KINDS)
def test_testdata_matches_the_crds(kind: str) -> None:
    """Sample objects use only fields and phases the CRD declares, and cover every phase."""
    schema = _crd_version_schema(kind)
    phases_seen = set()
    errors = []
    for path in sorted((HEALTH / kind / "testdata").glob("*.yaml")):
        manifest = _plain(yaml.safe_load(path.read_text()))
        for part in ("spec", "status"):
            if part in manifest:
                errors += _check_against_schema(
                    manifest[part], schema["properties"][part], f"{path.name}: {part}"
                )
        phases_seen.add((manifest.get("status") or {}).get("phase"))
    assert errors == []
    phases = set(schema["properties"]["status"]["properties"]["phase"]["enum"])
    assert phases <= phases_seen, f"no sample object for phases {phases - phases_seen}"


def test_argocd_cm_matches_the_lua_files() -> None:
    cm_path = ARGOCD / "argocd-cm.yaml"
    assert cm_path.read_text() == render_argocd_cm(), (
        "deploy/argocd/argocd-cm.yaml is out of date: run `make crds`"
    )
    cm = yaml.safe_load(cm_path.read_text())
    assert cm["kind"] == "ConfigMap"
    assert cm["metadata"]["name"] == "argocd-cm"
    assert set(cm["data"]) == {f"resource.customizations.health.vast.ai_{k}" for k in KINDS}
    for kind in KINDS:
        lua = (HEALTH / kind / "health.lua").read_text()
        assert cm["data"][f"resource.customizations.health.vast.ai_{kind}"] == lua


def test_applications_point_at_this_repository_layout() -> None:
    """The example Applications reference paths that exist and are split as documented."""
    docs = [
        d
        for p in sorted(ARGOCD.glob("application*.yaml"))
        for d in yaml.safe_load_all(p.read_text())
        if d
    ]
    apps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Application"}
    assert set(apps) >= {"vast-operator", "vast-objects"}
    operator, objects = apps["vast-operator"], apps["vast-objects"]
    assert (ROOT / operator["spec"]["source"]["path"] / "Chart.yaml").exists()
    assert (ROOT / objects["spec"]["source"]["path"]).is_dir()
    wave = "argocd.argoproj.io/sync-wave"
    assert int(operator["metadata"]["annotations"][wave]) < int(
        objects["metadata"]["annotations"][wave]
    )
    values = yaml.safe_load(operator["spec"]["source"]["helm"]["values"])
    assert values["crds"]["keep"] is True
    # Deleting the objects app must run the operator's finalizers: cascade, and never prune
    # the operator together with them.
    assert "resources-finalizer.argocd.argoproj.io" in objects["metadata"]["finalizers"]
