"""Generate the CustomResourceDefinitions from the pydantic models.

pydantic writes JSON Schema 2020-12; the API server wants a structural OpenAPI v3.0 schema. The
conversion inlines `$ref`s, turns `X | None` into plain optional `X`, rewrites numeric
exclusive bounds into the v3.0 boolean form, drops titles and defaults of `None`, and adds the
CEL rules and list semantics each kind declares.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pydantic import BaseModel

from . import endpoint, instance, volume
from .common import CATEGORY, GROUP, VERSION

Schema = dict[str, Any]


@dataclass(frozen=True)
class KindInfo:
    module: ModuleType
    spec_model: type[BaseModel]
    status_model: type[BaseModel]
    description: str
    list_map_keys: dict[str, list[str]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.module.KIND)

    @property
    def plural(self) -> str:
        return str(self.module.PLURAL)


KINDS = [
    KindInfo(
        instance,
        instance.VastInstanceSpec,
        instance.VastInstanceStatus,
        "A Vast.ai GPU instance rented and kept running by vast-operator.",
    ),
    KindInfo(
        volume,
        volume.VastVolumeSpec,
        volume.VastVolumeStatus,
        "A Vast.ai local volume, tied to one machine, managed by vast-operator.",
    ),
    KindInfo(
        endpoint,
        endpoint.VastEndpointSpec,
        endpoint.VastEndpointStatus,
        "A Vast.ai serverless endpoint and its workergroups, managed by vast-operator.",
        list_map_keys=endpoint.LIST_MAP_KEYS,
    ),
]

_DROP_KEYS = {"title", "$defs", "discriminator"}


def _resolve(node: Any, defs: dict[str, Schema]) -> Any:
    if isinstance(node, list):
        return [_resolve(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        extra = {k: v for k, v in node.items() if k != "$ref"}
        target.update(extra)
        return _resolve(target, defs)
    return {k: _resolve(v, defs) for k, v in node.items()}


def _structural(node: Any) -> Any:
    """Rewrite one resolved JSON Schema node into structural OpenAPI v3.0."""
    if isinstance(node, list):
        return [_structural(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    any_of = node.pop("anyOf", None)
    if any_of is not None:
        non_null = [s for s in any_of if s.get("type") != "null"]
        if len(non_null) != 1:
            raise ValueError(f"cannot express union in a structural schema: {any_of}")
        merged = dict(non_null[0])
        merged.update(node)
        node = merged
    if node.get("default", 0) is None:
        del node["default"]
    if "default" in node and isinstance(node["default"], str | int | float | bool):
        # `kubectl explain` prints descriptions, not defaults: say it in words too.
        shown = (
            str(node["default"]).lower() if isinstance(node["default"], bool) else node["default"]
        )
        text = str(node.get("description") or "").rstrip()
        if "Default:" not in text:
            node["description"] = f"{text} Default: {shown}.".strip()
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if key in node and not isinstance(node[key], bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            node[bound] = node[key]
            node[key] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    out: Schema = {}
    for key, value in node.items():
        if key in _DROP_KEYS:
            continue
        if key == "properties":
            out[key] = {name: _structural(sub) for name, sub in value.items()}
        elif key == "additionalProperties" and value is False:
            continue  # unknown fields are refused by the API server's strict field validation
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _structural(value)
        else:
            out[key] = value
    if (
        out.get("type") == "object"
        and "properties" not in out
        and "additionalProperties" not in out
    ):
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def model_schema(model: type[BaseModel]) -> Schema:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    resolved = _resolve(raw, defs)
    result = _structural(resolved)
    assert isinstance(result, dict)
    return result


def _at(schema: Schema, path: str) -> Schema:
    """Find the sub-schema at a dotted path; `item` steps into a list's items."""
    node = schema
    for part in path.split("."):
        node = node["items"] if part == "item" else node["properties"][part]
    return node


def _spec_schema(info: KindInfo) -> Schema:
    schema = model_schema(info.spec_model)
    module = info.module
    spec_rules = list(getattr(module, "SPEC_VALIDATIONS", []))
    if spec_rules:
        schema["x-kubernetes-validations"] = spec_rules
    for path, rules in getattr(module, "FIELD_VALIDATIONS", {}).items():
        _at(schema, path).setdefault("x-kubernetes-validations", []).extend(rules)
    for path, keys in info.list_map_keys.items():
        target = _at(schema, path)
        target["x-kubernetes-list-type"] = "map"
        target["x-kubernetes-list-map-keys"] = keys
    return schema


def _status_schema(info: KindInfo) -> Schema:
    schema = model_schema(info.status_model)
    conditions = schema["properties"].get("conditions")
    if conditions is not None:
        conditions["x-kubernetes-list-type"] = "map"
        conditions["x-kubernetes-list-map-keys"] = ["type"]
    return schema


def crd_for(info: KindInfo) -> Schema:
    module = info.module
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{info.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "vast-operator"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": module.SINGULAR,
                "shortNames": list(module.SHORT_NAMES),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(module.PRINTER_COLUMNS),
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": info.description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": _spec_schema(info),
                                "status": _status_schema(info),
                            },
                        }
                    },
                }
            ],
        },
    }


def all_crds() -> list[Schema]:
    return [crd_for(info) for info in KINDS]


def render_yaml(crd: Schema) -> str:
    header = "# Generated by `vast-operator crds --write` from vast_operator.api. Do not edit.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=100)


HELM_HEADER = (
    "{{- if .Values.crds.enabled }}\n"
    "# Generated by `vast-operator crds --write` from vast_operator.api. Do not edit.\n"
)


def render_helm(crd: Schema) -> str:
    """The chart's template: the same CRD, behind crds.enabled, kept on uninstall if asked."""
    body = yaml.safe_dump(crd, sort_keys=False, width=100)
    marker = "  labels:\n"
    annotations = (
        "  annotations:\n"
        "    {{- if .Values.crds.keep }}\n"
        "    helm.sh/resource-policy: keep\n"
        "    {{- end }}\n"
        "    {{- with .Values.crds.annotations }}\n"
        "    {{- toYaml . | nindent 4 }}\n"
        "    {{- end }}\n"
    )
    body = body.replace(marker, annotations + marker, 1)
    return HELM_HEADER + body + "{{- end }}\n"


def expected_files(root: Path) -> dict[Path, str]:
    files: dict[Path, str] = {}
    for info, crd in zip(KINDS, all_crds(), strict=True):
        name = f"{GROUP}_{info.plural}.yaml"
        files[root / "deploy" / "crds" / name] = render_yaml(crd)
        helm_dir = root / "deploy" / "helm" / "vast-operator" / "templates" / "crds"
        files[helm_dir / name] = render_helm(crd)
    return files


def write_all(root: Path) -> list[Path]:
    written = []
    for path, text in expected_files(root).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written
