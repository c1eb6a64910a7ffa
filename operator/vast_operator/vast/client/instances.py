"""Instances: list (every page), get, destroy, start/stop/label/reboot, bid, SSH keys."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pydantic import ValidationError

from ..errors import NotFoundError, UnexpectedResponseError
from ..models import Instance, InstanceSshKey, parse_ssh_keys
from .transport import Transport, _field, _Mode, _required

__all__ = ["MAX_PAGES", "MAX_PAGE_SIZE", "InstancesAPI"]

MAX_PAGE_SIZE = 25
MAX_PAGES = 10_000


class InstancesAPI(Transport):
    """The account's instances and the SSH keys attached to them."""

    async def iter_instance_pages(
        self,
        *,
        label: str | None = None,
        select_filters: Mapping[str, Mapping[str, Any]] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> AsyncIterator[list[Instance]]:
        """Yield pages of `GET /api/v1/instances/`, following `next_token`."""
        route = "GET /api/v1/instances/"
        filters: dict[str, Any] = {k: dict(v) for k, v in (select_filters or {}).items()}
        if label is not None:
            filters["label"] = {"in": [label]}
        params: dict[str, Any] = {"limit": max(1, min(MAX_PAGE_SIZE, page_size))}
        if filters:
            params["select_filters"] = json.dumps(filters, separators=(",", ":"))
        token: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page_params = dict(params)
            if token:
                page_params["after_token"] = token
            data = await self._request("GET", "/api/v1/instances/", _Mode.SAFE, params=page_params)
            yield self._rows(Instance, _required(data, "instances", route), route)
            next_token = data.get("next_token") if isinstance(data, dict) else None
            if not next_token:
                return
            token = str(next_token)
            if token in seen:
                raise UnexpectedResponseError("next_token repeats", status=200, route=route)
            seen.add(token)
        raise UnexpectedResponseError("too many pages", status=200, route=route)

    async def list_instances(
        self,
        *,
        label: str | None = None,
        select_filters: Mapping[str, Mapping[str, Any]] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> list[Instance]:
        """All instances of the account (optionally with `label`), every page, deduplicated."""
        by_id: dict[int, Instance] = {}
        async for page in self.iter_instance_pages(
            label=label, select_filters=select_filters, page_size=page_size
        ):
            for instance in page:
                by_id[instance.id] = instance
        return list(by_id.values())

    async def get_instance(self, instance_id: int) -> Instance | None:
        """`GET /api/v0/instances/{id}/?owner=me`; None when Vast no longer knows it."""
        route = "GET /api/v0/instances/{id}/"
        try:
            data = await self._request(
                "GET",
                "/api/v0/instances/{id}/",
                _Mode.SAFE,
                ids={"id": instance_id},
                params={"owner": "me"},
            )
        except NotFoundError:
            return None
        row = _required(data, "instances", route)
        if isinstance(row, list):
            row = row[0] if row else None
        if not isinstance(row, dict):
            return None
        return self._model(Instance, row, route)

    async def destroy_instance(self, instance_id: int, *, missing_ok: bool = True) -> None:
        """`DELETE /api/v0/instances/{id}/`; an instance Vast does not know is already gone."""
        try:
            await self._request(
                "DELETE", "/api/v0/instances/{id}/", _Mode.SAFE, ids={"id": instance_id}, body={}
            )
        except NotFoundError:
            if not missing_ok:
                raise

    async def start_instance(self, instance_id: int) -> None:
        await self._manage(instance_id, {"state": "running"})

    async def stop_instance(self, instance_id: int) -> None:
        await self._manage(instance_id, {"state": "stopped"})

    async def label_instance(self, instance_id: int, label: str) -> None:
        await self._manage(instance_id, {"label": label})

    async def _manage(self, instance_id: int, body: dict[str, Any]) -> None:
        await self._request(
            "PUT", "/api/v0/instances/{id}/", _Mode.SAFE, ids={"id": instance_id}, body=body
        )

    async def reboot_instance(self, instance_id: int) -> None:
        """`PUT /api/v0/instances/reboot/{id}/` (not retried once sent: it is not idempotent)."""
        await self._request(
            "PUT", "/api/v0/instances/reboot/{id}/", _Mode.UNSAFE, ids={"id": instance_id}, body={}
        )

    async def change_bid(self, instance_id: int, price: float | None) -> None:
        """`PUT /api/v0/instances/bid_price/{id}/`; None lets Vast pick a winning bid."""
        await self._request(
            "PUT",
            "/api/v0/instances/bid_price/{id}/",
            _Mode.SAFE,
            ids={"id": instance_id},
            body={"client_id": "me", "price": price},
        )

    async def answer_price_increase(self, instance_id: int, *, accept: bool) -> None:
        """Accept or reject the host's pending price increase of an instance.

        UNCONFIRMED route and body (`PUT /api/v0/instances/price_increase/{id}/` with
        `{"accept": bool}`): Vast documents neither; this is the simulator's model
        (docs/simulator.md). Rejecting ends the contract when the increase would apply.
        """
        await self._request(
            "PUT",
            "/api/v0/instances/price_increase/{id}/",
            _Mode.SAFE,
            ids={"id": instance_id},
            body={"accept": accept},
        )

    # --- ssh keys -----------------------------------------------------------------------------

    async def attach_ssh_key(self, instance_id: int, public_key: str) -> None:
        """`POST /api/v0/instances/{id}/ssh/` with the public key text."""
        if not public_key.startswith(("ssh-", "ecdsa-", "sk-")) or "PRIVATE KEY" in public_key:
            raise ValueError("not an OpenSSH public key")
        await self._request(
            "POST",
            "/api/v0/instances/{id}/ssh/",
            _Mode.UNSAFE,
            ids={"id": instance_id},
            body={"ssh_key": public_key.strip()},
        )

    async def list_instance_ssh_keys(self, instance_id: int) -> list[InstanceSshKey]:
        """`GET /api/v0/instances/{id}/ssh/`; Vast sends `ssh_keys` as a JSON string."""
        route = "GET /api/v0/instances/{id}/ssh/"
        data = await self._request(
            "GET", "/api/v0/instances/{id}/ssh/", _Mode.SAFE, ids={"id": instance_id}
        )
        try:
            return parse_ssh_keys(_field(data, "ssh_keys"))
        except (ValueError, ValidationError) as exc:
            raise UnexpectedResponseError(
                f"ssh_keys: {type(exc).__name__}", status=200, route=route
            ) from None

    async def detach_ssh_key(
        self, instance_id: int, key_id: int, *, missing_ok: bool = True
    ) -> None:
        """`DELETE /api/v0/instances/{id}/ssh/{key_id}/`."""
        try:
            await self._request(
                "DELETE",
                "/api/v0/instances/{id}/ssh/{key_id}/",
                _Mode.SAFE,
                ids={"id": instance_id, "key_id": key_id},
                body={},
            )
        except NotFoundError:
            if not missing_ok:
                raise
