"""Templates (`/api/v0/template/`): the private template a serverless workergroup runs."""

from __future__ import annotations

from typing import Any

from ..errors import CreateOutcomeUnknownError, NotFoundError
from .transport import Transport, _field, _Mode

__all__ = ["TemplatesAPI"]


class TemplatesAPI(Transport):
    """Create and delete templates."""

    async def create_template(self, image: str, name: str) -> str:
        """`POST /api/v0/template/`: a private template that runs `image`; returns its hash_id.

        The image's own entrypoint runs (runtype `args`), as serverless worker images expect;
        a `repo:tag` image is sent as Vast's separate `image` and `tag`.
        """
        route = "POST /api/v0/template/"
        repo, tag = image, None
        if "@" not in image and ":" in image.rsplit("/", 1)[-1]:
            repo, tag = image.rsplit(":", 1)
        body: dict[str, Any] = {
            "name": name,
            "image": repo,
            "tag": tag,
            "env": "",
            "onstart": None,
            "runtype": "args",
            "use_ssh": False,
            "ssh_direct": False,
            "jup_direct": False,
            "private": True,
            "readme_visible": False,
            "desc": "created by vast-operator for a VastEndpoint workergroup",
        }
        data = await self._request("POST", "/api/v0/template/", _Mode.CREATE, body=body)
        template = _field(data, "template")
        hash_id = _field(template, "hash_id")
        if not isinstance(hash_id, str) or not hash_id:
            raise CreateOutcomeUnknownError(
                "template created without a hash_id in the answer", status=200, route=route
            )
        return hash_id

    async def delete_template(self, hash_id: str, *, missing_ok: bool = True) -> None:
        """`DELETE /api/v0/template/` with `{"hash_id": ...}`."""
        try:
            await self._request(
                "DELETE", "/api/v0/template/", _Mode.SAFE, body={"hash_id": hash_id}
            )
        except NotFoundError:
            if not missing_ok:
                raise
