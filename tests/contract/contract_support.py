"""Vast's OpenAPI facts (the pinned copy beside this file) as validators for requests and
responses (a module name unique in the whole suite).

`operation(method, path)` finds the documented operation of a concrete request path: the
template matches segment by segment ({param} matches anything, most literal template first),
and a trailing slash that differs is tolerated (the CLI and the documents disagree on several
routes; the simulator accepts both unless --redirect-slashes). The OpenAPI 3.0 schemas become
JSON Schema (Draft 4) by resolving `$ref`s and turning `nullable: true` into a `null` type.

Every departure from a document is declared in one of the tables of the test modules, each
with the side we follow and why; nothing is skipped silently.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema

FACTS_PATH = Path(__file__).with_name("vast-openapi-facts.json")
METHODS = ("get", "post", "put", "delete", "patch")

# Routes served under another path than the document's (path prefix -> documented prefix).
PATH_ALIASES = {
    # The vastai CLI (and the operator, following it) uses /autojobs/; the documents and the
    # serverless client use /workergroups/. the vastai 1.9.1 CLI: both are live.
    "/api/v0/autojobs/": "/api/v0/workergroups/",
}
# Where several documents describe one route, the one whose schemas we check against.
PRIMARY_DOCUMENT = {("put", "/api/v0/instances/{id}/"): "manage_instance"}


class ContractError(AssertionError):
    """A request or response that breaks its documented schema."""


@dataclass(frozen=True)
class Operation:
    document: str
    method: str
    template: str
    spec: dict[str, Any]
    components: dict[str, Any]

    @property
    def route(self) -> str:
        return f"{self.method.upper()} {self.template}"


@cache
def facts() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FACTS_PATH.read_text())
    return data


@cache
def operations() -> tuple[Operation, ...]:
    found: list[Operation] = []
    for name, doc in sorted(facts().items()):
        components = doc.get("components") or {}
        for template, methods in doc["paths"].items():
            for method, spec in methods.items():
                if method in METHODS:
                    found.append(Operation(name, method, template, spec, components))
    return tuple(found)


def segments(path: str) -> list[str]:
    return [s for s in path.strip("/").split("/") if s]


def _literal_count(template: str) -> int:
    return sum(not s.startswith("{") for s in segments(template))


def documented_path(path: str) -> str:
    for alias, documented in PATH_ALIASES.items():
        if path.startswith(alias):
            return documented + path[len(alias) :]
        if path.rstrip("/") == alias.rstrip("/"):
            return documented
    return path


def operation(method: str, path: str) -> Operation | None:
    """The documented operation of `METHOD path` (a concrete path, no query), or None."""
    wanted = segments(documented_path(path))
    candidates = [
        op
        for op in operations()
        if op.method == method.lower()
        and len(segments(op.template)) == len(wanted)
        and all(
            t.startswith("{") or t == w for t, w in zip(segments(op.template), wanted, strict=True)
        )
    ]
    if not candidates:
        return None
    best = max(_literal_count(op.template) for op in candidates)
    candidates = [op for op in candidates if _literal_count(op.template) == best]
    primary = PRIMARY_DOCUMENT.get((method.lower(), candidates[0].template))
    for op in candidates:
        if op.document == primary:
            return op
    return candidates[0]


def path_params(op: Operation, path: str) -> dict[str, str]:
    wanted = segments(documented_path(path))
    return {
        t.strip("{}"): w
        for t, w in zip(segments(op.template), wanted, strict=True)
        if t.startswith("{")
    }


# --- OpenAPI 3.0 schema -> JSON Schema -------------------------------------------------------


def json_schema(schema: Any, components: dict[str, Any]) -> Any:
    """`$ref`s resolved, `nullable` turned into a null type; everything else as written."""
    if isinstance(schema, list):
        return [json_schema(item, components) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        ref = str(schema["$ref"])
        if not ref.startswith("#/components/"):
            raise ContractError(f"unsupported $ref {ref}")
        target: Any = components
        for part in ref.removeprefix("#/components/").split("/"):
            target = target[part]
        return json_schema(copy.deepcopy(target), components)
    out = {k: json_schema(v, components) for k, v in schema.items() if k != "example"}
    if out.pop("nullable", False):
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def check(instance: Any, schema: Any, what: str) -> None:
    """Raise ContractError listing every violation of `schema` by `instance`."""
    validator = jsonschema.Draft4Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [
            f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}"
            for e in errors[:10]
        ]
        raise ContractError(f"{what} breaks its documented schema:\n" + "\n".join(lines))


# --- responses -------------------------------------------------------------------------------


def response_schema(op: Operation, status: int) -> tuple[str, dict[str, Any]] | None:
    """(content type, JSON schema) documented for `status`, or None when the status has no
    documented content; ContractError when the status is not documented at all."""
    responses = op.spec.get("responses") or {}
    entry = responses.get(str(status), responses.get("default"))
    if entry is None:
        raise ContractError(
            f"{op.route} ({op.document}) answered {status}, which is not documented "
            f"(documented: {sorted(responses)})"
        )
    content = entry.get("content") or {}
    if not content:
        return None
    content_type, media = next(iter(content.items()))
    schema = media.get("schema")
    if schema is None:
        return None
    return content_type, json_schema(schema, op.components)


SchemaFix = Callable[[dict[str, Any]], dict[str, Any]]


def check_response(
    op: Operation,
    status: int,
    content_type: str,
    body: bytes,
    fix: SchemaFix | None = None,
) -> None:
    """The answer against the documented schema of its status (after `fix`, a declared
    deviation, when given)."""
    documented = response_schema(op, status)
    if documented is None:
        return
    wanted_type, schema = documented
    if fix is not None:
        schema = fix(copy.deepcopy(schema))
    what = f"{op.route} {status} answer"
    if wanted_type == "application/json":
        if not content_type.startswith("application/json"):
            raise ContractError(f"{what} is {content_type!r}, documented as JSON")
        check(json.loads(body), schema, what)


# --- requests --------------------------------------------------------------------------------


def _typed(value: str, schema: dict[str, Any]) -> Any:
    """A query / path value in the type its parameter schema names (JSON-encoded objects too)."""
    kind = schema.get("type")
    if kind in ("object", "array"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            return value
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value.lower(), value)
    return value


@dataclass(frozen=True)
class RequestDeviation:
    """How a request departs from its document, and why: query parameters and top-level body
    keys the document does not name, and an edit of the documented body schema."""

    why: str
    query: frozenset[str] = frozenset()
    body: frozenset[str] = frozenset()
    fix: SchemaFix | None = None


NO_DEVIATION = RequestDeviation(why="")


def check_request(
    op: Operation, url: str, body: bytes, deviation: RequestDeviation = NO_DEVIATION
) -> None:
    """The request's path, query and JSON body against the documented parameters and body.

    Query parameters and top-level body keys that the document does not name are violations
    unless the deviation declares them; so is a body on a route that documents none."""
    what = f"{op.route} request"
    parts = urlsplit(url)
    params = {p.get("name"): p for p in op.spec.get("parameters") or []}
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, param in params.items():
        where = param.get("in")
        schema = json_schema(param.get("schema") or {}, op.components)
        if where == "path":
            value = path_params(op, parts.path).get(str(name))
            if value is None:
                raise ContractError(f"{what}: no path parameter {name}")
            check(_typed(value, schema), schema, f"{what} path parameter {name}")
        elif where == "query":
            if name in query:
                check(_typed(query[name], schema), schema, f"{what} query parameter {name}")
            elif param.get("required"):
                raise ContractError(f"{what}: required query parameter {name} missing")
    documented_query = {n for n, p in params.items() if p.get("in") == "query"}
    undocumented = set(query) - documented_query - deviation.query
    if undocumented:
        raise ContractError(f"{what}: undocumented query parameters {sorted(undocumented)}")
    data = json.loads(body) if body.strip() else None
    request_body = op.spec.get("requestBody")
    if request_body is None:
        if isinstance(data, dict) and set(data) <= deviation.body:
            return
        if data not in (None, {}):
            raise ContractError(f"{what}: a body where none is documented")
        return
    schema = (request_body.get("content") or {}).get("application/json", {}).get("schema")
    if data is None:
        if request_body.get("required"):
            raise ContractError(f"{what}: the documented body is required")
        return
    if schema is None:
        return
    schema = json_schema(schema, op.components)
    if deviation.fix is not None:
        schema = deviation.fix(copy.deepcopy(schema))
    check(data, schema, f"{what} body")
    documented_keys = set((schema.get("properties") or {}).keys())
    if isinstance(data, dict) and documented_keys:
        unknown = set(data) - documented_keys - deviation.body
        if unknown:
            raise ContractError(f"{what}: undocumented body keys {sorted(unknown)}")


# --- declared deviations: schema edits ---------------------------------------------------------


def edit_properties(schema: Any, edits: dict[str, SchemaFix]) -> Any:
    """`schema` with every property named in `edits` (at any depth) replaced by its edit."""
    if isinstance(schema, list):
        return [edit_properties(item, edits) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: edit_properties(v, edits) for k, v in schema.items()}
    properties = out.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {
            name: edits[name](sub) if name in edits else sub for name, sub in properties.items()
        }
    return out


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema = {**schema, "type": [kind, "null"]}
    if "enum" in schema:
        schema = {**schema, "enum": [*schema["enum"], None]}
    return schema


def typed(kind: str | list[str]) -> SchemaFix:
    return lambda schema: {k: v for k, v in schema.items() if k != "format"} | {"type": kind}


def at(path: str, edit: SchemaFix) -> SchemaFix:
    """Apply `edit` to the sub-schema at a dotted property path ("instances.ports")."""

    def fix(schema: dict[str, Any]) -> dict[str, Any]:
        name, _, rest = path.partition(".")
        props = schema.setdefault("properties", {})
        props[name] = at(rest, edit)(props.get(name, {})) if rest else edit(props.get(name, {}))
        return schema

    return fix


def not_required(*names: str) -> SchemaFix:
    def fix(schema: dict[str, Any]) -> dict[str, Any]:
        required = [n for n in schema.get("required", []) if n not in names]
        schema = {k: v for k, v in schema.items() if k != "required"}
        return {**schema, "required": required} if required else schema

    return fix


def chain(*fixes: SchemaFix) -> SchemaFix:
    def fix(schema: dict[str, Any]) -> dict[str, Any]:
        for one in fixes:
            schema = one(schema)
        return schema

    return fix
