"""Serverless endpoints (`/api/v0/endptjobs/`) and workergroups (`/api/v0/autojobs/`)."""

from __future__ import annotations

import re

from ..errors import NotFoundError, PermanentError
from ..models import Endpoint, EndpointSpec, Workergroup, WorkergroupRequest
from .transport import Transport, _created_id, _Mode, _required

__all__ = ["EndpointsAPI"]

_NO_ENDPOINTS = re.compile(r"no endpoints? .*found|no workergroups? .*found", re.IGNORECASE)
# How Vast says the endpoint to delete is not there: `400 {"error": "invalid_args", "msg":
# "Routegroup not found for user"}` (docs, delete_endpoint), also as a 200 with "success": false
# (the shape the CLI's `show_endpoints` handles); a 404 counts too.
_ENDPOINT_GONE = re.compile(
    r"(routegroup|endpoint ?group|endpoint|endptjob)s? not found|not found for user|no such",
    re.IGNORECASE,
)


class EndpointsAPI(Transport):
    """Serverless endpoints and their workergroups."""

    async def create_endpoint(self, spec: EndpointSpec) -> int:
        """`POST /api/v0/endptjobs/`; returns the endpoint id."""
        route = "POST /api/v0/endptjobs/"
        data = await self._request(
            "POST", "/api/v0/endptjobs/", _Mode.CREATE, body=spec.to_create_body()
        )
        return _created_id(data, ("result", "id"), route)

    async def list_endpoints(self) -> list[Endpoint]:
        """`GET /api/v0/endptjobs/` (an account without endpoints gets an empty list)."""
        try:
            data = await self._request("GET", "/api/v0/endptjobs/", _Mode.SAFE)
        except PermanentError as exc:
            if _NO_ENDPOINTS.search(exc.message):
                return []
            raise
        route = "GET /api/v0/endptjobs/"
        return self._rows(Endpoint, _required(data, "results", route), route)

    async def get_endpoint(self, endpoint_id: int) -> Endpoint | None:
        """`GET /api/v0/endptjobs/{id}/` → `{"result": {...}}`; None when it does not exist."""
        route = "GET /api/v0/endptjobs/{id}/"
        try:
            data = await self._request(
                "GET", "/api/v0/endptjobs/{id}/", _Mode.SAFE, ids={"id": endpoint_id}
            )
        except NotFoundError:
            return None
        row = _required(data, "result", route)
        if isinstance(row, list):
            row = next((r for r in row if isinstance(r, dict) and r.get("id") == endpoint_id), None)
        if not isinstance(row, dict):
            return None
        return self._model(Endpoint, row, route)

    async def update_endpoint(self, endpoint_id: int, spec: EndpointSpec) -> None:
        """`PUT /api/v0/endptjobs/{id}/` with the set fields of `spec`."""
        await self._request(
            "PUT",
            "/api/v0/endptjobs/{id}/",
            _Mode.SAFE,
            ids={"id": endpoint_id},
            body=spec.to_update_body(endpoint_id),
        )

    async def delete_endpoint(self, endpoint_id: int, *, missing_ok: bool = True) -> None:
        """`DELETE /api/v0/endptjobs/{id}/` (Vast deletes its workergroups too).

        With `missing_ok`, Vast's answers for an endpoint that is not there ("Routegroup not
        found for user", as a 400 or as a 200 with `success: false`, or a 404) are success;
        without it they raise `NotFoundError`. Confirm a deletion by listing endpoints.
        """
        try:
            await self._request(
                "DELETE",
                "/api/v0/endptjobs/{id}/",
                _Mode.SAFE,
                ids={"id": endpoint_id},
                body={"client_id": "me", "endptjob_id": int(endpoint_id)},
            )
        except NotFoundError:
            if not missing_ok:
                raise
        except PermanentError as exc:
            if not _ENDPOINT_GONE.search(exc.message):
                raise
            if not missing_ok:
                raise NotFoundError(
                    exc.message, status=exc.status, code=exc.code, route=exc.route
                ) from exc

    # --- workergroups (the CLI's `/autojobs/` routes) ----------------------------------------

    async def create_workergroup(self, request: WorkergroupRequest) -> int:
        """`POST /api/v0/autojobs/`; returns the workergroup id."""
        route = "POST /api/v0/autojobs/"
        data = await self._request(
            "POST", "/api/v0/autojobs/", _Mode.CREATE, body=request.to_create_body()
        )
        return _created_id(data, ("id", "result"), route)

    async def list_workergroups(self, *, endpoint_id: int | None = None) -> list[Workergroup]:
        """`GET /api/v0/autojobs/`, optionally only those of one endpoint."""
        try:
            data = await self._request("GET", "/api/v0/autojobs/", _Mode.SAFE)
        except PermanentError as exc:
            if _NO_ENDPOINTS.search(exc.message):
                return []
            raise
        groups = self._rows(
            Workergroup,
            _required(data, "results", "GET /api/v0/autojobs/"),
            "GET /api/v0/autojobs/",
        )
        if endpoint_id is not None:
            groups = [group for group in groups if group.endpoint_id == endpoint_id]
        return groups

    async def update_workergroup(self, workergroup_id: int, request: WorkergroupRequest) -> None:
        """`PUT /api/v0/autojobs/{id}/` with the set fields of `request`."""
        await self._request(
            "PUT",
            "/api/v0/autojobs/{id}/",
            _Mode.SAFE,
            ids={"id": workergroup_id},
            body=request.to_update_body(workergroup_id),
        )

    async def delete_workergroup(self, workergroup_id: int, *, missing_ok: bool = True) -> None:
        """`DELETE /api/v0/autojobs/{id}/`."""
        try:
            await self._request(
                "DELETE",
                "/api/v0/autojobs/{id}/",
                _Mode.SAFE,
                ids={"id": workergroup_id},
                body={"client_id": "me", "autojob_id": int(workergroup_id)},
            )
        except NotFoundError:
            if not missing_ok:
                raise
