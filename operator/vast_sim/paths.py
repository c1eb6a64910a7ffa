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
