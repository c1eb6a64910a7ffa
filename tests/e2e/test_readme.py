"""The README's demo and tour commands stay true: every `kubectl` command in those sections
names resource types the real API server knows, and a watch names exactly one type (a
category such as `vast` cannot be watched)."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from harness import ROOT

SECTIONS = ("### `make demo`", "## The test suite against another cluster")
RESOURCE_VERBS = {"get", "describe", "delete", "patch", "wait", "explain", "label", "annotate"}
FLAGS_WITH_VALUE = {"-n", "--namespace", "-o", "--output", "--type", "-p", "--patch", "-f",
                    "--field-selector", "-l", "--selector", "--for", "--kubeconfig"}  # fmt: skip


def readme_kubectl_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    start, end = (text.index(marker) for marker in SECTIONS)
    blocks = re.findall(r"```sh\n(.*?)```", text[start:end], re.DOTALL)
    commands = []
    for block in blocks:
        for raw in block.splitlines():
            line = raw.strip()
            if line.startswith("kubectl "):
                commands.append(line.split(" | ")[0])
    return commands


def known_types(cluster: Any) -> tuple[set[str], set[str]]:
    """(every name a type can be given by, every category) from the API's discovery."""
    names: set[str] = set()
    categories: set[str] = set()
    groups = ["/api/v1"]
    listing = json.loads(cluster.kubectl("get", "--raw", "/apis").stdout)
    groups += [f"/apis/{g['preferredVersion']['groupVersion']}" for g in listing["groups"]]
    for path in groups:
        for res in json.loads(cluster.kubectl("get", "--raw", path).stdout)["resources"]:
            if "/" in res["name"]:
                continue
            group = path.split("/")[2] if path.startswith("/apis/") else ""
            for name in (res["name"], res.get("singularName"), *res.get("shortNames", [])):
                if name:
                    names.update({name, f"{name}.{group}" if group else name})
            names.add(res["kind"].lower())
            categories.update(res.get("categories", []))
    return names, categories


def resource_arg(tokens: list[str]) -> str | None:
    """The resource argument of `kubectl VERB RESOURCE ...`, or None for other verbs."""
    rest = tokens[1:]
    words: list[str] = []
    skip = False
    for token in rest:
        if skip:
            skip = False
            continue
        if token in FLAGS_WITH_VALUE:
            skip = True
        elif not token.startswith("-"):
            words.append(token)
    if not words or words[0] not in RESOURCE_VERBS or len(words) < 2:
        return None
    return words[1]


def test_every_readme_kubectl_command_names_real_types(cluster: Any, crds: None) -> None:
    commands = readme_kubectl_commands()
    assert len(commands) >= 8, commands  # the sections are where we think they are
    names, categories = known_types(cluster)
    checked = 0
    for command in commands:
        tokens = shlex.split(command, comments=True)
        resource = resource_arg(tokens)
        if resource is None:
            continue
        types = [part.split("/")[0] for part in resource.split(",")]
        for kind in types:
            assert kind in names or kind in categories, f"unknown type {kind!r} in: {command}"
        if "-w" in tokens or "--watch" in tokens:
            assert len(types) == 1 and types[0] not in categories, (
                f"kubectl cannot watch a category or several types: {command}"
            )
        checked += 1
    assert checked >= 6


def test_the_check_catches_the_watch_of_a_category(cluster: Any, crds: None) -> None:
    names, categories = known_types(cluster)
    tokens = shlex.split("kubectl -n tour get vast -w")
    resource = resource_arg(tokens)
    assert resource == "vast" and resource in categories and resource not in names
