"""The CRDs in deploy/ are generated from the models and must not drift from them."""

from __future__ import annotations

from pathlib import Path

import yaml

from vast_operator.api import crdgen

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_crds_match_the_models() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in crdgen.expected_files(ROOT).items()
        if not path.exists() or path.read_text() != text
    ]
    assert stale == [], f"run `make crds`; stale: {stale}"


def _walk(node: object, path: str = "") -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    found = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            found.extend(_walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_walk(value, f"{path}[{i}]"))
    return found


def test_schemas_are_structural_and_documented() -> None:
    for crd in crdgen.all_crds():
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        spec = schema["properties"]["spec"]
        assert "x-kubernetes-preserve-unknown-fields" not in spec
        for path, node in _walk(spec):
            assert "$ref" not in node and "anyOf" not in node, path
            if "properties" in node:
                assert "additionalProperties" not in node, path
                for name, prop in node["properties"].items():
                    assert prop.get("description"), f"{path}.{name} has no description"
                    assert "type" in prop, f"{path}.{name} has no type"


def test_every_kind_is_in_the_vast_category_with_status_subresource() -> None:
    for crd in crdgen.all_crds():
        assert crd["spec"]["names"]["categories"] == ["vast"]
        version = crd["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        assert crd["spec"]["names"]["shortNames"]


def test_helm_template_is_the_same_crd_behind_a_switch() -> None:
    for path, text in crdgen.expected_files(ROOT).items():
        if "helm" not in str(path):
            continue
        assert text.startswith("{{- if .Values.crds.enabled }}")
        assert "helm.sh/resource-policy: keep" in text
        plain = "\n".join(
            line for line in text.splitlines() if "{{" not in line and "resource-policy" not in line
        )
        plain = plain.replace("  annotations:\n", "")
        doc = yaml.safe_load(plain)
        name = path.name
        expected = yaml.safe_load((ROOT / "deploy" / "crds" / name).read_text())
        assert doc == expected


def test_instance_names_users_rely_on_exist() -> None:
    crd = crdgen.crd_for(crdgen.KINDS[0])
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]["properties"]
    status = schema["properties"]["status"]["properties"]
    for name in (
        "offer",
        "maxPricePerHour",
        "image",
        "disk",
        "env",
        "onstart",
        "ports",
        "sshKeys",
        "state",
        "deletionPolicy",
        "credentialsRef",
        "writeConnectionSecretToRef",
    ):
        assert name in spec, name
    assert {"gpuName", "numGpus"} <= set(spec["offer"]["properties"]["query"]["properties"])
    assert "offerId" in spec["offer"]["properties"]
    assert spec["state"]["enum"] == ["Running", "Stopped"]
    assert spec["deletionPolicy"]["enum"] == ["Delete", "Orphan"]
    for name in (
        "phase",
        "instanceId",
        "sshHost",
        "sshPort",
        "pricePerHour",
        "conditions",
        "observedGeneration",
    ):
        assert name in status, name
