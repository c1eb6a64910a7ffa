"""Timestamps as status stores them: RFC 3339 strings, compared with listing start times."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: float) -> str:
    """RFC 3339 with microseconds: these stamps are compared with listing start times."""
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
