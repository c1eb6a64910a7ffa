"""Generate ArgoCD's Lua health checks for the three kinds from one template.

Each kind gets the same rules (see `LUA_TEMPLATE`); only its parameters differ: the phase that
is Healthy, the phases that are Suspended, the Synced=False reasons that are Degraded. The
phases are checked against the kind's `Phase` enum, so renaming a phase in a model without
updating this file fails generation instead of shipping a check that never matches.

Written with the CRDs by `vast-operator crds --write` (`make crds`): one
``deploy/argocd/health/<group>/<Kind>/health.lua`` per kind (argo-cd's own layout, next to the
hand-written ``health_test.yaml`` and ``testdata/``) and ``deploy/argocd/argocd-cm.yaml`` with
the same scripts as ``argocd-cm`` keys. Tests replay the scripts in a Lua 5.1 interpreter
(tests/argocd/test_health.py) and fail when the files differ from this generator's output.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from string import Template

from . import endpoint, instance, volume
from .common import ANNOTATION_PAUSED, GROUP

# Phases every kind has, with fixed meanings in the template.
FAILED = "Failed"  # terminal: the operator gave up -> Degraded
DELETING = "Deleting"  # -> Progressing

# Synced=False reasons that retrying cannot fix until a person acts (bad or missing key, no
# credit, invalid spec): Degraded, so they do not block sync waves forever. They are the
# operator's condition reasons (vast_operator.reconcile.conditions.Reason).
NEEDS_A_PERSON = (
    "InvalidCredentials",
    "CredentialsNotFound",
    "InsufficientCredit",
    "InvalidSpec",
    "AccountChanged",
    "AdoptionDisabled",
    "AdoptionRefused",
    "NameTaken",
    "SecretNotOwned",
    "NoPriceCap",
)


@dataclass(frozen=True)
class SuspendedPhase:
    """A phase a person asked for (Suspended while the operator is in sync with it)."""

    message: str  # the Lua message when status.message is empty
    cause: str  # comment: what puts the object there
    stuck: str  # comment: what Synced=False means in this phase (then Degraded)


@dataclass(frozen=True)
class KindHealth:
    kind: str
    phases: type[StrEnum]
    ready_phase: str
    suspended: Mapping[str, SuspendedPhase] = field(default_factory=dict)
    # Terminal phases of work that finished well (a job that succeeded): Healthy.
    succeeded: tuple[str, ...] = ()
    needs_a_person: tuple[str, ...] = NEEDS_A_PERSON

    def __post_init__(self) -> None:
        known = {str(p) for p in self.phases}
        used = {self.ready_phase, FAILED, DELETING, *self.suspended, *self.succeeded}
        if not used <= known:
            raise ValueError(f"{self.kind}: phases {sorted(used - known)} not in {sorted(known)}")

    @property
    def progressing_phases(self) -> list[str]:
        """Phases on the way to the ready phase (documentation only: any other phase counts)."""
        fixed = {self.ready_phase, FAILED, DELETING, *self.suspended, *self.succeeded}
        return [str(p) for p in self.phases if str(p) not in fixed]


KINDS = [
    KindHealth(
        instance.KIND,
        instance.Phase,
        ready_phase=instance.Phase.RUNNING,
        suspended={
            instance.Phase.STOPPED: SuspendedPhase(
                message="Instance is stopped",
                cause="spec.state: Stopped",
                stuck="e.g. it cannot be started again",
            )
        },
        succeeded=(instance.Phase.SUCCEEDED,),
    ),
    KindHealth(volume.KIND, volume.Phase, ready_phase=volume.Phase.AVAILABLE),
    KindHealth(endpoint.KIND, endpoint.Phase, ready_phase=endpoint.Phase.READY),
]

LUA_TEMPLATE = Template("""\
$header
local READY_PHASE = $ready_phase
local SUSPENDED_PHASES = $suspended_phases
local SUCCEEDED_PHASES = $succeeded_phases

-- Synced=False reasons that need a person (bad or missing key, no credit, invalid spec).
local NEEDS_A_PERSON = $needs_a_person

local function nonempty(...)
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if v ~= nil and v ~= "" then
      return v
    end
  end
  return nil
end

local function condition(status, ctype)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function phaseMessage(phase, message)
  if message ~= nil then
    return phase .. ": " .. message
  end
  return phase
end

local meta = obj.metadata or {}
local annotations = meta.annotations or {}
if annotations[$paused] == "true" then
  return {status = "Suspended", message = $paused_message}
end

local status = obj.status
if status == nil or status.phase == nil or status.phase == "" then
  if meta.deletionTimestamp ~= nil then
    return {status = "Progressing", message = "Deleting"}
  end
  return {status = "Progressing", message = "Waiting for the operator to reconcile the object"}
end

local phase = status.phase
local ready = condition(status, "Ready") or {}
local synced = condition(status, "Synced") or {}
local syncError = nil
if synced.status == "False" then
  syncError = nonempty(synced.reason, "SyncFailed") .. ": " .. nonempty(synced.message, "no details")
end

if meta.deletionTimestamp ~= nil or phase == $deleting then
  return {status = "Progressing", message = phaseMessage($deleting, nonempty(syncError, status.message))}
end

if meta.generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < meta.generation) then
  return {
    status = "Progressing",
    message = "Waiting for the operator to observe generation " .. tostring(meta.generation)
      .. " (observed " .. tostring(status.observedGeneration or "none") .. ")",
  }
end

if phase == $failed then
  return {status = "Degraded", message = phaseMessage($failed, nonempty(status.message, ready.message, syncError))}
end

if SUCCEEDED_PHASES[phase] ~= nil then
  -- Finished work: nothing more will happen, whatever the operator can still reach.
  return {status = "Healthy", message = phaseMessage(phase, nonempty(status.message, ready.message))}
end

if SUSPENDED_PHASES[phase] ~= nil then
  if syncError ~= nil then
    return {status = "Degraded", message = phaseMessage(phase, syncError)}
  end
  return {status = "Suspended", message = phaseMessage(phase, nonempty(status.message, SUSPENDED_PHASES[phase]))}
end

if syncError ~= nil then
  -- Errors that retrying cannot fix until a person acts: report them, don't block syncs.
  if NEEDS_A_PERSON[synced.reason] then
    return {status = "Degraded", message = phaseMessage(phase, syncError)}
  end
  return {status = "Progressing", message = phaseMessage(phase, syncError)}
end

if phase == READY_PHASE and ready.status == "True" then
  return {status = "Healthy", message = nonempty(status.message, ready.message, READY_PHASE)}
end

return {status = "Progressing", message = phaseMessage(phase, nonempty(status.message, ready.message))}
""")  # noqa: E501

_LUA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def lua_string(text: str) -> str:
    """A double-quoted Lua string literal (plain text only: no quotes, backslashes, newlines)."""
    if re.search(r'["\\\n\r]', text):
        raise ValueError(f"not plain text for a Lua string: {text!r}")
    return f'"{text}"'


def lua_table(entries: Mapping[str, str], multiline: bool = False) -> str:
    """`{Key = value, ...}`; keys must be Lua names, values are Lua expressions."""
    for key in entries:
        if not _LUA_NAME.fullmatch(key):
            raise ValueError(f"not a Lua name: {key!r}")
    if not entries:
        return "{}"
    if multiline:
        return "{\n" + "".join(f"  {k} = {v},\n" for k, v in entries.items()) + "}"
    return "{" + ", ".join(f"{k} = {v}" for k, v in entries.items()) + "}"


def cm_key(kind: str) -> str:
    """The per-kind argocd-cm key: resource.customizations.health.<group>_<kind>."""
    return f"resource.customizations.health.{GROUP}_{kind}"


def _rule(status: str, clauses: list[str]) -> list[str]:
    """One `--   Status       text` comment paragraph, wrapped at 100 columns."""
    return textwrap.wrap(
        ", ".join(clauses),
        width=100,
        initial_indent=f"--   {status:<13}",
        subsequent_indent="--" + " " * 16,
        break_on_hyphens=False,
    )


def _header(spec: KindHealth) -> str:
    ready = spec.ready_phase
    on_the_way = ", ".join(spec.progressing_phases)
    lines = [
        f"-- ArgoCD health check for {GROUP}/{spec.kind} (vast-operator).",
        "-- Generated by `vast-operator crds --write` (`make crds`) from",
        "-- operator/vast_operator/api/healthgen.py, with its copy in deploy/argocd/argocd-cm.yaml",
        f"-- ({cm_key(spec.kind)}). Do not edit: change the generator.",
        "-- tests/argocd/test_health.py replays health_test.yaml. Uses only Lua's base library:",
        "-- ArgoCD opens no others by default.",
        "--",
    ]
    suspended = [f'the {ANNOTATION_PAUSED} annotation is "true"']
    suspended += [f"or phase {p} ({s.cause})" for p, s in spec.suspended.items()]
    lines += _rule("Suspended", suspended)
    lines += _rule(
        "Progressing",
        [
            "no status yet",
            "status for an older generation",
            "deleting",
            f"any phase on the way to {ready} ({on_the_way})",
            "or Synced=False (the operator is retrying; message = reason: message)",
        ],
    )
    degraded = [f"phase {FAILED}"]
    degraded += [f"or phase {p} with Synced=False ({s.stuck})" for p, s in spec.suspended.items()]
    degraded.append(
        f"or Synced=False for a reason only a person can fix ({', '.join(spec.needs_a_person)})"
    )
    lines += _rule("Degraded", degraded)
    healthy = [f"phase {ready} with condition Ready=True, for the current generation"]
    healthy += [
        f"or phase {p} (a finished job), for the current generation" for p in spec.succeeded
    ]
    lines += _rule("Healthy", healthy)
    return "\n".join(lines)


def render_lua(spec: KindHealth) -> str:
    """The health.lua of one kind."""
    return LUA_TEMPLATE.substitute(
        header=_header(spec),
        ready_phase=lua_string(spec.ready_phase),
        suspended_phases=lua_table({p: lua_string(s.message) for p, s in spec.suspended.items()}),
        succeeded_phases=lua_table(dict.fromkeys(spec.succeeded, "true")),
        needs_a_person=lua_table(dict.fromkeys(spec.needs_a_person, "true"), multiline=True),
        paused=lua_string(ANNOTATION_PAUSED),
        paused_message=lua_string(f"Reconciling is paused (annotation {ANNOTATION_PAUSED}=true)"),
        deleting=lua_string(DELETING),
        failed=lua_string(FAILED),
    )


ARGOCD_CM_HEADER = """\
# Health checks for vast-operator's kinds, to MERGE into ArgoCD's argocd-cm ConfigMap
# (do not `kubectl apply` this over an existing argocd-cm: it would drop your other settings):
#
#   kubectl -n argocd patch configmap argocd-cm --type merge \\
#     --patch-file deploy/argocd/argocd-cm.yaml
#
# Each value is a byte-for-byte copy of deploy/argocd/health/vast.ai/<Kind>/health.lua. Both
# are generated by `vast-operator crds --write` (`make crds`) from
# operator/vast_operator/api/healthgen.py: do not edit. With the argo-cd Helm chart, put the
# same keys under configs.cm.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
"""


def render_argocd_cm(scripts: Mapping[str, str] | None = None) -> str:
    """The argocd-cm snippet: the header plus each kind's script as a block scalar.

    `scripts` maps kind to Lua text; by default each kind's `render_lua`.
    """
    if scripts is None:
        scripts = {spec.kind: render_lua(spec) for spec in KINDS}
    out = [ARGOCD_CM_HEADER]
    for kind, lua in scripts.items():
        out.append(f"  {cm_key(kind)}: |\n")
        out.extend((f"    {line}" if line else "") + "\n" for line in lua.splitlines())
    return "".join(out)


def expected_files(root: Path) -> dict[Path, str]:
    argocd = root / "deploy" / "argocd"
    files = {
        argocd / "health" / GROUP / spec.kind / "health.lua": render_lua(spec) for spec in KINDS
    }
    files[argocd / "argocd-cm.yaml"] = render_argocd_cm()
    return files


def write_all(root: Path) -> list[Path]:
    written = []
    for path, text in expected_files(root).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written
