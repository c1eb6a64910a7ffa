"""Who is calling: the API key of a request, and the account (or instance) it belongs to.

Vast takes the key as `Authorization: Bearer KEY` (what the vastai CLI sends) or as the
documented `?api_key=` query parameter. A bare `Authorization: KEY` is accepted only when the
`bearer_only` strict feature is relaxed; otherwise such a request counts as not logged in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from vast_sim.errors import vast_error

if TYPE_CHECKING:
    from vast_sim.app import Call

# auth modes: "required" (an account key), "instance" (an account key or that instance's own
# key), "optional" (no key is fine, a wrong key is not), "none".
AUTH_MODES = frozenset({"required", "instance", "optional", "none"})


def credential(request: Request, bearer_only: bool = True) -> str | None:
    """The API key the request carries, if any."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        if not bearer_only:
            return header.strip()
    key = request.query_params.get("api_key")
    return key or None


def check_auth(call: Call, mode: str) -> None:
    """Set `call.owner` / `call.identity` from the key, or raise Vast's auth errors."""
    if mode == "none":
        return
    key = credential(call.request, call.sim.config.enforces("bearer_only"))
    if not key:
        if mode == "optional":
            return
        raise vast_error(403, "auth_error", "This action requires login.")
    account = call.world.account_for_key(key)
    if account is not None:
        call.owner = account.user_id
        call.identity = f"user:{account.user_id}"
        return
    if mode == "instance":
        raw_id = str(call.request.path_params.get("id"))
        inst = call.world.instance(int(raw_id)) if raw_id.isdigit() else None
        if inst is not None and inst.api_key == key:
            call.owner = inst.owner
            call.identity = f"instance:{inst.id}"
            return
    raise vast_error(404, "auth_error", "Invalid user key")
