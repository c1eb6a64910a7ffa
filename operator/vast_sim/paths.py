"""Canonical request paths: one spelling per Vast route for routing, counters and faults.

The real API is reached with and without trailing slashes and (for most routes) under both
/api/v0 and /api/v1. The simulator rewrites every request path to the canonical form before
routing: trailing slash added, /api/v1 folded into /api/v0 except for the routes that only
exist in v1 (the paginated instance list).
"""

from __future__ import annotations

V1_ROUTES = frozenset({"/api/v1/instances/"})
ADMIN_PREFIX = "/_sim/"


def canonical_path(path: str) -> str:
    if path.startswith(ADMIN_PREFIX) or path == ADMIN_PREFIX.rstrip("/"):
        return path
    canonical = path if path.endswith("/") else path + "/"
    if canonical.startswith("/api/v1/") and canonical not in V1_ROUTES:
        canonical = "/api/v0/" + canonical[len("/api/v1/") :]
    return canonical


def canonical_route(route: str) -> str:
    """'put /asks/{id}' -> 'PUT /api/v0/asks/{id}/'; '*' stays '*'."""
    route = route.strip()
    if route == "*":
        return route
    method, _, path = route.partition(" ")
    path = path.strip()
    if not path:
        raise ValueError(f"route must look like 'METHOD /path', got {route!r}")
    if not path.startswith("/"):
        path = "/" + path
    if not path.startswith("/api/") and path.rstrip("/") not in ("/route", "/get_endpoint_workers"):
        path = "/api/v0" + path
    return f"{method.strip().upper()} {canonical_path(path)}"


# The path of every route the simulator serves that Vast's OpenAPI documents describe, exactly
# as the document writes it (tests/contract checks this list against the documents). With
# --redirect-slashes a request whose trailing slash differs is redirected to this form.
DOCUMENTED_PATHS: tuple[str, ...] = (
    "/api/v0/bundles/",
    "/api/v0/asks/{id}/",
    "/api/v0/launch_instance/",
    "/api/v1/instances/",
    "/api/v0/instances/{id}/",
    "/api/v0/instances/reboot/{id}/",
    "/api/v0/instances/recycle/{id}/",
    "/api/v0/instances/bid_price/{id}/",
    "/api/v0/instances/request_logs/{id}",
    "/api/v0/instances/command/{id}/",
    "/api/v0/instances/{id}/ssh/",
    "/api/v0/instances/{id}/ssh/{ssh_key_id}/",
    "/api/v0/ssh/",
    "/api/v0/ssh/{id}/",
    "/api/v0/volumes/",
    "/api/v0/volumes/search/",
    "/api/v0/endptjobs/",
    "/api/v0/endptjobs/{id}/",
    "/api/v0/workergroups/",
    "/api/v0/workergroups/{id}/",
    "/api/v0/template/",
    "/api/v0/secrets/",
    "/api/v0/users/current/",
    "/route/",
    "/get_endpoint_workers/",
)


def _segments(path: str) -> list[str]:
    return [s for s in path.strip("/").split("/") if s]


def _match(template: list[str], path: list[str]) -> bool:
    if len(template) != len(path):
        return False
    return all(t.startswith("{") or t == p for t, p in zip(template, path, strict=True))


# Most literal segments first, so "/instances/request_logs/{id}" wins over "/instances/{id}/".
_DOCUMENTED = sorted(
    ((_segments(p), p.endswith("/")) for p in DOCUMENTED_PATHS),
    key=lambda item: -sum(not s.startswith("{") for s in item[0]),
)


def documented_form(path: str) -> str | None:
    """The documented spelling of `path` when only its trailing slash differs, else None."""
    if path.startswith(ADMIN_PREFIX):
        return None
    segments = _segments(path)
    for template, slash in _DOCUMENTED:
        if _match(template, segments):
            wanted = "/" + "/".join(segments) + ("/" if slash else "")
            return None if wanted == path else wanted
    return None
