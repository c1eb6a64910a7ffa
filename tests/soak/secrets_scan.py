"""Every API key the soak used must appear nowhere but in the Authorization header of the
requests the operator sent: not in operator logs, events, statuses, metrics, nor anywhere else in
a request (path, query, other headers, body)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def _find(keys: Iterable[str], text: str, where: str) -> list[str]:
    return [f"{where}: key {key[:8]}... found" for key in keys if key and key in text]


def scan_request_log(keys: list[str], path: Path) -> tuple[list[str], int]:
    """(findings, requests scanned). A key may only be the Bearer token of Authorization."""
    findings: list[str] = []
    count = 0
    if not path.exists():
        return [f"{path}: no request log"], 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a restart
            count += 1
            where = f"request {entry.get('method')} {entry.get('path')}"
            rest = dict(entry)
            headers = [h for h in rest.pop("headers", []) if h[0].lower() != "authorization"]
            rest["headers"] = headers
            findings += _find(keys, json.dumps(rest), where)
    return findings, count


def scan_texts(keys: list[str], texts: Iterable[tuple[str, str]]) -> list[str]:
    findings: list[str] = []
    for where, text in texts:
        findings += _find(keys, text, where)
    return findings


def scan_all(
    keys: list[str],
    logs: list[Path],
    events: list[dict[str, Any]],
    objects: list[dict[str, Any]],
    metrics: list[str],
    request_log: Path,
) -> dict[str, Any]:
    texts: list[tuple[str, str]] = [
        (str(p), p.read_text(errors="replace")) for p in logs if p.exists()
    ]
    texts += [
        ("events", json.dumps(events)),
        ("statuses", json.dumps([o.get("status") for o in objects])),
    ]
    texts += [(f"metrics #{i}", m) for i, m in enumerate(metrics)]
    findings = scan_texts(keys, texts)
    request_findings, requests = scan_request_log(keys, request_log)
    return {
        "keys": len(keys),
        "findings": findings + request_findings[:50],
        "requests_scanned": requests,
        "sources": [w for w, _ in texts] + [str(request_log)],
    }
