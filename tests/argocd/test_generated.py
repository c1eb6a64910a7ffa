"""The ArgoCD health checks in deploy/argocd are generated and must not drift from the generator.

operator/vast_operator/api/healthgen.py renders every kind's health.lua, and argocd-cm.yaml,
from one Lua template; `make crds` (`vast-operator crds --write`) writes them.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import pytest

from vast_operator.api import crdgen, healthgen
from vast_operator.reconcile.conditions import Reason

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_health_checks_match_the_generator() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in healthgen.expected_files(ROOT).items()
        if not path.exists() or path.read_text() != text
    ]
    assert stale == [], f"run `make crds`; stale: {stale}"


def test_every_kind_has_a_health_check() -> None:
    assert [k.kind for k in healthgen.KINDS] == [k.kind for k in crdgen.KINDS]


def test_degraded_reasons_are_reasons_the_operator_writes() -> None:
    reasons = {str(getattr(Reason, name)) for name in dir(Reason) if name.isupper()}
    for spec in healthgen.KINDS:
        assert set(spec.needs_a_person) <= reasons, spec.kind


def test_a_phase_the_model_does_not_have_is_refused() -> None:
    class Phase(StrEnum):
        PENDING = "Pending"
        UP = "Up"
        FAILED = "Failed"
        DELETING = "Deleting"

    assert healthgen.KindHealth("X", Phase, ready_phase="Up").progressing_phases == ["Pending"]
    with pytest.raises(ValueError, match="Running"):
        healthgen.KindHealth("X", Phase, ready_phase="Running")
    with pytest.raises(ValueError, match="Stopped"):
        healthgen.KindHealth(
            "X",
            Phase,
            ready_phase="Up",
            suspended={"Stopped": healthgen.SuspendedPhase("", "", "")},
        )


def test_lua_literals_refuse_what_they_cannot_quote() -> None:
    assert healthgen.lua_string("a b") == '"a b"'
    assert healthgen.lua_table({}) == "{}"
    with pytest.raises(ValueError):
        healthgen.lua_string('say "hi"')
    with pytest.raises(ValueError):
        healthgen.lua_table({"not-a-name": "true"})
