"""Docker-option strings ("-e A=b -p 8000:8000 -v V.12:/mnt") as Vast reads them.

Same rules as the vastai CLI's `parse_env`, used when a create body or a template carries `env`
as a string instead of the dict form.
"""

from __future__ import annotations

_PORT_CHARS = set("0123456789:tcp/udp")
_VOLUME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:./_")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


def smart_split(text: str, sep: str = " ") -> list[str]:
    """Split on `sep` outside single or double quotes (quotes are kept)."""
    parts: list[str] = []
    current: list[str] = []
    in_double = in_single = False
    for ch in text:
        if ch == sep and not (in_double or in_single):
            parts.append("".join(current))
            current = []
            continue
        if ch == "'":
            in_single = not in_single
        elif ch == '"':
            in_double = not in_double
        current.append(ch)
    parts.append("".join(current))
    return parts


def parse_env(options: str | None) -> dict[str, str]:
    """'-e TZ=UTC -p 8000:8000' -> {"TZ": "UTC", "-p 8000:8000": "1"}."""
    result: dict[str, str] = {}
    if not options:
        return result
    prev: str | None = None
    for token in smart_split(options, " "):
        if prev is None:
            if token in ("-e", "-p", "-h", "-v", "-n"):
                prev = token
            continue
        if prev == "-p":
            if set(token) <= _PORT_CHARS:
                result["-p " + token] = "1"
        elif prev == "-e":
            key, sep, value = token.partition("=")
            if sep:
                result[key] = value.strip("'\"")
        elif prev == "-v":
            if set(token) <= _VOLUME_CHARS:
                result["-v " + token] = "1"
        elif prev == "-n":
            if set(token) <= _NAME_CHARS:
                result["-n " + token] = "1"
        else:
            result[prev] = token
        prev = None
    return result
