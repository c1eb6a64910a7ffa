"""The error the Vast API answers with: an HTTP status and a JSON body."""

from __future__ import annotations

from typing import Any

from vast_sim.models import JSONDict


class VastError(Exception):
    """Raised anywhere in the simulator to answer a request with `status` and `body`."""

    def __init__(self, status: int, body: JSONDict) -> None:
        super().__init__(body.get("msg") or body.get("error") or str(status))
        self.status = status
        self.body = body


def vast_error(status: int, error: str | None, msg: str, **extra: Any) -> VastError:
    """`{"success": false, "error": error, "msg": msg, **extra}` with `status`."""
    body: JSONDict = {"success": False}
    if error is not None:
        body["error"] = error
    body["msg"] = msg
    body.update(extra)
    return VastError(status, body)
